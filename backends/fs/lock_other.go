//go:build !unix

package fs

import (
	"errors"
	"os"
)

// lockExclusive fails: without a lock, two processes could corrupt one
// data directory.
func lockExclusive(*os.File) error {
	return errors.New("fs: data directory locking is not supported on this platform")
}
