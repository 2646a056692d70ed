package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse/chtest"
	"github.com/s3gate/s3gate/processors/analytics/embedded"
)

// usage is what the analytics store counted for one operation.
type usage struct{ requests, bytesIn, bytesOut int64 }

// TestAnalyticsRecorded: after aws cli uploads, lists, downloads and
// deletes, the analytics store holds one row per request the server
// logged, with the same bytes each way per operation, and an outcome per
// hook and write; on fs with the embedded table, and through the s3
// backend with ClickHouse. The server is stopped first: what was queued
// is written at shutdown.
func TestAnalyticsRecorded(t *testing.T) {
	for _, c := range backendCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := c.opts(t)
			var read func(ctx context.Context, s *server, from, to time.Time) (map[string]usage, map[string]int64)
			if c.name == "fs" {
				read = readEmbeddedAnalytics(t)
			} else {
				addr := chtest.Start(t)
				db := "conf_" + randomHex(6)
				opts.Args = append(opts.Args, "--analytics-store", "clickhouse", "--analytics-clickhouse-addr", addr, "--analytics-clickhouse-database", db)
				read = readClickHouseAnalytics(t, addr, db)
			}
			from := time.Now().Add(-time.Second)
			s := startServerOpts(t, opts)
			env := clientEnv(t, s)
			aws := func(args ...string) string {
				return runTool(t, env, "", "aws", append([]string{"--endpoint-url", s.S3URL}, args...)...)
			}
			bucket := newBucketName(t)
			dir := t.TempDir()
			writeTree(t, dir, sampleTree())
			aws("s3", "mb", "s3://"+bucket)
			aws("s3", "cp", "--recursive", dir, "s3://"+bucket+"/tree/")
			aws("s3", "ls", "--recursive", "s3://"+bucket)
			aws("s3", "cp", "--recursive", "s3://"+bucket+"/tree/", t.TempDir())
			if _, err := runToolErr(t, env, "", "aws", "--endpoint-url", s.S3URL, "s3api", "head-object", "--bucket", bucket, "--key", "missing"); err == nil {
				t.Fatal("head-object of a missing key succeeded")
			}
			aws("s3", "rm", "--recursive", "s3://"+bucket+"/tree/")
			// Let the hooks catch up with the writes before stopping.
			time.Sleep(2 * time.Second)
			s.stop(t)
			to := time.Now().Add(time.Second)

			logged := loggedUsage(t, s)
			got, hooks := read(testContext(t), s, from, to)
			if len(logged) < 6 {
				t.Fatalf("the access log has only %v", logged)
			}
			for op, want := range logged {
				if got[op] != want {
					t.Errorf("%s: analytics %+v, access log %+v", op, got[op], want)
				}
			}
			for op := range got {
				if _, ok := logged[op]; !ok {
					t.Errorf("%s: in analytics (%+v), not in the access log", op, got[op])
				}
			}
			files := int64(len(sampleTree()))
			if got["PutObject"].requests < files || got["GetObject"].requests < files || got["DeleteObject"].requests+got["DeleteObjects"].requests < 1 {
				t.Errorf("the uploads, downloads and deletes are not all there: %+v", got)
			}
			// Every write and delete reaches the metadata hook; each of its
			// outcomes is one row.
			if hooks["metadata"] < 2*files {
				t.Errorf("metadata hook outcomes %d, want at least %d: %v", hooks["metadata"], 2*files, hooks)
			}
		})
	}
}

// loggedUsage counts the server's access log lines per operation.
func loggedUsage(t *testing.T, s *server) map[string]usage {
	t.Helper()
	out := map[string]usage{}
	sc := bufio.NewScanner(strings.NewReader(s.stderr.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Op       string `json:"op"`
			BytesIn  int64  `json:"bytes_in"`
			BytesOut int64  `json:"bytes_out"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "request" {
			continue
		}
		u := out[line.Op]
		u.requests++
		u.bytesIn += line.BytesIn
		u.bytesOut += line.BytesOut
		out[line.Op] = u
	}
	return out
}

func readEmbeddedAnalytics(t *testing.T) func(context.Context, *server, time.Time, time.Time) (map[string]usage, map[string]int64) {
	return func(ctx context.Context, s *server, from, to time.Time) (map[string]usage, map[string]int64) {
		t.Helper()
		sink, err := embedded.Open(filepath.Join(s.DataDir, "analytics", "analytics.db"), embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		return readStats(ctx, t, sink, from, to)
	}
}

// readStats sums a store's requests per operation and its hook outcomes
// per processor.
func readStats(ctx context.Context, t *testing.T, store analytics.Stats, from, to time.Time) (map[string]usage, map[string]int64) {
	t.Helper()
	q := analytics.Query{From: from, To: to}
	rows, err := store.Requests(ctx, q, analytics.ByOperation)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]usage{}
	for _, r := range rows {
		u := got[r.Key]
		u.requests += int64(r.Requests)
		u.bytesIn += int64(r.BytesIn)
		u.bytesOut += int64(r.BytesOut)
		got[r.Key] = u
	}
	stats, err := store.Hooks(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]int64{}
	for _, h := range stats {
		hooks[h.Processor] += int64(h.Outcomes)
	}
	return got, hooks
}

func readClickHouseAnalytics(t *testing.T, addr, db string) func(context.Context, *server, time.Time, time.Time) (map[string]usage, map[string]int64) {
	return func(ctx context.Context, s *server, from, to time.Time) (map[string]usage, map[string]int64) {
		t.Helper()
		sink, err := clickhouse.Open(ctx, clickhouse.Options{Addr: []string{addr}, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		return readStats(ctx, t, sink, from, to)
	}
}
