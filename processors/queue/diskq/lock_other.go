//go:build !unix

package diskq

import (
	"errors"
	"os"
)

// lockExclusive fails: without a lock, two processes could corrupt one
// queue directory.
func lockExclusive(*os.File) error {
	return errors.New("diskq: queue directory locking is not supported on this platform")
}
