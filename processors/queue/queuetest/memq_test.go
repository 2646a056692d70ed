package queuetest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
)

// memStore is the state of an in-memory queue, kept across "reopens". It
// is the suite's reference implementation: the suite is checked against it
// and against broken variants of it (mutants).
type memStore struct {
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every publish
	seq     int
	entries []memEntry
	groups  map[string]*memGroup
	dead    map[string][]queue.DeadLetter
	mutant  string
}

type memEntry struct {
	seq  int
	body []byte
}

type memGroup struct {
	next int // seq of the first entry not yet delivered
	pel  map[int]*memPending
}

type memPending struct {
	consumer string
	at       time.Time
	count    int
}

func newMemStore(mutant string) *memStore {
	return &memStore{wake: make(chan struct{}), groups: map[string]*memGroup{}, dead: map[string][]queue.DeadLetter{}, mutant: mutant}
}

type memQueue struct {
	st        *memStore
	claim     time.Duration
	closed    chan struct{}
	closeOnce sync.Once
}

func (st *memStore) open(claim time.Duration) *memQueue {
	return &memQueue{st: st, claim: claim, closed: make(chan struct{})}
}

func (q *memQueue) check(ctx context.Context) error {
	select {
	case <-q.closed:
		return queue.ErrClosed
	default:
	}
	return ctx.Err()
}

func (q *memQueue) Publish(ctx context.Context, body []byte) (string, error) {
	if err := q.check(ctx); err != nil {
		return "", err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.publishLocked(body), nil
}

func (st *memStore) publishLocked(body []byte) string {
	st.seq++
	st.entries = append(st.entries, memEntry{st.seq, slices.Clone(body)})
	close(st.wake)
	st.wake = make(chan struct{})
	return strconv.Itoa(st.seq)
}

func (q *memQueue) EnsureGroup(ctx context.Context, group string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.groups[group]; ok {
		return nil
	}
	next := st.seq + 1
	if len(st.entries) > 0 {
		next = st.entries[0].seq
	}
	st.groups[group] = &memGroup{next: next, pel: map[int]*memPending{}}
	return nil
}

func (q *memQueue) Read(ctx context.Context, group, consumer string, max int, wait time.Duration) ([]queue.Message, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	st := q.st
	deadline := time.Now().Add(wait)
	for {
		st.mu.Lock()
		out := st.takeLocked(group, consumer, max, q.claim)
		wake := st.wake
		st.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		rem := time.Until(deadline)
		if rem <= 0 {
			return []queue.Message{}, nil
		}
		if st.mutant == "no-wake" {
			wake = nil
		} else {
			// Look again for claimable entries now and then.
			rem = min(rem, q.claim/4)
		}
		timer := time.NewTimer(rem)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-q.closed:
			timer.Stop()
			return nil, queue.ErrClosed
		}
		timer.Stop()
	}
}

func (st *memStore) takeLocked(group, consumer string, max int, claim time.Duration) []queue.Message {
	g := st.groups[group]
	if g == nil {
		return nil
	}
	if st.mutant == "early-claim" {
		claim = 0
	}
	now := time.Now()
	var out []queue.Message
	for _, e := range st.entries {
		if len(out) == max {
			return out
		}
		if p := g.pel[e.seq]; p != nil && now.Sub(p.at) >= claim {
			p.consumer, p.at = consumer, now
			if st.mutant != "flat-deliveries" {
				p.count++
			}
			out = append(out, queue.Message{ID: strconv.Itoa(e.seq), Body: slices.Clone(e.body), Deliveries: p.count})
		}
	}
	for _, e := range st.entries {
		if len(out) == max {
			break
		}
		if e.seq < g.next {
			continue
		}
		g.next = e.seq + 1
		g.pel[e.seq] = &memPending{consumer: consumer, at: now, count: 1}
		out = append(out, queue.Message{ID: strconv.Itoa(e.seq), Body: slices.Clone(e.body), Deliveries: 1})
	}
	return out
}

func (q *memQueue) Ack(ctx context.Context, group string, ids ...string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if g := st.groups[group]; g != nil {
		for _, id := range ids {
			if n, err := strconv.Atoi(id); err == nil {
				delete(g.pel, n)
			}
		}
	}
	return nil
}

func (q *memQueue) Pending(ctx context.Context, group string) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.groups[group]
	if g == nil {
		return 0, nil
	}
	n := int64(len(g.pel))
	for _, e := range st.entries {
		if e.seq >= g.next {
			n++
		}
	}
	return n, nil
}

func (q *memQueue) Trim(ctx context.Context) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.groups) == 0 {
		return nil
	}
	keep := st.seq + 1
	for _, g := range st.groups {
		keep = min(keep, g.next)
		if st.mutant != "eager-trim" {
			for seq := range g.pel {
				keep = min(keep, seq)
			}
		}
	}
	i := 0
	for i < len(st.entries) && st.entries[i].seq < keep {
		i++
	}
	st.entries = slices.Clone(st.entries[i:])
	return nil
}

func (q *memQueue) DeadLetter(ctx context.Context, group string, m queue.Message, reason string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	m.Body = slices.Clone(m.Body)
	st.dead[group] = append(st.dead[group], queue.DeadLetter{Message: m, Group: group, Reason: reason, At: time.Now()})
	if g := st.groups[group]; g != nil {
		if n, err := strconv.Atoi(m.ID); err == nil {
			delete(g.pel, n)
		}
	}
	return nil
}

func (q *memQueue) DeadLetters(ctx context.Context, group string, max int) ([]queue.DeadLetter, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.dead[group]
	return slices.Clone(d[:min(max, len(d))]), nil
}

func (q *memQueue) Replay(ctx context.Context, group string, ids ...string) (int, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	st := q.st
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, id := range ids {
		i := slices.IndexFunc(st.dead[group], func(d queue.DeadLetter) bool { return d.ID == id })
		if i < 0 {
			continue
		}
		st.publishLocked(st.dead[group][i].Body)
		st.dead[group] = slices.Delete(st.dead[group], i, i+1)
		n++
	}
	return n, nil
}

func (q *memQueue) Close() error {
	q.closeOnce.Do(func() { close(q.closed) })
	return nil
}

// reopen is Factory.Reopen for memory queues; the "forgetful-reopen"
// mutant loses the groups' delivered-but-unacknowledged entries, the
// "recount-reopen" one their delivery counts.
func (q *memQueue) reopen() *memQueue {
	q.Close()
	q.st.mu.Lock()
	for _, g := range q.st.groups {
		switch q.st.mutant {
		case "forgetful-reopen":
			clear(g.pel)
		case "recount-reopen":
			for _, p := range g.pel {
				p.count = 0
			}
		}
	}
	q.st.mu.Unlock()
	return q.st.open(q.claim)
}
