package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/internal/promreg"
)

// Defaults of RecorderOptions.
const (
	DefaultBatchRows     = 1000
	DefaultFlushInterval = time.Second
	DefaultQueueRows     = 65536
	DefaultSpoolBytes    = 256 << 20
	DefaultWriteTimeout  = 10 * time.Second
	DefaultCloseTimeout  = 10 * time.Second
)

// The probe of a failing sink: the first after probeMin, each next one
// twice as late, up to probeMax.
const (
	probeMin = time.Second
	probeMax = 30 * time.Second
)

// closeGrace is how long Close waits, past CloseTimeout, for the queued
// rows to reach the spool.
const closeGrace = 5 * time.Second

// Label values of the metrics.
const (
	kindRequest = "request"
	kindHook    = "hook"

	resultWritten = "written" // stored by the sink (at once or from the spool)
	resultSpooled = "spooled" // put in the spool (then written or dropped)
	resultDropped = "dropped" // lost, for one of the reasons below

	reasonQueueFull    = "queue_full"    // Record found the queue full
	reasonClosed       = "closed"        // recorded after Close
	reasonSpoolFull    = "spool_full"    // the spool's oldest, dropped to bound it
	reasonSpoolCorrupt = "spool_corrupt" // in a spool file that could not be read
	reasonSpoolError   = "spool_error"   // the spool could not be written
	reasonSinkError    = "sink_error"    // the sink failed and there is no spool
)

// RecorderOptions tune a Recorder; the zero value of each field is its
// default.
type RecorderOptions struct {
	// SpoolDir holds the batches the sink failed to take until it takes
	// them, across restarts. Empty: no spool, such batches are dropped.
	SpoolDir string
	// BatchRows bounds a batch (of one kind of row); default 1000.
	BatchRows int
	// FlushInterval bounds how long a row waits for its batch to fill
	// before the batch is written anyway; default 1s.
	FlushInterval time.Duration
	// QueueRows is the size of the in-memory queue between Record and
	// the writer; rows that find it full are dropped. Default 65536.
	QueueRows int
	// SpoolBytes bounds the spool: to add a batch past it, the oldest are
	// dropped. Default 256 MiB.
	SpoolBytes int64
	// WriteTimeout bounds one write to the sink; default 10s.
	WriteTimeout time.Duration
	// CloseTimeout bounds how long Close (or the end of Run's context)
	// tries to write the queued rows to the sink; after it they go to the
	// spool. Default 10s.
	CloseTimeout time.Duration
	// Registerer receives the metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// Logger receives failures; default: discard.
	Logger *slog.Logger
}

// Recorder hands rows to a Sink in the background: Record and RecordHook
// queue a row and return at once, whatever the sink does; Run writes the
// queue in batches. A batch the sink fails to take goes to the spool, and
// while the sink keeps failing, new batches go straight there; the spool
// is sent again, oldest first, once a probe (the oldest batch, tried 1s
// after the failure, then 2s, 4s, ... up to every 30s) succeeds. A
// Recorder is safe for concurrent use; a nil *Recorder records nothing.
//
// Metrics: s3gate_analytics_rows_total{kind,result} counts rows written,
// spooled and dropped (a spooled row is counted again when it is written
// or dropped), s3gate_analytics_dropped_total{reason} the dropped rows by
// why, s3gate_analytics_spool_bytes the spool's size and
// s3gate_analytics_write_seconds the sink's writes.
type Recorder struct {
	sink Sink
	opts RecorderOptions
	log  *slog.Logger
	m    *metrics
	ch   chan entry

	// mu guards started and closed; Record holds it shared while it
	// queues, so that no row is queued once the final flush has begun.
	mu      sync.RWMutex
	started bool
	closed  bool

	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when Run returns
	// hard ends the sink writes of the final flush at its deadline.
	hard       context.Context
	hardCancel context.CancelFunc

	probeMin, probeMax time.Duration

	// The loop's state: Run's goroutine, or Close's when Run never ran.
	spool      *spool // nil without SpoolDir
	reqs       batch[Request]
	hooks      batch[HookOutcome]
	healthy    bool // the sink's last write succeeded
	backoff    time.Duration
	flushTimer *time.Timer
	flushAt    time.Time // when flushTimer fires; zero when stopped
	drainTimer *time.Timer
	drainAt    time.Time
}

// entry is one queued row.
type entry struct {
	req  *Request
	hook *HookOutcome
}

// batch collects rows of one kind.
type batch[T any] struct {
	kind  string
	rows  []T
	since time.Time // when the first row came
	write func(context.Context, []T) error
}

// NewRecorder makes a Recorder writing to sink; start it with Run. It
// opens the spool (indexing what an earlier Recorder left there) and
// registers the metrics.
func NewRecorder(sink Sink, opts RecorderOptions) (*Recorder, error) {
	if sink == nil {
		return nil, errors.New("analytics: no sink")
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.QueueRows <= 0 {
		opts.QueueRows = DefaultQueueRows
	}
	if opts.SpoolBytes <= 0 {
		opts.SpoolBytes = DefaultSpoolBytes
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		sink:     sink,
		opts:     opts,
		log:      log,
		m:        m,
		ch:       make(chan entry, opts.QueueRows),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		probeMin: probeMin,
		probeMax: probeMax,
		healthy:  true,
	}
	r.hard, r.hardCancel = context.WithCancel(context.Background())
	r.reqs = batch[Request]{kind: kindRequest, write: sink.WriteRequests}
	r.hooks = batch[HookOutcome]{kind: kindHook, write: sink.WriteHooks}
	if opts.SpoolDir != "" {
		if r.spool, err = openSpool(opts.SpoolDir, opts.SpoolBytes, m, log); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Record queues req. It never blocks: when the queue is full, or the
// Recorder closed, the row is dropped and counted.
func (r *Recorder) Record(req Request) {
	if r == nil {
		return
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		r.m.reqClosed.Inc()
		return
	}
	select {
	case r.ch <- entry{req: &req}:
		r.mu.RUnlock()
	default:
		r.mu.RUnlock()
		r.m.reqQueueFull.Inc()
	}
}

// RecordHook queues h, like Record.
func (r *Recorder) RecordHook(h HookOutcome) {
	if r == nil {
		return
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		r.m.hookClosed.Inc()
		return
	}
	select {
	case r.ch <- entry{hook: &h}:
		r.mu.RUnlock()
	default:
		r.mu.RUnlock()
		r.m.hookQueueFull.Inc()
	}
}

// Run writes the queue to the sink, and the spool when the sink takes
// writes, until ctx ends or Close is called; then it flushes what is
// queued (to the sink within CloseTimeout, else to the spool) and returns
// nil. The Recorder is closed once Run has returned. Run after Close
// returns nil at once (Close flushed); a second Run fails.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("analytics: the recorder is running already")
	}
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.started = true
	r.mu.Unlock()
	defer close(r.done)

	// The loop's writes end with ctx, or at Close's deadline.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.hard, cancel)()

	r.flushTimer = stoppedTimer()
	r.drainTimer = stoppedTimer()
	defer r.flushTimer.Stop()
	defer r.drainTimer.Stop()
	if r.spool != nil && !r.spool.empty() {
		r.log.Info("analytics: sending the spool", "batches", len(r.spool.files), "bytes", r.spool.bytes)
		r.scheduleDrain(0)
	}
	for {
		r.armFlush()
		select {
		case e := <-r.ch:
			r.add(lctx, e)
			// Take what else is queued without the select's cost (it
			// locks every channel it waits on), up to a batch.
		more:
			for range r.opts.BatchRows {
				select {
				case e := <-r.ch:
					r.add(lctx, e)
				default:
					break more
				}
			}
		case <-r.flushTimer.C:
			r.flushAt = time.Time{}
			now := time.Now()
			if !r.reqs.since.IsZero() && !now.Before(r.reqs.since.Add(r.opts.FlushInterval)) {
				flush(r, lctx, &r.reqs)
			}
			if !r.hooks.since.IsZero() && !now.Before(r.hooks.since.Add(r.opts.FlushInterval)) {
				flush(r, lctx, &r.hooks)
			}
		case <-r.drainTimer.C:
			r.drainAt = time.Time{}
			r.drainOne(lctx)
		case <-ctx.Done():
			r.finish()
			return nil
		case <-r.stop:
			r.finish()
			return nil
		}
	}
}

// Close stops recording and flushes what is queued: to the sink, within
// CloseTimeout, or else to the spool. It waits for Run to end, at most
// CloseTimeout and a few seconds (a sink that ignores its context can hold
// Run longer; Close then gives up and says so). It does not close the
// sink.
func (r *Recorder) Close() error {
	var err error
	r.closeOnce.Do(func() {
		defer r.hardCancel()
		deadline := time.AfterFunc(r.opts.CloseTimeout, r.hardCancel)
		defer deadline.Stop()
		r.mu.Lock()
		r.closed = true
		started := r.started
		r.mu.Unlock()
		close(r.stop)
		if !started { // Run never ran, and now never will: flush here
			r.finish()
			return
		}
		wait := time.NewTimer(r.opts.CloseTimeout + closeGrace)
		defer wait.Stop()
		select {
		case <-r.done:
		case <-wait.C:
			err = fmt.Errorf("analytics: the recorder did not stop within %s; queued rows may be lost", r.opts.CloseTimeout+closeGrace)
		}
	})
	return err
}

// finish is the final flush: no row is queued after it starts.
func (r *Recorder) finish() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	deadline := time.AfterFunc(r.opts.CloseTimeout, r.hardCancel)
	defer deadline.Stop()
queued:
	for {
		select {
		case e := <-r.ch:
			r.add(r.hard, e)
		default:
			break queued
		}
	}
	flush(r, r.hard, &r.reqs)
	flush(r, r.hard, &r.hooks)
}

// add puts a queued row in its batch, writing the batch once full.
func (r *Recorder) add(ctx context.Context, e entry) {
	if e.req != nil {
		addRow(r, ctx, &r.reqs, *e.req)
	} else {
		addRow(r, ctx, &r.hooks, *e.hook)
	}
}

func addRow[T any](r *Recorder, ctx context.Context, b *batch[T], row T) {
	if len(b.rows) == 0 {
		b.rows = make([]T, 0, min(r.opts.BatchRows, 1024))
		b.since = time.Now()
	}
	b.rows = append(b.rows, row)
	if len(b.rows) >= r.opts.BatchRows {
		flush(r, ctx, b)
	}
}

// flush writes b to the sink, or to the spool when the sink is failing
// (or fails now), and empties b.
func flush[T any](r *Recorder, ctx context.Context, b *batch[T]) {
	rows := b.rows
	b.rows, b.since = nil, time.Time{}
	if len(rows) == 0 {
		return
	}
	if ctx.Err() == nil && (r.healthy || r.spool == nil || r.spool.empty()) {
		err := send(r, ctx, b.kind, rows, b.write)
		if err == nil {
			r.up()
			return
		}
		if ctx.Err() == nil { // not merely stopping
			r.down(err)
		}
	}
	spoolRows(r, b.kind, rows)
}

// send writes rows within the write timeout.
func send[T any](r *Recorder, ctx context.Context, kind string, rows []T, write func(context.Context, []T) error) (err error) {
	wctx, cancel := context.WithTimeout(ctx, r.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analytics: the sink panicked: %v", p)
		}
		r.m.writeSeconds.Observe(time.Since(start).Seconds())
		if err == nil {
			r.m.rows.WithLabelValues(kind, resultWritten).Add(float64(len(rows)))
		}
	}()
	return write(wctx, rows)
}

// spoolRows puts rows in the spool, or drops them without one.
func spoolRows[T any](r *Recorder, kind string, rows []T) {
	if r.spool == nil {
		r.m.drop(kind, reasonSinkError, len(rows))
		return
	}
	data, n, bad := encodeRows(rows)
	if bad > 0 {
		r.m.drop(kind, reasonSpoolError, bad)
		r.log.Warn("analytics: rows that cannot be encoded dropped", "kind", kind, "rows", bad)
	}
	if n == 0 {
		return
	}
	if err := r.spool.add(kind, n, data); err != nil {
		r.log.Error("analytics: rows lost", "kind", kind, "rows", n, "err", err)
		return
	}
	if r.drainAt.IsZero() && r.drainTimer != nil {
		r.scheduleDrain(r.backoff)
	}
}

// down notes a failed write: the spool takes the next batches, and the
// first probe comes after probeMin.
func (r *Recorder) down(err error) {
	if r.healthy {
		r.log.Warn("analytics: the sink failed; spooling until it works again", "err", err)
		r.healthy = false
		r.backoff = r.probeMin
		if r.drainTimer != nil {
			r.scheduleDrain(r.backoff)
		}
	}
}

// up notes a successful write.
func (r *Recorder) up() {
	if !r.healthy {
		r.log.Info("analytics: the sink works again")
		r.healthy = true
	}
	r.backoff = 0
	if r.spool != nil && !r.spool.empty() && r.drainAt.IsZero() && r.drainTimer != nil {
		r.scheduleDrain(0)
	}
}

// drainOne sends the spool's oldest batch. Success sends the next at once;
// a failure of the sink waits twice as long as the last time, up to
// probeMax. A file that cannot be read or decoded is dropped and counted.
func (r *Recorder) drainOne(ctx context.Context) {
	if r.spool == nil || ctx.Err() != nil {
		return
	}
	f, ok := r.spool.oldest()
	if !ok {
		return
	}
	var err error
	data, corrupt := r.spool.read(f)
	if corrupt == nil {
		if f.kind == kindRequest {
			corrupt, err = drainFile(r, ctx, f, data, r.sink.WriteRequests)
		} else {
			corrupt, err = drainFile(r, ctx, f, data, r.sink.WriteHooks)
		}
	}
	switch {
	case corrupt != nil: // says nothing of the sink
		r.spool.discard(f, corrupt)
		if !r.spool.empty() {
			r.scheduleDrain(r.backoff)
		}
	case err == nil:
		r.up()
		if r.spool.empty() {
			r.log.Info("analytics: the spool is sent")
		}
	case ctx.Err() != nil: // stopping; the file stays for the next start
	case r.healthy:
		r.down(err)
	default:
		r.log.Debug("analytics: the sink still fails", "err", err)
		r.backoff = min(2*r.backoff, r.probeMax)
		r.scheduleDrain(r.backoff)
	}
}

// drainFile sends one spooled batch and removes it. corrupt says why the
// file does not decode; err is the sink's.
func drainFile[T any](r *Recorder, ctx context.Context, f spoolFile, data []byte, write func(context.Context, []T) error) (corrupt, err error) {
	rows, corrupt := decodeRows[T](data, f.rows)
	if corrupt != nil {
		return corrupt, nil
	}
	if err := send(r, ctx, f.kind, rows, write); err != nil {
		return nil, err
	}
	r.spool.remove(f)
	return nil, nil
}

// armFlush sets the flush timer to the end of the oldest batch's interval.
func (r *Recorder) armFlush() {
	var at time.Time
	for _, since := range []time.Time{r.reqs.since, r.hooks.since} {
		if !since.IsZero() && (at.IsZero() || since.Before(at)) {
			at = since
		}
	}
	if !at.IsZero() {
		at = at.Add(r.opts.FlushInterval)
	}
	if at.Equal(r.flushAt) {
		return
	}
	r.flushAt = at
	if at.IsZero() {
		r.flushTimer.Stop()
	} else {
		r.flushTimer.Reset(time.Until(at))
	}
}

func (r *Recorder) scheduleDrain(d time.Duration) {
	r.drainAt = time.Now().Add(d)
	r.drainTimer.Reset(d)
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// metrics are the Recorder's Prometheus series.
type metrics struct {
	rows         *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	spoolBytes   prometheus.Gauge
	writeSeconds prometheus.Histogram

	// Record's, bound ahead: each counts in rows and dropped at once.
	reqQueueFull, hookQueueFull, reqClosed, hookClosed counterPair
}

// counterPair increments two counters.
type counterPair [2]prometheus.Counter

func (c counterPair) Inc() {
	c[0].Inc()
	c[1].Inc()
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_analytics_rows_total",
			Help: "Analytics rows by kind (request, hook) and what became of them: written to the sink, spooled (to be written or dropped later), dropped.",
		}, []string{"kind", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_analytics_dropped_total",
			Help: "Analytics rows dropped, by reason: queue_full, spool_full, spool_corrupt, spool_error, sink_error (no spool), closed.",
		}, []string{"reason"}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_analytics_spool_bytes",
			Help: "Bytes of analytics batches waiting in the spool for the sink.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3gate_analytics_write_seconds",
			Help:    "Time the analytics sink took to write one batch, successful or not.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if reg != nil {
		var err error
		m.rows, err = promreg.Register(reg, m.rows)
		if err == nil {
			m.dropped, err = promreg.Register(reg, m.dropped)
		}
		if err == nil {
			m.spoolBytes, err = promreg.Register(reg, m.spoolBytes)
		}
		if err == nil {
			m.writeSeconds, err = promreg.Register(reg, m.writeSeconds)
		}
		if err != nil {
			return nil, fmt.Errorf("analytics: registering metrics: %w", err)
		}
	}
	for _, k := range []string{kindRequest, kindHook} {
		for _, res := range []string{resultWritten, resultSpooled, resultDropped} {
			m.rows.WithLabelValues(k, res)
		}
	}
	for _, reason := range []string{reasonQueueFull, reasonClosed, reasonSpoolFull, reasonSpoolCorrupt, reasonSpoolError, reasonSinkError} {
		m.dropped.WithLabelValues(reason)
	}
	pair := func(kind, reason string) counterPair {
		return counterPair{m.rows.WithLabelValues(kind, resultDropped), m.dropped.WithLabelValues(reason)}
	}
	m.reqQueueFull, m.hookQueueFull = pair(kindRequest, reasonQueueFull), pair(kindHook, reasonQueueFull)
	m.reqClosed, m.hookClosed = pair(kindRequest, reasonClosed), pair(kindHook, reasonClosed)
	return m, nil
}

// drop counts n rows of kind dropped for reason.
func (m *metrics) drop(kind, reason string, n int) {
	m.rows.WithLabelValues(kind, resultDropped).Add(float64(n))
	m.dropped.WithLabelValues(reason).Add(float64(n))
}
