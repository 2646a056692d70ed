// Package processors holds the hooks that act on s3gate's events after a
// write, and the contract they share. The machinery lives in subpackages:
// events (what happened), queue (the durable log that carries events),
// outbox (the gateway's record of writes in flight, so no event is lost
// between a backend commit and its publication) and worker (the pools that
// feed each processor its events, with retries and dead letters). Each
// hook is a small package of its own: metadata, image, search, ...
package processors

import (
	"context"
	"errors"

	"github.com/s3gate/s3gate/processors/events"
)

// Processor is one hook. The worker pool hands it every event at least
// once, possibly more than once and out of order, so Handle must be
// idempotent: apply an event at most once in effect, and never let an
// older event undo a newer one (compare sequencers, or re-read the
// object's current state from the backend).
type Processor interface {
	// Name names the processor's consumer group, metrics and dead letters;
	// lower case letters, digits and dashes.
	Name() string
	// Handle applies one event. An error wrapped by Permanent is never
	// retried (poison input: a corrupt image, an unparsable event); any
	// other error is retried with backoff.
	Handle(ctx context.Context, rec events.Record) error
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
