package analytics

import (
	"log/slog"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every field of both kinds of row comes back from the spool as it went in.
func TestSpoolEncodingRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	reqs := []Request{
		{ID: "a", Time: at, Operation: "PutObject", Bucket: "b", Key: "dir/ü <&>\n", Principal: "alice", AuthKind: "sigv4",
			SourceIP: "2001:db8::1", UserAgent: "aws-cli/2 \"quoted\"", Status: 200, ErrorCode: "", BytesIn: 1 << 50, BytesOut: 7,
			Latency: 1234567 * time.Nanosecond, BackendLatency: 3 * time.Millisecond, Cache: "hit"},
		{ID: "b", Time: at.Add(time.Hour), Operation: "Unknown", Status: 404, ErrorCode: "NoSuchBucket"},
	}
	data, n, bad := encodeRows(reqs)
	if n != 2 || bad != 0 {
		t.Fatalf("encoded %d, bad %d", n, bad)
	}
	got, err := decodeRows[Request](data, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reqs) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, reqs)
	}
	hooks := []HookOutcome{{ID: "e/p/1", Time: at, Processor: "image", Bucket: "b", Key: "k", Attempt: 3, Result: "dead_letter", Duration: time.Second}}
	data, _, _ = encodeRows(hooks)
	gotHooks, err := decodeRows[HookOutcome](data, 1)
	if err != nil || !reflect.DeepEqual(gotHooks, hooks) {
		t.Errorf("decoded %+v, %v; want %+v", gotHooks, err, hooks)
	}
	// A row JSON cannot hold is left out, and said so.
	_, n, bad = encodeRows([]Request{{ID: "far", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, reqs[1]})
	if n != 1 || bad != 1 {
		t.Errorf("encoded %d, bad %d; want 1, 1", n, bad)
	}
	for _, c := range []struct {
		data string
		n    int
	}{{"", 1}, {`{"id":"x"}`, 1}, {"{\"id\":\"x\"}\n", 2}, {"{\"id\":\n", 1}} {
		if _, err := decodeRows[Request]([]byte(c.data), c.n); err == nil {
			t.Errorf("decoded %q as %d rows", c.data, c.n)
		}
	}
}

func TestSpoolNames(t *testing.T) {
	f := spoolFile{time: 1735689600123456789, seq: 42, kind: kindHook, rows: 1000, crc: 0xdeadbeef}
	name := f.makeName()
	if want := "01735689600123456789-0000000042-hook-1000-deadbeef.jsonl"; name != want {
		t.Errorf("name %s, want %s", name, want)
	}
	got, ok := parseSpoolName(name)
	f.name = name
	if !ok || got != f {
		t.Errorf("parsed %+v, %v; want %+v", got, ok, f)
	}
	for _, bad := range []string{
		"README", ".tmp-01735689600123456789-0000000042-hook-1000-deadbeef.jsonl",
		"01735689600123456789-0000000042-hook-1000-deadbeef.json",
		"01735689600123456789-0000000042-other-1000-deadbeef.jsonl",
		"01735689600123456789-0000000042-hook-0-deadbeef.jsonl",
		"1735689600123456789-0000000042-hook-1000-deadbeef.jsonl",
		"01735689600123456789-0000000042-hook-1000-deadbeeg.jsonl",
	} {
		if _, ok := parseSpoolName(bad); ok {
			t.Errorf("parsed %s", bad)
		}
	}
}

// Names sort in the order batches were added, even when the clock goes
// back; a spool opened with a smaller bound drops its oldest batches.
func TestSpoolOrderAndBoundAtOpen(t *testing.T) {
	dir := t.TempDir()
	m, _ := newMetrics(nil)
	log := slog.New(slog.DiscardHandler)
	s, err := openSpool(dir, 1<<20, m, log)
	if err != nil {
		t.Fatal(err)
	}
	s.last = time.Now().Add(time.Hour).UnixNano() // as if the clock went back an hour
	for i := range 4 {
		if err := s.add(kindRequest, i+1, []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	var added []string
	for _, f := range s.files {
		added = append(added, f.name)
	}
	if !slices.IsSorted(added) {
		t.Errorf("names out of order: %v", added)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, e.Name())
	}
	if !slices.Equal(onDisk, added) { // and no temporary file is left
		t.Errorf("on disk %v, want %v", onDisk, added)
	}

	m2, _ := newMetrics(nil)
	s2, err := openSpool(dir, 25, m2, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.files) != 2 || s2.files[0].name != added[2] || s2.bytes != 20 {
		t.Errorf("reopened with a bound of 25 bytes: %+v", s2.files)
	}
	if got := testutil.ToFloat64(m2.dropped.WithLabelValues(reasonSpoolFull)); got != 1+2 {
		t.Errorf("dropped %v rows, want 3", got)
	}
	if got := testutil.ToFloat64(m2.spoolBytes); got != 20 {
		t.Errorf("spool_bytes %v, want 20", got)
	}
	// A batch larger than the bound is dropped alone.
	if err := s2.add(kindHook, 5, make([]byte, 26)); err == nil {
		t.Error("a batch past the bound was added")
	}
	if len(s2.files) != 2 || testutil.ToFloat64(m2.rows.WithLabelValues(kindHook, resultDropped)) != 5 {
		t.Errorf("after an oversized batch: %d files, %v hooks dropped", len(s2.files), testutil.ToFloat64(m2.rows.WithLabelValues(kindHook, resultDropped)))
	}
}
