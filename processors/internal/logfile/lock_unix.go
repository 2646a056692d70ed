//go:build unix

package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockDir takes an exclusive lock on dir through the file LockFile in it,
// creating both (private to the user) if need be, and returns the file:
// the lock is held until it is closed or the process dies. If another
// process (or another LockDir of this one) holds the lock, it fails at
// once with an error that wraps ErrLocked and names dir.
func LockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		if err == ErrLocked {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return nil, err
	}
	return f, nil
}

// flock takes a non-blocking exclusive flock on f.
func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if errors.Is(lockErr, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	if lockErr != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), lockErr)
	}
	return nil
}
