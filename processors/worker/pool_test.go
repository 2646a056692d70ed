package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue"
)

// longClaim keeps the queue from redelivering anything during a test
// that does not mean it to.
const longClaim = time.Minute

// recorder is a processor that records the events it applied, by
// sequencer. hook, when set, runs first on every call (numbered from 1);
// an error from it is Handle's, and the event is then not applied.
type recorder struct {
	name string
	hook func(ctx context.Context, call int, rec events.Record) error

	mu      sync.Mutex
	calls   int
	applied map[string]int
}

func newRecorder(name string, hook func(context.Context, int, events.Record) error) *recorder {
	return &recorder{name: name, hook: hook, applied: map[string]int{}}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Handle(ctx context.Context, rec events.Record) error {
	r.mu.Lock()
	r.calls++
	call := r.calls
	r.mu.Unlock()
	if r.hook != nil {
		if err := r.hook(ctx, call, rec); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.applied[rec.S3.Object.Sequencer]++
	r.mu.Unlock()
	return nil
}

func (r *recorder) state() (calls int, applied map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	applied = make(map[string]int, len(r.applied))
	for k, v := range r.applied {
		applied[k] = v
	}
	return r.calls, applied
}

// testOptions are fast defaults for tests, with a registry of the test's
// own.
func testOptions() Options {
	return Options{
		Consumer:        "c1",
		BackoffMin:      time.Millisecond,
		BackoffMax:      5 * time.Millisecond,
		ReadWait:        100 * time.Millisecond,
		MetricsInterval: 10 * time.Millisecond,
		TrimInterval:    50 * time.Millisecond,
		Registerer:      prometheus.NewRegistry(),
	}
}

func newPool(t testing.TB, q queue.Queue, opts Options, specs ...Spec) *Pool {
	t.Helper()
	p, err := New(q, specs, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// run runs p until the returned stop is called (at the latest when t
// ends); stop waits for Run to return and checks it returned nil.
func run(t testing.TB, p *Pool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	// Wait for Run to create the groups, which the tests then look at.
	for _, g := range p.Processors() {
		waitFor(t, "group "+g, func() bool {
			_, err := p.q.Pending(context.Background(), g)
			return err == nil
		})
	}
	return stop
}

// seq is the sequencer of test event i.
func seq(i int) string { return fmt.Sprintf("%028X", i) }

// publish publishes events from to to-1 (keys k<i>, sequencers seq(i)),
// made at when.
func publish(t testing.TB, q queue.Queue, from, to int, when time.Time) {
	t.Helper()
	for i := from; i < to; i++ {
		b, err := events.New(events.Change{
			Name: events.ObjectCreatedPut, Time: when, Bucket: "b", Key: fmt.Sprintf("k%d", i), Sequencer: seq(i),
		}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Publish(context.Background(), b); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

// waitFor polls cond until it holds, failing t after a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pending(t testing.TB, q queue.Queue, group string) int64 {
	t.Helper()
	n, err := q.Pending(context.Background(), group)
	if err != nil {
		t.Fatalf("Pending(%s): %v", group, err)
	}
	return n
}

func deadLetters(t testing.TB, q queue.Queue, group string) []queue.DeadLetter {
	t.Helper()
	dl, err := q.DeadLetters(context.Background(), group, 100)
	if err != nil {
		t.Fatalf("DeadLetters(%s): %v", group, err)
	}
	return dl
}

// appliedOnce checks that r applied events from to to-1, each once, and
// nothing else.
func appliedOnce(t testing.TB, r *recorder, from, to int) {
	t.Helper()
	_, applied := r.state()
	if len(applied) != to-from {
		t.Errorf("%s applied %d events, want %d", r.name, len(applied), to-from)
	}
	for i := from; i < to; i++ {
		if n := applied[seq(i)]; n != 1 {
			t.Errorf("%s applied event %d %d times, want once", r.name, i, n)
		}
	}
}

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (p *Pool) series(name string) hookMetrics { return p.metrics.of(name) }

// TestEveryProcessorGetsEveryEvent: two processors, each its own group,
// each applies every event once and acknowledges it.
func TestEveryProcessorGetsEveryEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		alpha, beta := newRecorder("alpha", nil), newRecorder("beta-2", nil)
		p := newPool(t, q, testOptions(), Spec{Processor: alpha, Concurrency: 2}, Spec{Processor: beta})
		if got := p.Processors(); !slices.Equal(got, []string{"alpha", "beta-2"}) {
			t.Errorf("Processors() = %v", got)
		}
		const n = 25
		publish(t, q, 0, 10, time.Now())
		run(t, p)
		publish(t, q, 10, n, time.Now()) // some before Run, some while it runs
		for _, r := range []*recorder{alpha, beta} {
			waitFor(t, r.name+" to apply every event", func() bool {
				_, applied := r.state()
				return len(applied) == n
			})
			waitFor(t, r.name+"'s pending count to drop to 0", func() bool { return pending(t, q, r.name) == 0 })
			appliedOnce(t, r, 0, n)
			if ok := counter(p.series(r.name).ok); ok != n {
				t.Errorf("%s: events ok = %v, want %d", r.name, ok, n)
			}
		}
	})
}

// TestRetryThenSuccess: two temporary failures, then success: applied
// once after two retries, waiting with the backoff between them.
func TestRetryThenSuccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		r := newRecorder("flaky", func(_ context.Context, call int, _ events.Record) error {
			if call <= 2 {
				return errors.New("backend unavailable")
			}
			return nil
		})
		p := newPool(t, q, testOptions(), Spec{Processor: r})
		var mu sync.Mutex
		var bounds []int64
		p.rnd = func(n int64) int64 {
			mu.Lock()
			bounds = append(bounds, n)
			mu.Unlock()
			return n - 1
		}
		publish(t, q, 0, 1, time.Now())
		run(t, p)
		waitFor(t, "the event to be applied and acknowledged", func() bool {
			_, applied := r.state()
			return len(applied) == 1 && pending(t, q, r.name) == 0
		})
		appliedOnce(t, r, 0, 1)
		if calls, _ := r.state(); calls != 3 {
			t.Errorf("Handle called %d times, want 3", calls)
		}
		m := p.series(r.name)
		if got := counter(m.retries); got != 2 {
			t.Errorf("retries = %v, want 2", got)
		}
		if got := counter(m.retry); got != 2 {
			t.Errorf("events retry = %v, want 2", got)
		}
		if got := counter(m.ok); got != 1 {
			t.Errorf("events ok = %v, want 1", got)
		}
		if dl := deadLetters(t, q, r.name); len(dl) != 0 {
			t.Errorf("dead letters: %v", dl)
		}
		mu.Lock()
		defer mu.Unlock()
		// The ceilings of retries 1 and 2 (1ms, 2ms), each plus one as
		// rand.Int64N's bound.
		if want := []int64{int64(time.Millisecond) + 1, int64(2*time.Millisecond) + 1}; !slices.Equal(bounds, want) {
			t.Errorf("backoff asked rand for %v, want %v", bounds, want)
		}
	})
}

// TestPermanentFailureAndReplay: a permanent error dead-letters at once
// with its reason; replayed once the processor is fixed, the event is
// applied.
func TestPermanentFailureAndReplay(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		var broken atomic.Bool
		broken.Store(true)
		r := newRecorder("thumbs", func(context.Context, int, events.Record) error {
			if broken.Load() {
				return fmt.Errorf("decoding: %w", processors.Permanent(errors.New("corrupt image")))
			}
			return nil
		})
		p := newPool(t, q, testOptions(), Spec{Processor: r})
		publish(t, q, 0, 1, time.Now())
		run(t, p)
		var dl []queue.DeadLetter
		m := p.series(r.name)
		waitFor(t, "the dead letter", func() bool { // and its count, which follows it
			dl = deadLetters(t, q, r.name)
			return len(dl) > 0 && counter(m.permanent) > 0
		})
		if len(dl) != 1 || dl[0].Reason != "decoding: corrupt image" {
			t.Fatalf("dead letters %+v, want one for the corrupt image", dl)
		}
		if calls, applied := r.state(); calls != 1 || len(applied) != 0 {
			t.Errorf("Handle called %d times, applied %v; want one call, nothing applied", calls, applied)
		}
		if counter(m.permanent) != 1 || counter(m.retry) != 0 || counter(m.retries) != 0 {
			t.Errorf("events permanent %v, retry %v, retries %v; want 1, 0, 0", counter(m.permanent), counter(m.retry), counter(m.retries))
		}
		if n := pending(t, q, r.name); n != 0 {
			t.Errorf("pending %d after dead letter, want 0", n)
		}

		broken.Store(false)
		if n, err := q.Replay(context.Background(), r.name, dl[0].ID); err != nil || n != 1 {
			t.Fatalf("Replay = %d, %v", n, err)
		}
		waitFor(t, "the replayed event to be applied", func() bool {
			_, applied := r.state()
			return len(applied) == 1 && pending(t, q, r.name) == 0
		})
		appliedOnce(t, r, 0, 1)
		if dl := deadLetters(t, q, r.name); len(dl) != 0 {
			t.Errorf("dead letters after replay: %v", dl)
		}
	})
}

// TestAttemptsExhausted: an event that always fails is dead-lettered
// after MaxAttempts attempts.
func TestAttemptsExhausted(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		r := newRecorder("down", func(context.Context, int, events.Record) error { return errors.New("connection refused") })
		opts := testOptions()
		opts.MaxAttempts = 3
		p := newPool(t, q, opts, Spec{Processor: r})
		publish(t, q, 0, 1, time.Now())
		run(t, p)
		var dl []queue.DeadLetter
		m := p.series(r.name)
		// The pool counts a dead letter once the queue has taken it: wait
		// for both.
		waitFor(t, "the dead letter", func() bool {
			dl = deadLetters(t, q, r.name)
			return len(dl) > 0 && counter(m.dead) > 0
		})
		if len(dl) != 1 || dl[0].Reason != "gave up after 3 attempts: connection refused" {
			t.Errorf("dead letters %+v", dl)
		}
		if calls, _ := r.state(); calls != 3 {
			t.Errorf("Handle called %d times, want 3", calls)
		}
		if counter(m.dead) != 1 || counter(m.retry) != 2 || counter(m.retries) != 2 || counter(m.ok) != 0 {
			t.Errorf("events dead_letter %v, retry %v, retries %v, ok %v; want 1, 2, 2, 0",
				counter(m.dead), counter(m.retry), counter(m.retries), counter(m.ok))
		}
	})
}

// TestDeliveriesCountAsAttempts: each earlier delivery that was not
// acknowledged uses up an attempt, and an event delivered more often than
// MaxAttempts is dead-lettered without another.
func TestDeliveriesCountAsAttempts(t *testing.T) {
	for _, tc := range []struct{ maxAttempts, wantCalls int }{{3, 2}, {1, 0}} {
		t.Run(fmt.Sprintf("MaxAttempts=%d", tc.maxAttempts), func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b backend) {
				q, _ := b.open(t, 200*time.Millisecond)
				r := newRecorder("crashy", func(context.Context, int, events.Record) error { return errors.New("still failing") })
				ctx := context.Background()
				if err := q.EnsureGroup(ctx, r.name); err != nil {
					t.Fatal(err)
				}
				publish(t, q, 0, 1, time.Now())
				// A consumer that takes the event and dies with it.
				if ms, err := q.Read(ctx, r.name, "dead", 1, 0); err != nil || len(ms) != 1 {
					t.Fatalf("Read = %v, %v", ms, err)
				}
				opts := testOptions()
				opts.MaxAttempts = tc.maxAttempts
				p := newPool(t, q, opts, Spec{Processor: r})
				run(t, p)
				var dl []queue.DeadLetter
				waitFor(t, "the dead letter", func() bool {
					dl = deadLetters(t, q, r.name)
					return len(dl) > 0
				})
				if calls, _ := r.state(); calls != tc.wantCalls {
					t.Errorf("Handle called %d times, want %d", calls, tc.wantCalls)
				}
				want := fmt.Sprintf("gave up after %d attempts", tc.maxAttempts)
				if tc.wantCalls == 0 {
					want = "delivered 2 times without being acknowledged"
				}
				if len(dl) != 1 || dl[0].Deliveries != 2 || !strings.Contains(dl[0].Reason, want) {
					t.Errorf("dead letters %+v, want one delivered twice, reason %q", dl, want)
				}
			})
		})
	}
}

// TestUndecodable: a body that is not an event message is dead-lettered
// at once; the events around it are applied.
func TestUndecodable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		r := newRecorder("meta", nil)
		publish(t, q, 0, 1, time.Now())
		for _, body := range []string{"not json", `{"Records":[]}`} {
			if _, err := q.Publish(context.Background(), []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		publish(t, q, 1, 2, time.Now())
		p := newPool(t, q, testOptions(), Spec{Processor: r})
		run(t, p)
		waitFor(t, "everything to be handled", func() bool { return pending(t, q, r.name) == 0 })
		appliedOnce(t, r, 0, 2)
		dl := deadLetters(t, q, r.name)
		if len(dl) != 2 || string(dl[0].Body) != "not json" || !strings.HasPrefix(dl[0].Reason, "undecodable event: ") ||
			!strings.Contains(dl[1].Reason, "no records") {
			t.Errorf("dead letters %+v", dl)
		}
		if calls, _ := r.state(); calls != 2 {
			t.Errorf("Handle called %d times, want 2", calls)
		}
		if got := counter(p.series(r.name).dead); got != 2 {
			t.Errorf("events dead_letter = %v, want 2", got)
		}
	})
}

// TestKilledMidMessage: a pool stopped while its processor is inside
// Handle acknowledges nothing; a new pool (another process: the queue
// reopened, another consumer) is handed the events once the claim timeout
// passes and applies each once.
func TestKilledMidMessage(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, reopen := b.open(t, longClaim)
		entered := make(chan struct{})
		r := newRecorder("index", func(ctx context.Context, call int, _ events.Record) error {
			if call == 1 {
				close(entered)
				<-ctx.Done() // stuck until the process dies
				return ctx.Err()
			}
			return nil
		})
		const n = 3
		publish(t, q, 0, n, time.Now())
		p1 := newPool(t, q, testOptions(), Spec{Processor: r})
		stop := run(t, p1)
		select {
		case <-entered:
		case <-time.After(30 * time.Second):
			t.Fatal("Handle was not called")
		}
		stop()
		if _, applied := r.state(); len(applied) != 0 {
			t.Fatalf("applied %v before the pool died", applied)
		}
		if got := pending(t, q, r.name); got != n {
			t.Fatalf("pending %d after the pool died, want %d", got, n)
		}

		q2 := reopen(500 * time.Millisecond)
		opts := testOptions()
		opts.Consumer = "c2"
		p2 := newPool(t, q2, opts, Spec{Processor: r})
		run(t, p2)
		waitFor(t, "the events to be applied after the restart", func() bool {
			_, applied := r.state()
			return len(applied) == n && pending(t, q2, r.name) == 0
		})
		appliedOnce(t, r, 0, n)
		if calls, _ := r.state(); calls != n+1 {
			t.Errorf("Handle called %d times, want %d (one interrupted)", calls, n+1)
		}
		if got := counter(p2.series(r.name).retries); got != n {
			t.Errorf("retries = %v, want %d (every event was delivered again)", got, n)
		}
	})
}

// TestStopsDuringBackoff: a pool waiting to retry stops at once when its
// context ends, leaving the event unacknowledged.
func TestStopsDuringBackoff(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		r := newRecorder("slow", func(context.Context, int, events.Record) error { return errors.New("try later") })
		opts := testOptions()
		opts.BackoffMin, opts.BackoffMax = time.Hour, time.Hour
		p := newPool(t, q, opts, Spec{Processor: r})
		p.rnd = func(n int64) int64 { return n - 1 }
		publish(t, q, 0, 1, time.Now())
		stop := run(t, p)
		waitFor(t, "the retry to be scheduled", func() bool { return counter(p.series(r.name).retry) == 1 })
		start := time.Now()
		stop()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Run took %v to return", d)
		}
		if got := pending(t, q, r.name); got != 1 {
			t.Errorf("pending %d, want 1 (not acknowledged)", got)
		}
		if dl := deadLetters(t, q, r.name); len(dl) != 0 {
			t.Errorf("dead letters %v", dl)
		}
	})
}

// TestConcurrency: Concurrency 4 runs up to 4 Handle calls at once, never
// more.
func TestConcurrency(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		release := make(chan struct{})
		var inflight, most atomic.Int64
		r := newRecorder("wide", func(ctx context.Context, call int, _ events.Record) error {
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			time.Sleep(time.Millisecond) // overlap with the next calls
			return nil
		})
		opts := testOptions()
		opts.Batch = 1
		p := newPool(t, q, opts, Spec{Processor: r, Concurrency: 4})
		const n = 20
		publish(t, q, 0, n, time.Now())
		run(t, p)
		waitFor(t, "4 calls in flight", func() bool { return inflight.Load() == 4 })
		close(release)
		waitFor(t, "every event to be applied", func() bool { return pending(t, q, r.name) == 0 })
		appliedOnce(t, r, 0, n)
		if m := most.Load(); m != 4 {
			t.Errorf("at most %d calls in flight, want 4", m)
		}
	})
}

// TestMetrics checks that the series move: depth and lag while events
// wait, then events, duration and dead letters as they are handled.
func TestMetrics(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		release := make(chan struct{})
		r := newRecorder("meter", func(ctx context.Context, _ int, rec events.Record) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			if rec.Key() == "k5" {
				return processors.Permanent(errors.New("bad"))
			}
			return nil
		})
		opts := testOptions()
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		p := newPool(t, q, opts, Spec{Processor: r})
		m := p.series(r.name)
		publish(t, q, 0, 6, time.Now().Add(-time.Hour))
		run(t, p)
		waitFor(t, "depth 6", func() bool { return testutil.ToFloat64(m.depth) == 6 })
		waitFor(t, "lag of an hour", func() bool { return testutil.ToFloat64(m.lag) >= 3600 })
		close(release)
		waitFor(t, "depth 0", func() bool { return testutil.ToFloat64(m.depth) == 0 })
		waitFor(t, "lag 0", func() bool { return testutil.ToFloat64(m.lag) == 0 })
		waitFor(t, "dead letters 1", func() bool { return testutil.ToFloat64(m.deadLetters) == 1 })
		if counter(m.ok) != 5 || counter(m.permanent) != 1 {
			t.Errorf("events ok %v, permanent %v; want 5, 1", counter(m.ok), counter(m.permanent))
		}
		if got := histogramCount(t, reg, "s3gate_hook_duration_seconds", r.name); got != 6 {
			t.Errorf("duration observations %d, want 6", got)
		}
		if n, err := testutil.GatherAndCount(reg, "s3gate_hook_queue_depth", "s3gate_hook_lag_seconds",
			"s3gate_hook_events_total", "s3gate_hook_retries_total", "s3gate_hook_dead_letters",
			"s3gate_hook_duration_seconds"); err != nil || n < 6 {
			t.Errorf("gathered %d series (%v), want every metric", n, err)
		}
	})
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name, processor string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "processor" && l.GetValue() == processor {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// trimCounter counts Trim calls.
type trimCounter struct {
	queue.Queue
	trims atomic.Int64
}

func (c *trimCounter) Trim(ctx context.Context) error {
	c.trims.Add(1)
	return c.Queue.Trim(ctx)
}

// TestTrims: the pool trims the queue periodically.
func TestTrims(t *testing.T) {
	q, _ := diskBackend.open(t, longClaim)
	tq := &trimCounter{Queue: q}
	run(t, newPool(t, tq, testOptions(), Spec{Processor: newRecorder("a", nil)}))
	waitFor(t, "two trims", func() bool { return tq.trims.Load() >= 2 })
}

// TestRunTwice: a second Run while the first runs is refused; after the
// first returns, a new one may start.
func TestRunTwice(t *testing.T) {
	q, _ := diskBackend.open(t, longClaim)
	p := newPool(t, q, testOptions(), Spec{Processor: newRecorder("a", nil)})
	stop := run(t, p)
	waitFor(t, "Run to start", func() bool { return p.running.Load() })
	if err := p.Run(context.Background()); err == nil {
		t.Error("second concurrent Run succeeded")
	}
	stop()
	r := newRecorder("a", nil)
	p2 := newPool(t, q, testOptions(), Spec{Processor: r})
	run(t, p2)
	publish(t, q, 0, 1, time.Now())
	waitFor(t, "the event", func() bool { return pending(t, q, "a") == 0 })
}

// TestQueueClosed: Run returns an error when the queue is closed under it.
func TestQueueClosed(t *testing.T) {
	q, _ := diskBackend.open(t, longClaim)
	p := newPool(t, q, testOptions(), Spec{Processor: newRecorder("a", nil)})
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	waitFor(t, "Run to start", func() bool { return p.running.Load() })
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, queue.ErrClosed) {
			t.Errorf("Run = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

type named string

func (n named) Name() string                                { return string(n) }
func (n named) Handle(context.Context, events.Record) error { return nil }

func TestNewValidates(t *testing.T) {
	q, _ := diskBackend.open(t, longClaim)
	ok := Spec{Processor: named("ok-1")}
	for _, tc := range []struct {
		name  string
		specs []Spec
		opts  Options
	}{
		{"no processors", nil, Options{}},
		{"nil processor", []Spec{{}}, Options{}},
		{"empty name", []Spec{{Processor: named("")}}, Options{}},
		{"upper case", []Spec{{Processor: named("Meta")}}, Options{}},
		{"slash", []Spec{{Processor: named("a/b")}}, Options{}},
		{"too long", []Spec{{Processor: named(strings.Repeat("a", 65))}}, Options{}},
		{"duplicate", []Spec{ok, {Processor: named("ok-1")}}, Options{}},
		{"negative concurrency", []Spec{{Processor: named("a"), Concurrency: -1}}, Options{}},
		{"negative attempts", []Spec{ok}, Options{MaxAttempts: -1}},
		{"min above max", []Spec{ok}, Options{BackoffMin: time.Second, BackoffMax: time.Millisecond}},
		{"negative wait", []Spec{ok}, Options{ReadWait: -1}},
	} {
		if _, err := New(q, tc.specs, tc.opts); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	if _, err := New(nil, []Spec{ok}, Options{}); err == nil {
		t.Error("New without a queue succeeded")
	}
	p, err := New(q, []Spec{ok, {Processor: named(strings.Repeat("z", 64)), Concurrency: 3}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := p.opts
	if o.MaxAttempts != DefaultMaxAttempts || o.BackoffMin != DefaultBackoffMin || o.BackoffMax != DefaultBackoffMax ||
		o.Batch != DefaultBatch || o.ReadWait != DefaultReadWait || o.TrimInterval != DefaultTrimInterval ||
		o.MetricsInterval != DefaultMetricsInterval || o.Consumer == "" || o.Logger == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
	if p.hooks[0].concurrency != 1 || p.hooks[1].concurrency != 3 {
		t.Errorf("concurrency %d, %d; want 1, 3", p.hooks[0].concurrency, p.hooks[1].concurrency)
	}
}

// TestMetricsShared: two pools may share a registry, as a process that
// starts a new pool after an old one does.
func TestMetricsShared(t *testing.T) {
	q, _ := diskBackend.open(t, longClaim)
	reg := prometheus.NewRegistry()
	opts := testOptions()
	opts.Registerer = reg
	p1 := newPool(t, q, opts, Spec{Processor: named("a")})
	p2 := newPool(t, q, opts, Spec{Processor: named("a")})
	p1.series("a").ok.Inc()
	if got := counter(p2.series("a").ok); got != 1 {
		t.Errorf("second pool's counter = %v, want the first's 1", got)
	}
}
