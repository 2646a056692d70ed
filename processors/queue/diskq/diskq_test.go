package diskq

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
)

// logBuffer collects a queue's log lines for assertions.
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

func open(t testing.TB, dir string, opts Options) *Queue {
	t.Helper()
	q, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func closeQ(t testing.TB, q *Queue) {
	t.Helper()
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func body(prefix string, i int) []byte { return fmt.Appendf(nil, "%s-%04d", prefix, i) }

func publishN(t testing.TB, q *Queue, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := q.Publish(t.Context(), body(prefix, i))
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		ids[i] = id
	}
	return ids
}

func ensure(t testing.TB, q *Queue, groups ...string) {
	t.Helper()
	for _, g := range groups {
		if err := q.EnsureGroup(t.Context(), g); err != nil {
			t.Fatalf("EnsureGroup(%q): %v", g, err)
		}
	}
}

// readN reads exactly n entries of group, failing after a deadline.
func readN(t testing.TB, q *Queue, group string, n int) []queue.Message {
	t.Helper()
	var got []queue.Message
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: read %d of %d entries", group, len(got), n)
		}
		ms, err := q.Read(t.Context(), group, "c", n-len(got), 100*time.Millisecond)
		if err != nil {
			t.Fatalf("Read(%q): %v", group, err)
		}
		got = append(got, ms...)
	}
	return got
}

func expectNothing(t testing.TB, q *Queue, group string) {
	t.Helper()
	ms, err := q.Read(t.Context(), group, "c", 100, 0)
	if err != nil {
		t.Fatalf("Read(%q): %v", group, err)
	}
	if len(ms) != 0 {
		t.Fatalf("%s: unexpected entries %v", group, idsOf(ms))
	}
}

func ack(t testing.TB, q *Queue, group string, ms ...queue.Message) {
	t.Helper()
	if err := q.Ack(t.Context(), group, idsOf(ms)...); err != nil {
		t.Fatalf("Ack(%q): %v", group, err)
	}
}

func wantPending(t testing.TB, q *Queue, group string, want int64) {
	t.Helper()
	got, err := q.Pending(t.Context(), group)
	if err != nil {
		t.Fatalf("Pending(%q): %v", group, err)
	}
	if got != want {
		t.Fatalf("Pending(%q) = %d, want %d", group, got, want)
	}
}

func idsOf(ms []queue.Message) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// expectBodies checks that ms are entries first.. of prefix, in order,
// with the given delivery count.
func expectBodies(t testing.TB, ms []queue.Message, prefix string, first, deliveries int) {
	t.Helper()
	for i, m := range ms {
		if want := body(prefix, first+i); !bytes.Equal(m.Body, want) {
			t.Fatalf("entry %d (%s): body %q, want %q", i, m.ID, m.Body, want)
		}
		if m.Deliveries != deliveries {
			t.Fatalf("entry %d (%s): Deliveries %d, want %d", i, m.ID, m.Deliveries, deliveries)
		}
	}
}

func segments(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "log", "*.seg"))
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

func TestIDsSortAsStrings(t *testing.T) {
	nums := []uint64{1, 9, 10, 99, 100, 12345678901234, math.MaxUint64}
	for i, n := range nums {
		s := formatID(n)
		if len(s) != 20 {
			t.Fatalf("formatID(%d) = %q, not 20 digits", n, s)
		}
		if back, err := parseID(s); err != nil || back != n {
			t.Fatalf("parseID(%q) = %d, %v; want %d", s, back, err, n)
		}
		if i > 0 && formatID(nums[i-1]) >= s {
			t.Fatalf("%q sorts at or after %q", formatID(nums[i-1]), s)
		}
	}
	for _, bad := range []string{"", "1", "0000000000000000000x", "00000000000000000000", "-0000000000000000001", "123456789012345678901"} {
		if _, err := parseID(bad); err == nil {
			t.Errorf("parseID(%q) accepted", bad)
		}
	}
}

// TestTornTailRecovery damages the end of the newest segment the way a
// crash mid-write does; reopening must keep every entry before the damage,
// truncate the rest and go on from there.
func TestTornTailRecovery(t *testing.T) {
	const n = 20
	record := appendRecord(nil, n+1, []byte("the entry being written at the crash"))
	cases := []struct {
		name   string
		damage func(t *testing.T, seg string)
		kept   int
	}{
		{"garbage", func(t *testing.T, seg string) {
			appendFile(t, seg, bytes.Repeat([]byte{0xab, 0x17, 0x00}, 13))
		}, n},
		{"half a record", func(t *testing.T, seg string) {
			appendFile(t, seg, record[:len(record)/2])
		}, n},
		{"part of a header", func(t *testing.T, seg string) {
			appendFile(t, seg, record[:5])
		}, n},
		{"zeroed blocks", func(t *testing.T, seg string) {
			appendFile(t, seg, make([]byte, 4096))
		}, n},
		{"record with a bad checksum", func(t *testing.T, seg string) {
			bad := bytes.Clone(record)
			bad[len(bad)-1] ^= 0x40
			appendFile(t, seg, bad)
		}, n},
		{"last record damaged", func(t *testing.T, seg string) {
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			end := fileSize(t, seg)
			if _, err := f.WriteAt([]byte{'#'}, end-1); err != nil {
				t.Fatal(err)
			}
		}, n - 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			q := open(t, dir, Options{})
			ensure(t, q, "g")
			ids := publishN(t, q, "e", n)
			closeQ(t, q)
			segs := segments(t, dir)
			if len(segs) != 1 {
				t.Fatalf("%d segments, want 1", len(segs))
			}
			sizeBefore := fileSize(t, segs[0])
			c.damage(t, segs[0])

			var logs logBuffer
			q = open(t, dir, Options{Logger: logs.logger()})
			if !strings.Contains(logs.String(), "truncating torn tail") {
				t.Errorf("recovery was not logged: %s", logs.String())
			}
			if c.kept == n {
				if got := fileSize(t, segs[0]); got != sizeBefore {
					t.Errorf("segment is %d bytes after recovery, want %d", got, sizeBefore)
				}
			}
			wantPending(t, q, "g", int64(c.kept))
			got := readN(t, q, "g", c.kept)
			expectBodies(t, got, "e", 0, 1)
			if !slices.Equal(idsOf(got), ids[:c.kept]) {
				t.Fatalf("ids %v, want %v", idsOf(got), ids[:c.kept])
			}
			// The log goes on after the last intact entry.
			id, err := q.Publish(t.Context(), []byte("after"))
			if err != nil {
				t.Fatal(err)
			}
			if want := formatID(uint64(c.kept) + 1); id != want {
				t.Fatalf("next id %s, want %s", id, want)
			}
			ack(t, q, "g", got...)
			closeQ(t, q)

			// A second open finds nothing to repair.
			logs = logBuffer{}
			q = open(t, dir, Options{Logger: logs.logger()})
			if strings.Contains(logs.String(), "truncating") {
				t.Errorf("second open repaired again: %s", logs.String())
			}
			after := readN(t, q, "g", 1)
			if after[0].ID != id || string(after[0].Body) != "after" {
				t.Fatalf("after reopen got %v %q, want %s", after[0].ID, after[0].Body, id)
			}
		})
	}
}

// TestTornSegmentHeader covers a crash right after a new segment file was
// created, before its header was complete.
func TestTornSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	ensure(t, q, "g")
	publishN(t, q, "e", 5)
	closeQ(t, q)
	next := filepath.Join(dir, "log", segName(6))
	if err := os.WriteFile(next, magicLog[:3], 0o600); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, Options{})
	ids := publishN(t, q, "f", 2)
	if ids[0] != formatID(6) {
		t.Fatalf("first id after recovery %s, want %s", ids[0], formatID(6))
	}
	got := readN(t, q, "g", 7)
	expectBodies(t, got[:5], "e", 0, 1)
	expectBodies(t, got[5:], "f", 0, 1)
	if size := fileSize(t, next); size <= int64(len(magicLog)) {
		t.Fatalf("new segment is %d bytes; the entries did not go there", size)
	}
}

// TestRestartKeepsGroupState checks that positions, acknowledgements and
// pending entries (with their delivery counts and times) survive a
// restart.
func TestRestartKeepsGroupState(t *testing.T) {
	const claim = 400 * time.Millisecond
	dir := t.TempDir()
	q := open(t, dir, Options{ClaimAfter: claim})
	ensure(t, q, "a", "b")
	publishN(t, q, "e", 10)
	handedOut := time.Now()
	first := readN(t, q, "a", 5)
	ack(t, q, "a", first[0], first[2])
	closeQ(t, q)

	q = open(t, dir, Options{ClaimAfter: claim})
	wantPending(t, q, "a", 8)
	wantPending(t, q, "b", 10)
	// Only new entries now: the three pending ones are not due yet.
	fresh, err := q.Read(t.Context(), "a", "c2", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	expectBodies(t, fresh, "e", 5, 1)
	if len(fresh) != 5 {
		t.Fatalf("read %d new entries, want 5", len(fresh))
	}
	ack(t, q, "a", fresh...)
	// Then the pending ones, once the claim timeout has passed since they
	// were handed out before the restart.
	again := readN(t, q, "a", 3)
	if since := time.Since(handedOut); since < claim {
		t.Fatalf("pending entries redelivered %v after they were handed out, before the claim timeout", since)
	}
	for i, want := range []int{1, 3, 4} {
		expectBodies(t, again[i:i+1], "e", want, 2)
	}
	ack(t, q, "a", again...)
	wantPending(t, q, "a", 0)
	b := readN(t, q, "b", 10)
	expectBodies(t, b, "e", 0, 1)
	ack(t, q, "b", b[:4]...)
	closeQ(t, q)

	// And again, after a restart that found the state already settled.
	q = open(t, dir, Options{ClaimAfter: claim})
	wantPending(t, q, "a", 0)
	wantPending(t, q, "b", 6)
	expectNothing(t, q, "a")
}

// TestJournalTornTail damages the end of a group journal: the intact
// records before it still count.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	ensure(t, q, "g")
	publishN(t, q, "e", 6)
	ms := readN(t, q, "g", 4)
	ack(t, q, "g", ms[:2]...)
	closeQ(t, q)
	journal := filepath.Join(dir, "groups", fmt.Sprintf("%x.journal", "g"))
	// The start of an acknowledgement of the other two, cut short.
	rec := appendIDs(nil, recAck, time.Now(), []uint64{3, 4})
	appendFile(t, journal, rec[:len(rec)-3])
	size := fileSize(t, journal)

	var logs logBuffer
	q = open(t, dir, Options{Logger: logs.logger()})
	if !strings.Contains(logs.String(), "torn tail of group journal") {
		t.Errorf("journal recovery was not logged: %s", logs.String())
	}
	if got := fileSize(t, journal); got != size-int64(len(rec)-3) {
		t.Errorf("journal is %d bytes, want the torn record cut off (%d)", got, size-int64(len(rec)-3))
	}
	wantPending(t, q, "g", 4)
	// A new change lands after the intact records and is kept.
	rest := readN(t, q, "g", 2)
	expectBodies(t, rest, "e", 4, 1)
	ack(t, q, "g", rest...)
	closeQ(t, q)
	q = open(t, dir, Options{})
	wantPending(t, q, "g", 2)
}

// TestJournalCompaction forces many snapshots and checks that state
// survives them, and that a journal left over from before a snapshot (a
// crash between writing the snapshot and replacing the journal) is not
// applied twice.
func TestJournalCompaction(t *testing.T) {
	dir := t.TempDir()
	// Nothing is reclaimed while the test reads (a slow machine must not
	// hand the entries left pending out again mid-loop); the last open
	// below reclaims them quickly.
	opts := Options{compactAt: 512, ClaimAfter: time.Hour}
	q := open(t, dir, opts)
	ensure(t, q, "g")
	publishN(t, q, "e", 200)
	journal := filepath.Join(dir, "groups", fmt.Sprintf("%x.journal", "g"))
	var stale []byte
	for i := 0; i < 190; i += 10 {
		ms, err := q.Read(t.Context(), "g", "c", 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		expectBodies(t, ms, "e", i, 1)
		if i == 100 {
			// Handed out, not yet acknowledged: applied again, this
			// journal would make the entries pending again.
			if stale, err = os.ReadFile(journal); err != nil {
				t.Fatal(err)
			}
		}
		ack(t, q, "g", ms[:len(ms)-1]...) // leave one pending each time
	}
	g, _ := q.group("g")
	g.mu.Lock()
	gen, jsize := g.gen, g.jsize
	g.mu.Unlock()
	if gen < 3 {
		t.Fatalf("journal compacted %d times, want several", gen-1)
	}
	if jsize > 1024 {
		t.Fatalf("journal is %d bytes after compactions", jsize)
	}
	wantPending(t, q, "g", 19+10)
	closeQ(t, q)

	// Snapshot plus the journal written since.
	q = open(t, dir, opts)
	wantPending(t, q, "g", 29)
	g, _ = q.group("g")
	g.mu.Lock()
	g.compact()
	g.mu.Unlock()
	closeQ(t, q)

	if err := os.WriteFile(journal, stale, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.ClaimAfter = 50 * time.Millisecond
	q = open(t, dir, opts)
	wantPending(t, q, "g", 29)
	ms := readN(t, q, "g", 29)
	var redelivered int
	for _, m := range ms {
		if m.Deliveries == 2 {
			redelivered++
		}
	}
	if redelivered != 19 {
		t.Fatalf("%d redeliveries, want the 19 pending entries", redelivered)
	}
}

// TestSegmentRolloverAndTrim fills several small segments and checks that
// Trim deletes exactly the ones every group is done with, also across a
// restart, and that a lagging group still gets all of its work.
func TestSegmentRolloverAndTrim(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 256, ClaimAfter: 100 * time.Millisecond}
	q := open(t, dir, opts)
	ensure(t, q, "a", "b")
	ids := publishN(t, q, "e", 100)
	segs := segments(t, dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments for 100 entries in segments of 256 bytes", len(segs))
	}
	for _, s := range segs[:len(segs)-1] {
		if size := fileSize(t, s); size > 256 {
			t.Fatalf("%s is %d bytes, over the segment size", s, size)
		}
	}
	a := readN(t, q, "a", 100)
	expectBodies(t, a, "e", 0, 1)
	ack(t, q, "a", a...)
	b := readN(t, q, "b", 40)
	ack(t, q, "b", b[:30]...)
	if err := q.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	// b's oldest unacknowledged entry is e-0030 (id 31).
	kept := segments(t, dir)
	for _, s := range segs {
		start, _ := parseID(strings.TrimSuffix(filepath.Base(s), ".seg"))
		i := slices.Index(segs, s)
		end := uint64(math.MaxUint64)
		if i+1 < len(segs) {
			end, _ = parseID(strings.TrimSuffix(filepath.Base(segs[i+1]), ".seg"))
		}
		if want := end > 31; slices.Contains(kept, s) != want {
			t.Errorf("segment %d-%d kept=%v, want %v", start, end, !want, want)
		}
	}
	closeQ(t, q)

	// After a restart b resumes in the middle of a segment it has not
	// read since, and a new group starts at the trim point.
	q = open(t, dir, opts)
	wantPending(t, q, "b", 70)
	ensure(t, q, "c")
	wantPending(t, q, "c", 70)
	c := readN(t, q, "c", 70)
	expectBodies(t, c, "e", 30, 1)
	rest := readN(t, q, "b", 70)
	byID := map[string]queue.Message{}
	for _, m := range rest {
		byID[m.ID] = m
	}
	for i := 30; i < 100; i++ {
		m, ok := byID[ids[i]]
		if !ok || !bytes.Equal(m.Body, body("e", i)) {
			t.Fatalf("b is missing %s after trim and restart", ids[i])
		}
		if want := 1 + btoi(i < 40); m.Deliveries != want {
			t.Fatalf("%s: Deliveries %d, want %d", ids[i], m.Deliveries, want)
		}
	}
	ack(t, q, "b", rest...)
	ack(t, q, "c", c...)
	if err := q.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left := segments(t, dir); len(left) != 1 || left[0] != segs[len(segs)-1] {
		t.Fatalf("after everything was acknowledged %v are left, want only the newest segment", left)
	}
	closeQ(t, q)

	q = open(t, dir, opts)
	id, err := q.Publish(t.Context(), []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if id != formatID(101) {
		t.Fatalf("id after trimming everything and a restart: %s, want %s", id, formatID(101))
	}
	ensure(t, q, "d")
	wantPending(t, q, "d", 1)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRandomAccess reads entries from the middle of a large segment
// through its sparse index: reclaimed entries scattered over it, and a
// group resuming mid-segment after a restart (when the index is rebuilt).
func TestRandomAccess(t *testing.T) {
	const n = 600 // 1 KiB each: the segment gets several index points
	pad := bytes.Repeat([]byte{'.'}, 1000)
	bodyOf := func(i int) []byte { return append(body("e", i), pad...) }
	dir := t.TempDir()
	// Sealed segments of 256 KiB get their index built on first use after
	// the restart.
	opts := Options{ClaimAfter: 100 * time.Millisecond, SegmentSize: 256 << 10, Fsync: new(false)}
	q := open(t, dir, opts)
	ensure(t, q, "scatter", "resume")
	for i := range n {
		if _, err := q.Publish(t.Context(), bodyOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(ms []queue.Message, want []int) {
		t.Helper()
		if len(ms) != len(want) {
			t.Fatalf("read %d entries, want %d", len(ms), len(want))
		}
		for k, m := range ms {
			if !bytes.Equal(m.Body, bodyOf(want[k])) {
				t.Fatalf("%s: body %.12q, want entry %d", m.ID, m.Body, want[k])
			}
		}
	}
	all := readN(t, q, "scatter", n)
	var keep []int
	for i, m := range all {
		if i%97 == 13 || i == n-1 {
			keep = append(keep, i)
			continue
		}
		ack(t, q, "scatter", m)
	}
	first := readN(t, q, "resume", 333)
	ack(t, q, "resume", first...)
	closeQ(t, q)

	q = open(t, dir, opts)
	check(readN(t, q, "scatter", len(keep)), keep)
	var rest []int
	for i := 333; i < n; i++ {
		rest = append(rest, i)
	}
	check(readN(t, q, "resume", n-333), rest)
	q.mu.Lock()
	points, segs := len(q.segs[0].idx), len(q.segs)
	q.mu.Unlock()
	if segs < 3 || points < (256<<10)/indexEvery-1 {
		t.Fatalf("%d segments, the first with %d index points; want several, with one per %d bytes", segs, points, indexEvery)
	}
}

// TestGroupCommit checks that concurrent publishers share fsyncs and
// that every entry arrives once, intact, in id order.
func TestGroupCommit(t *testing.T) {
	const publishers, each = 32, 25
	opts := Options{SegmentSize: 4096, syncHook: func() { time.Sleep(2 * time.Millisecond) }}
	dir := t.TempDir()
	q := open(t, dir, opts)
	ensure(t, q, "g")
	var wg sync.WaitGroup
	var mu sync.Mutex
	published := map[string]string{}
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				b := fmt.Sprintf("p%02d-%03d", p, i)
				id, err := q.Publish(t.Context(), []byte(b))
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				if _, dup := published[id]; dup {
					t.Errorf("id %s issued twice", id)
				}
				published[id] = b
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := publishers * each
	syncs := q.logSyncs.Load()
	t.Logf("%d publishes, %d fsyncs of the log", total, syncs)
	if syncs == 0 || syncs > int64(total/4) {
		t.Fatalf("%d fsyncs for %d concurrent publishes: publishers did not share them", syncs, total)
	}
	ms := readN(t, q, "g", total)
	for i, m := range ms {
		if string(m.Body) != published[m.ID] {
			t.Fatalf("%s: body %q, want %q", m.ID, m.Body, published[m.ID])
		}
		if i > 0 && m.ID <= ms[i-1].ID {
			t.Fatalf("%s read after %s", m.ID, ms[i-1].ID)
		}
	}
	closeQ(t, q)
	// All of it was durable, across segment boundaries.
	q = open(t, dir, opts)
	ensure(t, q, "late")
	wantPending(t, q, "late", int64(total))
}

func TestFsyncOff(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{Fsync: new(false)})
	ensure(t, q, "g")
	publishN(t, q, "e", 10)
	expectBodies(t, readN(t, q, "g", 10), "e", 0, 1)
	if n := q.logSyncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs with Fsync off", n)
	}
	closeQ(t, q)
	q = open(t, dir, Options{Fsync: new(false)})
	wantPending(t, q, "g", 10)
}

// TestCorruptSealedSegment flips a byte in an older segment: the group
// gets what precedes the damage, the damage is reported, and reading
// goes on with the next segment instead of stalling.
func TestCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1024}
	q := open(t, dir, opts)
	ensure(t, q, "g")
	publishN(t, q, "e", 60)
	closeQ(t, q)
	segs := segments(t, dir)
	second, _ := parseID(strings.TrimSuffix(filepath.Base(segs[1]), ".seg"))
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 3's body: header, two records of 8+8+6 bytes, its frame header
	// and id.
	if _, err := f.WriteAt([]byte{'#'}, fileHeader+2*(recordOverhead+6)+recordOverhead+1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var logs logBuffer
	q = open(t, dir, Options{SegmentSize: 1024, Logger: logs.logger()})
	ms, err := q.Read(t.Context(), "g", "c", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("read %d entries, want the 2 before the damage", len(ms))
	}
	expectBodies(t, ms, "e", 0, 1)
	if !strings.Contains(logs.String(), "log segment is corrupt") {
		t.Fatalf("corruption was not reported: %s", logs.String())
	}
	ack(t, q, "g", ms...)
	rest := int64(60 - second + 1)
	wantPending(t, q, "g", rest)
	closeQ(t, q)

	// The skip is part of the group's state: the damage is not read again.
	logs = logBuffer{}
	q = open(t, dir, Options{SegmentSize: 1024, Logger: logs.logger()})
	wantPending(t, q, "g", rest)
	ms = readN(t, q, "g", int(rest))
	expectBodies(t, ms, "e", int(second)-1, 1)
	if strings.Contains(logs.String(), "corrupt") {
		t.Fatalf("skipped stretch read again: %s", logs.String())
	}
}

// TestCorruptGroupState: a group whose snapshot is unreadable starts over
// from the oldest entry, so nothing is lost.
func TestCorruptGroupState(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	ensure(t, q, "g")
	publishN(t, q, "e", 5)
	ack(t, q, "g", readN(t, q, "g", 5)...)
	closeQ(t, q)
	snap := filepath.Join(dir, "groups", fmt.Sprintf("%x.snap", "g"))
	if err := os.WriteFile(snap, []byte("s3gqsnp1 not a frame"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	q = open(t, dir, Options{Logger: logs.logger()})
	if !strings.Contains(logs.String(), "group state is corrupt") {
		t.Errorf("not reported: %s", logs.String())
	}
	wantPending(t, q, "g", 5)
	expectBodies(t, readN(t, q, "g", 5), "e", 0, 1)
}

// TestDeadLetterFile checks dead letters across a restart, a torn tail of
// their file, and the rewrite that drops replayed letters.
func TestDeadLetterFile(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	ensure(t, q, "g")
	big := bytes.Repeat([]byte("x"), 100<<10)
	for range 30 {
		if _, err := q.Publish(t.Context(), big); err != nil {
			t.Fatal(err)
		}
	}
	publishN(t, q, "small", 2)
	ms := readN(t, q, "g", 32)
	for i, m := range ms {
		if err := q.DeadLetter(t.Context(), "g", m, fmt.Sprintf("reason %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wantPending(t, q, "g", 0)
	closeQ(t, q)
	deadPath := filepath.Join(dir, "groups", fmt.Sprintf("%x.dead", "g"))
	appendFile(t, deadPath, []byte{9, 0, 0})

	q = open(t, dir, Options{})
	dls, err := q.DeadLetters(t.Context(), "g", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 32 {
		t.Fatalf("%d dead letters after restart, want 32", len(dls))
	}
	for i, d := range dls {
		if d.ID != ms[i].ID || !bytes.Equal(d.Body, ms[i].Body) || d.Reason != fmt.Sprintf("reason %d", i) || d.Group != "g" || d.Deliveries != 1 {
			t.Fatalf("dead letter %d: %s %q d=%d", i, d.ID, d.Reason, d.Deliveries)
		}
	}
	sizeBefore := fileSize(t, deadPath)
	n, err := q.Replay(t.Context(), "g", idsOf(ms[:30])...)
	if err != nil || n != 30 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if size := fileSize(t, deadPath); size > sizeBefore/4 {
		t.Fatalf("dead-letter file is %d bytes after replaying most of %d; not compacted", size, sizeBefore)
	}
	replayed := readN(t, q, "g", 30)
	for _, m := range replayed {
		if !bytes.Equal(m.Body, big) || m.Deliveries != 1 {
			t.Fatalf("replayed %s: %d bytes, Deliveries %d", m.ID, len(m.Body), m.Deliveries)
		}
	}
	ack(t, q, "g", replayed...)
	closeQ(t, q)

	q = open(t, dir, Options{})
	dls, err = q.DeadLetters(t.Context(), "g", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || string(dls[0].Body) != "small-0000" || string(dls[1].Body) != "small-0001" {
		t.Fatalf("after replay and restart: %+v", dls)
	}
	if n, err := q.Replay(t.Context(), "g", dls[0].ID, dls[1].ID); err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if size := fileSize(t, deadPath); size != fileHeader {
		t.Fatalf("dead-letter file is %d bytes with no letters left", size)
	}
	wantPending(t, q, "g", 2)
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	closeQ(t, q)
	open(t, dir, Options{})
}

func TestRejects(t *testing.T) {
	q := open(t, t.TempDir(), Options{})
	if _, err := q.Publish(t.Context(), make([]byte, MaxBodySize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of %d bytes: %v, want ErrTooLarge", MaxBodySize+1, err)
	}
	if _, err := q.Read(t.Context(), "nope", "c", 1, 0); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Read of a missing group: %v, want ErrNoGroup", err)
	}
	for _, name := range []string{"", strings.Repeat("g", maxGroupName+1)} {
		if err := q.EnsureGroup(t.Context(), name); err == nil {
			t.Errorf("EnsureGroup accepted a %d-byte name", len(name))
		}
	}
	// Any other name is fine, whatever bytes it has.
	odd := "../é/\x00" + strings.Repeat("g", maxGroupName-8)
	ensure(t, q, odd)
	ids := publishN(t, q, "e", 1)
	if err := q.Ack(t.Context(), odd, "not-an-id"); err == nil {
		t.Error("Ack accepted a malformed id")
	}
	ms := readN(t, q, odd, 1)
	if ms[0].ID != ids[0] {
		t.Fatalf("read %s, want %s", ms[0].ID, ids[0])
	}
}

// FuzzTornTail appends arbitrary bytes to the newest segment: Open must
// succeed and keep every entry written before them.
func FuzzTornTail(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(appendRecord(nil, 4, []byte("x"))[:9])
	f.Add(appendRecord(nil, 4, []byte("valid next record")))
	f.Add(appendRecord(nil, 7, []byte("out of sequence")))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		opts := Options{Fsync: new(false)}
		q := open(t, dir, opts)
		ensure(t, q, "g")
		publishN(t, q, "e", 3)
		closeQ(t, q)
		appendFile(t, segments(t, dir)[0], tail)
		q = open(t, dir, opts)
		n, err := q.Pending(t.Context(), "g")
		if err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			t.Fatalf("%d entries after recovery, want at least the 3 written", n)
		}
		ms := readN(t, q, "g", int(n))
		expectBodies(t, ms[:3], "e", 0, 1)
		id, err := q.Publish(t.Context(), []byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if got := readN(t, q, "g", 1); got[0].ID != id {
			t.Fatalf("read %s after recovery, want %s", got[0].ID, id)
		}
	})
}
