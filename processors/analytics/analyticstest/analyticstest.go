// Package analyticstest holds the tests every analytics store shares:
// known rows, written with replays, and the exact statistics
// (analytics.Stats) they must give.
package analyticstest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
)

// Base is the time the rows start at.
var Base = time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)

// Requests are the request rows CheckStats expects:
//   - photos: 100 GetObject, i = 0..99 at Base + i*72s (hours 10 and 11),
//     keys a.jpg (i < 60), b.jpg (60..89), c.jpg (90..99); status 404
//     when i%10 == 9 (else 200, 1000 bytes out); latency i+1 ms, backend
//     half of it; alice on even i, bob on odd.
//   - docs: 20 PutObject by carol at Base + i min + 500 ms, 500 bytes in,
//     10 ms; the first two answered 503.
//   - no bucket: 5 ListBuckets by alice at Base + 30 min, 2 ms.
func Requests() (photos, docs, list []analytics.Request) {
	for i := range 100 {
		key := "a.jpg"
		switch {
		case i >= 90:
			key = "c.jpg"
		case i >= 60:
			key = "b.jpg"
		}
		r := analytics.Request{
			ID: fmt.Sprintf("photos-%d", i), Time: Base.Add(time.Duration(i) * 72 * time.Second),
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
			ID: fmt.Sprintf("docs-%d", i), Time: Base.Add(time.Duration(i)*time.Minute + 500*time.Millisecond),
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
			ID: fmt.Sprintf("list-%d", i), Time: Base.Add(30 * time.Minute), Operation: "ListBuckets",
			Principal: "alice", Status: 200, Latency: 2 * time.Millisecond,
		})
	}
	return photos, docs, list
}

// Hooks are the hook rows CheckStats expects: thumbnail ok ×10 (1..10
// ms), thumbnail retry ×2 (100 ms, bucket docs), search ok ×3 (5 ms).
func Hooks() []analytics.HookOutcome {
	var out []analytics.HookOutcome
	for i := range 10 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev%d/thumbnail/1", i), Time: Base.Add(time.Duration(i) * time.Second),
			Processor: "thumbnail", Bucket: "photos", Key: "a.jpg", Attempt: 1, Result: "ok", Duration: time.Duration(i+1) * time.Millisecond})
	}
	for i := range 2 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev-r%d/thumbnail/1", i), Time: Base.Add(time.Minute),
			Processor: "thumbnail", Bucket: "docs", Key: "d0", Attempt: 1, Result: "retry", Duration: 100 * time.Millisecond})
	}
	for i := range 3 {
		out = append(out, analytics.HookOutcome{ID: fmt.Sprintf("ev%d/search/1", i), Time: Base.Add(2 * time.Minute),
			Processor: "search", Bucket: "photos", Key: "b.jpg", Attempt: 1, Result: "ok", Duration: 5 * time.Millisecond})
	}
	return out
}

// Replays are the rows written again, twice, after the first writes of
// Requests and Hooks: what a recorder replaying its spool sends.
func Replays() ([]analytics.Request, []analytics.HookOutcome) {
	photos, docs, _ := Requests()
	return append(photos[:30:30], docs[:5]...), Hooks()[:4]
}

// Write writes Requests and Hooks, then Replays twice.
func Write(t testing.TB, s analytics.Sink) {
	t.Helper()
	ctx := context.Background()
	photos, docs, list := Requests()
	for _, batch := range [][]analytics.Request{photos, docs, list} {
		if err := s.WriteRequests(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WriteHooks(ctx, Hooks()); err != nil {
		t.Fatal(err)
	}
	reqs, hooks := Replays()
	for range 2 {
		if err := s.WriteRequests(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteHooks(ctx, hooks); err != nil {
			t.Fatal(err)
		}
	}
}

func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

// roundQuantiles rounds float interpolation to the microsecond.
func roundQuantiles(ds ...*time.Duration) {
	for _, d := range ds {
		*d = d.Round(time.Microsecond)
	}
}

// CheckStats checks every statistic of the rows Write wrote, each row
// counted once however often it was written.
func CheckStats(t *testing.T, s analytics.Stats) {
	ctx := context.Background()
	day := analytics.Query{From: Base, To: Base.Add(3 * time.Hour)}
	requests := func(q analytics.Query, by analytics.Dimension, want []analytics.Usage) {
		t.Helper()
		got, err := s.Requests(ctx, q, by)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Requests(%+v, %s):\n%+v\nwant\n%+v", q, by, got, want)
		}
	}

	requests(day, analytics.ByBucket, []analytics.Usage{
		{Time: Base, Key: "", Requests: 5},
		{Time: Base, Key: "docs", Requests: 20, Errors: 2, BytesIn: 10000},
		{Time: Base, Key: "photos", Requests: 100, Errors: 10, BytesOut: 90000},
	})
	hourly := day
	hourly.Interval = time.Hour
	h10, h11 := Base, Base.Add(time.Hour)
	requests(hourly, analytics.ByOperation, []analytics.Usage{
		{Time: h10, Key: "GetObject", Requests: 50, Errors: 5, BytesOut: 45000},
		{Time: h10, Key: "ListBuckets", Requests: 5},
		{Time: h10, Key: "PutObject", Requests: 20, Errors: 2, BytesIn: 10000},
		{Time: h11, Key: "GetObject", Requests: 50, Errors: 5, BytesOut: 45000},
	})
	// Intervals align on the epoch, not on From: [10:30, 11:30) holds
	// photos i = 25..74 and the listings at 10:30.
	requests(analytics.Query{From: Base.Add(30 * time.Minute), To: Base.Add(90 * time.Minute), Interval: time.Hour}, analytics.ByOperation, []analytics.Usage{
		{Time: h10, Key: "GetObject", Requests: 25, Errors: 3, BytesOut: 22000},
		{Time: h10, Key: "ListBuckets", Requests: 5},
		{Time: h11, Key: "GetObject", Requests: 25, Errors: 2, BytesOut: 23000},
	})
	requests(day, analytics.ByPrincipal, []analytics.Usage{
		{Time: Base, Key: "alice", Requests: 55, BytesOut: 50000},
		{Time: Base, Key: "bob", Requests: 50, Errors: 10, BytesOut: 40000},
		{Time: Base, Key: "carol", Requests: 20, Errors: 2, BytesIn: 10000},
	})
	// Only the docs bucket; and a range holding the first 30 minutes.
	half := analytics.Query{From: Base, To: Base.Add(30 * time.Minute), Buckets: []string{"docs"}}
	requests(half, analytics.ByOperation, []analytics.Usage{{Time: Base, Key: "PutObject", Requests: 20, Errors: 2, BytesIn: 10000}})
	// photos i*72s < 1800s: i = 0..24, of which 9 and 19 are 404.
	half.Buckets = []string{"photos", "none"}
	requests(half, analytics.ByBucket, []analytics.Usage{{Time: Base, Key: "photos", Requests: 25, Errors: 2, BytesOut: 23000}})
	// Ranges hold to the millisecond: docs-0 is at Base + 500 ms, docs-1
	// at 60.5 s, photos-1 at 72 s (left out: To is exclusive).
	requests(analytics.Query{From: Base.Add(500 * time.Millisecond), To: Base.Add(501 * time.Millisecond)}, analytics.ByBucket,
		[]analytics.Usage{{Time: Base.Add(500 * time.Millisecond), Key: "docs", Requests: 1, Errors: 1, BytesIn: 500}})
	requests(analytics.Query{From: Base.Add(501 * time.Millisecond), To: Base.Add(72 * time.Second)}, analytics.ByBucket,
		[]analytics.Usage{{Time: Base.Add(501 * time.Millisecond), Key: "docs", Requests: 1, Errors: 1, BytesIn: 500}})
	// A range with no rows gives no groups.
	requests(analytics.Query{From: Base.Add(-time.Hour), To: Base}, analytics.ByBucket, nil)

	top, err := s.TopObjects(ctx, day, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []analytics.ObjectDownloads{
		{Bucket: "photos", Key: "a.jpg", Downloads: 54, BytesOut: 54000},
		{Bucket: "photos", Key: "b.jpg", Downloads: 27, BytesOut: 27000},
	}; !reflect.DeepEqual(top, want) {
		t.Errorf("TopObjects(2):\n%+v\nwant\n%+v", top, want)
	}
	top, err = s.TopObjects(ctx, hourly, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 3 || top[2] != (analytics.ObjectDownloads{Bucket: "photos", Key: "c.jpg", Downloads: 9, BytesOut: 9000}) {
		t.Errorf("TopObjects(default): %+v", top)
	}

	ops, err := s.Operations(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	// Quantiles interpolate linearly between the sorted values at
	// level*(n-1): for 1..100 ms, p50 = 50.5 ms, p95 = 95.05 ms, p99 = 99.01 ms.
	wantOps := []analytics.OperationStats{
		{Time: Base, Operation: "GetObject", Requests: 100, Errors: 10, ErrorRate: 0.1,
			P50: us(50500), P95: us(95050), P99: us(99010), BackendP50: us(25250), BackendP95: us(47525), BackendP99: us(49505)},
		{Time: Base, Operation: "ListBuckets", Requests: 5, P50: us(2000), P95: us(2000), P99: us(2000)},
		{Time: Base, Operation: "PutObject", Requests: 20, Errors: 2, ServerErrors: 2, ErrorRate: 0.1,
			P50: us(10000), P95: us(10000), P99: us(10000)},
	}
	for i := range ops {
		o := &ops[i]
		roundQuantiles(&o.P50, &o.P95, &o.P99, &o.BackendP50, &o.BackendP95, &o.BackendP99)
	}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("Operations:\n%+v\nwant\n%+v", ops, wantOps)
	}
	// Hourly: hour 10 holds i = 0..49 (1..50 ms): p50 = 25.5 ms.
	ops, err = s.Operations(ctx, analytics.Query{From: Base, To: Base.Add(2 * time.Hour), Interval: time.Hour, Buckets: []string{"photos"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Time != h10 || ops[1].Time != h11 || ops[0].Requests != 50 ||
		ops[0].P50.Round(time.Microsecond) != us(25500) || ops[1].P50.Round(time.Microsecond) != us(75500) {
		t.Errorf("hourly Operations of photos: %+v", ops)
	}

	hooks, err := s.Hooks(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hooks {
		h := &hooks[i]
		roundQuantiles(&h.P50, &h.P95, &h.P99)
	}
	if want := []analytics.HookStats{
		{Time: Base, Processor: "search", Result: "ok", Outcomes: 3, P50: us(5000), P95: us(5000), P99: us(5000)},
		{Time: Base, Processor: "thumbnail", Result: "ok", Outcomes: 10, P50: us(5500), P95: us(9550), P99: us(9910)},
		{Time: Base, Processor: "thumbnail", Result: "retry", Outcomes: 2, P50: us(100000), P95: us(100000), P99: us(100000)},
	}; !reflect.DeepEqual(hooks, want) {
		t.Errorf("Hooks:\n%+v\nwant\n%+v", hooks, want)
	}
	docsHooks, err := s.Hooks(ctx, analytics.Query{From: Base, To: Base.Add(time.Hour), Buckets: []string{"docs"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(docsHooks) != 1 || docsHooks[0].Processor != "thumbnail" || docsHooks[0].Result != "retry" || docsHooks[0].Outcomes != 2 {
		t.Errorf("hook outcomes of docs: %+v", docsHooks)
	}

	// Queries no store can answer.
	if _, err := s.Requests(ctx, day, "user_agent"); !errors.Is(err, analytics.ErrInvalidQuery) {
		t.Errorf("unknown dimension: %v, want ErrInvalidQuery", err)
	}
	for _, bad := range []analytics.Query{
		{From: day.To, To: day.From},
		{From: Base, To: Base},
		{To: day.To},
		{From: Base, To: day.To, Interval: 1500 * time.Millisecond},
		{From: Base, To: day.To, Interval: -time.Second},
		{From: Base, To: Base.Add(365 * 24 * time.Hour), Interval: time.Second},
		{From: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), To: day.To},
		{From: Base, To: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.Operations(ctx, bad); !errors.Is(err, analytics.ErrInvalidQuery) {
			t.Errorf("Operations(%+v): %v, want ErrInvalidQuery", bad, err)
		}
	}
}
