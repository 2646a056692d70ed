package analytics_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/embedded"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// patience bounds every wait of these tests.
const patience = 20 * time.Second

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metric reads the series of name with the given label pairs.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func rows(t *testing.T, reg *prometheus.Registry, kind, result string) int {
	return int(metric(t, reg, "s3gate_analytics_rows_total", "kind", kind, "result", result))
}

func dropped(t *testing.T, reg *prometheus.Registry, reason string) int {
	return int(metric(t, reg, "s3gate_analytics_dropped_total", "reason", reason))
}

func request(i int) analytics.Request {
	return analytics.Request{ID: fmt.Sprintf("req-%06d", i), Time: t0.Add(time.Duration(i) * time.Second), Operation: "GetObject",
		Bucket: "photos", Key: fmt.Sprintf("k/%06d", i), Principal: "alice", Status: 200, BytesOut: 100, Latency: time.Millisecond}
}

func hook(i int) analytics.HookOutcome {
	return analytics.HookOutcome{ID: fmt.Sprintf("hook-%06d", i), Time: t0.Add(time.Duration(i) * time.Second), Processor: "search",
		Bucket: "photos", Key: fmt.Sprintf("k/%06d", i), Attempt: 1, Result: "ok", Duration: time.Millisecond}
}

// start makes a recorder and runs it until the test ends.
func start(t *testing.T, sink analytics.Sink, opts analytics.RecorderOptions, probe ...time.Duration) (*analytics.Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	r, err := analytics.NewRecorder(sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(probe) == 2 {
		analytics.SetProbeBackoff(r, probe[0], probe[1])
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r, reg
}

// testDB is an embedded sink, and a connection of the test's own to its
// file.
type testDB struct {
	*embedded.Sink
	ro *sql.DB
}

// openEmbedded opens an embedded sink in the test's directory.
func openEmbedded(t *testing.T) *testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "analytics.db")
	s, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ro.Close()
		s.Close()
	})
	return &testDB{s, ro}
}

// stored counts the rows of the embedded sink's table.
func stored(t *testing.T, db *testDB, table string) int {
	t.Helper()
	var n int
	if err := db.ro.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedIDs lists the IDs of the embedded sink's table, in order.
func storedIDs(t *testing.T, db *testDB, table string) []string {
	t.Helper()
	rows, err := db.ro.Query("SELECT id FROM " + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// writeAttempt is one call of the sink.
type writeAttempt struct {
	at    time.Time
	kind  string
	first string // the first row's ID
	n     int
}

// flakySink stores in an embedded sink, except while down (it fails
// without storing) or while ackLost (it stores, then fails).
type flakySink struct {
	inner   analytics.Sink
	down    atomic.Bool
	ackLost atomic.Bool

	mu       sync.Mutex
	attempts []writeAttempt
}

var errDown = errors.New("sink down")

func (f *flakySink) note(kind, first string, n int) {
	f.mu.Lock()
	f.attempts = append(f.attempts, writeAttempt{time.Now(), kind, first, n})
	f.mu.Unlock()
}

func (f *flakySink) Attempts() []writeAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.attempts)
}

func (f *flakySink) WriteRequests(ctx context.Context, rows []analytics.Request) error {
	f.note("request", rows[0].ID, len(rows))
	if f.down.Load() {
		return errDown
	}
	err := f.inner.WriteRequests(ctx, rows)
	if err == nil && f.ackLost.Load() {
		return errors.New("acknowledgement lost")
	}
	return err
}

func (f *flakySink) WriteHooks(ctx context.Context, rows []analytics.HookOutcome) error {
	f.note("hook", rows[0].ID, len(rows))
	if f.down.Load() {
		return errDown
	}
	err := f.inner.WriteHooks(ctx, rows)
	if err == nil && f.ackLost.Load() {
		return errors.New("acknowledgement lost")
	}
	return err
}

func (f *flakySink) Close() error { return nil }

// batchSink keeps the batches it is given, and when they came.
type batchSink struct {
	mu      sync.Mutex
	batches []writeAttempt
	ids     []string
}

func (s *batchSink) WriteRequests(ctx context.Context, rows []analytics.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, writeAttempt{time.Now(), "request", rows[0].ID, len(rows)})
	for _, r := range rows {
		s.ids = append(s.ids, r.ID)
	}
	return nil
}

func (s *batchSink) WriteHooks(ctx context.Context, rows []analytics.HookOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, writeAttempt{time.Now(), "hook", rows[0].ID, len(rows)})
	for _, r := range rows {
		s.ids = append(s.ids, r.ID)
	}
	return nil
}

func (s *batchSink) Close() error { return nil }

func (s *batchSink) Batches(kind string) []writeAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []writeAttempt
	for _, b := range s.batches {
		if b.kind == kind {
			out = append(out, b)
		}
	}
	return out
}

func sizes(bs []writeAttempt) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b.n)
	}
	return out
}

// blockingSink blocks every write, whatever its context, until released.
type blockingSink struct {
	batchSink
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (s *blockingSink) WriteRequests(ctx context.Context, rows []analytics.Request) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.batchSink.WriteRequests(ctx, rows)
}

func (s *blockingSink) WriteHooks(ctx context.Context, rows []analytics.HookOutcome) error {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.batchSink.WriteHooks(ctx, rows)
}

// Record and RecordHook return at once while the sink is stuck: the rows
// that find the queue full are dropped and counted.
func TestRecordNeverBlocks(t *testing.T) {
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	r, reg := start(t, sink, analytics.RecorderOptions{QueueRows: 1000, BatchRows: 100, FlushInterval: time.Hour})
	for i := range 100 {
		r.Record(request(i))
	}
	select {
	case <-sink.entered: // the writer holds 100 rows and is stuck
	case <-time.After(patience):
		t.Fatal("the first batch was not written")
	}
	const n = 100000
	done := make(chan time.Duration)
	go func() {
		begin := time.Now()
		for i := range n / 2 {
			r.Record(request(100 + i))
			r.RecordHook(hook(i))
		}
		done <- time.Since(begin)
	}()
	var took time.Duration
	select {
	case took = <-done:
	case <-time.After(patience):
		close(sink.release)
		t.Fatal("Record blocked")
	}
	t.Logf("%d calls in %s: %s each", n, took, took/n)
	// The queue held the first 1000 (500 of each kind); the rest dropped.
	if got := dropped(t, reg, "queue_full"); got != n-1000 {
		t.Errorf("dropped for a full queue: %d, want %d", got, n-1000)
	}
	if got := rows(t, reg, "request", "dropped"); got != n/2-500 {
		t.Errorf("requests dropped: %d, want %d", got, n/2-500)
	}
	if got := rows(t, reg, "hook", "dropped"); got != n/2-500 {
		t.Errorf("hooks dropped: %d, want %d", got, n/2-500)
	}
	close(sink.release)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, reg, "request", "written"); got != 600 {
		t.Errorf("requests written: %d, want 600", got)
	}
	if got := rows(t, reg, "hook", "written"); got != 500 {
		t.Errorf("hooks written: %d, want 500", got)
	}
	// After Close, rows are dropped as closed.
	r.Record(request(0))
	r.RecordHook(hook(0))
	if got := dropped(t, reg, "closed"); got != 2 {
		t.Errorf("dropped after Close: %d, want 2", got)
	}
	var nilRecorder *analytics.Recorder
	nilRecorder.Record(request(0)) // records nothing, and does not panic
	nilRecorder.RecordHook(hook(0))
}

// A batch holds at most BatchRows rows, of one kind, in the order recorded.
func TestBatchesBoundedByRows(t *testing.T) {
	sink := &batchSink{}
	r, reg := start(t, sink, analytics.RecorderOptions{BatchRows: 1000, FlushInterval: time.Hour})
	for i := range 2500 {
		r.Record(request(i))
		if i < 1000 {
			r.RecordHook(hook(i))
		}
	}
	waitFor(t, "two full batches of requests and one of hooks", func() bool {
		return len(sink.Batches("request")) == 2 && len(sink.Batches("hook")) == 1
	})
	if got := sizes(sink.Batches("request")); !slices.Equal(got, []int{1000, 1000}) {
		t.Errorf("request batches %v, want [1000 1000]", got)
	}
	if got := sizes(sink.Batches("hook")); !slices.Equal(got, []int{1000}) {
		t.Errorf("hook batches %v, want [1000]", got)
	}
	if err := r.Close(); err != nil { // the last 500 wait for no interval
		t.Fatal(err)
	}
	if got := sizes(sink.Batches("request")); !slices.Equal(got, []int{1000, 1000, 500}) {
		t.Errorf("request batches after Close %v, want [1000 1000 500]", got)
	}
	var reqIDs []string
	for _, id := range sink.ids {
		if strings.HasPrefix(id, "req-") {
			reqIDs = append(reqIDs, id)
		}
	}
	for i, id := range reqIDs {
		if id != request(i).ID {
			t.Fatalf("request %d written as %s: out of order", i, id)
		}
	}
	if len(reqIDs) != 2500 || rows(t, reg, "request", "written") != 2500 || rows(t, reg, "hook", "written") != 1000 {
		t.Errorf("%d requests written (counted %d), %d hooks", len(reqIDs), rows(t, reg, "request", "written"), rows(t, reg, "hook", "written"))
	}
}

// A batch that does not fill is written FlushInterval after its first row,
// not sooner, and each kind keeps its own time.
func TestBatchesBoundedByTime(t *testing.T) {
	const interval = 400 * time.Millisecond
	const slack = time.Second // scheduling under the race detector
	sink := &batchSink{}
	r, _ := start(t, sink, analytics.RecorderOptions{BatchRows: 1000, FlushInterval: interval})

	check := func(kind string, nth int, first time.Time, wantRows int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%s batch %d", kind, nth), func() bool { return len(sink.Batches(kind)) > nth })
		b := sink.Batches(kind)[nth]
		if b.n != wantRows {
			t.Errorf("%s batch %d: %d rows, want %d", kind, nth, b.n, wantRows)
		}
		if d := b.at.Sub(first); d < interval || d > interval+slack {
			t.Errorf("%s batch %d written %s after its first row, want %s", kind, nth, d, interval)
		}
	}
	first := time.Now()
	for i := range 10 {
		r.Record(request(i))
	}
	check("request", 0, first, 10)

	first = time.Now()
	r.Record(request(10))
	time.Sleep(interval / 2)
	second := time.Now()
	r.Record(request(11))
	check("request", 1, first, 2)
	// The second row did not restart the interval: that would have
	// written the batch an interval after it.
	if d := sink.Batches("request")[1].at.Sub(second); d >= interval {
		t.Errorf("a batch written %s after its second row, want %s", d, interval/2)
	}

	hookFirst := time.Now()
	r.RecordHook(hook(0))
	time.Sleep(interval / 2)
	reqFirst := time.Now()
	r.Record(request(12))
	check("hook", 0, hookFirst, 1)
	check("request", 2, reqFirst, 1)
	if n := len(sink.Batches("request")); n != 3 {
		t.Errorf("%d request batches, want 3", n)
	}
}

// The sink fails: batches spool. Its writes then succeed but report
// failure: they stay spooled. Then it works: the spool drains, and every
// row is stored exactly once, including rows recorded meanwhile.
func TestSinkFailureSpoolsThenEveryRowArrivesOnce(t *testing.T) {
	db := openEmbedded(t)
	sink := &flakySink{inner: db}
	sink.down.Store(true)
	dir := filepath.Join(t.TempDir(), "spool")
	r, reg := start(t, sink, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 100, FlushInterval: 20 * time.Millisecond},
		20*time.Millisecond, 80*time.Millisecond)

	for i := range 1000 {
		r.Record(request(i))
		if i < 300 {
			r.RecordHook(hook(i))
		}
	}
	waitFor(t, "1300 rows spooled", func() bool {
		return rows(t, reg, "request", "spooled") == 1000 && rows(t, reg, "hook", "spooled") == 300
	})
	files, bytes := spoolFiles(t, dir)
	if files < 13 { // batches of at most 100 rows
		t.Errorf("%d spool files, want at least 13", files)
	}
	if got := metric(t, reg, "s3gate_analytics_spool_bytes"); int64(got) != bytes {
		t.Errorf("spool_bytes %v, want %d", got, bytes)
	}
	if n := stored(t, db, "requests") + stored(t, db, "hook_outcomes"); n != 0 {
		t.Fatalf("%d rows stored while the sink was down", n)
	}

	// Stored, but the recorder is told it failed: the batch stays spooled.
	sink.ackLost.Store(true)
	sink.down.Store(false)
	waitFor(t, "a batch stored without acknowledgement", func() bool { return stored(t, db, "requests")+stored(t, db, "hook_outcomes") > 0 })
	sink.ackLost.Store(false)

	for i := 1000; i < 1500; i++ {
		r.Record(request(i))
	}
	waitFor(t, "the spool to drain", func() bool {
		files, _ := spoolFiles(t, dir)
		return files == 0 && stored(t, db, "requests") == 1500 && stored(t, db, "hook_outcomes") == 300
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := stored(t, db, "requests"); n != 1500 {
		t.Errorf("%d requests stored, want 1500", n)
	}
	if n := stored(t, db, "hook_outcomes"); n != 300 {
		t.Errorf("%d hook outcomes stored, want 300", n)
	}
	if got := rows(t, reg, "request", "written"); got != 1500 {
		t.Errorf("requests counted written: %d, want 1500", got)
	}
	if got := rows(t, reg, "hook", "written"); got != 300 {
		t.Errorf("hooks counted written: %d, want 300", got)
	}
	if got := rows(t, reg, "request", "dropped") + rows(t, reg, "hook", "dropped"); got != 0 {
		t.Errorf("%d rows dropped", got)
	}
	if got := metric(t, reg, "s3gate_analytics_spool_bytes"); got != 0 {
		t.Errorf("spool_bytes %v after draining", got)
	}
}

// spoolFiles counts the batches in dir and their bytes.
func spoolFiles(t *testing.T, dir string) (n int, bytes int64) {
	t.Helper()
	for _, name := range spoolNames(t, dir) {
		info, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) { // sent meanwhile
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		bytes += info.Size()
	}
	return n, bytes
}

func spoolNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			names = append(names, e.Name())
		}
	}
	return names
}

// While the sink fails, the oldest batch is tried after the first wait,
// then after twice as long each time, up to the longest wait; new batches
// go to the spool without trying the sink.
func TestProbeBackoff(t *testing.T) {
	reg := prometheus.NewRegistry()
	def, err := analytics.NewRecorder(&batchSink{}, analytics.RecorderOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := analytics.ProbeBackoff(def); lo != time.Second || hi != 30*time.Second {
		t.Errorf("default probe backoff %s to %s, want 1s to 30s", lo, hi)
	}
	def.Close()

	db := openEmbedded(t)
	sink := &flakySink{inner: db}
	sink.down.Store(true)
	const lo, hi = 40 * time.Millisecond, 320 * time.Millisecond
	r, _ := start(t, sink, analytics.RecorderOptions{SpoolDir: t.TempDir(), BatchRows: 10, FlushInterval: time.Hour}, lo, hi)
	for i := range 10 {
		r.Record(request(i))
	}
	waitFor(t, "three probes", func() bool { return len(sink.Attempts()) >= 4 })
	for i := 10; i < 20; i++ { // a second batch: spooled without a write
		r.Record(request(i))
	}
	waitFor(t, "seven probes", func() bool { return len(sink.Attempts()) >= 8 })
	attempts := sink.Attempts()[:8]
	want := []time.Duration{lo, 2 * lo, 4 * lo, hi, hi, hi, hi}
	for i, a := range attempts {
		if a.first != "req-000000" || a.n != 10 {
			t.Errorf("attempt %d wrote %d rows from %s, want the oldest batch", i, a.n, a.first)
		}
		if i == 0 {
			continue
		}
		gap := a.at.Sub(attempts[i-1].at)
		if w := want[i-1]; gap < w || gap > w+200*time.Millisecond {
			t.Errorf("probe %d came %s after the last attempt, want %s", i, gap, w)
		}
	}
	sink.down.Store(false)
	waitFor(t, "both batches stored", func() bool { return stored(t, db, "requests") == 20 })
}

// A Recorder sends what an earlier one left in the spool; the partial
// files of a crash are removed unsent; files not of the spool stay.
func TestRestartSendsSpool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	down := &flakySink{inner: openEmbedded(t)}
	down.down.Store(true)
	reg1 := prometheus.NewRegistry()
	r1, err := analytics.NewRecorder(down, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 100, FlushInterval: time.Hour, Registerer: reg1})
	if err != nil {
		t.Fatal(err)
	}
	go r1.Run(context.Background())
	for i := range 250 {
		r1.Record(request(i))
		if i < 50 {
			r1.RecordHook(hook(i))
		}
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, reg1, "request", "spooled"); got != 250 {
		t.Errorf("requests spooled: %d, want 250", got)
	}
	if got := rows(t, reg1, "hook", "spooled"); got != 50 {
		t.Errorf("hooks spooled: %d, want 50", got)
	}
	files, bytes := spoolFiles(t, dir)
	if files != 4 { // requests 100, 100, 50; hooks 50
		t.Errorf("%d spool files, want 4", files)
	}
	partial := filepath.Join(dir, ".tmp-123456")
	if err := os.WriteFile(partial, []byte(`{"id":"partial","op":"GetObject"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "README")
	if err := os.WriteFile(other, []byte("not a batch"), 0o600); err != nil {
		t.Fatal(err)
	}

	db := openEmbedded(t)
	reg2 := prometheus.NewRegistry()
	r2, err := analytics.NewRecorder(db, analytics.RecorderOptions{SpoolDir: dir, Registerer: reg2})
	if err != nil {
		t.Fatal(err)
	}
	if got := metric(t, reg2, "s3gate_analytics_spool_bytes"); int64(got) != bytes {
		t.Errorf("spool_bytes at start %v, want %d", got, bytes)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file is still there: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r2.Run(ctx) }()
	waitFor(t, "the spool to be sent", func() bool {
		files, _ := spoolFiles(t, dir)
		return files == 0 && stored(t, db, "requests") == 250 && stored(t, db, "hook_outcomes") == 50
	})
	// Ending Run's context flushes, and closes the recorder.
	r2.Record(request(1000))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := stored(t, db, "requests"); n != 251 {
		t.Errorf("%d requests stored, want 251", n)
	}
	if ids := storedIDs(t, db, "requests"); slices.Contains(ids, "partial") {
		t.Error("the partial file's row was stored")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not of the spool was removed: %v", err)
	}
	if got := rows(t, reg2, "request", "written"); got != 251 {
		t.Errorf("requests counted written: %d, want 251", got)
	}
	r2.Record(request(1001))
	if got := dropped(t, reg2, "closed"); got != 1 {
		t.Errorf("dropped after Run ended: %d, want 1", got)
	}
	r2.Close()
}

// Adding past SpoolBytes drops the oldest batches, counted as spool_full;
// the rest are sent.
func TestSpoolBoundDropsOldestFirst(t *testing.T) {
	batch := make([]analytics.Request, 10)
	for i := range batch {
		batch[i] = request(i)
	}
	size := int64(len(analytics.EncodeRequests(batch))) // every batch below has this size
	dir := filepath.Join(t.TempDir(), "spool")
	db := openEmbedded(t)
	sink := &flakySink{inner: db}
	sink.down.Store(true)
	r, reg := start(t, sink, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 10, FlushInterval: time.Hour, SpoolBytes: 3*size + size/2},
		20*time.Millisecond, 40*time.Millisecond)
	for i := range 50 {
		r.Record(request(i))
	}
	waitFor(t, "five batches spooled", func() bool { return rows(t, reg, "request", "spooled") == 50 })
	if got := dropped(t, reg, "spool_full"); got != 20 {
		t.Errorf("dropped for a full spool: %d, want 20", got)
	}
	if got := rows(t, reg, "request", "dropped"); got != 20 {
		t.Errorf("requests dropped: %d, want 20", got)
	}
	files, bytes := spoolFiles(t, dir)
	if files != 3 || bytes != 3*size {
		t.Errorf("spool holds %d files, %d bytes; want 3, %d", files, bytes, 3*size)
	}
	if got := metric(t, reg, "s3gate_analytics_spool_bytes"); int64(got) != 3*size {
		t.Errorf("spool_bytes %v, want %d", got, 3*size)
	}
	sink.down.Store(false)
	waitFor(t, "the spool to drain", func() bool { files, _ := spoolFiles(t, dir); return files == 0 })
	var want []string
	for i := 20; i < 50; i++ {
		want = append(want, request(i).ID)
	}
	if got := storedIDs(t, db, "requests"); !slices.Equal(got, want) {
		t.Errorf("stored %v\nwant %v", got, want)
	}
}

// A spool file that does not match its checksum, or does not decode, is
// skipped and its rows counted; the others are sent.
func TestCorruptSpoolFileSkipped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	down := &flakySink{inner: openEmbedded(t)}
	down.down.Store(true)
	r1, err := analytics.NewRecorder(down, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 10, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	go r1.Run(context.Background())
	for i := range 30 {
		r1.Record(request(i))
	}
	r1.Close()
	names := spoolNames(t, dir)
	if len(names) != 3 {
		t.Fatalf("spool files %v, want 3", names)
	}
	// Flip a byte of the second batch.
	middle := filepath.Join(dir, names[1])
	data, err := os.ReadFile(middle)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(middle, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A file whose checksum matches but whose lines are no rows, between
	// the first and second batches.
	junk := []byte("not json\n")
	parts := strings.Split(names[0], "-")
	junkName := fmt.Sprintf("%s-%010d-request-7-%08x.jsonl", parts[0], 9999999999, crc32.ChecksumIEEE(junk))
	if err := os.WriteFile(filepath.Join(dir, junkName), junk, 0o600); err != nil {
		t.Fatal(err)
	}

	db := openEmbedded(t)
	r2, reg := start(t, db, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 10, FlushInterval: time.Hour})
	waitFor(t, "the spool to drain", func() bool { return len(spoolNames(t, dir)) == 0 })
	var want []string
	for i := range 30 {
		if i < 10 || i >= 20 {
			want = append(want, request(i).ID)
		}
	}
	if got := storedIDs(t, db, "requests"); !slices.Equal(got, want) {
		t.Errorf("stored %v\nwant %v", got, want)
	}
	if got := dropped(t, reg, "spool_corrupt"); got != 17 {
		t.Errorf("dropped as corrupt: %d, want 17", got)
	}
	// The recorder goes on.
	for i := 100; i < 110; i++ {
		r2.Record(request(i))
	}
	waitFor(t, "a new batch", func() bool { return stored(t, db, "requests") == 30 })
}

// Close writes what is queued: to the sink, or to the spool when the sink
// does not answer within CloseTimeout; a Recorder that never ran flushes
// too.
func TestCloseFlushes(t *testing.T) {
	t.Run("to the sink", func(t *testing.T) {
		db := openEmbedded(t)
		r, reg := start(t, db, analytics.RecorderOptions{BatchRows: 1000, FlushInterval: time.Hour})
		for i := range 10 {
			r.Record(request(i))
		}
		for i := range 5 {
			r.RecordHook(hook(i))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n, m := stored(t, db, "requests"), stored(t, db, "hook_outcomes"); n != 10 || m != 5 {
			t.Errorf("stored %d requests, %d hooks; want 10, 5", n, m)
		}
		if got := rows(t, reg, "request", "written"); got != 10 {
			t.Errorf("counted written: %d, want 10", got)
		}
	})
	t.Run("without Run", func(t *testing.T) {
		db := openEmbedded(t)
		r, err := analytics.NewRecorder(db, analytics.RecorderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			r.Record(request(i))
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n := stored(t, db, "requests"); n != 3 {
			t.Errorf("stored %d requests, want 3", n)
		}
		if err := r.Run(context.Background()); err != nil {
			t.Errorf("Run after Close: %v", err)
		}
		if n := stored(t, db, "requests"); n != 3 {
			t.Errorf("after Run, stored %d requests, want 3", n)
		}
	})
	t.Run("to the spool at the deadline", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "spool")
		hang := &hangingSink{}
		const deadline = 300 * time.Millisecond
		r, reg := start(t, hang, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 1000, FlushInterval: time.Hour, CloseTimeout: deadline})
		for i := range 10 {
			r.Record(request(i))
		}
		begin := time.Now()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); took < deadline || took > deadline+2*time.Second {
			t.Errorf("Close took %s, want about %s", took, deadline)
		}
		if got := rows(t, reg, "request", "spooled"); got != 10 {
			t.Errorf("spooled %d, want 10", got)
		}
		// The next start sends them.
		db := openEmbedded(t)
		start(t, db, analytics.RecorderOptions{SpoolDir: dir})
		waitFor(t, "the spool to be sent", func() bool { return stored(t, db, "requests") == 10 })
	})
}

// hangingSink answers only when its context ends.
type hangingSink struct{}

func (hangingSink) WriteRequests(ctx context.Context, _ []analytics.Request) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hangingSink) WriteHooks(ctx context.Context, _ []analytics.HookOutcome) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hangingSink) Close() error { return nil }

// A write that takes longer than WriteTimeout fails, and its batch spools.
func TestWriteTimeout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	r, reg := start(t, hangingSink{}, analytics.RecorderOptions{SpoolDir: dir, BatchRows: 5, WriteTimeout: 100 * time.Millisecond})
	for i := range 5 {
		r.Record(request(i))
	}
	waitFor(t, "the batch to spool", func() bool { return rows(t, reg, "request", "spooled") == 5 })
	if got := metric(t, reg, "s3gate_analytics_write_seconds"); got != 1 {
		t.Errorf("%v writes observed, want 1", got)
	}
}

// BenchmarkRecord is the cost of one Record call, from one goroutine and
// from many; the writer keeps up or rows are dropped (counted).
func BenchmarkRecord(b *testing.B) {
	row := request(1)
	for _, parallel := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "parallel"}[parallel], func(b *testing.B) {
			reg := prometheus.NewRegistry()
			r, err := analytics.NewRecorder(discard{}, analytics.RecorderOptions{Registerer: reg})
			if err != nil {
				b.Fatal(err)
			}
			go r.Run(context.Background())
			defer r.Close()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r.Record(row)
					}
				})
			} else {
				for b.Loop() {
					r.Record(row)
				}
			}
			b.StopTimer()
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() == "s3gate_analytics_dropped_total" {
					for _, m := range mf.GetMetric() {
						if m.GetLabel()[0].GetValue() == "queue_full" {
							b.ReportMetric(m.GetCounter().GetValue()/float64(b.N), "dropped/op")
						}
					}
				}
			}
		})
	}
}

type discard struct{}

func (discard) WriteRequests(context.Context, []analytics.Request) error  { return nil }
func (discard) WriteHooks(context.Context, []analytics.HookOutcome) error { return nil }
func (discard) Close() error                                              { return nil }
