// Package worker runs s3gate's processors: a pool that feeds each one the
// events of its own consumer group of the queue, retries what fails, and
// dead-letters what cannot succeed.
//
// # Delivery
//
// Each processor has a consumer group named after it and Concurrency
// goroutines, each reading a batch of up to Batch messages and handling
// them one after the other. A message is acknowledged once the processor
// has handled every record in it. A message that is not acknowledged
// (the process died, or the pool stopped) is delivered again by the queue
// after its claim timeout, possibly to another replica; so is one held for
// longer than that, while the first consumer may still be working on it.
// Processors are idempotent (see processors.Processor), which makes both
// safe. The default backoff keeps a message's retries (at most 3 s of
// waiting) well within the default claim timeout of 30 s.
//
// # Attempts
//
// An undecodable message is dead-lettered at once, as is one whose handling
// fails with a processors.Permanent error. Other errors are retried in
// process, waiting with exponential backoff and full jitter, until
// MaxAttempts attempts have been made; then the message is dead-lettered
// with the last error. Every earlier delivery of a message counts as one
// attempt: the consumer it went to failed to finish it, maybe by crashing
// on it. A message delivered for the d-th time thus gets at most
// MaxAttempts-(d-1) attempts, and one delivered more than MaxAttempts
// times is dead-lettered without another, so an event that crashes the
// process cannot loop forever. Within one delivery the records of a
// message that succeeded are not handled again by the retries.
//
// When the pool's context ends, handlers are cancelled through their
// context and retries stop; what was not finished stays unacknowledged
// for the queue to deliver again. What did finish is still acknowledged.
//
// # Metrics
//
// All labelled by processor: s3gate_hook_queue_depth (Queue.Pending,
// sampled every MetricsInterval), s3gate_hook_lag_seconds (at each read,
// how long the oldest event read had waited since its eventTime; 0 when a
// read or a depth sample finds nothing waiting; backfilled events, whose
// eventTime is the object's, do not count), s3gate_hook_events_total by
// result (ok, permanent, dead_letter; retry for failed attempts that were
// retried), s3gate_hook_retries_total (attempts after an event's first,
// in process or on redelivery), s3gate_hook_dead_letters (sampled, up to
// 1000) and s3gate_hook_duration_seconds (each call of Handle).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue"
)

// Options tune a Pool. The zero value is the default.
type Options struct {
	// Consumer is this replica's consumer name in every group; default
	// hostname-pid.
	Consumer string
	// MaxAttempts is how many attempts a message gets, deliveries
	// included, before it is dead-lettered; default 5.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between attempts: before
	// retry n it is uniformly random in [0, min(BackoffMax,
	// BackoffMin·2^(n-1))]. Defaults 200ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// Batch is how many messages a goroutine reads at once; default 16.
	// The last of a batch waits for the others, so keep Batch times the
	// time a message takes well below the queue's claim timeout.
	Batch int
	// ReadWait is how long a read waits for new messages; default 5s.
	ReadWait time.Duration
	// TrimInterval is how often the pool trims the queue of entries every
	// group has acknowledged; default 1m.
	TrimInterval time.Duration
	// MetricsInterval is how often queue depth and dead letters are
	// sampled; default 15s.
	MetricsInterval time.Duration
	// Logger receives failures; default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// Observe, if set, is told the outcome of every attempt of a hook at
	// a record (analytics). It must not block.
	Observe func(Outcome)
}

// Outcome is one attempt of one hook at one record of a message.
type Outcome struct {
	// ID is unique per message, record, processor and attempt.
	ID        string
	Processor string
	Record    events.Record
	Attempt   int
	// Result is ok, retry, permanent (dead-lettered at once) or
	// dead_letter (attempts used up).
	Result   string
	Duration time.Duration
}

// Defaults.
const (
	DefaultMaxAttempts     = 5
	DefaultBackoffMin      = 200 * time.Millisecond
	DefaultBackoffMax      = 10 * time.Second
	DefaultBatch           = 16
	DefaultReadWait        = 5 * time.Second
	DefaultTrimInterval    = time.Minute
	DefaultMetricsInterval = 15 * time.Second
)

const (
	// finishTimeout bounds the acknowledgements and dead letters written
	// after the pool's context ended, for work that finished.
	finishTimeout = 10 * time.Second
	// maxName keeps processor names short enough for every queue's keys
	// and file names.
	maxName = 64
)

// Spec is a processor and how many of its events are handled at once.
type Spec struct {
	Processor processors.Processor
	// Concurrency is the number of goroutines handling the processor's
	// events; default 1.
	Concurrency int
}

// Pool feeds processors their events from a queue.
type Pool struct {
	q       queue.Queue
	hooks   []*hook
	opts    Options
	log     *slog.Logger
	metrics *metrics
	rnd     func(int64) int64
	running atomic.Bool
}

// hook is one processor in the pool.
type hook struct {
	proc        processors.Processor
	name        string
	concurrency int
	m           hookMetrics
}

// New returns a pool for specs on q. Processor names must be unique,
// of lower case letters, digits and dashes, and at most 64 long.
func New(q queue.Queue, specs []Spec, opts Options) (*Pool, error) {
	if q == nil {
		return nil, errors.New("worker: no queue")
	}
	if len(specs) == 0 {
		return nil, errors.New("worker: no processors")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Pool{q: q, opts: opts, log: opts.Logger, metrics: m, rnd: rand.Int64N}
	seen := map[string]bool{}
	for i, s := range specs {
		if s.Processor == nil {
			return nil, fmt.Errorf("worker: processor %d is nil", i)
		}
		name := s.Processor.Name()
		if err := validName(name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("worker: processor %q listed twice", name)
		}
		seen[name] = true
		if s.Concurrency < 0 {
			return nil, fmt.Errorf("worker: processor %q: negative concurrency %d", name, s.Concurrency)
		}
		p.hooks = append(p.hooks, &hook{
			proc:        s.Processor,
			name:        name,
			concurrency: max(s.Concurrency, 1),
			m:           m.of(name),
		})
	}
	return p, nil
}

func (o *Options) setDefaults() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxAttempts", int64(o.MaxAttempts)}, {"BackoffMin", int64(o.BackoffMin)},
		{"BackoffMax", int64(o.BackoffMax)}, {"Batch", int64(o.Batch)},
		{"ReadWait", int64(o.ReadWait)}, {"TrimInterval", int64(o.TrimInterval)},
		{"MetricsInterval", int64(o.MetricsInterval)},
	} {
		if f.v < 0 {
			return fmt.Errorf("worker: negative %s", f.name)
		}
	}
	if o.Consumer == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "s3gate"
		}
		o.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, max(DefaultBackoffMax, o.BackoffMin))
	if o.BackoffMin > o.BackoffMax {
		return fmt.Errorf("worker: BackoffMin %v above BackoffMax %v", o.BackoffMin, o.BackoffMax)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	def(&o.ReadWait, DefaultReadWait)
	def(&o.TrimInterval, DefaultTrimInterval)
	def(&o.MetricsInterval, DefaultMetricsInterval)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func validName(name string) error {
	if name == "" || len(name) > maxName {
		return fmt.Errorf("worker: processor name %q must be 1 to %d characters", name, maxName)
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("worker: processor name %q: only a-z, 0-9 and '-' allowed", name)
		}
	}
	return nil
}

// Processors names the pool's processors, which are also their consumer
// groups, in the order given to New.
func (p *Pool) Processors() []string {
	names := make([]string, len(p.hooks))
	for i, h := range p.hooks {
		names[i] = h.name
	}
	return names
}

// Run creates each processor's consumer group if needed, then handles
// events until ctx ends, trimming the queue and sampling metrics as it
// goes. It returns nil once ctx has ended and every handler has returned;
// an error if a group cannot be created or the queue is closed under it.
// A pool runs once at a time.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("worker: pool is already running")
	}
	defer p.running.Store(false)
	for _, h := range p.hooks {
		if err := p.q.EnsureGroup(ctx, h.name); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("worker: creating consumer group %q: %w", h.name, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range p.hooks {
		for range h.concurrency {
			g.Go(func() error { return p.work(gctx, h) })
		}
	}
	g.Go(func() error { p.housekeep(gctx); return nil })
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// work is one of a processor's goroutines.
func (p *Pool) work(ctx context.Context, h *hook) error {
	failures := 0
	for {
		msgs, err := p.q.Read(ctx, h.name, p.opts.Consumer, p.opts.Batch, p.opts.ReadWait)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, queue.ErrClosed) {
			return fmt.Errorf("worker: reading for %q: %w", h.name, err)
		}
		if err != nil {
			failures++
			p.log.Warn("worker: reading events failed", "processor", h.name, "err", err)
			if !sleep(ctx, backoff(failures, p.opts.BackoffMin, p.opts.BackoffMax, p.rnd)) {
				return nil
			}
			continue
		}
		failures = 0
		p.batch(ctx, h, msgs)
	}
}

// item is a message with its records decoded.
type item struct {
	msg  queue.Message
	recs []events.Record
	err  error
}

// batch handles msgs in order and acknowledges those that succeeded.
func (p *Pool) batch(ctx context.Context, h *hook, msgs []queue.Message) {
	items := make([]item, len(msgs))
	var oldest time.Time
	for i, m := range msgs {
		recs, err := events.Unmarshal(m.Body)
		if err == nil && len(recs) == 0 {
			err = errors.New("message has no records")
		}
		items[i] = item{msg: m, recs: recs, err: err}
		for _, r := range recs {
			t, err := time.Parse(time.RFC3339Nano, r.EventTime)
			if err == nil && !r.S3gate.Synthetic && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
	}
	switch {
	case len(msgs) == 0:
		h.m.lag.Set(0)
	case !oldest.IsZero():
		h.m.lag.Set(max(time.Since(oldest).Seconds(), 0))
	}

	var done []string
	flush := func() {
		if len(done) == 0 {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if err := p.q.Ack(actx, h.name, done...); err != nil {
			// The queue delivers them again; processors are idempotent.
			p.log.Warn("worker: acknowledging events failed", "processor", h.name, "count", len(done), "err", err)
		}
		done = done[:0]
	}
	defer flush()
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		if p.handle(ctx, h, it, flush) {
			done = append(done, it.msg.ID)
		}
	}
}

// handle takes one message through its attempts. It reports whether the
// message is to be acknowledged; it is not when it was dead-lettered
// (which acknowledges it) or left for the queue to deliver again. flush
// acknowledges the batch's finished messages before a wait.
func (p *Pool) handle(ctx context.Context, h *hook, it item, flush func()) bool {
	m := it.msg
	if it.err != nil {
		p.deadLetter(ctx, h, m, h.m.dead, "undecodable event: "+it.err.Error())
		return false
	}
	used := max(m.Deliveries-1, 0) // attempts of earlier deliveries
	if used >= p.opts.MaxAttempts {
		p.deadLetter(ctx, h, m, h.m.dead, fmt.Sprintf(
			"delivered %d times without being acknowledged (MaxAttempts %d): the processor may crash on it",
			m.Deliveries, p.opts.MaxAttempts))
		return false
	}
	next := 0 // records handled so far
	for attempt := used + 1; ; attempt++ {
		if attempt > 1 {
			h.m.retries.Inc()
		}
		var (
			err  error
			took time.Duration
		)
		for next < len(it.recs) {
			start := time.Now()
			err = p.call(ctx, h, it.recs[next])
			took = time.Since(start)
			if err != nil {
				break
			}
			p.observe(h, m, it.recs[next], next, attempt, resultOK, took)
			next++
		}
		switch {
		case err == nil:
			h.m.ok.Inc()
			return true
		case ctx.Err() != nil:
			return false // stopping: the queue delivers it again
		case processors.IsPermanent(err):
			p.observe(h, m, it.recs[next], next, attempt, resultPermanent, took)
			p.deadLetter(ctx, h, m, h.m.permanent, err.Error())
			return false
		case attempt >= p.opts.MaxAttempts:
			p.observe(h, m, it.recs[next], next, attempt, resultDeadLetter, took)
			p.deadLetter(ctx, h, m, h.m.dead, fmt.Sprintf("gave up after %d attempts: %v", attempt, err))
			return false
		}
		p.observe(h, m, it.recs[next], next, attempt, resultRetry, took)
		h.m.retry.Inc()
		p.log.Info("worker: event failed; retrying", "processor", h.name, "id", m.ID, "attempt", attempt, "err", err)
		flush()
		if !sleep(ctx, backoff(attempt-used, p.opts.BackoffMin, p.opts.BackoffMax, p.rnd)) {
			return false
		}
	}
}

// observe reports one attempt's outcome to Options.Observe.
func (p *Pool) observe(h *hook, m queue.Message, rec events.Record, n, attempt int, result string, took time.Duration) {
	if p.opts.Observe == nil {
		return
	}
	p.opts.Observe(Outcome{
		ID:        fmt.Sprintf("%s/%s/%d/%d", m.ID, h.name, n, attempt),
		Processor: h.name, Record: rec, Attempt: attempt, Result: result, Duration: took,
	})
}

// call runs the processor on one record. A panic is a bug no retry fixes:
// it becomes a permanent error, so the event is dead-lettered and the
// pool carries on with the next.
func (p *Pool) call(ctx context.Context, h *hook, rec events.Record) (err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("worker: processor panicked", "processor", h.name, "panic", r, "stack", string(debug.Stack()))
			err = processors.Permanent(fmt.Errorf("processor panicked: %v", r))
		}
		h.m.duration.Observe(time.Since(start).Seconds())
	}()
	return h.proc.Handle(ctx, rec)
}

// deadLetter records that h gave up on m, counting it in result.
func (p *Pool) deadLetter(ctx context.Context, h *hook, m queue.Message, result prometheus.Counter, reason string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := p.q.DeadLetter(dctx, h.name, m, reason); err != nil {
		// Left unacknowledged, m comes back and gets here again.
		p.log.Error("worker: dead-lettering event failed", "processor", h.name, "id", m.ID, "reason", reason, "err", err)
		return
	}
	p.log.Warn("worker: event dead-lettered", "processor", h.name, "id", m.ID, "deliveries", m.Deliveries, "reason", reason)
	result.Inc()
	h.m.deadLetters.Inc() // until the next sample
}

// housekeep samples metrics and trims the queue until ctx ends. Trimming
// is the pool's alone: nothing else in s3gate trims the queue.
func (p *Pool) housekeep(ctx context.Context) {
	p.sample(ctx)
	sampleT := time.NewTicker(p.opts.MetricsInterval)
	defer sampleT.Stop()
	trimT := time.NewTicker(p.opts.TrimInterval)
	defer trimT.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sampleT.C:
			p.sample(ctx)
		case <-trimT.C:
			if err := p.q.Trim(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("worker: trimming the queue failed", "err", err)
			}
		}
	}
}

// sample updates each processor's depth and dead letter gauges.
func (p *Pool) sample(ctx context.Context) {
	for _, h := range p.hooks {
		n, err := p.q.Pending(ctx, h.name)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("worker: sampling queue depth failed", "processor", h.name, "err", err)
			}
			continue
		}
		h.m.depth.Set(float64(n))
		if n == 0 {
			h.m.lag.Set(0)
		}
		dl, err := p.q.DeadLetters(ctx, h.name, deadLetterSampleMax)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("worker: counting dead letters failed", "processor", h.name, "err", err)
			}
			continue
		}
		h.m.deadLetters.Set(float64(len(dl)))
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
