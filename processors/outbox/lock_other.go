//go:build !unix

package outbox

import (
	"errors"
	"os"
)

// lockExclusive fails: without a lock, two processes could record
// intents in one outbox and each take the other's for its own crash.
func lockExclusive(*os.File) error {
	return errors.New("outbox: directory locking is not supported on this platform")
}
