package gateway

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/analytics"
)

type rowRecorder struct {
	mu   sync.Mutex
	rows []analytics.Request
}

func (r *rowRecorder) Record(row analytics.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

func (r *rowRecorder) all() []analytics.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rows)
}

// TestAnalyticsRows: every S3 request, refused ones included, yields one
// row with what happened: operation, resource, principal, status, error
// code, bytes each way and latency, keyed by the request id the client
// saw.
func TestAnalyticsRows(t *testing.T) {
	rec := &rowRecorder{}
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Analytics = rec })
	e.mkBucket("stats")
	body := []byte("twelve bytes")
	put := e.put("stats", "a/b.txt", body, nil)
	put.Body.Close()
	get := e.do(req{path: "/stats/a/b.txt", header: map[string]string{"User-Agent": "stats-test/1.0"}})
	expectStatus(t, get, http.StatusOK)
	missing := e.do(req{path: "/stats/nope"})
	expectError(t, missing, http.StatusNotFound, "NoSuchKey")
	anon := e.do(req{path: "/stats/a/b.txt", anonymous: true})
	expectError(t, anon, http.StatusForbidden, "AccessDenied")

	rows := rec.all()
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5 (create bucket, put, get, get missing, anonymous get): %+v", len(rows), rows)
	}
	byID := map[string]analytics.Request{}
	for _, r := range rows {
		if r.ID == "" || r.Time.IsZero() || r.Latency <= 0 || r.Latency > time.Minute || r.SourceIP != "127.0.0.1" {
			t.Errorf("row %+v: id, time, latency or source ip missing", r)
		}
		byID[r.ID] = r
	}
	check := func(resp *http.Response, want analytics.Request) {
		t.Helper()
		got, ok := byID[resp.Header.Get("x-amz-request-id")]
		if !ok {
			t.Errorf("no row for request %s (%s)", resp.Header.Get("x-amz-request-id"), want.Operation)
			return
		}
		if got.BackendLatency > got.Latency {
			t.Errorf("%s: backend latency %s exceeds the request's %s", want.Operation, got.BackendLatency, got.Latency)
		}
		got.ID, got.Time, got.Latency, got.BackendLatency, got.SourceIP = "", time.Time{}, 0, 0, ""
		if !strings.HasPrefix(got.UserAgent, want.UserAgent) {
			t.Errorf("%s: user agent %q, want %q", want.Operation, got.UserAgent, want.UserAgent)
		}
		got.UserAgent, want.UserAgent = "", ""
		if got != want {
			t.Errorf("row\n got %+v\nwant %+v", got, want)
		}
	}
	check(put, analytics.Request{Operation: "PutObject", Bucket: "stats", Key: "a/b.txt", Principal: "root", AuthKind: "sigv4",
		Status: 200, BytesIn: int64(len(body)), UserAgent: "Go-http-client"})
	check(get, analytics.Request{Operation: "GetObject", Bucket: "stats", Key: "a/b.txt", Principal: "root", AuthKind: "sigv4",
		Status: 200, BytesOut: int64(len(body)), UserAgent: "stats-test/1.0"})
	check(missing, analytics.Request{Operation: "GetObject", Bucket: "stats", Key: "nope", Principal: "root", AuthKind: "sigv4",
		Status: 404, ErrorCode: "NoSuchKey", BytesOut: byID[missing.Header.Get("x-amz-request-id")].BytesOut, UserAgent: "Go-http-client"})
	check(anon, analytics.Request{Operation: "GetObject", Bucket: "stats", Key: "a/b.txt", AuthKind: "anonymous",
		Status: 403, ErrorCode: "AccessDenied", BytesOut: byID[anon.Header.Get("x-amz-request-id")].BytesOut, UserAgent: "Go-http-client"})
	if r := byID[missing.Header.Get("x-amz-request-id")]; r.BytesOut < 100 {
		t.Errorf("the error document's %d bytes are not counted", r.BytesOut)
	}
}
