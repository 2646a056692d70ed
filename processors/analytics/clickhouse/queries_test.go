package clickhouse

import (
	"fmt"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/analyticstest"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse/chtest"
)

var base = analyticstest.Base

// The statistics helpers against known rows, some written twice in a
// later batch (a replay) while merges are stopped: exact counts, bytes and
// quantiles before any merge, and the same after OPTIMIZE ... FINAL.
func TestQueriesCountReplaysOnce(t *testing.T) {
	addr := chtest.Start(t)
	s := openSink(t, addr, Options{})
	c := rawConn(t, addr)
	execSQL(t, c, "SYSTEM STOP MERGES analytics_test.requests")
	execSQL(t, c, "SYSTEM STOP MERGES analytics_test.hook_outcomes")

	analyticstest.Write(t, s)
	// The copies are really there: what follows runs before any merge.
	if n := count(t, c, "SELECT count() FROM analytics_test.requests"); n != 125+2*35 {
		t.Fatalf("requests table holds %d rows, want %d (merges must not have run yet)", n, 125+2*35)
	}
	if n := count(t, c, "SELECT count() FROM analytics_test.hook_outcomes"); n != 15+2*4 {
		t.Fatalf("hook_outcomes holds %d rows, want 23", n)
	}

	check := func(stage string) {
		t.Run(stage, func(t *testing.T) { analyticstest.CheckStats(t, s) })
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
		u, err := s.Requests(ctx, analytics.Query{From: c.from, To: c.to}, analytics.ByBucket)
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
