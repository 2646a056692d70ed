// Package queue carries s3gate's events from the gateway to the processors
// that act on them: a durable, at-least-once log with one consumer group
// per processor. Two implementations share this interface and its
// acceptance suite (queuetest): Redis Streams (queue/redisq) for the
// scaled-out shape and an on-disk log in the data dir (queue/diskq) for
// the embedded one.
package queue

import (
	"context"
	"errors"
	"time"
)

// Message is one event as a consumer group receives it.
type Message struct {
	// ID is the queue's id of the entry: ordered, unique in the queue.
	ID string
	// Body is the event, as published.
	Body []byte
	// Deliveries counts how often the group has been handed this entry:
	// 1 on first delivery, more after a consumer failed to acknowledge it
	// in time.
	Deliveries int
}

// DeadLetter is a message a group gave up on.
type DeadLetter struct {
	Message
	Group  string
	Reason string
	At     time.Time
}

// Queue is a durable event log with consumer groups. Publish returns only
// once the entry is as durable as the implementation promises (see each
// one's documentation). Every group sees every entry published after the
// group was created, at least once; an entry read but not acknowledged
// within the queue's claim timeout is delivered again, possibly to another
// consumer of the group.
type Queue interface {
	// Publish appends body and returns its id.
	Publish(ctx context.Context, body []byte) (string, error)
	// EnsureGroup creates group if it does not exist, reading from the
	// oldest entry still in the queue. Creating an existing group is not
	// an error and does not move it.
	EnsureGroup(ctx context.Context, group string) error
	// Read hands consumer up to max entries of group: entries other
	// consumers left unacknowledged past the claim timeout first, then new
	// ones. It waits up to wait for an entry when there is none, and returns
	// an empty slice (no error) when the wait ends.
	Read(ctx context.Context, group, consumer string, max int, wait time.Duration) ([]Message, error)
	// Ack marks entries of group as processed: they are not delivered to
	// the group again.
	Ack(ctx context.Context, group string, ids ...string) error
	// Pending is how many entries group has not acknowledged: delivered
	// and unacknowledged, plus not yet delivered (the group's lag).
	Pending(ctx context.Context, group string) (int64, error)
	// Trim removes entries older than every group's oldest
	// unacknowledged one (an acknowledged entry behind an unacknowledged
	// one stays), never one a group has not acknowledged. With no groups
	// it keeps everything.
	Trim(ctx context.Context) error

	// DeadLetter records that group gave up on m (and acknowledges it).
	DeadLetter(ctx context.Context, group string, m Message, reason string) error
	// DeadLetters lists up to max of group's dead letters, oldest first.
	DeadLetters(ctx context.Context, group string, max int) ([]DeadLetter, error)
	// Replay removes the named dead letters of group and publishes their
	// bodies again.
	Replay(ctx context.Context, group string, ids ...string) (int, error)

	Close() error
}

// ErrClosed is returned by a queue after Close.
var ErrClosed = errors.New("queue: closed")
