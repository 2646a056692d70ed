package clickhouse

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse/chtest"
)

// openSink opens a Sink on addr and closes it when t ends (before the
// server stops: cleanups run last registered first).
func openSink(t testing.TB, addr string, o Options) *Sink {
	t.Helper()
	o.Addr = []string{addr}
	if o.Database == "" {
		o.Database = "analytics_test"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawConn is a plain connection for checks that bypass the Sink.
func rawConn(t testing.TB, addr string) driver.Conn {
	t.Helper()
	c, err := ch.Open(&ch.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func execSQL(t testing.TB, c driver.Conn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// count runs a query returning one UInt64.
func count(t testing.TB, c driver.Conn, sql string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n uint64
	if err := c.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func strs(t testing.TB, c driver.Conn, sql string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenCreatesSchemaOn18(t *testing.T) {
	addr := chtest.Start(t)
	s := openSink(t, addr, Options{Database: "s3gate_stats"})
	c := rawConn(t, addr)

	if v := s.ServerVersion(); !(v.Major == 18 && v.Minor == 16) {
		t.Fatalf("these tests expect the Debian ClickHouse 18.16, got %s", v)
	}
	if f := s.Features(); f != (Features{}) {
		t.Errorf("features on 18.16 = %+v, want none", f)
	}
	got := strs(t, c, "SELECT concat(name, ' ', engine_full) FROM system.tables WHERE database = 's3gate_stats' ORDER BY name")
	want := []string{
		"hook_outcomes ReplacingMergeTree PARTITION BY toYYYYMMDD(time) PRIMARY KEY (processor, time) ORDER BY (processor, time, id) SETTINGS index_granularity = 8192",
		"requests ReplacingMergeTree PARTITION BY toYYYYMMDD(time) PRIMARY KEY (bucket, operation, time) ORDER BY (bucket, operation, time, id) SETTINGS index_granularity = 8192",
		"schema_migrations ReplacingMergeTree ORDER BY version SETTINGS index_granularity = 8192",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tables:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cols := strs(t, c, "SELECT concat(name, ' ', type) FROM system.columns WHERE database = 's3gate_stats' AND table = 'requests'")
	wantCols := "id String,time DateTime('UTC'),time_ms UInt16,operation String,bucket String,key String,principal String," +
		"auth_kind String,source_ip String,user_agent String,status UInt16,error_code String,bytes_in UInt64,bytes_out UInt64," +
		"latency_us UInt64,backend_latency_us UInt64,cache String"
	if g := strings.Join(cols, ","); g != wantCols {
		t.Errorf("requests columns:\n%s\nwant\n%s", g, wantCols)
	}
	if !s.layout.requestsTimeMs || !s.layout.hooksTimeMs {
		t.Errorf("layout %+v: both tables have time_ms on 18.16", s.layout)
	}
	if v, err := s.SchemaVersion(ctxT(t)); err != nil || v != SchemaVersion {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, SchemaVersion)
	}

	// Opening again changes nothing and records the version once.
	s2 := openSink(t, addr, Options{Database: "s3gate_stats"})
	if s2.layout != s.layout {
		t.Errorf("second open layout %+v", s2.layout)
	}
	if n := count(t, c, "SELECT count() FROM s3gate_stats.schema_migrations"); n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", n)
	}

	// A database set up by a newer s3gate is refused.
	b, err := c.PrepareBatch(ctxT(t), "INSERT INTO s3gate_stats.schema_migrations (version, applied)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint32(SchemaVersion+1), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctxT(t), Options{Addr: []string{addr}, Database: "s3gate_stats"})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d, newer", SchemaVersion+1)) {
		t.Errorf("Open on a newer schema: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := ctxT(t)
	if _, err := Open(ctx, Options{}); err == nil {
		t.Error("Open without an address succeeded")
	}
	if _, err := Open(ctx, Options{Addr: []string{"127.0.0.1:1"}, Database: "x; DROP"}); err == nil || !strings.Contains(err.Error(), "database name") {
		t.Errorf("Open with a bad database name: %v", err)
	}
	// Nothing listens on the port: Open fails, and soon.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Open(ctx, Options{Addr: []string{addr}, DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "ping") {
		t.Errorf("Open of a closed port: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Open of a closed port took %s", d)
	}
}

// Every field lands in its column, converted as documented.
func TestRowsStoredAsGiven(t *testing.T) {
	addr := chtest.Start(t)
	s := openSink(t, addr, Options{})
	c := rawConn(t, addr)
	ctx := ctxT(t)

	tm := time.Date(2025, 3, 10, 10, 11, 12, 345_678_901, time.FixedZone("CET", 3600))
	err := s.WriteRequests(ctx, []analytics.Request{{
		ID: "req-1", Time: tm, Operation: "PutObject", Bucket: "b1", Key: "dir/ключ 'q'.txt",
		Principal: "alice", AuthKind: "sigv4", SourceIP: "2001:db8::1", UserAgent: "aws-cli/2",
		Status: 201, ErrorCode: "", BytesIn: 12345, BytesOut: 67,
		Latency: 1500 * time.Microsecond, BackendLatency: 1234567 * time.Nanosecond, Cache: "miss",
	}, {
		// Out-of-range values are clamped, not rejected: a batch must
		// not fail forever on one odd row.
		ID: "req-2", Operation: "GetObject", Status: 70000, BytesIn: -5, BytesOut: -1, Latency: -time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := strs(t, c, `SELECT concat(id, '|', toString(toUInt32(time)), '|', toString(time_ms), '|', operation, '|', bucket, '|', key, '|',
		principal, '|', auth_kind, '|', source_ip, '|', user_agent, '|', toString(status), '|', error_code, '|',
		toString(bytes_in), '|', toString(bytes_out), '|', toString(latency_us), '|', toString(backend_latency_us), '|', cache)
		FROM analytics_test.requests ORDER BY id`)
	want := []string{
		fmt.Sprintf("req-1|%d|345|PutObject|b1|dir/ключ 'q'.txt|alice|sigv4|2001:db8::1|aws-cli/2|201||12345|67|1500|1234|miss", tm.Unix()),
		"req-2|0|0|GetObject|||||||65535||0|0|0|0|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	err = s.WriteHooks(ctx, []analytics.HookOutcome{{
		ID: "ev-1/thumbnail/2", Time: tm, Processor: "thumbnail", Bucket: "b1", Key: "k",
		Attempt: 2, Result: "retry", Duration: 2500 * time.Microsecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	got = strs(t, c, `SELECT concat(id, '|', toString(toUInt32(time)), '|', toString(time_ms), '|', processor, '|', bucket, '|', key, '|',
		toString(attempt), '|', result, '|', toString(duration_us)) FROM analytics_test.hook_outcomes`)
	want = []string{fmt.Sprintf("ev-1/thumbnail/2|%d|345|thumbnail|b1|k|2|retry|2500", tm.Unix())}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored hooks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Empty batches are no-ops.
	if err := s.WriteRequests(ctx, nil); err != nil {
		t.Error(err)
	}
	if err := s.WriteHooks(ctx, nil); err != nil {
		t.Error(err)
	}
}

// A row from before a partition's day ends stays; a whole day older than
// the retention goes, in both tables.
func TestDropExpired(t *testing.T) {
	addr := chtest.Start(t)
	const retention = 7 * 24 * time.Hour
	s := openSink(t, addr, Options{Retention: retention})
	c := rawConn(t, addr)
	ctx := ctxT(t)

	now := time.Now().UTC()
	ages := []time.Duration{10 * 24 * time.Hour, 8 * 24 * time.Hour, 8*24*time.Hour + time.Hour, 6 * 24 * time.Hour, 0}
	var reqs []analytics.Request
	for i, age := range ages {
		reqs = append(reqs, analytics.Request{ID: fmt.Sprintf("r%d", i), Time: now.Add(-age), Operation: "GetObject", Bucket: "b", Status: 200})
	}
	hooks := []analytics.HookOutcome{
		{ID: "h-old", Time: now.Add(-9 * 24 * time.Hour), Processor: "p", Result: "ok"},
		{ID: "h-new", Time: now, Processor: "p", Result: "ok"},
	}
	if err := s.WriteRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteHooks(ctx, hooks); err != nil {
		t.Fatal(err)
	}
	day := func(age time.Duration) string { return now.Add(-age).Format("20060102") }
	// Which days go: those whose end is at least the retention ago.
	cutoff := now.Add(-retention)
	wantGone := map[string]bool{}
	for _, age := range ages {
		d, _ := time.Parse("20060102", day(age))
		if !d.Add(24 * time.Hour).After(cutoff) {
			wantGone[day(age)] = true
		}
	}
	if !wantGone[day(10*24*time.Hour)] || !wantGone[day(8*24*time.Hour)] || wantGone[day(6*24*time.Hour)] || wantGone[day(0)] {
		t.Fatalf("test data: days to drop %v", wantGone)
	}
	var wantReqs []string
	for i, age := range ages {
		if !wantGone[day(age)] {
			wantReqs = append(wantReqs, fmt.Sprintf("r%d", i))
		}
	}
	wantDropped := len(wantGone) + 1 // + the hooks' old day

	n, err := s.DropExpired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != wantDropped {
		t.Errorf("DropExpired dropped %d partitions, want %d", n, wantDropped)
	}
	if got := strs(t, c, "SELECT id FROM analytics_test.requests ORDER BY id"); strings.Join(got, ",") != strings.Join(wantReqs, ",") {
		t.Errorf("requests left %v, want %v", got, wantReqs)
	}
	if got := strs(t, c, "SELECT id FROM analytics_test.hook_outcomes"); strings.Join(got, ",") != "h-new" {
		t.Errorf("hook outcomes left %v, want [h-new]", got)
	}
	if got := strs(t, c, "SELECT DISTINCT partition FROM system.parts WHERE database = 'analytics_test' AND table = 'requests' AND active ORDER BY partition"); strings.Join(got, ",") != day(6*24*time.Hour)+","+day(0) {
		t.Errorf("partitions left %v", got)
	}
	if n, err := s.DropExpired(ctx); n != 0 || err != nil {
		t.Errorf("second DropExpired = %d, %v; want 0", n, err)
	}

	// Without a retention nothing goes.
	keep := openSink(t, addr, Options{Database: "analytics_keep"})
	if err := keep.WriteRequests(ctx, reqs[:1]); err != nil {
		t.Fatal(err)
	}
	if n, err := keep.DropExpired(ctx); n != 0 || err != nil {
		t.Errorf("DropExpired without retention = %d, %v", n, err)
	}
	if n := count(t, c, "SELECT count() FROM analytics_keep.requests"); n != 1 {
		t.Errorf("analytics_keep.requests has %d rows, want 1", n)
	}
}

// The server goes away: a write fails (soon, with a wrapped error), and
// works again once the server is back; the failed batch written again,
// and an earlier one replayed, count once.
func TestWriteThroughOutage(t *testing.T) {
	srv := chtest.StartServer(t)
	s := openSink(t, srv.Addr(), Options{DialTimeout: time.Second, WriteTimeout: 10 * time.Second})
	ctx := ctxT(t)
	batch := func(prefix string, n int) []analytics.Request {
		var out []analytics.Request
		for i := range n {
			out = append(out, analytics.Request{ID: fmt.Sprintf("%s-%d", prefix, i), Time: time.Now(), Operation: "GetObject", Bucket: "b", Status: 200, BytesOut: 10})
		}
		return out
	}
	first, during := batch("before", 3), batch("during", 4)
	if err := s.WriteRequests(ctx, first); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	start := time.Now()
	err := s.WriteRequests(ctx, during)
	if err == nil {
		t.Fatal("write with the server stopped succeeded")
	}
	if !strings.Contains(err.Error(), "analytics/clickhouse: writing 4 requests") {
		t.Errorf("error not wrapped: %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("failed write took %s", d)
	}

	srv.Start()
	// The pool may still hold a connection to the old process: the
	// Recorder retries, so do the same until a deadline.
	deadline := time.Now().Add(30 * time.Second)
	attempts := 0
	for {
		attempts++
		err = s.WriteRequests(ctx, append(during, first...)) // the replay
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write after restart still failing after %d attempts: %v", attempts, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("write after restart succeeded on attempt %d", attempts)

	from := time.Now().Add(-time.Hour)
	usage, err := s.Requests(ctx, analytics.Query{From: from, To: time.Now().Add(time.Minute)}, analytics.ByBucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 1 || usage[0].Key != "b" || usage[0].Requests != 7 || usage[0].BytesOut != 70 {
		t.Errorf("after outage and replay: %+v, want one bucket b with 7 requests, 70 bytes", usage)
	}
	c := rawConn(t, srv.Addr())
	if n := count(t, c, "SELECT count() FROM analytics_test.requests"); n < 7 {
		t.Errorf("%d rows stored, want at least 7", n)
	}
}

// BenchmarkWriteRequests measures inserts of batches of 1000 rows.
func BenchmarkWriteRequests(b *testing.B) {
	addr := chtest.Start(b)
	s := openSink(b, addr, Options{Database: "analytics_bench"})
	ctx := context.Background()
	const batchSize = 1000
	base := time.Now()
	rows := make([]analytics.Request, batchSize)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range rows {
			n++
			rows[i] = analytics.Request{
				ID: fmt.Sprintf("bench-%d", n), Time: base.Add(time.Duration(n) * time.Millisecond),
				Operation: "GetObject", Bucket: fmt.Sprintf("bucket-%d", n%10), Key: fmt.Sprintf("photos/2025/%d.jpg", n%5000),
				Principal: "alice", AuthKind: "sigv4", SourceIP: "10.0.0.1", UserAgent: "aws-sdk-go-v2/1.30",
				Status: 200, BytesOut: int64(n % 100000), Latency: time.Duration(n%1000) * time.Millisecond,
				BackendLatency: time.Duration(n%900) * time.Millisecond, Cache: "hit",
			}
		}
		if err := s.WriteRequests(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}
