// Package diskq is s3gate's embedded event queue: a durable, append-only
// log in the data directory with consumer groups, for the default shape
// that runs no services. It implements queue.Queue.
//
// # Durability
//
// With Options.Fsync (the default) Publish returns only once the entry is
// fsynced. Concurrent publishers share fsyncs (group commit): a single
// writer takes every entry queued while the previous fsync ran and makes
// them durable with one write and one fsync. Readers see an entry only
// once it is durable, so no consumer acts on an event a crash could
// still take back. Without Fsync, Publish returns once the entry is in
// the operating system's hands: it survives a crash of s3gate, not of the
// machine.
//
// Group state (what each group has been handed and has acknowledged) is
// journaled on every Read and Ack straight to the operating system, and
// fsynced within a second, before Trim removes anything and on Close. A
// machine crash can so lose up to a second of acknowledgements; the
// entries concerned are delivered again, which at-least-once delivery
// allows. Dead letters are fsynced before the entry they carry is
// acknowledged.
//
// # Memory
//
// Entries are read from the segment files, never all held in memory.
// Memory holds a sparse index per segment (a point every 64 KiB, built on
// first use for segments written before the queue was opened), each
// group's pending entries, and where each dead letter lies in its file.
//
// # Restart
//
// Group state survives a restart: what each group acknowledged and what
// it has yet to read. Entries handed out but not acknowledged stay
// pending with their delivery count and the (wall-clock) time they were
// handed out, and are handed out again once ClaimAfter has passed since
// then, as without the restart; the count then grows by one, as for any
// reclaim.
//
// # On-disk format
//
// All integers are little-endian; times are Unix nanoseconds (int64).
// Every file starts with an 8-byte magic ("s3gqlog1", "s3gqjnl1",
// "s3gqsnp1", "s3gqdlq1", "s3gqtrm1"). A frame is a uint32 payload
// length, a uint32 CRC32C (Castagnoli) of the length bytes and the
// payload, then the payload.
//
//	LOCK                       flock held while the queue is open
//	trim                       magic, one frame: the oldest id Trim left
//	log/<first id>.seg         magic, then one frame per entry: id uint64,
//	                           body
//	groups/<hex name>.snap     magic, one frame: generation uint64, next
//	                           uint64 (first id not yet handed out), name
//	                           (uint16 length, bytes), count uint32, count
//	                           × pending (id uint64, deliveries uint32,
//	                           handed out at)
//	groups/<hex name>.journal  magic, generation uint64, then frames of
//	                           changes since the snapshot of that
//	                           generation, each type byte, time, fields:
//	                           'N' from, to (handed out for the first
//	                           time), 'C' n uint32, n × id (handed out
//	                           again), 'A' n, n × id (acknowledged), 'K'
//	                           from, to (unreadable, passed over)
//	groups/<hex name>.dead     magic, then frames: 'L' id uint64,
//	                           deliveries uint32, at, reason (uint32
//	                           length, bytes), body; or 'R' time, n
//	                           uint32, n × id (replayed, so removed)
//
// Entry ids are consecutive from 1 and rendered as 20 decimal digits, so
// they sort as strings too. A segment is named after its first id and
// holds ids up to the next segment's first. Only the newest segment is
// written to; on open its torn tail, if any, is truncated. A group's
// snapshot is replaced (write, fsync, rename) when its journal grows
// large; a journal whose generation is not the snapshot's was already
// folded into it. Temporary files end in ".tmp" and are removed on open.
package diskq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue"
)

// Options tune a Queue. The zero value is the default.
type Options struct {
	// ClaimAfter is how long a group's entry may stay unacknowledged
	// before Read hands it to a consumer again. Default 30s.
	ClaimAfter time.Duration
	// SegmentSize is the size at which the log moves on to a new segment
	// file; Trim deletes whole segments. Default 64 MiB.
	SegmentSize int64
	// Fsync makes Publish wait until the entry is fsynced, and fsyncs
	// group state as described above. Nil means true; new(false) turns it
	// off.
	Fsync *bool
	// Logger receives recoveries and corruption reports. Default: discard.
	Logger *slog.Logger

	// syncHook, when set, runs before each fsync of the log (tests use it
	// to slow fsyncs down).
	syncHook func()
	// compactAt overrides the journal size at which a group's state is
	// snapshotted (tests use small values).
	compactAt int64
}

// Defaults.
const (
	DefaultClaimAfter  = 30 * time.Second
	DefaultSegmentSize = 64 << 20
)

const (
	// groupSyncInterval bounds how much acknowledgement state a machine
	// crash can take back.
	groupSyncInterval = time.Second
	// defaultCompactAt is the journal size that triggers a snapshot.
	defaultCompactAt = 4 << 20
	// indexEvery is the spacing of a segment's in-memory index points:
	// finding an entry reads at most this much of the segment.
	indexEvery = 64 << 10
	// maxGroupName keeps the hex-encoded file names under 255 bytes.
	maxGroupName = 120
)

// Errors.
var (
	// ErrLocked is what Open's error wraps when another process has the
	// directory open.
	ErrLocked = logfile.ErrLocked
	// ErrNoGroup is returned for a group that does not exist.
	ErrNoGroup = errors.New("diskq: no such group")
	// ErrTooLarge is returned by Publish for a body over MaxBodySize.
	ErrTooLarge = fmt.Errorf("diskq: body larger than %d bytes", MaxBodySize)
)

// Queue is the on-disk queue. It is safe for concurrent use.
type Queue struct {
	dir        string
	logDir     string
	groupDir   string
	claimAfter time.Duration
	segSize    int64
	fsync      bool
	compactAt  int64
	syncHook   func()
	log        *slog.Logger
	lock       *os.File

	// closeMu is held shared by every operation and exclusively by Close,
	// so Close waits for operations in flight.
	closeMu   sync.RWMutex
	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error

	// trimMu serializes Trim. groupsMu guards groups. Locks are taken in
	// the order trimMu, groupsMu, a group's mu, mu.
	trimMu   sync.Mutex
	groupsMu sync.RWMutex
	groups   map[string]*group

	mu       sync.Mutex
	segs     []*segment    // oldest first; the last is being written
	first    uint64        // oldest entry still in the queue (Trim moves it)
	end      uint64        // id after the last durable entry
	notify   chan struct{} // closed and replaced when end moves
	nextID   uint64        // id the next Publish gets
	tailSize int64         // size of the newest segment with queued entries
	lastIdx  int64         // offset of its newest index point, -1 for none
	cur      *batch        // entries waiting for the writer
	failed   error         // set when a log write failed; sticky

	// Owned by the writer goroutine (and Open, before it starts).
	wseg  *segment // the segment being written
	wsize int64    // bytes written to it

	wake       chan struct{}
	stopWriter chan struct{}
	writerDone chan struct{}
	syncerDone chan struct{}

	// logSyncs counts fsyncs of the log, for tests of group commit.
	logSyncs atomic.Int64
}

// Open opens the queue in dir, creating it if needed, and recovers from
// a crash: a torn record at the end of the log is truncated, and group
// state is rebuilt from its snapshot and journal.
func Open(dir string, opts Options) (*Queue, error) {
	q := &Queue{
		dir:        dir,
		logDir:     filepath.Join(dir, "log"),
		groupDir:   filepath.Join(dir, "groups"),
		claimAfter: opts.ClaimAfter,
		segSize:    opts.SegmentSize,
		fsync:      opts.Fsync == nil || *opts.Fsync,
		compactAt:  opts.compactAt,
		syncHook:   opts.syncHook,
		log:        opts.Logger,
		closing:    make(chan struct{}),
		groups:     make(map[string]*group),
		notify:     make(chan struct{}),
		wake:       make(chan struct{}, 1),
		stopWriter: make(chan struct{}),
		writerDone: make(chan struct{}),
		syncerDone: make(chan struct{}),
	}
	if q.claimAfter <= 0 {
		q.claimAfter = DefaultClaimAfter
	}
	if q.segSize <= 0 {
		q.segSize = DefaultSegmentSize
	}
	if q.compactAt <= 0 {
		q.compactAt = defaultCompactAt
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	q.log = q.log.With("queue", dir)
	q.cur = newBatch()

	for _, d := range []string{dir, q.logDir, q.groupDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("diskq: %w", err)
		}
	}
	lock, err := logfile.LockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("diskq: %w", err)
	}
	q.lock = lock
	err = q.openLog()
	if err == nil {
		err = q.loadTrimPoint()
	}
	if err == nil {
		err = q.openGroups()
	}
	if err != nil {
		for _, g := range q.groups {
			g.close(false)
		}
		q.closeFiles()
		return nil, err
	}
	go q.writeLoop()
	go q.syncLoop()
	return q, nil
}

// enter admits an operation unless the queue is closing; leave ends it.
func (q *Queue) enter() error {
	q.closeMu.RLock()
	select {
	case <-q.closing:
		q.closeMu.RUnlock()
		return queue.ErrClosed
	default:
		return nil
	}
}

func (q *Queue) leave() { q.closeMu.RUnlock() }

// Close waits for operations in flight (a blocked Read returns
// queue.ErrClosed), makes group state durable and releases the directory.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		close(q.closing)
		q.closeMu.Lock()
		defer q.closeMu.Unlock()
		close(q.stopWriter)
		<-q.writerDone
		<-q.syncerDone
		var errs []error
		q.groupsMu.Lock()
		for _, g := range q.groups {
			errs = append(errs, g.close(q.fsync))
		}
		q.groupsMu.Unlock()
		errs = append(errs, q.closeFiles())
		q.closeErr = errors.Join(errs...)
	})
	return q.closeErr
}

// closeFiles closes the log and releases the lock.
func (q *Queue) closeFiles() error {
	var errs []error
	q.mu.Lock()
	for _, s := range q.segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
			s.f = nil
		}
	}
	q.mu.Unlock()
	if q.lock != nil {
		errs = append(errs, q.lock.Close())
		q.lock = nil
	}
	return errors.Join(errs...)
}

// syncLoop fsyncs group journals that changed, so a machine crash takes
// back at most groupSyncInterval of acknowledgements.
func (q *Queue) syncLoop() {
	defer close(q.syncerDone)
	if !q.fsync {
		<-q.stopWriter
		return
	}
	t := time.NewTicker(groupSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stopWriter:
			return
		case <-t.C:
		}
		for _, g := range q.groupList() {
			g.mu.Lock()
			if err := g.syncJournal(); err != nil {
				q.log.Error("diskq: fsync of group journal failed", "group", g.name, "err", err)
			}
			g.mu.Unlock()
		}
	}
}

func (q *Queue) groupList() []*group {
	q.groupsMu.RLock()
	defer q.groupsMu.RUnlock()
	gs := make([]*group, 0, len(q.groups))
	for _, g := range q.groups {
		gs = append(gs, g)
	}
	return gs
}

func (q *Queue) group(name string) (*group, error) {
	q.groupsMu.RLock()
	g := q.groups[name]
	q.groupsMu.RUnlock()
	if g == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoGroup, name)
	}
	return g, nil
}

// syncDir makes renames, creations and unlinks in dir durable.
func (q *Queue) syncDir(dir string) error {
	if !q.fsync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces path with data: a crash leaves either the old
// or the new file, never a mix.
func (q *Queue) writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && q.fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return q.syncDir(filepath.Dir(path))
}

var _ queue.Queue = (*Queue)(nil)

// Publish appends body and returns its id once it is durable. If ctx ends
// first Publish returns ctx's error, and the entry may still be
// published.
func (q *Queue) Publish(ctx context.Context, body []byte) (string, error) {
	if err := q.enter(); err != nil {
		return "", err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ids, err := q.publish(ctx, [][]byte{body})
	if err != nil {
		return "", err
	}
	return formatID(ids[0]), nil
}
