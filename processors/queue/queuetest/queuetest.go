// Package queuetest is the acceptance suite every queue.Queue
// implementation passes: ordering, consumer groups, claim-timeout
// redelivery, acknowledgement, pending counts, trimming, waiting reads,
// dead letters, durability across reopen, concurrency and Close.
//
// An implementation's test calls Run with a Factory:
//
//	func TestQueue(t *testing.T) {
//		queuetest.Run(t, queuetest.Factory{
//			Open:       openFresh,
//			Reopen:     reopen,
//			ClaimAfter: 200 * time.Millisecond,
//		})
//	}
//
// What the suite holds implementations to, beyond queue.go's comments:
//
//   - IDs are opaque strings; the suite never parses or compares them, only
//     checks that a group receives entries in publish order and that ids
//     are unique (also across Reopen).
//   - The first delivery of an entry to a group has Deliveries 1; each
//     redelivery after the claim timeout increases it by one. An entry is
//     never handed to a second consumer before ClaimAfter has passed since
//     it was handed out, and is handed out again once it has (the suite
//     polls with short waits, so a queue may notice claimable entries at
//     the start of each Read).
//   - Delivery counts, acknowledgements, group positions and dead letters
//     survive Reopen. Entries delivered before Reopen may be handed out
//     again at once after it (their consumers are gone), with Deliveries
//     counting on: a poison entry that crashes s3gate must not look new
//     after every restart.
//   - Trim removes (at least logically) every entry older than the oldest
//     entry some group has not acknowledged or not yet received: a group
//     created after Trim starts exactly there, and one created after
//     everything was acknowledged and trimmed receives only what is
//     published later. Removing whole files only is not enough.
//   - A DeadLetter's Message is the entry the group gave up on: its ID is
//     the original entry's id and Replay takes those ids. DeadLetters lists
//     in the order the dead letters were recorded. Replay of an id that is
//     not a dead letter (any more) counts 0 and is not an error.
//   - A Read that is waiting returns within a few seconds when an entry is
//     published, its context is cancelled (error wrapping
//     context.Canceled) or the queue is closed (no error, or ErrClosed).
//     A Read or Publish given an already cancelled context fails with an
//     error wrapping context.Canceled and has no effect.
//   - After Close every method returns an error wrapping queue.ErrClosed;
//     a second Close returns nil or ErrClosed.
package queuetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
)

// Factory opens the queues the suite runs against.
type Factory struct {
	// Open returns a new, empty queue opened with claim timeout ClaimAfter.
	// It registers (t.Cleanup) whatever closes the queue and removes its
	// storage; the suite may have closed the queue by then. Subtests run in
	// parallel, so Open is called concurrently.
	Open func(t *testing.T) queue.Queue
	// Reopen closes q and opens the same queue again, as a restarted s3gate
	// would. Nil when the queue is not durable across reopen: the
	// durability subtest is then skipped.
	Reopen func(t *testing.T, q queue.Queue) queue.Queue
	// ClaimAfter is the claim timeout the queues are opened with. Keep it
	// small (200ms): the suite waits for it repeatedly.
	ClaimAfter time.Duration
}

const (
	// pollWait is the wait of the suite's polling reads.
	pollWait = 100 * time.Millisecond
	// promptly bounds how long a waiting Read may take to notice a
	// publish, a cancellation or Close.
	promptly = 3 * time.Second
	// clockSlack absorbs millisecond rounding when comparing the suite's
	// clock with a queue's idle times.
	clockSlack = 25 * time.Millisecond
)

type suite struct {
	f Factory
	// patience bounds every wait for an expected delivery.
	patience time.Duration
}

// Run runs the acceptance suite against the queues f opens.
func Run(t *testing.T, f Factory) {
	t.Helper()
	if f.Open == nil {
		t.Fatal("queuetest: Factory.Open is nil")
	}
	if f.ClaimAfter <= 0 {
		t.Fatal("queuetest: Factory.ClaimAfter must be the queue's claim timeout (> 0)")
	}
	s := &suite{f: f, patience: 15*time.Second + 10*f.ClaimAfter}
	cases := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PublishReadAckOrder", s.publishReadAckOrder},
		{"BinaryBodies", s.binaryBodies},
		{"GroupsSeeEveryEntry", s.groupsSeeEveryEntry},
		{"EnsureGroupIdempotent", s.ensureGroupIdempotent},
		{"NewGroupReadsOldest", s.newGroupReadsOldest},
		{"ConsumersShareEntries", s.consumersShareEntries},
		{"Redelivery", s.redelivery},
		{"AckUnknownAndDuplicate", s.ackUnknownAndDuplicate},
		{"Pending", s.pending},
		{"TrimKeepsUnacknowledged", s.trimKeepsUnacknowledged},
		{"TrimKeepsUnreadWork", s.trimKeepsUnreadWork},
		{"ReadWakesOnPublish", s.readWakesOnPublish},
		{"ReadWaitsThenReturnsEmpty", s.readWaitsThenReturnsEmpty},
		{"ContextCancel", s.contextCancel},
		{"DeadLetters", s.deadLetters},
		{"Replay", s.replay},
		{"Durability", s.durability},
		{"Concurrent", s.concurrent},
		{"Closed", s.closed},
		{"CloseUnblocksRead", s.closeUnblocksRead},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t)
		})
	}
}

func publish(t *testing.T, q queue.Queue, bodies ...[]byte) []string {
	t.Helper()
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		id, err := q.Publish(t.Context(), b)
		if err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
		if id == "" {
			t.Fatalf("Publish #%d returned an empty id", i)
		}
		ids[i] = id
	}
	return ids
}

func ensure(t *testing.T, q queue.Queue, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if err := q.EnsureGroup(t.Context(), g); err != nil {
			t.Fatalf("EnsureGroup(%q): %v", g, err)
		}
	}
}

func ack(t *testing.T, q queue.Queue, group string, msgs ...queue.Message) {
	t.Helper()
	if err := q.Ack(t.Context(), group, idsOf(msgs)...); err != nil {
		t.Fatalf("Ack(%q, %d ids): %v", group, len(msgs), err)
	}
}

func wantPending(t *testing.T, q queue.Queue, group string, want int64) {
	t.Helper()
	got, err := q.Pending(t.Context(), group)
	if err != nil {
		t.Fatalf("Pending(%q): %v", group, err)
	}
	if got != want {
		t.Fatalf("Pending(%q) = %d, want %d", group, got, want)
	}
}

func trim(t *testing.T, q queue.Queue) {
	t.Helper()
	if err := q.Trim(t.Context()); err != nil {
		t.Fatalf("Trim: %v", err)
	}
}

// read polls until consumer of group has received exactly n entries,
// failing if a Read returns more than it asked for.
func (s *suite) read(t *testing.T, q queue.Queue, group, consumer string, n int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(s.patience)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: received %d of %d entries within %v: %s", group, consumer, len(got), n, s.patience, describe(got))
		}
		want := n - len(got)
		ms, err := q.Read(t.Context(), group, consumer, want, pollWait)
		if err != nil {
			t.Fatalf("Read(%q, %q): %v", group, consumer, err)
		}
		if len(ms) > want {
			t.Fatalf("Read(%q, %q, max %d) returned %d entries", group, consumer, want, len(ms))
		}
		got = append(got, ms...)
	}
	return got
}

// readNew polls until consumer of group has received n first deliveries
// (Deliveries 1), returned in the order received. Redeliveries of entries
// the subtest left unacknowledged may come in between when the machine is
// slow; they are skipped (the ledger checks them).
func (s *suite) readNew(t *testing.T, q queue.Queue, group, consumer string, n int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(s.patience)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: received %d of %d new entries within %v: %s", group, consumer, len(got), n, s.patience, describe(got))
		}
		ms, err := q.Read(t.Context(), group, consumer, n-len(got), pollWait)
		if err != nil {
			t.Fatalf("Read(%q, %q): %v", group, consumer, err)
		}
		for _, m := range ms {
			if m.Deliveries == 1 {
				got = append(got, m)
			}
		}
	}
	return got
}

// readIDs polls until consumer of group has received each of ids (first
// deliveries or redeliveries, in any order) and returns the latest
// delivery of each, in the order of ids.
func (s *suite) readIDs(t *testing.T, q queue.Queue, group, consumer string, ids []string) []queue.Message {
	t.Helper()
	got := map[string]queue.Message{}
	deadline := time.Now().Add(s.patience)
	for {
		missing := 0
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: %d of %v not received within %v", group, consumer, missing, ids, s.patience)
		}
		ms, err := q.Read(t.Context(), group, consumer, len(ids), pollWait)
		if err != nil {
			t.Fatalf("Read(%q, %q): %v", group, consumer, err)
		}
		for _, m := range ms {
			if !slices.Contains(ids, m.ID) {
				t.Fatalf("%s/%s: received %s, want only %v", group, consumer, describe([]queue.Message{m}), ids)
			}
			got[m.ID] = m
		}
	}
	out := make([]queue.Message, len(ids))
	for i, id := range ids {
		out[i] = got[id]
	}
	return out
}

// expectNone fails if consumer of group receives anything during window.
func expectNone(t *testing.T, q queue.Queue, group, consumer string, window time.Duration) {
	t.Helper()
	end := time.Now().Add(window)
	for {
		rem := time.Until(end)
		if rem <= 0 {
			return
		}
		ms, err := q.Read(t.Context(), group, consumer, 10, min(rem, pollWait))
		if err != nil {
			t.Fatalf("Read(%q, %q): %v", group, consumer, err)
		}
		if len(ms) > 0 {
			t.Fatalf("%s/%s: unexpected delivery %s", group, consumer, describe(ms))
		}
	}
}

// expectMsgs checks got against the published ids and bodies, in order.
func expectMsgs(t *testing.T, got []queue.Message, ids []string, bodies [][]byte, deliveries int) {
	t.Helper()
	if len(got) != len(ids) {
		t.Fatalf("got %d entries, want %d: %s", len(got), len(ids), describe(got))
	}
	for i, m := range got {
		if m.ID != ids[i] {
			t.Fatalf("entry %d: id %q, want %q (entries out of publish order?) %s", i, m.ID, ids[i], describe(got))
		}
		if !bytes.Equal(m.Body, bodies[i]) {
			t.Fatalf("entry %d (%s): body %s, want %s", i, m.ID, short(m.Body), short(bodies[i]))
		}
		if deliveries > 0 && m.Deliveries != deliveries {
			t.Fatalf("entry %d (%s): Deliveries %d, want %d", i, m.ID, m.Deliveries, deliveries)
		}
	}
}

func numbered(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%03d", prefix, i)
	}
	return out
}

func idsOf(msgs []queue.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func checkUnique(t *testing.T, ids []string) {
	t.Helper()
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("id %q issued twice", id)
		}
		seen[id] = true
	}
}

func describe(ms []queue.Message) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s(%s,d=%d)", m.ID, short(m.Body), m.Deliveries)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func short(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%q…(%d bytes)", b[:32], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// result is a Read's outcome, for reads run in a goroutine.
type result struct {
	msgs []queue.Message
	err  error
	at   time.Time
}

func readAsync(ctx context.Context, q queue.Queue, group, consumer string, wait time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ms, err := q.Read(ctx, group, consumer, 10, wait)
		ch <- result{ms, err, time.Now()}
	}()
	return ch
}

// checked wraps the queue under test and checks every delivery against
// what the suite has seen so far, whichever subtest makes it: an entry's
// first delivery to a group counts 1, later ones count up and come only
// after the claim timeout, bodies never change, and nothing is handed out
// by a Read that began after the entry's Ack (or DeadLetter) returned.
// Violations are reported when the subtest ends.
type checked struct {
	queue.Queue
	l *ledger
}

type ledger struct {
	claimAfter time.Duration
	mu         sync.Mutex
	handed     map[groupID]handOut
	acked      map[groupID]time.Time
	bodies     map[string][]byte
	problems   []string
}

type groupID struct{ group, id string }

type handOut struct {
	consumer   string
	deliveries int
	start      time.Time
}

func (s *suite) open(t *testing.T) queue.Queue {
	t.Helper()
	q := s.f.Open(t)
	if q == nil {
		t.Fatal("Factory.Open returned nil")
	}
	l := &ledger{claimAfter: s.f.ClaimAfter, handed: map[groupID]handOut{}, acked: map[groupID]time.Time{}, bodies: map[string][]byte{}}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range l.problems {
			t.Error(p)
		}
	})
	return &checked{q, l}
}

// reopen is Factory.Reopen, keeping the ledger.
func (s *suite) reopen(t *testing.T, q queue.Queue) queue.Queue {
	t.Helper()
	c := q.(*checked)
	nq := s.f.Reopen(t, c.Queue)
	if nq == nil {
		t.Fatal("Factory.Reopen returned nil")
	}
	// The consumers that held entries are gone with the old handle: a
	// reopened queue may hand those entries out at once, but their
	// Deliveries keep counting.
	c.l.mu.Lock()
	for k, h := range c.l.handed {
		h.start = time.Time{}
		c.l.handed[k] = h
	}
	c.l.mu.Unlock()
	return &checked{nq, c.l}
}

func (c *checked) Read(ctx context.Context, group, consumer string, max int, wait time.Duration) ([]queue.Message, error) {
	start := time.Now()
	ms, err := c.Queue.Read(ctx, group, consumer, max, wait)
	end := time.Now()
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(ms) > max {
		l.problem("Read(%q, %q, max %d) returned %d entries", group, consumer, max, len(ms))
	}
	for _, m := range ms {
		k := groupID{group, m.ID}
		if b, ok := l.bodies[m.ID]; ok && !bytes.Equal(b, m.Body) {
			l.problem("%s: body %s, earlier %s", m.ID, short(m.Body), short(b))
		} else if !ok {
			l.bodies[m.ID] = bytes.Clone(m.Body)
		}
		if at, ok := l.acked[k]; ok && start.After(at) {
			l.problem("%s/%s: %s delivered (Deliveries %d) by a Read begun after its Ack", group, consumer, m.ID, m.Deliveries)
		}
		prev, seen := l.handed[k]
		switch {
		case !seen && m.Deliveries != 1:
			l.problem("%s/%s: first delivery of %s has Deliveries %d, want 1", group, consumer, m.ID, m.Deliveries)
		case seen && m.Deliveries <= prev.deliveries:
			l.problem("%s/%s: %s delivered with Deliveries %d after %s had it with Deliveries %d", group, consumer, m.ID, m.Deliveries, prev.consumer, prev.deliveries)
		case seen && end.Sub(prev.start) < l.claimAfter-clockSlack:
			l.problem("%s/%s: %s redelivered %v after %s got it, before the claim timeout %v", group, consumer, m.ID, end.Sub(prev.start), prev.consumer, l.claimAfter)
		}
		l.handed[k] = handOut{consumer, m.Deliveries, start}
	}
	return ms, err
}

func (c *checked) Ack(ctx context.Context, group string, ids ...string) error {
	err := c.Queue.Ack(ctx, group, ids...)
	if err == nil {
		c.l.ack(group, ids...)
	}
	return err
}

func (c *checked) DeadLetter(ctx context.Context, group string, m queue.Message, reason string) error {
	err := c.Queue.DeadLetter(ctx, group, m, reason)
	if err == nil {
		c.l.ack(group, m.ID)
	}
	return err
}

func (l *ledger) ack(group string, ids ...string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		if _, ok := l.acked[groupID{group, id}]; !ok {
			l.acked[groupID{group, id}] = now
		}
	}
}

func (l *ledger) problem(format string, args ...any) {
	const keep = 20
	switch n := len(l.problems); {
	case n < keep:
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	case n == keep:
		l.problems = append(l.problems, "(further problems not shown)")
	}
}
