//go:build unix

package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made")
	f, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory made with mode %v, want 0700", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Fatalf("lock file: %v", err)
	}
	// flock locks are per open file, so a second open in this process
	// stands for another process.
	g, err := LockDir(dir)
	if !errors.Is(err, ErrLocked) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("second LockDir: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("%q does not name the directory", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err = LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after the holder closed: %v", err)
	}
	g.Close()

	// A directory that cannot be made is an error, but not ErrLocked.
	notDir := filepath.Join(dir, LockFile, "sub")
	if _, err := LockDir(notDir); err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("LockDir below a file: %v, want an error other than ErrLocked", err)
	}
}
