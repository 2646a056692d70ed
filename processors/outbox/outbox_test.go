package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue"
	"github.com/s3gate/s3gate/processors/queue/diskq"
)

// logBuffer collects an outbox's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openQueue opens a disk queue with the group "g", which sees everything
// published to it.
func openQueue(t testing.TB, dir string) *diskq.Queue {
	t.Helper()
	q, err := diskq.Open(dir, diskq.Options{Fsync: new(false)})
	if err != nil {
		t.Fatalf("diskq.Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.EnsureGroup(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	return q
}

func open(t testing.TB, dir string, q queue.Queue, opts Options) *Outbox {
	t.Helper()
	o, err := Open(dir, q, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func closeO(t testing.TB, o *Outbox) {
	t.Helper()
	if err := o.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// crash abandons o as a killed process would: what was written stays,
// what was queued for the writer is lost, nothing more is fsynced.
func crash(t testing.TB, o *Outbox) {
	t.Helper()
	o.shutdown(false)
}

// run runs o's publisher until the test ends or the returned stop is
// called.
func run(t testing.TB, o *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			// Closing the outbox under Run ends it too.
			if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// putRec is the intent of a PUT of key, with seq as its sequencer.
func putRec(key string, seq int) events.Record {
	return events.New(events.Change{
		Name: events.ObjectCreatedPut, Region: "us-east-1", Time: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Bucket: "bkt", Key: key, Sequencer: fmt.Sprintf("%028X", seq), Principal: "alice",
		SourceIP: "10.0.0.7", RequestID: fmt.Sprintf("REQ%d", seq),
	})
}

// final is rec as Commit gets it: size and ETag filled in.
func final(rec events.Record) events.Record {
	rec.S3.Object.Size = int64(len(rec.S3.Object.Key))
	rec.S3.Object.ETag = "etag-" + rec.S3.Object.Sequencer
	return rec
}

func begin(t testing.TB, o *Outbox, rec events.Record) *Ticket {
	t.Helper()
	tk, err := o.Begin(t.Context(), rec)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return tk
}

// commitN begins and commits the PUT of keys[i] with sequencer first+i.
func commitN(t testing.TB, o *Outbox, first int, keys ...string) []events.Record {
	t.Helper()
	var out []events.Record
	for i, k := range keys {
		rec := putRec(k, first+i)
		begin(t, o, rec).Commit(final(rec))
		out = append(out, final(rec))
	}
	return out
}

func keys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return ks
}

// waitFor polls cond to a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for wait := 100 * time.Microsecond; !cond(); wait = min(2*wait, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(wait)
	}
}

// waitIdle waits until every intent of o is resolved: after it, nothing
// more is published.
func waitIdle(t testing.TB, o *Outbox) {
	t.Helper()
	waitFor(t, "the outbox to be idle", func() bool {
		st := o.Stats()
		return st.Pending == 0 && st.Spooled == 0
	})
}

// drain reads and acknowledges everything the group "g" has not yet
// acknowledged.
func drain(t testing.TB, q *diskq.Queue) []events.Record {
	t.Helper()
	var out []events.Record
	for {
		ms, err := q.Read(t.Context(), "g", "c", 1000, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(ms) == 0 {
			return out
		}
		var ids []string
		for _, m := range ms {
			recs, err := events.Unmarshal(m.Body)
			if err != nil || len(recs) != 1 {
				t.Fatalf("message %s: %d records, %v", m.ID, len(recs), err)
			}
			out = append(out, recs[0])
			ids = append(ids, m.ID)
		}
		if err := q.Ack(t.Context(), "g", ids...); err != nil {
			t.Fatal(err)
		}
	}
}

func keysOf(recs []events.Record) []string {
	ks := make([]string, len(recs))
	for i, r := range recs {
		ks[i] = r.Key()
	}
	return ks
}

func expectRecords(t testing.TB, got, want []events.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("published %d events %q, want %d %q", len(got), keysOf(got), len(want), keysOf(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func appendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// noCheck is a Recover check for tests where none may be needed.
func noCheck(t testing.TB) CheckFunc {
	return func(_ context.Context, in events.Record) (events.Record, bool, error) {
		t.Errorf("check called for %q, which needs none", in.Key())
		return in, false, nil
	}
}

func recoverO(t testing.TB, o *Outbox, check CheckFunc) RecoverStats {
	t.Helper()
	st, err := o.Recover(t.Context(), check)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return st
}

// TestCommitPublishesOnce: Begin, then Commit: the final record arrives
// in the queue once.
func TestCommitPublishesOnce(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	o := open(t, filepath.Join(dir, "outbox"), q, Options{})
	run(t, o)
	rec := putRec("a b/ü.txt", 1)
	tk := begin(t, o, rec)
	if st := o.Stats(); st.Pending != 1 {
		t.Fatalf("Pending = %d after Begin, want 1", st.Pending)
	}
	tk.Commit(final(rec))
	tk.Commit(final(putRec("other", 2))) // a second call does nothing
	tk.Abort()
	waitIdle(t, o)
	expectRecords(t, drain(t, q), []events.Record{final(rec)})
}

// TestAbortPublishesNothing: an aborted intent has no event.
func TestAbortPublishesNothing(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	o := open(t, filepath.Join(dir, "outbox"), q, Options{})
	run(t, o)
	tk := begin(t, o, putRec("aborted", 1))
	tk.Abort()
	tk.Commit(final(putRec("aborted", 1))) // too late: does nothing
	want := commitN(t, o, 2, "kept")
	waitIdle(t, o)
	expectRecords(t, drain(t, q), want)
	closeO(t, o)
	// Nothing is left for a restart either.
	o = open(t, filepath.Join(dir, "outbox"), q, Options{})
	if st := o.Stats(); st.Pending != 0 || st.Unchecked != 0 {
		t.Fatalf("after reopening: %+v", st)
	}
}

// TestRecoverIntentWithoutOutcome covers a crash between Begin and
// Commit: Recover hands the intent to the check, which decides.
func TestRecoverIntentWithoutOutcome(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	o := open(t, obDir, q, Options{})
	a, b := putRec("a", 1), putRec("b", 2)
	begin(t, o, a)
	begin(t, o, b)
	begin(t, o, putRec("c", 3)).Abort()
	d := commitN(t, o, 4, "d")
	if err := o.flush(false); err != nil {
		t.Fatal(err)
	}
	crash(t, o)

	o = open(t, obDir, q, Options{Publishers: 1})
	if st := o.Stats(); st.Unchecked != 2 || st.Spooled != 1 || st.Pending != 3 {
		t.Fatalf("after the crash: %+v, want 2 unchecked intents and 1 spooled event", st)
	}
	var checked []events.Record
	st := recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) {
		checked = append(checked, in)
		if in.Key() == "a" {
			return final(in), true, nil // the backend has it
		}
		return in, false, nil
	})
	if want := (RecoverStats{Checked: 2, Emitted: 1, Dropped: 1, Spooled: 1}); st != want {
		t.Fatalf("Recover = %+v, want %+v", st, want)
	}
	expectRecords(t, checked, []events.Record{a, b}) // the intents as Begin got them
	run(t, o)
	waitIdle(t, o)
	expectRecords(t, drain(t, q), append(d, final(a)))
	closeO(t, o)

	// Settled for good: a second start has nothing to check or publish.
	o = open(t, obDir, q, Options{Publishers: 1})
	if st := recoverO(t, o, noCheck(t)); st != (RecoverStats{}) {
		t.Fatalf("second Recover = %+v, want nothing", st)
	}
	run(t, o)
	sentinel := commitN(t, o, 5, "sentinel")
	waitIdle(t, o)
	expectRecords(t, drain(t, q), sentinel)
}

// TestCommittedSurvivesCrash covers a crash after Commit, before the
// publication: the events are published at the next start, in order,
// without a check.
func TestCommittedSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	o := open(t, obDir, q, Options{})
	want := commitN(t, o, 1, "x", "y", "z")
	if err := o.flush(false); err != nil {
		t.Fatal(err)
	}
	crash(t, o)

	o = open(t, obDir, q, Options{Publishers: 1})
	if st := recoverO(t, o, noCheck(t)); st != (RecoverStats{Spooled: 3}) {
		t.Fatalf("Recover = %+v, want 3 spooled", st)
	}
	run(t, o)
	waitIdle(t, o)
	expectRecords(t, drain(t, q), want)
}

// TestCommitRecordLost: a crash right after Commit may take the commit
// record (it is not fsynced); the intent then goes to the check, and the
// event is published once all the same.
func TestCommitRecordLost(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	release := make(chan struct{})
	var armed atomic.Bool
	o := open(t, obDir, q, Options{syncHook: func() {
		if armed.Load() {
			<-release
		}
	}})
	k := putRec("k", 1)
	tk := begin(t, o, k)
	// The writer stalls in the fsync of another intent; the commit record
	// queued meanwhile is lost to the crash.
	armed.Store(true)
	syncs := o.syncs.Load()
	go o.Begin(context.Background(), putRec("other", 2))
	waitFor(t, "the writer to stall", func() bool { return o.syncs.Load() > syncs })
	tk.Commit(final(k))
	crashed := make(chan struct{})
	go func() { crash(t, o); close(crashed) }()
	waitFor(t, "the crash to begin", func() bool {
		select {
		case <-o.stop:
			return true
		default:
			return false
		}
	})
	close(release)
	<-crashed

	o = open(t, obDir, q, Options{})
	if st := o.Stats(); st.Spooled != 0 || st.Unchecked != 2 {
		t.Fatalf("after the crash: %+v, want the two intents unchecked and nothing spooled", st)
	}
	rst := recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) {
		return final(in), in.Key() == "k", nil // only k reached the backend
	})
	if rst != (RecoverStats{Checked: 2, Emitted: 1, Dropped: 1}) {
		t.Fatalf("Recover = %+v", rst)
	}
	run(t, o)
	waitIdle(t, o)
	expectRecords(t, drain(t, q), []events.Record{final(k)})
}

// TestPublishedNotRepublished: once the published marker is on disk, a
// restart publishes nothing again.
func TestPublishedNotRepublished(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	o := open(t, obDir, q, Options{Publishers: 1})
	stop := run(t, o)
	want := commitN(t, o, 1, "p", "q")
	waitIdle(t, o)
	stop()
	if err := o.flush(false); err != nil {
		t.Fatal(err)
	}
	crash(t, o)
	expectRecords(t, drain(t, q), want)

	o = open(t, obDir, q, Options{Publishers: 1})
	if st := o.Stats(); st != (Stats{Segments: 1}) {
		t.Fatalf("after the crash: %+v, want nothing pending", st)
	}
	if st := recoverO(t, o, noCheck(t)); st != (RecoverStats{}) {
		t.Fatalf("Recover = %+v, want nothing", st)
	}
	run(t, o)
	// With one publisher, anything spooled would be published before the
	// sentinel.
	sentinel := commitN(t, o, 3, "sentinel")
	waitIdle(t, o)
	expectRecords(t, drain(t, q), sentinel)
}

// TestRecoverCheckFails: intents the check cannot decide stay for the
// next Recover.
func TestRecoverCheckFails(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	o := open(t, obDir, q, Options{})
	a, b := putRec("a", 1), putRec("b", 2)
	begin(t, o, a)
	begin(t, o, b)
	crash(t, o)

	o = open(t, obDir, q, Options{})
	backendDown := errors.New("backend unreachable")
	st, err := o.Recover(t.Context(), func(_ context.Context, in events.Record) (events.Record, bool, error) {
		if in.Key() == "a" {
			return in, false, backendDown
		}
		return final(in), true, nil
	})
	if !errors.Is(err, backendDown) || st != (RecoverStats{Checked: 2, Emitted: 1, Failed: 1}) {
		t.Fatalf("Recover = %+v, %v; want a failure for a", st, err)
	}
	if st := o.Stats(); st.Unchecked != 1 {
		t.Fatalf("Unchecked = %d, want 1", st.Unchecked)
	}
	st = recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) {
		if in.Key() != "a" {
			t.Errorf("checked %q again", in.Key())
		}
		return final(in), true, nil
	})
	if st != (RecoverStats{Checked: 1, Emitted: 1}) {
		t.Fatalf("second Recover = %+v", st)
	}
	run(t, o)
	waitIdle(t, o)
	got := drain(t, q)
	slices.SortFunc(got, func(x, y events.Record) int { return strings.Compare(x.Key(), y.Key()) })
	expectRecords(t, got, []events.Record{final(a), final(b)})
}

// TestBeginCanceled: a Begin whose context ends before the fsync fails,
// and its intent is dropped, also on disk.
func TestBeginCanceled(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var armed atomic.Bool
	var slow sync.Once
	opts := Options{syncHook: func() {
		if armed.Load() {
			slow.Do(func() { <-release })
		}
	}}
	obDir := filepath.Join(dir, "outbox")
	o := open(t, obDir, openQueue(t, filepath.Join(dir, "q")), opts)
	armed.Store(true)
	syncs := o.syncs.Load()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := o.Begin(ctx, putRec("k", 1))
		errc <- err
	}()
	waitFor(t, "the fsync to start", func() bool { return o.syncs.Load() > syncs })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin = %v, want context.Canceled", err)
	}
	close(release)
	waitFor(t, "the intent to be dropped", func() bool { return o.Stats().Pending == 0 })
	closeO(t, o)
	o = open(t, obDir, nil, Options{})
	if st := o.Stats(); st.Pending != 0 || st.Unchecked != 0 {
		t.Fatalf("after reopening: %+v", st)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil, Options{})
	if _, err := Open(dir, nil, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	closeO(t, o)
	open(t, dir, nil, Options{})
}

func TestRejects(t *testing.T) {
	o := open(t, t.TempDir(), nil, Options{})
	rec := putRec("k", 1)
	rec.S3gate.Tags = map[string]string{"big": strings.Repeat("x", MaxRecordSize)}
	if _, err := o.Begin(t.Context(), rec); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Begin of a huge record: %v, want ErrTooLarge", err)
	}
	closeO(t, o)
	if _, err := o.Begin(t.Context(), putRec("k", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Begin after Close: %v, want ErrClosed", err)
	}
}

// flakyQueue fails every Publish while it is down.
type flakyQueue struct {
	queue.Queue // only Publish is used

	mu        sync.Mutex
	down      bool
	attempts  int
	published []events.Record
}

func (f *flakyQueue) Publish(_ context.Context, body []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.down {
		return "", errors.New("connection refused")
	}
	recs, err := events.Unmarshal(body)
	if err != nil || len(recs) != 1 {
		return "", fmt.Errorf("bad body: %v", err)
	}
	f.published = append(f.published, recs[0])
	return fmt.Sprint(len(f.published)), nil
}

func (f *flakyQueue) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyQueue) state() (attempts int, published []events.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, slices.Clone(f.published)
}

// TestQueueDown: while the queue fails, Begin and Commit go on (they
// never wait for it), events spool to disk beyond MemoryEvents, the
// outage is logged once, and everything drains in order once the queue is
// back.
func TestQueueDown(t *testing.T) {
	const n, objects, memory = 300, 20, 10
	for _, publishers := range []int{1, 8} {
		t.Run(fmt.Sprintf("publishers=%d", publishers), func(t *testing.T) {
			dir := t.TempDir()
			fq := &flakyQueue{down: true}
			var logs logBuffer
			o := open(t, dir, fq, Options{
				Logger: logs.logger(), MemoryEvents: memory, Publishers: publishers, SegmentSize: 4096,
				RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
			})
			run(t, o)
			var want []events.Record
			for i := range n {
				want = append(want, commitN(t, o, i+1, fmt.Sprintf("obj%02d", i%objects))...)
			}
			waitFor(t, "publication to be retried", func() bool { a, _ := fq.state(); return a >= 3*publishers })
			if st := o.Stats(); st.Spooled != n || st.Pending != n {
				t.Fatalf("while the queue is down: %+v, want all %d spooled", st, n)
			}
			if st := o.Stats(); st.Segments < 3 {
				t.Fatalf("%d segments, want the spool to span several", st.Segments)
			}
			fq.setDown(false)
			waitIdle(t, o)
			attempts, got := fq.state()
			t.Logf("%d attempts to publish %d events; %d read back from disk; at most %d in memory",
				attempts, n, o.fromDisk.Load(), o.memHigh.Load())
			if high := o.memHigh.Load(); high > memory {
				t.Errorf("%d events were held in memory, more than MemoryEvents (%d)", high, memory)
			}
			if o.fromDisk.Load() < n-memory-int64(publishers)-1 {
				t.Errorf("only %d events were read back from disk", o.fromDisk.Load())
			}
			if publishers == 1 {
				expectRecords(t, got, want)
			} else {
				// Each object's events in commit order; all of them once.
				byObject := func(recs []events.Record) map[string][]events.Record {
					m := map[string][]events.Record{}
					for _, r := range recs {
						m[r.Key()] = append(m[r.Key()], r)
					}
					return m
				}
				g, w := byObject(got), byObject(want)
				if len(got) != n || len(g) != objects {
					t.Fatalf("published %d events of %d objects, want %d of %d", len(got), len(g), n, objects)
				}
				for k := range w {
					expectRecords(t, g[k], w[k])
				}
			}
			logged := logs.String()
			if c := strings.Count(logged, "cannot publish events"); c != 1 {
				t.Errorf("outage logged %d times, want once:\n%s", c, logged)
			}
			if c := strings.Count(logged, "publishing again"); c != 1 {
				t.Errorf("end of the outage logged %d times, want once:\n%s", c, logged)
			}
			waitFor(t, "drained segments to be deleted", func() bool { return len(segFiles(t, dir)) == 1 })
		})
	}
}

// TestSpoolSurvivesRestart: events spooled during an outage are published
// after a crash and restart, in order, read back from disk a few at a
// time.
func TestSpoolSurvivesRestart(t *testing.T) {
	const n, memory = 200, 7
	dir := t.TempDir()
	obDir := filepath.Join(dir, "outbox")
	fq := &flakyQueue{down: true}
	opts := Options{MemoryEvents: memory, SegmentSize: 4096, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}
	o := open(t, obDir, fq, opts)
	run(t, o)
	var want []events.Record
	for i := range n {
		want = append(want, commitN(t, o, i+1, fmt.Sprintf("obj%03d", i))...)
	}
	if err := o.flush(false); err != nil {
		t.Fatal(err)
	}
	crash(t, o)

	q := openQueue(t, filepath.Join(dir, "q"))
	opts.Publishers = 1
	o = open(t, obDir, q, opts)
	if st := recoverO(t, o, noCheck(t)); st.Spooled != n {
		t.Fatalf("Recover = %+v, want %d spooled", st, n)
	}
	// Begun after the restart: published after the spooled ones.
	want = append(want, commitN(t, o, n+1, "after")...)
	run(t, o)
	waitIdle(t, o)
	expectRecords(t, drain(t, q), want)
	if high := o.memHigh.Load(); high > memory {
		t.Errorf("%d events were held in memory, more than MemoryEvents (%d)", high, memory)
	}
	waitFor(t, "drained segments to be deleted", func() bool { return len(segFiles(t, obDir)) == 1 })
}

// TestGroupCommit: concurrent Begin calls share fsyncs, and BeginAll
// takes one.
func TestGroupCommit(t *testing.T) {
	const callers, each = 32, 25
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	opts := Options{syncHook: func() { time.Sleep(2 * time.Millisecond) }}
	o := open(t, filepath.Join(dir, "outbox"), q, opts)
	run(t, o)
	before := o.syncs.Load()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				rec := putRec(fmt.Sprintf("c%02d-%03d", c, i), c*each+i+1)
				tk, err := o.Begin(t.Context(), rec)
				if err != nil {
					t.Errorf("Begin: %v", err)
					return
				}
				tk.Commit(final(rec))
			}
		})
	}
	wg.Wait()
	total := callers * each
	syncs := o.syncs.Load() - before
	t.Logf("%d concurrent Begin calls, %d fsyncs", total, syncs)
	if syncs == 0 || syncs > int64(total/4) {
		t.Fatalf("%d fsyncs for %d concurrent Begin calls: they did not share them", syncs, total)
	}

	recs := make([]events.Record, 1000)
	for i := range recs {
		recs[i] = putRec(fmt.Sprintf("del-%04d", i), total+i+1)
	}
	before = o.syncs.Load()
	ts, err := o.BeginAll(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if syncs := o.syncs.Load() - before; syncs != 1 {
		t.Fatalf("BeginAll of %d records took %d fsyncs, want 1", len(recs), syncs)
	}
	for i, tk := range ts {
		tk.Commit(final(recs[i]))
	}
	waitIdle(t, o)
	got := drain(t, q)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.Key()] {
			t.Fatalf("%q published twice", r.Key())
		}
		seen[r.Key()] = true
	}
	if len(seen) != total+len(recs) {
		t.Fatalf("published %d events, want %d", len(seen), total+len(recs))
	}
}

// TestSegmentDeletion: segments go once everything in them is resolved;
// an intent pending for long keeps its own segment only, and the intents
// resolved around it stay resolved across a restart.
func TestSegmentDeletion(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, filepath.Join(dir, "q"))
	obDir := filepath.Join(dir, "outbox")
	opts := Options{SegmentSize: 2048}
	o := open(t, obDir, q, opts)
	run(t, o)
	commitN(t, o, 1, keys("first", 60)...)
	waitIdle(t, o)
	waitFor(t, "resolved segments to be deleted", func() bool { return len(segFiles(t, obDir)) == 1 })

	// A slow upload begins; writes around it, in its segment too, finish.
	// The outcomes of two of its neighbours are recorded in later
	// segments, which are deleted: a summary must keep them.
	slow := begin(t, o, putRec("slow", 1000))
	files := segFiles(t, obDir)
	slowSeg := files[len(files)-1]
	x, y := putRec("x", 1001), putRec("y", 1002)
	tx, ty := begin(t, o, x), begin(t, o, y)
	if tx.seg != slow.seg || ty.seg != slow.seg {
		t.Fatal("the neighbours' intents are not in the slow upload's segment")
	}
	commitN(t, o, 1100, keys("second", 100)...)
	tx.Abort()
	ty.Commit(final(y))
	commitN(t, o, 1200, keys("third", 100)...)
	waitFor(t, "every other event to be published", func() bool {
		st := o.Stats()
		return st.Pending == 1 && st.Spooled == 0
	})
	waitFor(t, "all but the slow upload's segment and the newest to be deleted", func() bool {
		return len(segFiles(t, obDir)) == 2
	})
	if files := segFiles(t, obDir); files[0] != slowSeg {
		t.Fatalf("segments %q; want the slow upload's %s kept", files, slowSeg)
	}
	if err := o.flush(false); err != nil {
		t.Fatal(err)
	}
	crash(t, o)
	drain(t, q)

	// Only the slow upload's intent is left to check.
	o = open(t, obDir, q, opts)
	if st := o.Stats(); st.Unchecked != 1 || st.Pending != 1 || st.Spooled != 0 {
		t.Fatalf("after the restart: %+v, want only the slow upload", st)
	}
	st := recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) {
		if in.Key() != "slow" {
			t.Errorf("checked %q", in.Key())
		}
		return in, false, nil
	})
	if st != (RecoverStats{Checked: 1, Dropped: 1}) {
		t.Fatalf("Recover = %+v", st)
	}
	waitFor(t, "the slow upload's segment to be deleted", func() bool {
		files := segFiles(t, obDir)
		return len(files) == 1 && files[0] != slowSeg
	})
	run(t, o)
	waitIdle(t, o)
	if got := drain(t, q); len(got) != 0 {
		t.Fatalf("published %q again", keysOf(got))
	}
}

// TestTornTail damages the end of the newest segment the way a crash
// mid-write does: opening cuts it off, logs it, and keeps every record
// before it.
func TestTornTail(t *testing.T) {
	frame := appendCommit(nil, 9, 1, []byte(`{"Records":[]}`))
	cases := []struct {
		name   string
		damage func(t *testing.T, seg string)
		intact bool // the last record survives
	}{
		{"garbage", func(t *testing.T, seg string) { appendFile(t, seg, bytes.Repeat([]byte{0xab, 0x17, 0x00}, 13)) }, true},
		{"half a record", func(t *testing.T, seg string) { appendFile(t, seg, frame[:len(frame)/2]) }, true},
		{"part of a header", func(t *testing.T, seg string) { appendFile(t, seg, frame[:5]) }, true},
		{"zeroed blocks", func(t *testing.T, seg string) { appendFile(t, seg, make([]byte, 4096)) }, true},
		{"bad checksum", func(t *testing.T, seg string) {
			bad := bytes.Clone(frame)
			bad[len(bad)-1] ^= 0x40
			appendFile(t, seg, bad)
		}, true},
		{"valid frame, unknown type", func(t *testing.T, seg string) {
			b, start := logfile.BeginFrame(nil)
			b = append(b, 'Z', 1, 0, 0, 0, 0, 0, 0, 0)
			appendFile(t, seg, logfile.EndFrame(b, start))
		}, true},
		{"last record damaged", func(t *testing.T, seg string) {
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{'#'}, fileSize(t, seg)-1); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, nil, Options{})
			commitN(t, o, 1, "a", "b", "c")
			begin(t, o, putRec("d", 4)) // the last record: an intent
			closeO(t, o)
			segs := segFiles(t, dir)
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1", len(segs))
			}
			sizeBefore := fileSize(t, segs[0])
			c.damage(t, segs[0])

			var logs logBuffer
			o = open(t, dir, nil, Options{Logger: logs.logger()})
			if !strings.Contains(logs.String(), "truncating torn tail") {
				t.Errorf("the repair was not logged: %s", logs.String())
			}
			want := Stats{Pending: 4, Spooled: 3, Unchecked: 1, Segments: 1}
			if !c.intact {
				want.Pending, want.Unchecked = 3, 0
			} else if got := fileSize(t, segs[0]); got != sizeBefore {
				t.Errorf("segment is %d bytes after the repair, want %d", got, sizeBefore)
			}
			if st := o.Stats(); st != want {
				t.Fatalf("after the repair: %+v, want %+v", st, want)
			}
			// Appending goes on after the last intact record.
			begin(t, o, putRec("e", 5)).Abort()
			closeO(t, o)
			logs = logBuffer{}
			o = open(t, dir, nil, Options{Logger: logs.logger()})
			if strings.Contains(logs.String(), "truncating") {
				t.Errorf("second open repaired again: %s", logs.String())
			}
			if st := o.Stats(); st != want {
				t.Fatalf("after reopening: %+v, want %+v", st, want)
			}
		})
	}
}

// TestCorruptSealedSegment: damage inside an older segment loses the
// records after it (and is reported), not the outbox.
func TestCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1024}
	o := open(t, dir, nil, opts)
	commitN(t, o, 1, keys("k", 30)...)
	closeO(t, o)
	segs := segFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'#'}, segHeader+logfile.FrameHeader+3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var logs logBuffer
	q := openQueue(t, filepath.Join(t.TempDir(), "q"))
	o = open(t, dir, q, Options{SegmentSize: 1024, Logger: logs.logger()})
	if !strings.Contains(logs.String(), "segment is corrupt") {
		t.Errorf("corruption not reported: %s", logs.String())
	}
	st := o.Stats()
	if st.Spooled == 0 || st.Spooled >= 30 {
		t.Fatalf("after the damage: %+v, want some events lost and the others kept", st)
	}
	rst := recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) { return final(in), true, nil })
	run(t, o)
	waitIdle(t, o)
	got := drain(t, q)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.Key()] || !strings.HasPrefix(r.Key(), "k00") {
			t.Fatalf("published %q", keysOf(got))
		}
		seen[r.Key()] = true
	}
	// What the damage took is lost; everything else is published once.
	if int64(len(got)) != st.Spooled+int64(rst.Emitted) || !seen["k0000"] || !seen["k0029"] {
		t.Fatalf("published %q; %d were spooled, %d emitted by Recover", keysOf(got), st.Spooled, rst.Emitted)
	}
}
