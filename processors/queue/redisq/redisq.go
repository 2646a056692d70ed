// Package redisq is the Redis Streams implementation of queue.Queue, for
// s3gate deployments with several gateways and processors.
//
// Keys, all under Options.Prefix (P) and Options.Stream (S):
//
//	P S                the event log, a stream of entries {body}
//	P S ":dlq:" G      group G's dead letters, a stream of
//	                   {id, body, reason, at (unix ms), deliveries}
//	P S ":dlqidx:" G   hash: original entry id → its dead letter's id
//
// Each processor is a consumer group. Read claims (XAUTOCLAIM) entries
// idle for ClaimAfter before taking new ones (XREADGROUP), so a processor
// that died with entries in hand has them delivered to another consumer.
// Trim removes only entries every group has acknowledged (XTRIM MINID);
// nothing is ever capped by length.
//
// Multi-key steps (reading, trimming, dead letters, replay) run as Lua
// scripts; in Redis Cluster give Prefix a hash tag ("{s3gate}:") so a
// queue's keys share a slot.
//
// Durability: Publish returns once Redis has applied the XADD. Whether
// that survives a crash depends on the server's persistence, which
// CheckPersistence reports: with appendonly yes and appendfsync always no
// acknowledged publish is lost; with appendfsync everysec a crash of the
// host (power loss, kernel panic) loses about the last second of them (up
// to two when the disk stalls), while a crash or restart of redis-server
// alone loses none; without AOF everything since the last RDB snapshot is
// lost. A publish whose reply was lost may be retried by the client and
// appear twice: delivery is at least once.
package redisq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/processors/queue"
)

// Options configure a Queue.
type Options struct {
	// Client is the Redis connection to use; the Queue does not close it.
	// When nil, the Queue connects to Addr itself and closes that
	// connection on Close.
	Client redis.UniversalClient
	Addr   string
	// Prefix starts every key of the queue; default "s3gate:".
	Prefix string
	// Stream names the event log under Prefix; default "events".
	Stream string
	// ClaimAfter is how long a read entry may stay unacknowledged before
	// it is delivered again; default 30s.
	ClaimAfter time.Duration
	// Logger receives warnings; default none.
	Logger *slog.Logger
}

// Queue is a queue.Queue on Redis Streams. It is safe for concurrent use.
type Queue struct {
	rdb        redis.UniversalClient
	own        bool
	key        string
	claimAfter time.Duration
	// slice bounds one blocking XREADGROUP: a waiting Read notices
	// cancellation, Close and claimable entries at least this often
	// (go-redis cannot interrupt a blocked command).
	slice time.Duration
	log   *slog.Logger

	closeOnce sync.Once
	done      chan struct{}

	mu      sync.Mutex
	cursors map[string]string // group → XAUTOCLAIM cursor
}

var _ queue.Queue = (*Queue)(nil)

const bodyField = "body"

// New opens the queue and checks that Redis answers.
func New(ctx context.Context, o Options) (*Queue, error) {
	if o.ClaimAfter < 0 {
		return nil, fmt.Errorf("redisq: negative ClaimAfter %v", o.ClaimAfter)
	}
	if o.ClaimAfter == 0 {
		o.ClaimAfter = 30 * time.Second
	}
	if o.ClaimAfter < time.Millisecond {
		return nil, fmt.Errorf("redisq: ClaimAfter %v is below Redis's millisecond resolution", o.ClaimAfter)
	}
	if o.Prefix == "" {
		o.Prefix = "s3gate:"
	}
	if o.Stream == "" {
		o.Stream = "events"
	}
	q := &Queue{
		rdb:        o.Client,
		key:        o.Prefix + o.Stream,
		claimAfter: o.ClaimAfter,
		slice:      min(max(o.ClaimAfter/2, 10*time.Millisecond), time.Second),
		log:        o.Logger,
		done:       make(chan struct{}),
		cursors:    map[string]string{},
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.rdb == nil {
		if o.Addr == "" {
			return nil, errors.New("redisq: neither Client nor Addr set")
		}
		q.rdb = redis.NewClient(&redis.Options{Addr: o.Addr, ContextTimeoutEnabled: true})
		q.own = true
	}
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		if q.own {
			q.rdb.Close()
		}
		return nil, fmt.Errorf("redisq: %w", err)
	}
	return q, nil
}

func (q *Queue) dlqKey(group string) string { return q.key + ":dlq:" + group }
func (q *Queue) idxKey(group string) string { return q.key + ":dlqidx:" + group }

// check is the guard at the start of every operation.
func (q *Queue) check(ctx context.Context) error {
	select {
	case <-q.done:
		return queue.ErrClosed
	default:
	}
	return ctx.Err()
}

// fail turns a Redis error into the queue's: ErrClosed once closed, the
// context's error once it is done.
func (q *Queue) fail(ctx context.Context, op string, err error) error {
	if e := q.check(ctx); e != nil {
		return e
	}
	return fmt.Errorf("redisq: %s: %w", op, err)
}

// Publish appends body (XADD) and returns the entry's id.
func (q *Queue) Publish(ctx context.Context, body []byte) (string, error) {
	if err := q.check(ctx); err != nil {
		return "", err
	}
	id, err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.key, Values: []any{bodyField, body}}).Result()
	if err != nil {
		return "", q.fail(ctx, "publish", err)
	}
	return id, nil
}

// EnsureGroup creates group at the start of the stream (creating the
// stream if needed).
func (q *Queue) EnsureGroup(ctx context.Context, group string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	err := q.rdb.XGroupCreateMkStream(ctx, q.key, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return q.fail(ctx, "create group "+group, err)
	}
	return nil
}

// Read returns entries idle past the claim timeout first, then new ones.
// While waiting it blocks in slices, looking for claimable entries between
// them.
func (q *Queue) Read(ctx context.Context, group, consumer string, max int, wait time.Duration) ([]queue.Message, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	if max < 1 {
		max = 1
	}
	deadline := time.Now().Add(wait)
	for {
		msgs, err := q.take(ctx, group, consumer, max)
		if err != nil {
			return nil, q.fail(ctx, "read "+group, err)
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
		block := time.Until(deadline)
		if d, ok := ctx.Deadline(); ok {
			block = min(block, time.Until(d))
		}
		if block = min(block, q.slice); block >= time.Millisecond {
			// BLOCK 0 would wait forever, hence the millisecond floor.
			msgs, err = q.readNew(ctx, group, consumer, max, block)
			if err != nil {
				return nil, q.fail(ctx, "read "+group, err)
			}
			if len(msgs) > 0 {
				return msgs, nil
			}
		}
		if !time.Now().Before(deadline) {
			return []queue.Message{}, nil
		}
		if err := q.check(ctx); err != nil {
			return nil, err
		}
	}
}

// take runs takeScript, continuing the group's XAUTOCLAIM scan where the
// last call left it.
func (q *Queue) take(ctx context.Context, group, consumer string, max int) ([]queue.Message, error) {
	q.mu.Lock()
	cursor := q.cursors[group]
	q.mu.Unlock()
	if cursor == "" {
		cursor = "0-0"
	}
	res, err := takeScript.Run(ctx, q.rdb, []string{q.key}, group, consumer, q.claimAfter.Milliseconds(), cursor, max).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 3 {
		return nil, fmt.Errorf("unexpected reply %v", res)
	}
	next, _ := res[0].(string)
	q.mu.Lock()
	q.cursors[group] = next
	q.mu.Unlock()
	if deleted, _ := res[2].([]any); len(deleted) > 0 {
		// Only XDEL by hand or a trim beyond this queue's own can do this.
		q.log.Warn("redisq: pending entries were deleted from the stream before being processed",
			"stream", q.key, "group", group, "ids", deleted)
	}
	entries, _ := res[1].([]any)
	msgs := make([]queue.Message, 0, len(entries))
	for _, e := range entries {
		parts, _ := e.([]any)
		if len(parts) != 3 {
			return nil, fmt.Errorf("unexpected entry %v", e)
		}
		id, _ := parts[0].(string)
		n, _ := parts[2].(int64)
		msgs = append(msgs, queue.Message{ID: id, Body: bodyOf(parts[1]), Deliveries: int(n)})
	}
	return msgs, nil
}

// bodyOf finds the body in an entry's flat field list.
func bodyOf(fields any) []byte {
	f, _ := fields.([]any)
	for i := 0; i+1 < len(f); i += 2 {
		if k, _ := f[i].(string); k == bodyField {
			v, _ := f[i+1].(string)
			return []byte(v)
		}
	}
	return nil
}

// readNew waits up to block for new entries.
func (q *Queue) readNew(ctx context.Context, group, consumer string, max int, block time.Duration) ([]queue.Message, error) {
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{q.key, ">"}, Count: int64(max), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []queue.Message
	for _, s := range res {
		for _, m := range s.Messages {
			v, _ := m.Values[bodyField].(string)
			msgs = append(msgs, queue.Message{ID: m.ID, Body: []byte(v), Deliveries: 1})
		}
	}
	return msgs, nil
}

// Ack acknowledges ids in group (XACK); unknown ids are ignored.
func (q *Queue) Ack(ctx context.Context, group string, ids ...string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if err := q.rdb.XAck(ctx, q.key, group, ids...).Err(); err != nil {
		return q.fail(ctx, "ack "+group, err)
	}
	return nil
}

// Pending is the group's delivered-but-unacknowledged entries plus its lag
// (XINFO GROUPS). Redis cannot tell the lag when entries were deleted
// with XDEL after the group's position; Pending then counts them.
func (q *Queue) Pending(ctx context.Context, group string) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	groups, err := q.rdb.XInfoGroups(ctx, q.key).Result()
	if err != nil {
		return 0, q.fail(ctx, "pending "+group, err)
	}
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		lag := g.Lag
		if lag < 0 {
			if lag, err = q.countAfter(ctx, g.LastDeliveredID); err != nil {
				return 0, q.fail(ctx, "pending "+group, err)
			}
		}
		return g.Pending + lag, nil
	}
	return 0, fmt.Errorf("redisq: pending: no group %q on %s", group, q.key)
}

// countAfter counts the entries after id.
func (q *Queue) countAfter(ctx context.Context, id string) (int64, error) {
	const batch = 1000
	var n int64
	for {
		es, err := q.rdb.XRangeN(ctx, q.key, "("+id, "+", batch).Result()
		if err != nil {
			return 0, err
		}
		n += int64(len(es))
		if len(es) < batch {
			return n, nil
		}
		id = es[len(es)-1].ID
	}
}

// Trim removes the entries every group has acknowledged.
func (q *Queue) Trim(ctx context.Context) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	if err := trimScript.Run(ctx, q.rdb, []string{q.key}).Err(); err != nil {
		return q.fail(ctx, "trim", err)
	}
	return nil
}

// DeadLetter records m as group's dead letter and acknowledges it.
// Recording the same entry twice keeps the first record.
func (q *Queue) DeadLetter(ctx context.Context, group string, m queue.Message, reason string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	err := deadLetterScript.Run(ctx, q.rdb, []string{q.key, q.dlqKey(group), q.idxKey(group)},
		group, m.ID, m.Body, reason, time.Now().UnixMilli(), m.Deliveries).Err()
	if err != nil {
		return q.fail(ctx, "dead letter "+group, err)
	}
	return nil
}

// DeadLetters lists up to max of group's dead letters, oldest first. Their
// IDs are the original entries' ids, which Replay takes.
func (q *Queue) DeadLetters(ctx context.Context, group string, max int) ([]queue.DeadLetter, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, nil
	}
	es, err := q.rdb.XRangeN(ctx, q.dlqKey(group), "-", "+", int64(max)).Result()
	if err != nil {
		return nil, q.fail(ctx, "dead letters "+group, err)
	}
	out := make([]queue.DeadLetter, 0, len(es))
	for _, e := range es {
		str := func(k string) string { s, _ := e.Values[k].(string); return s }
		at, _ := strconv.ParseInt(str("at"), 10, 64)
		n, _ := strconv.Atoi(str("deliveries"))
		out = append(out, queue.DeadLetter{
			Message: queue.Message{ID: str("id"), Body: []byte(str("body")), Deliveries: n},
			Group:   group,
			Reason:  str("reason"),
			At:      time.UnixMilli(at),
		})
	}
	return out, nil
}

// Replay publishes the named dead letters (by original id) again, to every
// group, and removes them.
func (q *Queue) Replay(ctx context.Context, group string, ids ...string) (int, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	n, err := replayScript.Run(ctx, q.rdb, []string{q.key, q.dlqKey(group), q.idxKey(group)}, args...).Int()
	if err != nil {
		return 0, q.fail(ctx, "replay "+group, err)
	}
	return n, nil
}

// Close stops the queue; a waiting Read returns within one block slice.
// It closes the Redis connection only if New opened it.
func (q *Queue) Close() error {
	err := queue.ErrClosed
	q.closeOnce.Do(func() {
		close(q.done)
		err = nil
		if q.own {
			err = q.rdb.Close()
		}
	})
	return err
}
