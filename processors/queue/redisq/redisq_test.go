package redisq

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/processors/queue"
	"github.com/s3gate/s3gate/processors/queue/queuetest"
)

const testClaimAfter = 200 * time.Millisecond

func TestQueue(t *testing.T) {
	c := needRedis(t)
	open := func(t *testing.T, prefix string) queue.Queue {
		q, err := New(t.Context(), Options{Client: c, Prefix: prefix, ClaimAfter: testClaimAfter})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	queuetest.Run(t, queuetest.Factory{
		Open: func(t *testing.T) queue.Queue {
			return open(t, freshPrefix(t, c))
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			rq := q.(*Queue)
			if err := rq.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, strings.TrimSuffix(rq.key, "events"))
		},
		ClaimAfter: testClaimAfter,
	})
}

func newTestQueue(t *testing.T, c redis.UniversalClient) (*Queue, string) {
	t.Helper()
	prefix := freshPrefix(t, c)
	q, err := New(t.Context(), Options{Client: c, Prefix: prefix, ClaimAfter: testClaimAfter})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, prefix
}

func TestNewOptions(t *testing.T) {
	ctx := t.Context()
	if _, err := New(ctx, Options{}); err == nil {
		t.Error("New without Client or Addr succeeded")
	}
	if _, err := New(ctx, Options{Addr: sharedAddr(), ClaimAfter: -time.Second}); err == nil {
		t.Error("New with a negative ClaimAfter succeeded")
	}
	if _, err := New(ctx, Options{Addr: "127.0.0.1:1"}); err == nil {
		t.Error("New with nothing listening succeeded")
	}
	c := needRedis(t)
	q, err := New(ctx, Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.key != "s3gate:events" || q.claimAfter != 30*time.Second || q.slice != time.Second {
		t.Errorf("defaults: key %q, ClaimAfter %v, slice %v", q.key, q.claimAfter, q.slice)
	}
}

// TestKeyLayout pins the documented key names, which operators use.
func TestKeyLayout(t *testing.T) {
	c := needRedis(t)
	prefix := freshPrefix(t, c)
	q, err := New(t.Context(), Options{Client: c, Prefix: prefix, Stream: "audit", ClaimAfter: testClaimAfter})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := t.Context()
	if err := q.EnsureGroup(ctx, "indexer"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ms, err := q.Read(ctx, "indexer", "c", 1, time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Read = %v, %v", ms, err)
	}
	if err := q.DeadLetter(ctx, "indexer", ms[0], "r"); err != nil {
		t.Fatal(err)
	}
	got := keysUnder(t, c, prefix)
	slices.Sort(got)
	want := []string{prefix + "audit", prefix + "audit:dlq:indexer", prefix + "audit:dlqidx:indexer"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
}

// TestPendingWithoutLag covers Redis not knowing a group's lag (an entry
// after its position was XDELed): Pending counts the entries instead.
func TestPendingWithoutLag(t *testing.T) {
	c := needRedis(t)
	q, _ := newTestQueue(t, c)
	ctx := t.Context()
	if err := q.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 5 {
		id, err := q.Publish(ctx, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	ms, err := q.Read(ctx, "g", "c", 1, time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Read = %v, %v", ms, err)
	}
	if err := c.XDel(ctx, q.key, ids[3]).Err(); err != nil {
		t.Fatal(err)
	}
	groups, err := c.XInfoGroups(ctx, q.key).Result()
	if err != nil || len(groups) != 1 {
		t.Fatalf("XINFO GROUPS = %v, %v", groups, err)
	}
	if groups[0].Lag != -1 {
		t.Fatalf("Redis reports lag %d; the fallback is not exercised", groups[0].Lag)
	}
	// 1 delivered and unacknowledged + 3 undelivered left.
	if n, err := q.Pending(ctx, "g"); err != nil || n != 4 {
		t.Fatalf("Pending = %d, %v; want 4", n, err)
	}
	if _, err := q.Pending(ctx, "nosuchgroup"); err == nil {
		t.Fatal("Pending of a missing group succeeded")
	}
}

// TestTrimIdArithmetic checks the trim point for ids whose sequence
// numbers differ in length or are at their maximum.
func TestTrimIdArithmetic(t *testing.T) {
	c := needRedis(t)
	q, _ := newTestQueue(t, c)
	ctx := t.Context()
	add := func(id string) {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: q.key, ID: id, Values: []any{bodyField, id}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"5-9", "5-10", "7-18446744073709551615", "8-0"} {
		add(id)
	}
	remaining := func() []string {
		es, err := c.XRange(ctx, q.key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return ids
	}
	for _, step := range []struct {
		lastDelivered string
		want          []string
	}{
		{"5-9", []string{"5-10", "7-18446744073709551615", "8-0"}},
		{"7-18446744073709551615", []string{"8-0"}},
	} {
		if err := c.XGroupCreate(ctx, q.key, "g", step.lastDelivered).Err(); err != nil {
			t.Fatal(err)
		}
		if err := q.Trim(ctx); err != nil {
			t.Fatal(err)
		}
		if got := remaining(); !slices.Equal(got, step.want) {
			t.Fatalf("group at %s: Trim left %v, want %v", step.lastDelivered, got, step.want)
		}
		if err := c.XGroupDestroy(ctx, q.key, "g").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Without groups nothing is removed.
	if err := q.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	if got := remaining(); !slices.Equal(got, []string{"8-0"}) {
		t.Fatalf("Trim without groups left %v", got)
	}
}

// TestDeadLetterTwice keeps the first record when an entry is
// dead-lettered again (a retried call).
func TestDeadLetterTwice(t *testing.T) {
	c := needRedis(t)
	q, _ := newTestQueue(t, c)
	ctx := t.Context()
	if err := q.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	ms, err := q.Read(ctx, "g", "c", 1, time.Second)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Read = %v, %v", ms, err)
	}
	for _, reason := range []string{"first", "second"} {
		if err := q.DeadLetter(ctx, "g", ms[0], reason); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := q.DeadLetters(ctx, "g", 10)
	if err != nil || len(dls) != 1 || dls[0].Reason != "first" {
		t.Fatalf("DeadLetters = %+v, %v; want the first record only", dls, err)
	}
	if n, err := q.Replay(ctx, "g", ms[0].ID); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if n, err := c.HLen(ctx, q.idxKey("g")).Result(); err != nil || n != 0 {
		t.Fatalf("dead letter index has %d entries after Replay (%v)", n, err)
	}
}

// TestReadMissingGroup reports the missing group instead of waiting.
func TestReadMissingGroup(t *testing.T) {
	c := needRedis(t)
	q, _ := newTestQueue(t, c)
	if err := q.EnsureGroup(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	_, err := q.Read(t.Context(), "other", "c", 1, time.Second)
	if err == nil || !strings.Contains(err.Error(), "NOGROUP") {
		t.Fatalf("Read of a missing group: %v, want NOGROUP", err)
	}
}

func TestJudgePersistence(t *testing.T) {
	unknown := errors.New("ERR unknown command 'CONFIG'")
	for _, c := range []struct {
		name   string
		cfg    map[string]string
		cfgErr error
		info   map[string]string
		ok     bool
		detail string
	}{
		{"always", map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory": "0", "maxmemory-policy": "noeviction"}, nil, nil, true, "no acknowledged publish is lost"},
		{"everysec", map[string]string{"appendonly": "yes", "appendfsync": "everysec"}, nil, nil, true, "about the last second"},
		{"fsync no", map[string]string{"appendonly": "yes", "appendfsync": "no"}, nil, nil, false, "appendfsync no"},
		{"rdb only", map[string]string{"appendonly": "no", "save": "3600 1"}, nil, nil, false, "RDB snapshots only"},
		{"nothing", map[string]string{"appendonly": "no", "save": ""}, nil, nil, false, "no RDB snapshots"},
		{"eviction", map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory": "1000000", "maxmemory-policy": "allkeys-lru"}, nil, nil, false, "evict"},
		{"volatile eviction is harmless", map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory": "1000000", "maxmemory-policy": "volatile-lru"}, nil, nil, true, "always"},
		{"aof failing", map[string]string{"appendonly": "yes", "appendfsync": "always"}, nil, map[string]string{"aof_last_write_status": "err"}, false, "AOF write failed"},
		{"config renamed, aof on", nil, unknown, map[string]string{"aof_enabled": "1"}, false, "fsync policy is unknown"},
		{"config renamed, aof off", nil, unknown, map[string]string{"aof_enabled": "0"}, false, "AOF is off"},
		{"nothing answers", nil, unknown, map[string]string{}, false, "persistence unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, detail := judgePersistence(c.cfg, c.cfgErr, c.info)
			if ok != c.ok || !strings.Contains(detail, c.detail) {
				t.Fatalf("= %v, %q; want %v, containing %q", ok, detail, c.ok, c.detail)
			}
			if c.cfgErr != nil && !strings.Contains(detail, "CONFIG unavailable") {
				t.Fatalf("detail %q does not say CONFIG is unavailable", detail)
			}
		})
	}
}
