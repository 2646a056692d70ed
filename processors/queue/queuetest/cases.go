package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
)

func (s *suite) publishReadAckOrder(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	bodies := numbered("order", 10)
	ids := publish(t, q, bodies...)
	checkUnique(t, ids)

	// Small batches: order must hold across Reads, not only within one.
	var got []queue.Message
	for len(got) < len(ids) {
		got = append(got, s.readNew(t, q, "g", "c", min(3, len(ids)-len(got)))...)
	}
	expectMsgs(t, got, ids, bodies, 1)

	wantPending(t, q, "g", 10)
	ack(t, q, "g", got[:4]...)
	wantPending(t, q, "g", 6)
	ack(t, q, "g", got[4:]...)
	wantPending(t, q, "g", 0)

	more := numbered("order-more", 3)
	moreIDs := publish(t, q, more...)
	checkUnique(t, append(slices.Clone(ids), moreIDs...))
	expectMsgs(t, s.readNew(t, q, "g", "c", 3), moreIDs, more, 1)
}

func (s *suite) binaryBodies(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(rand.IntN(256))
	}
	bodies := [][]byte{
		{},
		{0},
		{0xff, 0xfe, 0x00, 0x80, 0xc0},
		[]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"),
		[]byte("\x00body\x00with\x00nuls\x00"),
		[]byte("ümlaut ✓ 日本"),
		bytes.Repeat([]byte{0}, 1000),
		big,
	}
	ids := publish(t, q, bodies...)
	expectMsgs(t, s.readNew(t, q, "g", "c", len(bodies)), ids, bodies, 1)
}

func (s *suite) groupsSeeEveryEntry(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "a", "b")
	bodies := numbered("both", 10)
	ids := publish(t, q, bodies...)

	ma := s.readNew(t, q, "a", "c", 10)
	expectMsgs(t, ma, ids, bodies, 1)
	ack(t, q, "a", ma...)
	wantPending(t, q, "a", 0)
	// b is untouched by a's reads and acks.
	wantPending(t, q, "b", 10)
	expectMsgs(t, s.readNew(t, q, "b", "c", 10), ids, bodies, 1)
}

func (s *suite) ensureGroupIdempotent(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g", "g")
	bodies := numbered("idem", 5)
	ids := publish(t, q, bodies...)
	first := s.readNew(t, q, "g", "c", 2)
	expectMsgs(t, first, ids[:2], bodies[:2], 1)
	ack(t, q, "g", first...)

	ensure(t, q, "g")
	wantPending(t, q, "g", 3)
	expectMsgs(t, s.readNew(t, q, "g", "c", 3), ids[2:], bodies[2:], 1)
}

func (s *suite) newGroupReadsOldest(t *testing.T) {
	q := s.open(t)
	// Published before any group exists.
	bodies := numbered("early", 3)
	ids := publish(t, q, bodies...)
	ensure(t, q, "first")
	wantPending(t, q, "first", 3)
	m := s.readNew(t, q, "first", "c", 3)
	expectMsgs(t, m, ids, bodies, 1)
	ack(t, q, "first", m...)

	// Another group's acks (without Trim) do not hide entries from a
	// group created later.
	ensure(t, q, "late")
	wantPending(t, q, "late", 3)
	expectMsgs(t, s.readNew(t, q, "late", "c", 3), ids, bodies, 1)
}

// delivery is one hand-out of an entry, bracketed by the Read's start and
// return.
type delivery struct {
	consumer   string
	msg        queue.Message
	start, end time.Time
}

func (s *suite) consumersShareEntries(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	bodies := numbered("share", 30)
	ids := publish(t, q, bodies...)
	bodyOf := make(map[string][]byte, len(ids))
	for i, id := range ids {
		bodyOf[id] = bodies[i]
	}

	consumers := []string{"c1", "c2", "c3"}
	byID := map[string][]delivery{}
	perConsumer := map[string]int{}
	deadline := time.Now().Add(s.patience)
	for turn := 0; len(byID) < len(ids); turn++ {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d entries within %v", len(byID), len(ids), s.patience)
		}
		c := consumers[turn%len(consumers)]
		start := time.Now()
		ms, err := q.Read(t.Context(), "g", c, 4, pollWait)
		end := time.Now()
		if err != nil {
			t.Fatalf("Read(%s): %v", c, err)
		}
		if len(ms) > 4 {
			t.Fatalf("Read(max 4) returned %d entries", len(ms))
		}
		for _, m := range ms {
			want, ok := bodyOf[m.ID]
			if !ok {
				t.Fatalf("%s received unknown id %q", c, m.ID)
			}
			if !bytes.Equal(m.Body, want) {
				t.Fatalf("%s: %s body %s, want %s", c, m.ID, short(m.Body), short(want))
			}
			d := delivery{c, m, start, end}
			if ds := byID[m.ID]; len(ds) > 0 {
				prev := ds[len(ds)-1]
				// A second hand-out is legitimate only if the claim
				// timeout can have passed since the earlier one.
				if d.end.Sub(prev.start) < s.f.ClaimAfter-clockSlack {
					t.Fatalf("%s handed to %s and then to %s within %v, less than the claim timeout %v",
						m.ID, prev.consumer, c, d.end.Sub(prev.start), s.f.ClaimAfter)
				}
				if m.Deliveries <= prev.msg.Deliveries {
					t.Fatalf("%s redelivered to %s with Deliveries %d after %d", m.ID, c, m.Deliveries, prev.msg.Deliveries)
				}
			} else if m.Deliveries != 1 {
				t.Fatalf("%s: first delivery has Deliveries %d, want 1", m.ID, m.Deliveries)
			}
			byID[m.ID] = append(byID[m.ID], d)
			perConsumer[c]++
		}
	}
	for _, c := range consumers {
		if perConsumer[c] == 0 {
			t.Errorf("consumer %s received nothing while entries were waiting: %v", c, perConsumer)
		}
	}
	for id := range byID {
		if err := q.Ack(t.Context(), "g", id); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	wantPending(t, q, "g", 0)
	expectNone(t, q, "g", "c4", 2*s.f.ClaimAfter+pollWait)
}

func (s *suite) redelivery(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	ids := publish(t, q, []byte("redeliver-me"))

	start := time.Now()
	first := s.readNew(t, q, "g", "c1", 1)
	expectMsgs(t, first, ids, [][]byte{[]byte("redeliver-me")}, 1)

	// c2 polls; the entry must not reach it before the claim timeout,
	// and must reach it after.
	var second queue.Message
	deadline := time.Now().Add(s.patience)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("unacknowledged entry not redelivered within %v (claim timeout %v)", s.patience, s.f.ClaimAfter)
		}
		ms, err := q.Read(t.Context(), "g", "c2", 10, pollWait)
		end := time.Now()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(ms) == 0 {
			continue
		}
		if len(ms) != 1 {
			t.Fatalf("c2 received %s, want only %s", describe(ms), ids[0])
		}
		if age := end.Sub(start); age < s.f.ClaimAfter-clockSlack {
			t.Fatalf("redelivered after %v, before the claim timeout %v", age, s.f.ClaimAfter)
		}
		second = ms[0]
		break
	}
	if second.ID != ids[0] || string(second.Body) != "redeliver-me" {
		t.Fatalf("redelivered %s, want %s", describe([]queue.Message{second}), ids[0])
	}
	if second.Deliveries != 2 {
		t.Fatalf("redelivery has Deliveries %d, want 2", second.Deliveries)
	}
	wantPending(t, q, "g", 1)

	// c2 does not acknowledge either: it comes back again, counted.
	third := s.read(t, q, "g", "c1", 1)
	if third[0].ID != ids[0] || third[0].Deliveries != 3 {
		t.Fatalf("third delivery %s, want %s with Deliveries 3", describe(third), ids[0])
	}
	ack(t, q, "g", third...)
	wantPending(t, q, "g", 0)
	expectNone(t, q, "g", "c3", 2*s.f.ClaimAfter+pollWait)
}

func (s *suite) ackUnknownAndDuplicate(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g", "other")
	bodies := numbered("ack", 3)
	ids := publish(t, q, bodies...)
	m := s.readNew(t, q, "g", "c", 3)
	expectMsgs(t, m, ids, bodies, 1)

	ctx := t.Context()
	if err := q.Ack(ctx, "g"); err != nil {
		t.Fatalf("Ack without ids: %v", err)
	}
	if err := q.Ack(ctx, "g", m[0].ID, m[0].ID); err != nil {
		t.Fatalf("Ack of the same id twice in one call: %v", err)
	}
	if err := q.Ack(ctx, "g", m[0].ID); err != nil {
		t.Fatalf("Ack of an acknowledged id: %v", err)
	}
	wantPending(t, q, "g", 2)
	// Acknowledging in one group does not touch another.
	wantPending(t, q, "other", 3)

	// Trim removes m[0] everywhere once "other" acknowledged it too; an
	// Ack of the id that no longer exists is harmless.
	om := s.readNew(t, q, "other", "c", 1)
	ack(t, q, "other", om...)
	trim(t, q)
	if err := q.Ack(ctx, "g", m[0].ID); err != nil {
		t.Fatalf("Ack of a trimmed id: %v", err)
	}
	if err := q.Ack(ctx, "other", m[0].ID, m[0].ID); err != nil {
		t.Fatalf("Ack of a trimmed id: %v", err)
	}
	wantPending(t, q, "g", 2)
	wantPending(t, q, "other", 2)
	ack(t, q, "g", m[1:]...)
	wantPending(t, q, "g", 0)
	expectMsgs(t, s.readNew(t, q, "other", "c", 2), ids[1:], bodies[1:], 1)
}

func (s *suite) pending(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	wantPending(t, q, "g", 0)
	ids := publish(t, q, numbered("pending", 5)...)
	wantPending(t, q, "g", 5) // undelivered
	m := s.readNew(t, q, "g", "c", 3)
	wantPending(t, q, "g", 5) // 3 delivered and unacknowledged + 2 undelivered
	ack(t, q, "g", m[:2]...)
	wantPending(t, q, "g", 3)
	rest := s.readNew(t, q, "g", "c", 2)
	if rest[0].ID != ids[3] || rest[1].ID != ids[4] {
		t.Fatalf("got %s, want %v", describe(rest), ids[3:])
	}
	wantPending(t, q, "g", 3)
	ack(t, q, "g", append(rest, m[2])...)
	wantPending(t, q, "g", 0)
	publish(t, q, []byte("one more"))
	wantPending(t, q, "g", 1)
	// A group created now has everything still in the queue pending.
	ensure(t, q, "late")
	wantPending(t, q, "late", 6)
}

func (s *suite) trimKeepsUnacknowledged(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "a", "b")
	bodies := numbered("trim", 10)
	ids := publish(t, q, bodies...)

	ma := s.readNew(t, q, "a", "ca", 10)
	ack(t, q, "a", ma...)
	// b lags: 1-3 acknowledged, 4-5 delivered but not acknowledged,
	// 6-10 not delivered.
	mb := s.readNew(t, q, "b", "cb", 5)
	expectMsgs(t, mb, ids[:5], bodies[:5], 1)
	ack(t, q, "b", mb[:3]...)
	trim(t, q)
	wantPending(t, q, "a", 0)
	wantPending(t, q, "b", 7)

	// A group created after Trim starts at b's oldest unacknowledged
	// entry: 1-3 are gone, 4-10 are not.
	ensure(t, q, "c")
	wantPending(t, q, "c", 7)
	mc := s.readNew(t, q, "c", "cc", 7)
	expectMsgs(t, mc, ids[3:], bodies[3:], 1)
	ack(t, q, "c", mc...)

	// b still gets all of its work: 6-10 new, 4-5 after the claim timeout.
	rest := s.readIDs(t, q, "b", "cb2", ids[3:])
	for i, m := range rest {
		if !bytes.Equal(m.Body, bodies[i+3]) {
			t.Fatalf("%s: body %s, want %s", m.ID, short(m.Body), short(bodies[i+3]))
		}
		if i < 2 && m.Deliveries < 2 {
			t.Fatalf("%s: Deliveries %d; it was delivered before Trim", m.ID, m.Deliveries)
		}
	}
	ack(t, q, "b", rest...)

	trim(t, q)
	for _, g := range []string{"a", "b", "c"} {
		wantPending(t, q, g, 0)
	}
	// Everything was acknowledged by every group: a new group sees only
	// what is published from now on.
	ensure(t, q, "d")
	wantPending(t, q, "d", 0)
	nid := publish(t, q, []byte("after trim"))
	expectMsgs(t, s.readNew(t, q, "d", "cd", 1), nid, [][]byte{[]byte("after trim")}, 1)
}

func (s *suite) trimKeepsUnreadWork(t *testing.T) {
	q := s.open(t)
	// Trim of an empty queue, with and without groups, is not an error.
	trim(t, q)
	ensure(t, q, "fast", "idle")
	trim(t, q)

	bodies := numbered("unread", 5)
	ids := publish(t, q, bodies...)
	m := s.readNew(t, q, "fast", "c", 5)
	ack(t, q, "fast", m...)
	trim(t, q)
	trim(t, q)
	// "idle" never read anything: all of it is still there.
	wantPending(t, q, "idle", 5)
	mi := s.readNew(t, q, "idle", "c", 5)
	expectMsgs(t, mi, ids, bodies, 1)
	ack(t, q, "idle", mi[:2]...)
	trim(t, q)
	wantPending(t, q, "idle", 3)
	ack(t, q, "idle", mi[2:]...)
	wantPending(t, q, "idle", 0)
}

func (s *suite) readWakesOnPublish(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	const wait = 20 * time.Second
	ch := readAsync(t.Context(), q, "g", "c", wait)
	// Give the Read time to start waiting; it must also pass if it has not.
	time.Sleep(200 * time.Millisecond)
	ids := publish(t, q, []byte("wake"))
	published := time.Now()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Read: %v", r.err)
		}
		expectMsgs(t, r.msgs, ids, [][]byte{[]byte("wake")}, 1)
		if lag := r.at.Sub(published); lag > promptly {
			t.Fatalf("waiting Read returned %v after the publish", lag)
		}
	case <-time.After(promptly + time.Second):
		t.Fatalf("waiting Read (wait %v) did not return within %v of a publish", wait, promptly+time.Second)
	}
}

func (s *suite) readWaitsThenReturnsEmpty(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	for _, wait := range []time.Duration{0, 300 * time.Millisecond} {
		start := time.Now()
		ms, err := q.Read(t.Context(), "g", "c", 10, wait)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("Read(wait %v) on an empty group: %v", wait, err)
		}
		if len(ms) != 0 {
			t.Fatalf("Read(wait %v) on an empty group returned %s", wait, describe(ms))
		}
		if took < wait-clockSlack {
			t.Fatalf("Read(wait %v) returned after %v, before the wait ended", wait, took)
		}
		if took > wait+promptly {
			t.Fatalf("Read(wait %v) returned after %v", wait, took)
		}
	}
	// The same after entries came and were acknowledged.
	m := s.readNew(t, q, "g", "c", len(publish(t, q, []byte("x"))))
	ack(t, q, "g", m...)
	ms, err := q.Read(t.Context(), "g", "c", 10, 0)
	if err != nil || len(ms) != 0 {
		t.Fatalf("Read(wait 0) after ack = %s, %v; want nothing", describe(ms), err)
	}
}

func (s *suite) contextCancel(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := q.Read(cancelled, "g", "c", 1, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := q.Publish(cancelled, []byte("never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: %v, want context.Canceled", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := readAsync(ctx, q, "g", "c", 30*time.Second)
	time.Sleep(200 * time.Millisecond) // let the Read start waiting
	cancel()
	at := time.Now()
	select {
	case r := <-ch:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Read after cancellation: %s, %v; want context.Canceled", describe(r.msgs), r.err)
		}
		if lag := r.at.Sub(at); lag > promptly {
			t.Fatalf("Read returned %v after cancellation", lag)
		}
	case <-time.After(promptly + time.Second):
		t.Fatalf("Read did not return within %v of cancellation", promptly+time.Second)
	}

	// The queue still works, and the cancelled Publish left nothing.
	ids := publish(t, q, []byte("after cancel"))
	expectMsgs(t, s.readNew(t, q, "g", "c", 1), ids, [][]byte{[]byte("after cancel")}, 1)
}

func (s *suite) deadLetters(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g", "h")
	bodies := numbered("dead", 4)
	ids := publish(t, q, bodies...)
	m := s.readNew(t, q, "g", "c", 4)
	expectMsgs(t, m, ids, bodies, 1)

	ctx := t.Context()
	before := time.Now()
	order := []int{0, 2, 1}
	for _, i := range order {
		if err := q.DeadLetter(ctx, "g", m[i], fmt.Sprintf("reason %d", i)); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	after := time.Now()
	// Dead-lettering acknowledges: only m[3] is pending.
	wantPending(t, q, "g", 1)

	dls, err := q.DeadLetters(ctx, "g", 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(dls) != len(order) {
		t.Fatalf("DeadLetters returned %d, want %d: %+v", len(dls), len(order), dls)
	}
	for k, i := range order {
		d := dls[k]
		if d.ID != ids[i] || !bytes.Equal(d.Body, bodies[i]) || d.Deliveries != 1 {
			t.Fatalf("dead letter %d: %s, want %s (in the order recorded)", k, describe([]queue.Message{d.Message}), describe(m[i:i+1]))
		}
		if d.Group != "g" || d.Reason != fmt.Sprintf("reason %d", i) {
			t.Fatalf("dead letter %d: group %q reason %q", k, d.Group, d.Reason)
		}
		if d.At.Before(before.Add(-time.Second)) || d.At.After(after.Add(time.Second)) {
			t.Fatalf("dead letter %d: At %v, recorded between %v and %v", k, d.At, before, after)
		}
	}
	two, err := q.DeadLetters(ctx, "g", 2)
	if err != nil {
		t.Fatalf("DeadLetters(max 2): %v", err)
	}
	if len(two) != 2 || two[0].ID != ids[0] || two[1].ID != ids[2] {
		t.Fatalf("DeadLetters(max 2) = %+v, want the two oldest", two)
	}
	if other, err := q.DeadLetters(ctx, "h", 10); err != nil || len(other) != 0 {
		t.Fatalf("DeadLetters of another group = %+v, %v; want none", other, err)
	}
	// The other group still gets everything.
	expectMsgs(t, s.readNew(t, q, "h", "c", 4), ids, bodies, 1)

	// Dead letters are not redelivered.
	ack(t, q, "g", m[3])
	wantPending(t, q, "g", 0)
	expectNone(t, q, "g", "c2", 2*s.f.ClaimAfter+pollWait)
}

func (s *suite) replay(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	bodies := numbered("replay", 3)
	ids := publish(t, q, bodies...)
	m := s.readNew(t, q, "g", "c", 3)
	ctx := t.Context()
	for _, msg := range m {
		if err := q.DeadLetter(ctx, "g", msg, "failed"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	wantPending(t, q, "g", 0)

	n, err := q.Replay(ctx, "g", ids[0], ids[2])
	if err != nil || n != 2 {
		t.Fatalf("Replay of 2 dead letters = %d, %v", n, err)
	}
	dls, err := q.DeadLetters(ctx, "g", 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(dls) != 1 || dls[0].ID != ids[1] {
		t.Fatalf("after Replay, DeadLetters = %+v, want only %s", dls, ids[1])
	}
	wantPending(t, q, "g", 2)
	again := s.readNew(t, q, "g", "c", 2)
	var gotBodies []string
	for _, r := range again {
		if slices.Contains(ids, r.ID) {
			t.Fatalf("replayed entry kept its old id %s; Replay publishes anew", r.ID)
		}
		if r.Deliveries != 1 {
			t.Fatalf("replayed entry %s has Deliveries %d, want 1", r.ID, r.Deliveries)
		}
		gotBodies = append(gotBodies, string(r.Body))
	}
	sort.Strings(gotBodies)
	if want := []string{string(bodies[0]), string(bodies[2])}; !slices.Equal(gotBodies, want) {
		t.Fatalf("replayed bodies %q, want %q", gotBodies, want)
	}
	ack(t, q, "g", again...)

	// Replaying what is no longer (or never was) a dead letter counts 0.
	for _, replayIDs := range [][]string{{ids[0]}, {ids[0], ids[2]}, {}, {again[0].ID}} {
		n, err := q.Replay(ctx, "g", replayIDs...)
		if err != nil || n != 0 {
			t.Fatalf("Replay(%v) = %d, %v; want 0, nil", replayIDs, n, err)
		}
	}
	if dls, err := q.DeadLetters(ctx, "g", 10); err != nil || len(dls) != 1 {
		t.Fatalf("DeadLetters = %+v, %v; want the one left", dls, err)
	}
	expectNone(t, q, "g", "c", pollWait)
}

func (s *suite) durability(t *testing.T) {
	if s.f.Reopen == nil {
		t.Skip("Factory.Reopen is nil: the queue is not durable across reopen")
	}
	q := s.open(t)
	ensure(t, q, "g", "h")
	bodies := numbered("durable", 6)
	ids := publish(t, q, bodies...)
	m := s.readNew(t, q, "g", "c", 4)
	ack(t, q, "g", m[:2]...)
	if err := q.DeadLetter(t.Context(), "g", m[2], "bad"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	// g: 1-2 acknowledged, 3 dead, 4 delivered but unacknowledged, 5-6
	// undelivered. h: nothing read.

	q = s.reopen(t, q)
	if q == nil {
		t.Fatal("Factory.Reopen returned nil")
	}
	wantPending(t, q, "g", 3)
	wantPending(t, q, "h", 6)
	dls, err := q.DeadLetters(t.Context(), "g", 10)
	if err != nil || len(dls) != 1 || dls[0].ID != ids[2] || !bytes.Equal(dls[0].Body, bodies[2]) || dls[0].Reason != "bad" {
		t.Fatalf("DeadLetters after reopen = %+v, %v; want %s", dls, err, ids[2])
	}

	rest := s.readIDs(t, q, "g", "c2", ids[3:])
	for i, r := range rest {
		if !bytes.Equal(r.Body, bodies[i+3]) {
			t.Fatalf("%s: body %s after reopen, want %s", r.ID, short(r.Body), short(bodies[i+3]))
		}
	}
	if rest[0].Deliveries < 2 {
		t.Fatalf("%s: Deliveries %d after reopen; it was delivered before", rest[0].ID, rest[0].Deliveries)
	}
	ack(t, q, "g", rest...)
	mh := s.readNew(t, q, "h", "c", 6)
	expectMsgs(t, mh, ids, bodies, 1)
	ack(t, q, "h", mh...)

	// Ids stay unique and ordered after reopen.
	nid := publish(t, q, []byte("after reopen"))
	checkUnique(t, append(slices.Clone(ids), nid...))
	expectMsgs(t, s.readNew(t, q, "h", "c", 1), nid, [][]byte{[]byte("after reopen")}, 1)
	ng := s.readNew(t, q, "g", "c2", 1)
	expectMsgs(t, ng, nid, [][]byte{[]byte("after reopen")}, 1)
	ack(t, q, "g", ng...)
	// The new entry stays unacknowledged in h.

	// Acks survive reopen too.
	if q = s.reopen(t, q); q == nil {
		t.Fatal("Factory.Reopen returned nil")
	}
	wantPending(t, q, "g", 0)
	wantPending(t, q, "h", 1)
	redo := s.read(t, q, "h", "c", 1)
	if redo[0].ID != nid[0] || redo[0].Deliveries < 2 {
		t.Fatalf("after reopen h received %s, want %s redelivered", describe(redo), nid[0])
	}
	ack(t, q, "h", redo...)
	expectNone(t, q, "g", "c", 2*s.f.ClaimAfter+pollWait)
}

func (s *suite) concurrent(t *testing.T) {
	q := s.open(t)
	const publishers, perPublisher, consumersPerGroup = 4, 60, 3
	const total = publishers * perPublisher
	groups := []string{"g1", "g2"}
	ensure(t, q, groups...)

	ctx, cancel := context.WithTimeout(t.Context(), s.patience+30*time.Second)
	defer cancel()
	// fail stops every goroutine: the others would wait for work that
	// never comes.
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		cancel()
	}

	var pubMu sync.Mutex
	published := map[string]string{}
	var pubWG sync.WaitGroup
	for p := range publishers {
		pubWG.Go(func() {
			for i := range perPublisher {
				body := fmt.Sprintf("p%d-%d", p, i)
				id, err := q.Publish(ctx, []byte(body))
				if err != nil {
					fail("Publish: %v", err)
					return
				}
				pubMu.Lock()
				if _, dup := published[id]; dup {
					fail("id %s issued twice", id)
				}
				published[id] = body
				pubMu.Unlock()
			}
		})
	}

	type tally struct {
		mu          sync.Mutex
		first       map[string]int // deliveries with Deliveries == 1
		bodies      map[string]string
		redelivered int
		done        atomic.Bool
	}
	tallies := map[string]*tally{}
	var consWG sync.WaitGroup
	for _, g := range groups {
		tl := &tally{first: map[string]int{}, bodies: map[string]string{}}
		tallies[g] = tl
		for c := range consumersPerGroup {
			consumer := fmt.Sprintf("%s-c%d", g, c)
			consWG.Go(func() {
				for !tl.done.Load() && ctx.Err() == nil {
					ms, err := q.Read(ctx, g, consumer, 8, 50*time.Millisecond)
					if err != nil {
						if ctx.Err() == nil {
							fail("Read(%s): %v", consumer, err)
						}
						return
					}
					tl.mu.Lock()
					for _, m := range ms {
						if m.Deliveries == 1 {
							tl.first[m.ID]++
						} else {
							tl.redelivered++
						}
						tl.bodies[m.ID] = string(m.Body)
					}
					if len(tl.bodies) == total {
						tl.done.Store(true)
					}
					tl.mu.Unlock()
					if len(ms) > 0 {
						if err := q.Ack(ctx, g, idsOf(ms)...); err != nil {
							fail("Ack(%s): %v", consumer, err)
							return
						}
					}
				}
			})
		}
	}
	// Trim runs throughout: it must never take work a group has not done.
	var trimWG sync.WaitGroup
	trimStop := make(chan struct{})
	trimWG.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-trimStop:
				return
			case <-tick.C:
				if err := q.Trim(ctx); err != nil && ctx.Err() == nil {
					fail("Trim: %v", err)
					return
				}
			}
		}
	})

	pubWG.Wait()
	consWG.Wait()
	close(trimStop)
	trimWG.Wait()
	if t.Failed() {
		return
	}
	if len(published) != total {
		t.Fatalf("%d of %d publishes succeeded", len(published), total)
	}
	for _, g := range groups {
		tl := tallies[g]
		if len(tl.bodies) != total {
			t.Fatalf("group %s processed %d of %d entries before the deadline", g, len(tl.bodies), total)
		}
		for id, body := range published {
			if got, ok := tl.bodies[id]; !ok || got != body {
				t.Fatalf("group %s: entry %s body %q, want %q", g, id, got, body)
			}
			if n := tl.first[id]; n != 1 {
				t.Fatalf("group %s: entry %s handed out as a first delivery %d times", g, id, n)
			}
		}
		if tl.redelivered > 0 {
			t.Logf("group %s: %d redeliveries (a consumer was slower than the claim timeout)", g, tl.redelivered)
		}
		wantPending(t, q, g, 0)
	}
	trim(t, q)
	// Nothing comes back once everything is acknowledged.
	expectNone(t, q, "g1", "late", 2*s.f.ClaimAfter+pollWait)
	expectNone(t, q, "g2", "late", pollWait)
}

func (s *suite) closed(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	ids := publish(t, q, []byte("x"))
	m := s.read(t, q, "g", "c", 1)
	if err := q.DeadLetter(t.Context(), "g", m[0], "r"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	ctx := t.Context()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, queue.ErrClosed) {
			t.Errorf("%s after Close: %v, want queue.ErrClosed", op, err)
		}
	}
	_, err := q.Publish(ctx, []byte("y"))
	check("Publish", err)
	check("EnsureGroup", q.EnsureGroup(ctx, "g2"))
	_, err = q.Read(ctx, "g", "c", 1, 0)
	check("Read", err)
	_, err = q.Read(ctx, "g", "c", 1, time.Second)
	check("Read with wait", err)
	check("Ack", q.Ack(ctx, "g", ids...))
	_, err = q.Pending(ctx, "g")
	check("Pending", err)
	check("Trim", q.Trim(ctx))
	check("DeadLetter", q.DeadLetter(ctx, "g", m[0], "r"))
	_, err = q.DeadLetters(ctx, "g", 10)
	check("DeadLetters", err)
	_, err = q.Replay(ctx, "g", ids...)
	check("Replay", err)
	if err := q.Close(); err != nil && !errors.Is(err, queue.ErrClosed) {
		t.Errorf("second Close: %v, want nil or ErrClosed", err)
	}
}

func (s *suite) closeUnblocksRead(t *testing.T) {
	q := s.open(t)
	ensure(t, q, "g")
	ch := readAsync(t.Context(), q, "g", "c", 30*time.Second)
	time.Sleep(200 * time.Millisecond) // let the Read start waiting
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	at := time.Now()
	select {
	case r := <-ch:
		if r.err != nil && !errors.Is(r.err, queue.ErrClosed) {
			t.Fatalf("waiting Read after Close: %v, want nil or ErrClosed", r.err)
		}
		if len(r.msgs) != 0 {
			t.Fatalf("waiting Read after Close returned %s", describe(r.msgs))
		}
		if lag := r.at.Sub(at); lag > promptly {
			t.Fatalf("waiting Read returned %v after Close", lag)
		}
	case <-time.After(promptly + time.Second):
		t.Fatalf("waiting Read did not return within %v of Close", promptly+time.Second)
	}
}
