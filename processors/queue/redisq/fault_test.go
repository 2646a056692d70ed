package redisq

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load publishes numbered bodies until stopped, remembering when Publish
// acknowledged each; failures (Redis down) are counted and retried with
// the next body.
type load struct {
	mu    sync.Mutex
	acked map[string]time.Time
	errs  atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

func startLoad(ctx context.Context, q *Queue) *load {
	l := &load{acked: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			body := fmt.Sprintf("e-%07d", i)
			if _, err := q.Publish(ctx, []byte(body)); err != nil {
				l.errs.Add(1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.mu.Lock()
			l.acked[body] = time.Now()
			l.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *load) finish() map[string]time.Time {
	close(l.stop)
	<-l.done
	return l.acked
}

// TestRestartKeepsAcknowledgedPublishes stops Redis (SIGTERM) while
// entries are published and consumed, starts it again on the same data,
// and checks every publish Redis acknowledged is delivered.
func TestRestartKeepsAcknowledgedPublishes(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()
	q, err := New(ctx, Options{Addr: srv.addr(), ClaimAfter: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}

	var seenMu sync.Mutex
	seen := map[string]bool{}
	var readErrs atomic.Int64
	consCtx, stopCons := context.WithCancel(ctx)
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for consCtx.Err() == nil {
			// Slower than the publisher, so a backlog waits in Redis
			// when it stops.
			time.Sleep(20 * time.Millisecond)
			ms, err := q.Read(consCtx, "g", "c", 5, 100*time.Millisecond)
			if err != nil {
				readErrs.Add(1)
				continue
			}
			seenMu.Lock()
			for _, m := range ms {
				seen[string(m.Body)] = true
			}
			seenMu.Unlock()
			// A lost ack only means a redelivery after the claim timeout.
			q.Ack(consCtx, "g", idsOf(ms)...)
		}
	}()
	defer func() { stopCons(); <-consDone }()
	seenCount := func() int {
		seenMu.Lock()
		defer seenMu.Unlock()
		return len(seen)
	}

	ld := startLoad(ctx, q)
	waitFor(t, 60*time.Second, "500 publishes and 300 deliveries", func() bool { return ld.count() >= 500 && seenCount() >= 300 })

	srv.stop(syscall.SIGTERM)
	pubErrs, rdErrs := ld.errs.Load(), readErrs.Load()
	backlog := ld.count() - seenCount()
	if backlog <= 0 {
		t.Fatalf("no backlog when Redis stopped; the restart is not exercised")
	}
	waitFor(t, 30*time.Second, "publishers and consumers to notice Redis is down", func() bool {
		return ld.errs.Load() > pubErrs && readErrs.Load() > rdErrs
	})
	before := ld.count()
	srv.restart()
	waitFor(t, 60*time.Second, "200 publishes after the restart", func() bool { return ld.count() >= before+200 })
	acked := ld.finish()

	missing := func() []string {
		seenMu.Lock()
		defer seenMu.Unlock()
		var out []string
		for body := range acked {
			if !seen[body] {
				out = append(out, body)
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged publishes never delivered after the restart, e.g. %v", len(m), len(acked), m[:min(5, len(m))])
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "every entry acknowledged", func() bool {
		n, err := q.Pending(ctx, "g")
		return err == nil && n == 0
	})
	t.Logf("%d publishes acknowledged (%d not yet delivered when Redis stopped), %d failed while it was down; all delivered",
		len(acked), backlog, ld.errs.Load())
}

// TestKillLosesAtMostTheFsyncWindow kills Redis (SIGKILL) under load with
// appendfsync everysec: after the restart every publish acknowledged more
// than the documented window before the kill is still there.
func TestKillLosesAtMostTheFsyncWindow(t *testing.T) {
	const window = 2 * time.Second // everysec: about 1 s, up to 2 when the disk stalls
	srv := startServer(t)
	ctx := t.Context()
	q, err := New(ctx, Options{Addr: srv.addr(), ClaimAfter: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	ld := startLoad(ctx, q)
	start := time.Now()
	// Publish for longer than the window, so some entries are old enough
	// to be checked.
	waitFor(t, 60*time.Second, "publishes for 2 windows", func() bool { return time.Since(start) > 2*window && ld.count() > 100 })
	killed := time.Now()
	srv.stop(syscall.SIGKILL)
	srv.restart()
	acked := ld.finish()

	// A group created now reads from the oldest entry.
	if err := q.EnsureGroup(ctx, "audit"); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	for {
		ms, err := q.Read(ctx, "audit", "c", 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			present[string(m.Body)] = true
		}
		if err := q.Ack(ctx, "audit", idsOf(ms)...); err != nil {
			t.Fatal(err)
		}
	}
	var checked, lost int
	for body, at := range acked {
		if present[body] {
			continue
		}
		lost++
		if at.Before(killed.Add(-window)) {
			t.Errorf("%s acknowledged %v before the kill is lost", body, killed.Sub(at))
		}
	}
	for _, at := range acked {
		if at.Before(killed.Add(-window)) {
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no publish old enough to check")
	}
	t.Logf("%d publishes acknowledged (%d older than %v at the kill); %d lost", len(acked), checked, window, lost)
}

// TestDeadConsumerEntriesClaimed: a consumer that stops without acking
// (its process gone) has its entries delivered to another consumer.
func TestDeadConsumerEntriesClaimed(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()
	const claimAfter = 300 * time.Millisecond
	open := func() *Queue {
		q, err := New(ctx, Options{Addr: srv.addr(), ClaimAfter: claimAfter, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	dying, survivor := open(), open()
	if err := dying.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 10 {
		body := fmt.Sprintf("work-%d", i)
		id, err := dying.Publish(ctx, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = body
	}
	handed := time.Now()
	ms, err := dying.Read(ctx, "g", "dying", 10, time.Second)
	if err != nil || len(ms) != 10 {
		t.Fatalf("Read = %d entries, %v", len(ms), err)
	}
	if err := dying.Close(); err != nil { // closes its connection
		t.Fatal(err)
	}

	got := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("survivor claimed %d of %d entries", len(got), len(want))
		}
		ms, err := survivor.Read(ctx, "g", "survivor", 10, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if since := time.Since(handed); since < claimAfter {
				t.Fatalf("%s claimed %v after the dead consumer got it, before %v", m.ID, since, claimAfter)
			}
			if want[m.ID] != string(m.Body) || m.Deliveries != 2 {
				t.Fatalf("claimed %s %q Deliveries %d, want %q Deliveries 2", m.ID, m.Body, m.Deliveries, want[m.ID])
			}
			got[m.ID]++
		}
	}
	c := srv.client(t)
	pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: survivor.key, Group: "g", Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) != len(want) {
		t.Fatalf("%d pending entries, want %d", len(pend), len(want))
	}
	for _, p := range pend {
		if p.Consumer != "survivor" {
			t.Fatalf("%s still owned by %s", p.ID, p.Consumer)
		}
	}
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}
	if err := survivor.Ack(ctx, "g", ids...); err != nil {
		t.Fatal(err)
	}
	if n, err := survivor.Pending(ctx, "g"); err != nil || n != 0 {
		t.Fatalf("Pending = %d, %v; want 0", n, err)
	}
}

func TestCheckPersistence(t *testing.T) {
	ctx := t.Context()
	srv := startServer(t)
	own := srv.client(t)
	check := func(name string, c redis.UniversalClient, wantOK bool, wantDetail ...string) {
		t.Helper()
		ok, detail, err := CheckPersistence(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ok != wantOK {
			t.Fatalf("%s: ok = %v (%s), want %v", name, ok, detail, wantOK)
		}
		for _, w := range wantDetail {
			if !strings.Contains(detail, w) {
				t.Fatalf("%s: detail %q lacks %q", name, detail, w)
			}
		}
		t.Logf("%s: %s", name, detail)
	}
	check("own server, AOF everysec", own, true, "everysec")
	if err := own.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		t.Fatal(err)
	}
	check("own server, AOF always", own, true, "always")
	if err := own.ConfigSet(ctx, "appendfsync", "no").Err(); err != nil {
		t.Fatal(err)
	}
	check("own server, AOF without fsync", own, false, "appendfsync no")
	for k, v := range map[string]string{"appendfsync": "everysec", "maxmemory": "100mb", "maxmemory-policy": "allkeys-lru"} {
		if err := own.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	check("own server, evicting", own, false, "allkeys-lru")

	check("shared server (appendonly no)", needRedis(t), false, "appendonly no")

	renamed := startServer(t, "--rename-command", "CONFIG", "")
	check("CONFIG disabled", renamed.client(t), false, "CONFIG unavailable", "fsync policy is unknown")

	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	if _, _, err := CheckPersistence(ctx, dead); err == nil {
		t.Fatal("CheckPersistence of an unreachable Redis reported no error")
	}
}
