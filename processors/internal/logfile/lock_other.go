//go:build !unix

package logfile

import (
	"errors"
	"os"
)

// LockDir fails: without a lock, two processes could write the files of
// one directory at once and corrupt them.
func LockDir(string) (*os.File, error) {
	return nil, errors.New("directory locking is not supported on this platform")
}
