// Package outbox keeps s3gate's promise that every successful write has
// its event, even if the process is killed or the queue is down: the
// gateway records the intent of a change durably before it asks the
// backend to make it, and the event is published to the queue after,
// from that record, however long the queue takes to come back.
//
// # Order
//
//  1. Begin appends the intent (the event as known before the commit:
//     bucket, key, sequencer, principal, request id) to the outbox and
//     returns once it is fsynced; concurrent callers share fsyncs. If it
//     fails the gateway leaves the backend alone and fails the request.
//  2. The backend commits, or does not.
//  3. Commit appends the final record (size, ETag) and hands the event to
//     the publisher; Abort appends an abort. Neither waits for an fsync
//     nor for the queue.
//  4. The gateway answers the client.
//  5. Run publishes the event to the queue, then appends a published
//     marker.
//
// Each crash window is covered by what is on disk:
//
//   - Between 1 and 3 the backend may or may not have committed, and only
//     the intent is on disk. At the next start Recover hands it to a check
//     that looks at the backend (HEAD) and says whether to emit the event
//     or drop it.
//   - Between 3 and 5 (the client may or may not have its answer) the
//     commit record is on disk and the event is published at the next
//     start without a check. If the commit record had not reached the
//     disk, the intent alone is there and Recover's check finds the change
//     in the backend.
//   - Between the publication and its marker reaching the disk, the event
//     is published again at the next start. Delivery is at least once and
//     processors are idempotent (processors.Processor), so the duplicate is
//     harmless.
//
// Only intents are fsynced: losing a commit, abort or published marker to
// a crash costs a check or a duplicate, never an event. They are written
// to the operating system at once all the same, so a crash of s3gate
// alone takes back only the few still queued; a machine crash may take
// more.
//
// # Publication
//
// Run hands events to the queue in the order of their Commit calls (for
// the intents Recover emits, the order of the checks, after every event
// committed before the crash), with up to Options.Publishers publications
// in flight. Two events of one object (bucket and key) are never in
// flight at once, so the queue holds each object's events in commit
// order; events of different objects may reach it up to Publishers places
// apart from commit order. Commit order is the backend's order of the
// writes unless two writes of one key race; consumers compare sequencers
// anyway. A publication that fails is retried with backoff and jitter
// until it succeeds; the outage is logged when it starts and when it
// ends, not per event.
//
// # Memory
//
// At most Options.MemoryEvents events wait for publication in memory
// (besides the Publishers being published); when more are spooled (the
// queue is down), later ones stay on disk only and are read back from the
// segment files in order when their turn comes. Beyond that the outbox
// holds two bits per intent of each segment still on disk and a few words
// per segment.
//
// # On-disk format
//
// The directory holds LOCK (flocked while the outbox is open) and
// segment files named after their number (20 decimal digits, ".seg").
// All integers are little-endian. A segment starts with the magic
// "s3gobox1" and a frame holding its number and the first intent id it
// may hold (uint64 each); then come records, one per frame. A frame is a
// uint32 payload length, a uint32 CRC32C (Castagnoli) of the length bytes
// and the payload, then the payload: a type byte and an id (uint64), then
//
//	'I' intent      the record as Begin got it (JSON)
//	'C' commit      the object's hash (uint64: FNV-1a of the bucket, a zero
//	                byte and the key as the record has it), then the
//	                message to publish
//	'A' abort       nothing (also an intent Recover dropped)
//	'P' published   nothing
//	'S' summary     the id is a segment's first; n (uint64), then n bits
//	                (LSB first): which of its intents are resolved
//
// Intent ids are issued in order and appended in that order, so an
// intent lives in the last segment whose first id is not above its own.
// Only the newest segment is written to; a segment is created under a
// temporary name and renamed once its header is durable, and the one
// before it is fsynced first, so only the newest can end in a torn
// record, which Open cuts off.
//
// An intent is resolved once aborted (or dropped by Recover), or
// committed and published. A segment is deleted when every intent in it
// is resolved and every commit record in it published; an intent pending
// for long (a slow upload) keeps its own segment only. Since the markers
// that resolved an older segment's intents may be in the segment being
// deleted, a summary of each older segment still kept is appended to the
// newest segment, and fsynced, before the deletion.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue"
)

// Options tune an Outbox. The zero value is the default.
type Options struct {
	// Logger receives recoveries, outages and corruption reports.
	// Default: discard.
	Logger *slog.Logger
	// Registerer gets the outbox's metrics: s3gate_outbox_pending,
	// s3gate_outbox_spooled, s3gate_outbox_segments,
	// s3gate_outbox_published_total, s3gate_outbox_publish_errors_total
	// and s3gate_outbox_fsync_seconds. Nil registers none.
	Registerer prometheus.Registerer
	// SegmentSize is the size at which the outbox moves on to a new
	// segment file; whole files are deleted. Default 16 MiB.
	SegmentSize int64
	// Fsync makes Begin wait until the intent is fsynced. Nil means true;
	// new(false) turns it off (tests, benchmarks): intents then survive
	// a crash of s3gate, not of the machine.
	Fsync *bool
	// MemoryEvents bounds the events held in memory while they wait for
	// publication; more are read back from disk. Default 4096.
	MemoryEvents int
	// Publishers is how many publications may be in flight at once.
	// Default 8.
	Publishers int
	// RetryMin and RetryMax bound the wait between attempts to publish
	// while the queue fails: it doubles from RetryMin up to RetryMax, with
	// jitter. Defaults 100ms and 30s.
	RetryMin, RetryMax time.Duration

	// syncHook, when set, runs before each fsync of a segment (tests use
	// it to slow fsyncs down).
	syncHook func()
}

// Defaults.
const (
	DefaultSegmentSize  = 16 << 20
	DefaultMemoryEvents = 4096
	DefaultPublishers   = 8
	DefaultRetryMin     = 100 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// Errors.
var (
	// ErrLocked is what Open's error wraps when another process has the
	// directory open.
	ErrLocked = logfile.ErrLocked
	// ErrClosed is returned by Begin after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrTooLarge is returned by Begin for a record whose JSON is over
	// MaxRecordSize.
	ErrTooLarge = fmt.Errorf("outbox: record larger than %d bytes", MaxRecordSize)
)

// Outbox is the durable record of writes in flight and of events not yet
// published. It is safe for concurrent use.
type Outbox struct {
	dir        string
	q          queue.Queue
	log        *slog.Logger
	m          *metrics
	segSize    int64
	fsync      bool
	memMax     int
	publishers int
	retryMin   time.Duration
	retryMax   time.Duration
	syncHook   func()
	lock       *os.File

	mu               sync.Mutex
	closed           bool
	failed           error         // set when a write failed; sticky
	segs             []*segment    // oldest first; the last is the one appended to
	tailSize         int64         // bytes assigned in the last segment
	nextID           uint64        // id of the next intent
	cur              *batch        // records waiting for the writer
	notify           chan struct{} // closed and replaced when the spool or the files move on
	pending          int64         // intents not resolved
	spooled          int64         // commit records not published
	spool                          // events waiting for publication
	unchecked        int           // intents Recover has yet to check
	recoveredSpooled int64         // unpublished events Open found, for Recover's report

	// Owned by the writer goroutine (and Open, before it starts).
	wseg  *segment // the segment being written
	wsize int64    // bytes written to it

	wake        chan struct{}
	cleanWake   chan struct{}
	stop        chan struct{}
	flushOnStop bool // read by the writer once stop is closed
	writerDone  chan struct{}
	cleanerDone chan struct{}
	closeOnce   sync.Once
	closeErr    error

	running atomic.Bool
	outage  outage

	// Counters for tests and benchmarks.
	syncs    atomic.Int64 // fsyncs of segments
	fromDisk atomic.Int64 // events read back from disk for publication
	memHigh  atomic.Int64 // most events ever held in the spool's memory
}

// segment is one file of the outbox.
type segment struct {
	num   uint64
	first uint64 // the first intent id it may hold
	path  string

	// Guarded by Outbox.mu.
	size     int64  // bytes written, readable
	end      uint64 // id after the last intent in it
	sealed   bool   // written in full; the outbox has moved on
	deleted  bool
	refs     int    // unresolved intents in it plus unpublished commit records
	resolved bitset // by id-first: aborted, or published
	spooled  bitset // by id-first: committed, waiting on disk for publication
	check    bitset // by id-first: found without an outcome; for Recover

	// Open's scratch.
	intent, committed bitset

	f *os.File // the writer's handle, while the segment is written
}

// batch is what the writer appends at once: every record queued while
// its previous write and fsync ran.
type batch struct {
	chunks []chunk
	sync   bool // someone waits for durability: fsync after the write
	forced bool // write even if empty (flush)
	done   chan struct{}
	err    error
}

// chunk is a run of records for one segment.
type chunk struct {
	seg    *segment
	newSeg bool // create seg before writing buf
	buf    []byte
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// Open opens the outbox in dir, creating it if needed, to publish to q.
// It cuts a torn record off the newest segment and rebuilds from the
// segments what is pending: committed events are queued for publication,
// and intents without an outcome wait for Recover.
func Open(dir string, q queue.Queue, opts Options) (*Outbox, error) {
	o := &Outbox{
		dir:         dir,
		q:           q,
		log:         opts.Logger,
		m:           newMetrics(opts.Registerer),
		segSize:     opts.SegmentSize,
		fsync:       opts.Fsync == nil || *opts.Fsync,
		memMax:      opts.MemoryEvents,
		publishers:  opts.Publishers,
		retryMin:    opts.RetryMin,
		retryMax:    opts.RetryMax,
		syncHook:    opts.syncHook,
		cur:         newBatch(),
		notify:      make(chan struct{}),
		wake:        make(chan struct{}, 1),
		cleanWake:   make(chan struct{}, 1),
		stop:        make(chan struct{}),
		writerDone:  make(chan struct{}),
		cleanerDone: make(chan struct{}),
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	o.log = o.log.With("outbox", dir)
	if o.segSize <= 0 {
		o.segSize = DefaultSegmentSize
	}
	if o.memMax <= 0 {
		o.memMax = DefaultMemoryEvents
	}
	if o.publishers <= 0 {
		o.publishers = DefaultPublishers
	}
	if o.retryMin <= 0 {
		o.retryMin = DefaultRetryMin
	}
	if o.retryMax <= 0 {
		o.retryMax = DefaultRetryMax
	}
	o.retryMax = max(o.retryMax, o.retryMin)

	lock, err := logfile.LockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o.lock = lock
	if err := o.openLog(); err != nil {
		if o.wseg != nil && o.wseg.f != nil {
			o.wseg.f.Close()
		}
		lock.Close()
		return nil, err
	}
	o.m.pending.Set(float64(o.pending))
	o.m.spooled.Set(float64(o.spooled))
	o.m.segments.Set(float64(len(o.segs)))
	go o.writeLoop()
	go o.cleanLoop()
	o.wakeCleaner()
	return o, nil
}

// Close writes out what is queued (fsyncing it), stops the background
// work and releases the directory. Call it after Run has returned; events
// not yet published stay in the outbox for the next Open.
func (o *Outbox) Close() error { return o.shutdown(true) }

// shutdown stops the outbox. Without flush it drops what is queued and
// syncs nothing, as a crash would (tests).
func (o *Outbox) shutdown(flush bool) error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.kick()
		o.mu.Unlock()
		o.flushOnStop = flush
		close(o.stop)
		<-o.writerDone
		<-o.cleanerDone
		var errs []error
		if s := o.wseg; s != nil && s.f != nil {
			if flush && o.fsync && o.failed == nil {
				errs = append(errs, o.syncSeg(s))
			}
			errs = append(errs, s.f.Close())
			s.f = nil
		}
		errs = append(errs, o.lock.Close())
		o.closeErr = errors.Join(errs...)
	})
	return o.closeErr
}

// kick wakes whoever waits for the spool or the files to move on. Call
// with mu held.
func (o *Outbox) kick() {
	close(o.notify)
	o.notify = make(chan struct{})
}

func (o *Outbox) wakeWriter() {
	select {
	case o.wake <- struct{}{}:
	default: // the writer is already due to look
	}
}

func (o *Outbox) wakeCleaner() {
	select {
	case o.cleanWake <- struct{}{}:
	default:
	}
}

// Ticket is one recorded intent, waiting for the backend's outcome. Call
// Commit or Abort once; later calls do nothing.
type Ticket struct {
	o    *Outbox
	seg  *segment
	id   uint64
	done atomic.Bool
}

// Begin durably records the intent to make the change rec describes (rec
// filled with everything known before the commit; size and ETag may be
// unknown). It returns once the intent is on disk; concurrent callers
// share one fsync. An error means the change must not be made.
func (o *Outbox) Begin(ctx context.Context, rec events.Record) (*Ticket, error) {
	ts, err := o.BeginAll(ctx, []events.Record{rec})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// BeginAll is Begin for several changes (DeleteObjects), with one write
// and one fsync.
func (o *Outbox) BeginAll(ctx context.Context, recs []events.Record) ([]*Ticket, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	docs := make([][]byte, len(recs))
	for i, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("outbox: encoding the intent: %w", err)
		}
		if len(b) > MaxRecordSize {
			return nil, ErrTooLarge
		}
		docs[i] = b
	}
	ts := make([]*Ticket, len(recs))
	o.mu.Lock()
	if err := o.usable(); err != nil {
		o.mu.Unlock()
		return nil, err
	}
	b := o.cur
	for i, doc := range docs {
		c, _ := o.reserve(intentSize(doc))
		id := o.nextID
		o.nextID++
		s := c.seg
		s.end = id + 1
		s.refs++
		o.pending++
		c.buf = appendIntent(c.buf, id, doc)
		ts[i] = &Ticket{o: o, seg: s, id: id}
	}
	b.sync = true
	o.m.pending.Set(float64(o.pending))
	o.mu.Unlock()
	o.wakeWriter()
	select {
	case <-b.done:
		if b.err != nil {
			return nil, b.err
		}
		return ts, nil
	case <-ctx.Done():
		// The intents may still reach the disk: drop them there too.
		for _, t := range ts {
			t.Abort()
		}
		return nil, ctx.Err()
	}
}

// usable is nil if records may be appended. Call with mu held.
func (o *Outbox) usable() error {
	if o.closed {
		return ErrClosed
	}
	return o.failed
}

// Commit reports that the backend made the change: rec is the final
// record (size and ETag filled in). It appends the commit record and
// queues the event for publication without waiting for either.
func (t *Ticket) Commit(rec events.Record) {
	if t.done.Swap(true) {
		return
	}
	body, err := rec.Marshal()
	if err != nil {
		// The intent stays pending: the next start's Recover decides.
		t.o.log.Error("outbox: cannot encode an event; it is left to the next start's recovery", "id", t.id, "err", err)
		return
	}
	t.o.commit(t.seg, t.id, objectHash(rec), body)
}

// Abort reports that the backend did not make the change: the intent is
// dropped.
func (t *Ticket) Abort() {
	if t.done.Swap(true) {
		return
	}
	t.o.abort(t.seg, t.id)
}

// commit appends the commit record of intent id of s and spools its
// event.
func (o *Outbox) commit(s *segment, id, hash uint64, body []byte) {
	o.mu.Lock()
	defer o.wakeWriter()
	defer o.mu.Unlock()
	if err := o.usable(); err != nil {
		// The intent is on disk; the next start takes it from there.
		o.log.Warn("outbox: cannot record a commit; its event waits for the next start", "id", id, "err", err)
		return
	}
	c, off := o.reserve(commitSize(body))
	c.buf = appendCommit(c.buf, id, hash, body)
	c.seg.refs++
	o.spooled++
	o.m.spooled.Set(float64(o.spooled))
	o.spoolLocked(&entry{id: id, hash: hash, body: body, seg: s, cseg: c.seg}, c.seg, off)
}

// abort appends an abort of intent id of s and resolves it.
func (o *Outbox) abort(s *segment, id uint64) {
	o.mu.Lock()
	defer o.wakeWriter()
	defer o.mu.Unlock()
	if err := o.usable(); err != nil {
		o.log.Warn("outbox: cannot record an abort; the next start checks the intent", "id", id, "err", err)
		return
	}
	c, _ := o.reserve(markerSize)
	c.buf = appendMarker(c.buf, recAbort, id)
	o.resolveLocked(s, id)
}

// resolveLocked marks intent id of s resolved. Call with mu held.
func (o *Outbox) resolveLocked(s *segment, id uint64) {
	i := id - s.first
	if s.resolved.has(i) {
		return
	}
	s.resolved.set(i)
	o.pending--
	o.m.pending.Set(float64(o.pending))
	o.unrefLocked(s)
}

// unrefLocked drops a reference to s; the cleaner deletes it once none is
// left. Call with mu held.
func (o *Outbox) unrefLocked(s *segment) {
	s.refs--
	if s.refs <= 0 && s.sealed {
		o.wakeCleaner()
	}
}

// Stats is a snapshot of the outbox's state.
type Stats struct {
	// Pending is how many intents are not resolved: their write is in
	// flight, their event is not yet published, or Recover has yet to
	// check them.
	Pending int64
	// Spooled is how many events of committed writes are not yet
	// published.
	Spooled int64
	// Unchecked is how many intents from before the last start wait for
	// Recover.
	Unchecked int
	// Segments is how many segment files the outbox has.
	Segments int
}

// Stats returns the outbox's counts, for health checks and tests.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{Pending: o.pending, Spooled: o.spooled, Unchecked: o.unchecked, Segments: len(o.segs)}
}

// flush waits until every record queued so far is written (and fsynced
// when sync and Fsync).
func (o *Outbox) flush(sync bool) error {
	o.mu.Lock()
	if err := o.usable(); err != nil {
		o.mu.Unlock()
		return err
	}
	b := o.cur
	b.forced = true
	b.sync = b.sync || sync
	o.mu.Unlock()
	o.wakeWriter()
	<-b.done
	return b.err
}

// segAfter returns the first live segment numbered above num, or nil.
// Call with mu held.
func (o *Outbox) segAfter(num uint64) *segment {
	i, _ := slices.BinarySearchFunc(o.segs, num+1, func(s *segment, n uint64) int {
		switch {
		case s.num < n:
			return -1
		case s.num > n:
			return 1
		}
		return 0
	})
	if i < len(o.segs) {
		return o.segs[i]
	}
	return nil
}

// segFor returns the segment holding intent id and its index there, or
// nil if that segment is gone (so the intent was resolved) or the id was
// never an intent. Call with mu held.
func (o *Outbox) segFor(id uint64) (*segment, uint64) {
	i, _ := slices.BinarySearchFunc(o.segs, id+1, func(s *segment, n uint64) int {
		if s.first < n {
			return -1
		}
		return 1
	})
	if i == 0 {
		return nil, 0
	}
	s := o.segs[i-1]
	if id < s.first || id >= s.end {
		return nil, 0
	}
	return s, id - s.first
}
