package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/analyticstest"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func open(t testing.TB, opts Options) (*Sink, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "analytics.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func count(t *testing.T, s *Sink, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// storedRequest is a requests row as stored.
type storedRequest struct {
	ID, Operation, Bucket, Key, Principal, AuthKind, SourceIP, UserAgent string
	Time, Status, BytesIn, BytesOut, LatencyUS, BackendUS                int64
	ErrorCode, Cache                                                     string
}

func readRequest(t *testing.T, s *Sink, id string) storedRequest {
	t.Helper()
	var r storedRequest
	err := s.r.QueryRow(`SELECT id, time, operation, bucket, key, principal, auth_kind, source_ip, user_agent, status,
		error_code, bytes_in, bytes_out, latency_us, backend_latency_us, cache FROM requests WHERE id = ?`, id).Scan(
		&r.ID, &r.Time, &r.Operation, &r.Bucket, &r.Key, &r.Principal, &r.AuthKind, &r.SourceIP, &r.UserAgent, &r.Status,
		&r.ErrorCode, &r.BytesIn, &r.BytesOut, &r.LatencyUS, &r.BackendUS, &r.Cache)
	if err != nil {
		t.Fatalf("request %s: %v", id, err)
	}
	return r
}

// Every field is stored, times in unix milliseconds and durations in
// microseconds; a row whose ID is stored already is ignored, even with
// other values, and the rest of its batch is stored.
func TestWriteRequestsStoresOnceByID(t *testing.T) {
	s, _ := open(t, Options{})
	ctx := context.Background()
	r1 := analytics.Request{ID: "r1", Time: t0.Add(1234567 * time.Microsecond), Operation: "PutObject", Bucket: "b", Key: "k/ü",
		Principal: "alice", AuthKind: "sigv4", SourceIP: "10.0.0.1", UserAgent: "aws-cli/2", Status: 200,
		BytesIn: 1 << 40, BytesOut: 0, Latency: 12345678 * time.Nanosecond, BackendLatency: 2500 * time.Microsecond, Cache: "miss"}
	r2 := analytics.Request{ID: "r2", Time: t0, Operation: "GetObject", Bucket: "b", Key: "x", Status: 404, ErrorCode: "NoSuchKey", BytesOut: 300}
	if err := s.WriteRequests(ctx, []analytics.Request{r1, r2}); err != nil {
		t.Fatal(err)
	}
	want := storedRequest{ID: "r1", Time: t0.UnixMilli() + 1234, Operation: "PutObject", Bucket: "b", Key: "k/ü", Principal: "alice",
		AuthKind: "sigv4", SourceIP: "10.0.0.1", UserAgent: "aws-cli/2", Status: 200, BytesIn: 1 << 40, LatencyUS: 12345, BackendUS: 2500, Cache: "miss"}
	if got := readRequest(t, s, "r1"); got != want {
		t.Errorf("stored\n%+v\nwant\n%+v", got, want)
	}
	changed := r1
	changed.Status, changed.Bucket = 500, "other"
	r3 := analytics.Request{ID: "r3", Time: t0, Operation: "HeadObject", Status: 200}
	if err := s.WriteRequests(ctx, []analytics.Request{changed, r3, r2}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "requests"); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	if got := readRequest(t, s, "r1"); got != want {
		t.Errorf("after a replay, stored\n%+v\nwant\n%+v", got, want)
	}
	if got := readRequest(t, s, "r3"); got.Operation != "HeadObject" {
		t.Errorf("r3 stored as %+v", got)
	}
	if err := s.WriteRequests(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestWriteHooksStoresOnceByID(t *testing.T) {
	s, _ := open(t, Options{})
	ctx := context.Background()
	h := analytics.HookOutcome{ID: "e1/search/1", Time: t0.Add(5 * time.Millisecond), Processor: "search", Bucket: "b", Key: "k",
		Attempt: 1, Result: "retry", Duration: 1500 * time.Microsecond}
	h2 := h
	h2.ID, h2.Attempt, h2.Result = "e1/search/2", 2, "ok"
	for range 2 {
		if err := s.WriteHooks(ctx, []analytics.HookOutcome{h, h2}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "hook_outcomes"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	var got struct {
		time, attempt, dur     int64
		proc, bucket, key, res string
	}
	if err := s.r.QueryRow("SELECT time, processor, bucket, key, attempt, result, duration_us FROM hook_outcomes WHERE id = 'e1/search/2'").Scan(
		&got.time, &got.proc, &got.bucket, &got.key, &got.attempt, &got.res, &got.dur); err != nil {
		t.Fatal(err)
	}
	if got.time != t0.UnixMilli()+5 || got.proc != "search" || got.bucket != "b" || got.key != "k" || got.attempt != 2 || got.res != "ok" || got.dur != 1500 {
		t.Errorf("stored %+v", got)
	}
}

// DropExpired deletes what is older than the retention, in both tables and
// across several chunks, and nothing without a retention.
func TestDropExpired(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	old := make([]analytics.Request, expireChunk+5)
	for i := range old {
		old[i] = analytics.Request{ID: fmt.Sprintf("old-%d", i), Time: now.Add(-2*time.Hour - time.Duration(i)*time.Millisecond), Operation: "GetObject"}
	}
	fresh := []analytics.Request{{ID: "fresh", Time: now.Add(-50 * time.Minute), Operation: "GetObject"}}
	hooks := []analytics.HookOutcome{{ID: "h-old", Time: now.Add(-61 * time.Minute)}, {ID: "h-new", Time: now}}

	for _, retention := range []time.Duration{0, time.Hour} {
		s, _ := open(t, Options{Retention: retention})
		if err := s.WriteRequests(ctx, append(old, fresh...)); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteHooks(ctx, hooks); err != nil {
			t.Fatal(err)
		}
		n, err := s.DropExpired(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantDropped, wantReqs, wantHooks := expireChunk+5+1, 1, 1
		if retention == 0 {
			wantDropped, wantReqs, wantHooks = 0, expireChunk+6, 2
		}
		if n != wantDropped {
			t.Errorf("retention %s: dropped %d, want %d", retention, n, wantDropped)
		}
		if got := count(t, s, "requests"); got != wantReqs {
			t.Errorf("retention %s: %d requests left, want %d", retention, got, wantReqs)
		}
		if got := count(t, s, "hook_outcomes"); got != wantHooks {
			t.Errorf("retention %s: %d hook outcomes left, want %d", retention, got, wantHooks)
		}
	}
}

func req(id string, at time.Duration, op, bucket, principal string, in, out int64) analytics.Request {
	return analytics.Request{ID: id, Time: t0.Add(at), Operation: op, Bucket: bucket, Principal: principal, Status: 200, BytesIn: in, BytesOut: out}
}

// The statistics every store gives, from rows written with replays.
func TestStats(t *testing.T) {
	s, _ := open(t, Options{})
	analyticstest.Write(t, s)
	if n := count(t, s, "requests"); n != 125 {
		t.Errorf("%d request rows, want 125 (replays ignored)", n)
	}
	if n := count(t, s, "hook_outcomes"); n != 15 {
		t.Errorf("%d hook rows, want 15 (replays ignored)", n)
	}
	analyticstest.CheckStats(t, s)
}

// Rows survive a reopen; a file of an unknown schema version is refused;
// calls after Close fail with ErrClosed.
func TestReopenAndClose(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, Options{})
	if err := s.WriteRequests(ctx, []analytics.Request{req("1", 0, "GetObject", "a", "", 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		s.WriteRequests(ctx, []analytics.Request{req("2", 0, "GetObject", "a", "", 0, 0)}),
		s.WriteHooks(ctx, []analytics.HookOutcome{{ID: "h"}}),
		func() error { _, err := s.DropExpired(ctx); return err }(),
		func() error {
			_, err := s.Operations(ctx, analytics.Query{From: t0, To: t0.Add(time.Hour)})
			return err
		}(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s2, "requests"); n != 1 {
		t.Errorf("after reopen: %d rows, want 1", n)
	}
	if _, err := s2.w.Exec("PRAGMA user_version = 7"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s3, err := Open(path, Options{}); err == nil {
		s3.Close()
		t.Error("a file of schema version 7 opened")
	}
}

// A cancelled write stores nothing of its batch.
func TestWriteCancelled(t *testing.T) {
	s, _ := open(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rows := []analytics.Request{req("1", 0, "GetObject", "a", "", 0, 0), req("2", 0, "GetObject", "a", "", 0, 0)}
	if err := s.WriteRequests(ctx, rows); err == nil {
		t.Fatal("a cancelled write succeeded")
	}
	if n := count(t, s, "requests"); n != 0 {
		t.Errorf("%d rows after a cancelled write, want 0", n)
	}
}

// BenchmarkWriteRequests writes batches of 1000 new rows, each batch one
// durable transaction; rows/s is the sink's throughput.
func BenchmarkWriteRequests(b *testing.B) {
	s, _ := open(b, Options{})
	ctx := context.Background()
	const batch = 1000
	rows := make([]analytics.Request, batch)
	n := 0
	for b.Loop() {
		b.StopTimer()
		for i := range rows {
			n++
			rows[i] = analytics.Request{ID: fmt.Sprintf("%016x", n), Time: t0.Add(time.Duration(n) * time.Millisecond),
				Operation: "GetObject", Bucket: fmt.Sprintf("bucket-%d", n%10), Key: fmt.Sprintf("photos/2025/%d.jpg", n),
				Principal: "alice", AuthKind: "sigv4", SourceIP: "10.1.2.3", UserAgent: "aws-sdk-go-v2/1.30", Status: 200,
				BytesOut: 123456, Latency: 3 * time.Millisecond, BackendLatency: 2 * time.Millisecond, Cache: "miss"}
		}
		b.StartTimer()
		if err := s.WriteRequests(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStats answers the whole of GET /api/v1/stats (requests by
// three dimensions, top objects, operations, hooks) over a day of 200,000
// requests, hourly; rows/s is the rows the queries go through per second.
func BenchmarkStats(b *testing.B) {
	s, _ := open(b, Options{})
	ctx := context.Background()
	const total, batch = 200_000, 5000
	ops := []string{"GetObject", "PutObject", "HeadObject", "ListObjectsV2"}
	rows := make([]analytics.Request, batch)
	for n := 0; n < total; {
		for i := range rows {
			rows[i] = analytics.Request{ID: fmt.Sprintf("%016x", n), Time: t0.Add(time.Duration(n) * 24 * time.Hour / total),
				Operation: ops[n%len(ops)], Bucket: fmt.Sprintf("bucket-%d", n%10), Key: fmt.Sprintf("k/%d", n%5000),
				Principal: fmt.Sprintf("user-%d", n%50), Status: 200 + 204*(n%50/49), BytesOut: int64(n % 100000),
				Latency: time.Duration(n%997) * time.Microsecond, BackendLatency: time.Duration(n%499) * time.Microsecond}
			n++
		}
		if err := s.WriteRequests(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	q := analytics.Query{From: t0, To: t0.Add(24 * time.Hour), Interval: time.Hour}
	for b.Loop() {
		for _, d := range analytics.Dimensions {
			if _, err := s.Requests(ctx, q, d); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.TopObjects(ctx, q, 10); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Operations(ctx, q); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Hooks(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "rows/s")
}
