package clickhouse

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse/chtest"
)

var base = time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)

// statsRows are the requests of TestQueriesCountReplaysOnce:
//   - photos: 100 GetObject, i = 0..99 at base + i*72s (hours 10 and 11),
//     keys a.jpg (i < 60), b.jpg (60..89), c.jpg (90..99); status 404
//     when i%10 == 9 (else 200, 1000 bytes out); latency i+1 ms, backend
//     half of it; alice on even i, bob on odd.
//   - docs: 20 PutObject by carol at base + i min + 500 ms, 500 bytes in,
//     10 ms; the first two answered 503.
//   - no bucket: 5 ListBuckets by alice at base + 30 min, 2 ms.
func statsRows() (photos, docs, list []analytics.Request) {
	for i := range 100 {
		key := "a.jpg"
		switch {
		case i >= 90:
			key = "c.jpg"
		case i >= 60:
			key = "b.jpg"
		}
		r := analytics.Request{
			ID: fmt.Sprintf("photos-%d", i), Time: base.Add(time.Duration(i) * 72 * time.Second),
			Operation: "GetObject", Bucket: "photos", Key: key, Principal: "alice", AuthKind: "sigv4",
			Status: 200, BytesOut: 1000,
			Latency: time.Duration(i+1) * time.Millisecond, BackendLatency: time.Duration(i+1) * 500 * time.Microsecond,
		}
		if i%2 == 1 {
			r.Principal = "bob"
		}
		if i%10 == 9 {
			r.Status, r.ErrorCode, r.BytesOut = 404, "NoSuchKey", 0
		}
		photos = append(photos, r)
	}
	for i := range 20 {
		r := analytics.Request{
			ID: fmt.Sprintf("docs-%d", i), Time: base.Add(time.Duration(i)*time.Minute + 500*time.Millisecond),
			Operation: "PutObject", Bucket: "docs", Key: fmt.Sprintf("d%d", i), Principal: "carol",
			Status: 200, BytesIn: 500, Latency: 10 * time.Millisecond,
		}
		if i < 2 {
			r.Status, r.ErrorCode = 503, "SlowDown"
		}
		docs = append(docs, r)
	}
	for i := range 5 {
		list = append(list, analytics.Request{
			ID: fmt.Sprintf("list-%d", i), Time: base.Add(30 * time.Minute), Operation: "ListBuckets",
			Principal: "alice", Status: 200, Latency: 2 * time.Millisecond,
		})
	}
	return photos, docs, list
}

// hookRows: thumbnail ok ×10 (1..10 ms), thumbnail retry ×2 (100 ms),
// search ok ×3 (5 ms).
func hookRows() []analytics.HookOutcome {
	var out []analytics.HookOutcome
	for i := range 10 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev%d/thumbnail/1", i), Time: base.Add(time.Duration(i) * time.Second),
			Processor: "thumbnail", Bucket: "photos", Key: "a.jpg", Attempt: 1, Result: "ok", Duration: time.Duration(i+1) * time.Millisecond})
	}
	for i := range 2 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev-r%d/thumbnail/1", i), Time: base.Add(time.Minute),
			Processor: "thumbnail", Bucket: "docs", Key: "d0", Attempt: 1, Result: "retry", Duration: 100 * time.Millisecond})
	}
	for i := range 3 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev%d/search/1", i), Time: base.Add(2 * time.Minute),
			Processor: "search", Bucket: "photos", Key: "b.jpg", Attempt: 1, Result: "ok", Duration: 5 * time.Millisecond})
	}
	return out
}

func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

// The statistics helpers against known rows, some written twice in a
// later batch (a replay) while merges are stopped: exact counts, bytes and
// quantiles before any merge, and the same after OPTIMIZE ... FINAL.
func TestQueriesCountReplaysOnce(t *testing.T) {
	addr := chtest.Start(t)
	s := openSink(t, addr, Options{})
	c := rawConn(t, addr)
	ctx := ctxT(t)
	execSQL(t, c, "SYSTEM STOP MERGES analytics_test.requests")
	execSQL(t, c, "SYSTEM STOP MERGES analytics_test.hook_outcomes")

	photos, docs, list := statsRows()
	for _, batch := range [][]analytics.Request{photos, docs, list} {
		if err := s.WriteRequests(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// The replay: a batch holding rows stored already, and the same again.
	replay := append(append([]analytics.Request{}, photos[:30]...), docs[:5]...)
	for range 2 {
		if err := s.WriteRequests(ctx, replay); err != nil {
			t.Fatal(err)
		}
	}
	hooks := hookRows()
	if err := s.WriteHooks(ctx, hooks); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteHooks(ctx, hooks[:4]); err != nil {
		t.Fatal(err)
	}
	// The copies are really there: what follows runs before any merge.
	if n := count(t, c, "SELECT count() FROM analytics_test.requests"); n != 125+2*35 {
		t.Fatalf("requests table holds %d rows, want %d (merges must not have run yet)", n, 125+2*35)
	}
	if n := count(t, c, "SELECT count() FROM analytics_test.hook_outcomes"); n != 15+4 {
		t.Fatalf("hook_outcomes holds %d rows, want 19", n)
	}

	check := func(stage string) {
		t.Run(stage, func(t *testing.T) { checkStats(t, s) })
	}
	check("before merges")

	execSQL(t, c, "SYSTEM START MERGES analytics_test.requests")
	execSQL(t, c, "SYSTEM START MERGES analytics_test.hook_outcomes")
	execSQL(t, c, "OPTIMIZE TABLE analytics_test.requests FINAL")
	execSQL(t, c, "OPTIMIZE TABLE analytics_test.hook_outcomes FINAL")
	if n := count(t, c, "SELECT count() FROM analytics_test.requests"); n != 125 {
		t.Fatalf("after OPTIMIZE FINAL the requests table holds %d rows, want 125", n)
	}
	check("after merges")
}

func checkStats(t *testing.T, s *Sink) {
	ctx := ctxT(t)
	day := Query{From: base, To: base.Add(3 * time.Hour)}

	byBucket, err := s.RequestsByBucket(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	wantBucket := []Usage{
		{Time: base, Key: "", Requests: 5},
		{Time: base, Key: "docs", Requests: 20, Errors: 2, BytesIn: 10000},
		{Time: base, Key: "photos", Requests: 100, Errors: 10, BytesOut: 90000},
	}
	if !reflect.DeepEqual(byBucket, wantBucket) {
		t.Errorf("RequestsByBucket:\n%+v\nwant\n%+v", byBucket, wantBucket)
	}

	hourly := day
	hourly.Interval = time.Hour
	byOp, err := s.RequestsByOperation(ctx, hourly)
	if err != nil {
		t.Fatal(err)
	}
	h10, h11 := base, base.Add(time.Hour)
	wantOp := []Usage{
		{Time: h10, Key: "GetObject", Requests: 50, Errors: 5, BytesOut: 45000},
		{Time: h10, Key: "ListBuckets", Requests: 5},
		{Time: h10, Key: "PutObject", Requests: 20, Errors: 2, BytesIn: 10000},
		{Time: h11, Key: "GetObject", Requests: 50, Errors: 5, BytesOut: 45000},
	}
	if !reflect.DeepEqual(byOp, wantOp) {
		t.Errorf("RequestsByOperation hourly:\n%+v\nwant\n%+v", byOp, wantOp)
	}

	byPrincipal, err := s.RequestsByPrincipal(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	wantPrincipal := []Usage{
		{Time: base, Key: "alice", Requests: 55, BytesOut: 50000},
		{Time: base, Key: "bob", Requests: 50, Errors: 10, BytesOut: 40000},
		{Time: base, Key: "carol", Requests: 20, Errors: 2, BytesIn: 10000},
	}
	if !reflect.DeepEqual(byPrincipal, wantPrincipal) {
		t.Errorf("RequestsByPrincipal:\n%+v\nwant\n%+v", byPrincipal, wantPrincipal)
	}

	// Only the docs bucket; and a range holding the first 30 minutes.
	docsOnly, err := s.RequestsByOperation(ctx, Query{From: base, To: base.Add(30 * time.Minute), Buckets: []string{"docs"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Usage{{Time: base, Key: "PutObject", Requests: 20, Errors: 2, BytesIn: 10000}}; !reflect.DeepEqual(docsOnly, want) {
		t.Errorf("docs only:\n%+v\nwant\n%+v", docsOnly, want)
	}
	firstHalfHour, err := s.RequestsByBucket(ctx, Query{From: base, To: base.Add(30 * time.Minute), Buckets: []string{"photos", "none"}})
	if err != nil {
		t.Fatal(err)
	}
	// photos i*72s < 1800s: i = 0..24, of which 9 and 19 are 404.
	if want := []Usage{{Time: base, Key: "photos", Requests: 25, Errors: 2, BytesOut: 23000}}; !reflect.DeepEqual(firstHalfHour, want) {
		t.Errorf("photos, first half hour:\n%+v\nwant\n%+v", firstHalfHour, want)
	}

	top, err := s.TopObjects(ctx, day, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantTop := []ObjectDownloads{
		{Bucket: "photos", Key: "a.jpg", Downloads: 54, BytesOut: 54000},
		{Bucket: "photos", Key: "b.jpg", Downloads: 27, BytesOut: 27000},
	}
	if !reflect.DeepEqual(top, wantTop) {
		t.Errorf("TopObjects(2):\n%+v\nwant\n%+v", top, wantTop)
	}
	top, err = s.TopObjects(ctx, day, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 3 || top[2] != (ObjectDownloads{Bucket: "photos", Key: "c.jpg", Downloads: 9, BytesOut: 9000}) {
		t.Errorf("TopObjects(default): %+v", top)
	}

	ops, err := s.ErrorRateAndLatency(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	// quantiles interpolates linearly between the sorted values at
	// level*(n-1): for 1..100 ms, p50 = 50.5 ms, p95 = 95.05 ms, p99 = 99.01 ms.
	wantOps := []OperationStats{
		{Time: base, Operation: "GetObject", Requests: 100, Errors: 10, ErrorRate: 0.1,
			P50: us(50500), P95: us(95050), P99: us(99010), BackendP50: us(25250), BackendP95: us(47525), BackendP99: us(49505)},
		{Time: base, Operation: "ListBuckets", Requests: 5, P50: us(2000), P95: us(2000), P99: us(2000)},
		{Time: base, Operation: "PutObject", Requests: 20, Errors: 2, ServerErrors: 2, ErrorRate: 0.1,
			P50: us(10000), P95: us(10000), P99: us(10000)},
	}
	if len(ops) != len(wantOps) {
		t.Fatalf("ErrorRateAndLatency: %+v", ops)
	}
	for i, w := range wantOps {
		g := ops[i]
		for _, p := range []*time.Duration{&g.P50, &g.P95, &g.P99, &g.BackendP50, &g.BackendP95, &g.BackendP99} {
			*p = p.Round(time.Microsecond) // float interpolation
		}
		if g != w {
			t.Errorf("ErrorRateAndLatency[%d]:\n%+v\nwant\n%+v", i, g, w)
		}
	}

	hookStats, err := s.HookOutcomes(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	wantHooks := []HookStats{
		{Time: base, Processor: "search", Result: "ok", Outcomes: 3, P50: us(5000), P95: us(5000), P99: us(5000)},
		{Time: base, Processor: "thumbnail", Result: "ok", Outcomes: 10, P50: us(5500), P95: us(9550), P99: us(9910)},
		{Time: base, Processor: "thumbnail", Result: "retry", Outcomes: 2, P50: us(100000), P95: us(100000), P99: us(100000)},
	}
	for i := range hookStats {
		h := &hookStats[i]
		h.P50, h.P95, h.P99 = h.P50.Round(time.Microsecond), h.P95.Round(time.Microsecond), h.P99.Round(time.Microsecond)
	}
	if !reflect.DeepEqual(hookStats, wantHooks) {
		t.Errorf("HookOutcomes:\n%+v\nwant\n%+v", hookStats, wantHooks)
	}
	docsHooks, err := s.HookOutcomes(ctx, Query{From: base, To: base.Add(time.Hour), Buckets: []string{"docs"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docsHooks) != 1 || docsHooks[0].Processor != "thumbnail" || docsHooks[0].Result != "retry" || docsHooks[0].Outcomes != 2 {
		t.Errorf("hook outcomes of docs: %+v", docsHooks)
	}

	// A range with no rows gives no groups.
	empty, err := s.RequestsByBucket(ctx, Query{From: base.Add(-time.Hour), To: base})
	if err != nil || len(empty) != 0 {
		t.Errorf("empty range: %+v, %v", empty, err)
	}
}

// [From, To) holds to the millisecond, across whole-second boundaries.
func TestRangeMilliseconds(t *testing.T) {
	addr := chtest.Start(t)
	s := openSink(t, addr, Options{})
	ctx := ctxT(t)
	t0 := base
	var rows []analytics.Request
	for _, ms := range []int{499, 500, 999, 1000, 1500, 1501} {
		rows = append(rows, analytics.Request{ID: fmt.Sprintf("ms-%d", ms), Time: t0.Add(time.Duration(ms) * time.Millisecond),
			Operation: "HeadObject", Bucket: "b", Status: 200})
	}
	if err := s.WriteRequests(ctx, rows); err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, c := range []struct {
		from, to time.Time
		want     uint64
	}{
		{ms(500), ms(1501), 4}, // 500, 999, 1000, 1500
		{ms(500), ms(1000), 2}, // 500, 999
		{ms(0), ms(1000), 3},   // 499, 500, 999
		{ms(1000), ms(2000), 3},
		{ms(1501), ms(1502), 1},
		{ms(1500), ms(1501), 1},
		{ms(501), ms(999), 0},
	} {
		u, err := s.RequestsByBucket(ctx, Query{From: c.from, To: c.to})
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		if len(u) == 1 {
			got = u[0].Requests
		}
		if got != c.want || len(u) > 1 {
			t.Errorf("[%s, %s): %+v, want %d requests", c.from.Format("15:04:05.000"), c.to.Format("15:04:05.000"), u, c.want)
		}
	}
}
