package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/analyticstest"
	"github.com/s3gate/s3gate/processors/analytics/embedded"
)

// statsTestPolicy: admin may do everything; owner reads the whole of
// bucket photos; homer reads only his home in photos; guest nothing.
const statsTestPolicy = `package s3gate.authz

import rego.v1

default allow := false

allow if "admin" in input.principal.roles

allow if {
	"owner" in input.principal.roles
	input.action == "s3:GetObject"
	input.resource.bucket == "photos"
}

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": "photos", "prefix": ""} if "owner" in input.principal.roles

readable contains {"bucket": "photos", "prefix": concat("", ["home/", input.principal.id, "/"])} if "homer" in input.principal.roles
`

type statsEnv struct {
	*adminEnv
}

// newStatsEnv is an admin env with a real embedded analytics store
// holding analyticstest's rows, the env's catalogue as the storage view,
// and policyText as the policy (none when "").
func newStatsEnv(t *testing.T, policyText string) *statsEnv {
	t.Helper()
	sink, err := embedded.Open(filepath.Join(t.TempDir(), "analytics.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	analyticstest.Write(t, sink)
	e := newAdminEnv(t, func(o *Options) {
		o.Stats = sink
		if policyText != "" {
			o.Authorizer = testPolicy(t, policyText)
		}
	})
	e.gw.opts.Storage = e.cat
	return &statsEnv{e}
}

// stats asks GET /api/v1/stats?q as creds and checks the status.
func (e *statsEnv) stats(creds aws.Credentials, q url.Values, status int) (Stats, adminErrorBody) {
	e.t.Helper()
	resp, b := e.call(creds, "GET", "/api/v1/stats?"+q.Encode(), nil)
	var out Stats
	var errBody adminErrorBody
	if status == http.StatusOK {
		adminOK(e.t, resp, b, status, &out)
	} else {
		adminOK(e.t, resp, b, status, &errBody)
	}
	return out, errBody
}

func statsDay() url.Values {
	b := analyticstest.Base
	return url.Values{"from": {b.Format(time.RFC3339)}, "to": {b.Add(3 * time.Hour).Format(time.RFC3339)}}
}

func statsWith(q url.Values, k, v string) url.Values {
	out := url.Values{}
	for k, vs := range q {
		out[k] = slices.Clone(vs)
	}
	out.Set(k, v)
	return out
}

// The admin sees every bucket; the answer holds what the store says,
// section by section.
func TestStatsAdmin(t *testing.T) {
	e := newStatsEnv(t, statsTestPolicy)
	ctx := context.Background()
	sink := e.gw.opts.Stats
	q := analytics.Query{From: analyticstest.Base, To: analyticstest.Base.Add(3 * time.Hour)}
	got, _ := e.stats(adminRoot, statsDay(), http.StatusOK)
	if !got.From.Equal(q.From) || !got.To.Equal(q.To) || got.IntervalSeconds != 0 || got.Buckets != nil {
		t.Errorf("range %s..%s interval %d buckets %v", got.From, got.To, got.IntervalSeconds, got.Buckets)
	}
	for _, d := range analytics.Dimensions {
		want, err := sink.Requests(ctx, q, d)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Requests[d], want) {
			t.Errorf("requests by %s:\n%+v\nwant\n%+v", d, got.Requests[d], want)
		}
	}
	if len(got.Requests[analytics.ByBucket]) != 3 {
		t.Errorf("requests by bucket: %+v, want 3 groups", got.Requests[analytics.ByBucket])
	}
	top, _ := sink.TopObjects(ctx, q, 0)
	ops, _ := sink.Operations(ctx, q)
	hooks, _ := sink.Hooks(ctx, q)
	if !reflect.DeepEqual(got.TopObjects, top) || !reflect.DeepEqual(got.Operations, ops) || !reflect.DeepEqual(got.Hooks, hooks) {
		t.Errorf("top %+v\nops %+v\nhooks %+v", got.TopObjects, got.Operations, got.Hooks)
	}
	if len(got.TopObjects) != 3 || len(got.Operations) != 3 || len(got.Hooks) != 3 {
		t.Errorf("want 3 top objects, operations and hook groups: %d %d %d", len(got.TopObjects), len(got.Operations), len(got.Hooks))
	}
	if got.Storage == nil || len(got.Storage.Current) != 0 || len(got.Storage.Growth) != 0 {
		t.Errorf("storage of an empty catalogue: %+v", got.Storage)
	}

	// One dimension, hourly, two buckets, top 1.
	q2 := statsWith(statsWith(statsWith(statsDay(), "by", "operation"), "interval", "1h"), "top", "1")
	q2["bucket"] = []string{"photos,docs", "photos"}
	got, _ = e.stats(adminRoot, q2, http.StatusOK)
	if len(got.Requests) != 1 || len(got.Requests[analytics.ByOperation]) != 3 || got.IntervalSeconds != 3600 ||
		!reflect.DeepEqual(got.Buckets, []string{"photos", "docs"}) {
		t.Errorf("by operation hourly of photos and docs: %+v", got)
	}
	if len(got.TopObjects) != 1 || got.TopObjects[0].Key != "a.jpg" || got.TopObjects[0].Downloads != 54 {
		t.Errorf("top 1: %+v", got.TopObjects)
	}
}

// Storage growth comes from the catalogue, per bucket asked for.
func TestStatsStorage(t *testing.T) {
	e := newStatsEnv(t, statsTestPolicy)
	ctx := context.Background()
	at := analyticstest.Base.Add(90 * time.Minute)
	for i, o := range []struct {
		bucket, key string
		size        int64
		created     time.Time
	}{
		{"photos", "a.jpg", 100, at}, {"photos", "b.jpg", 50, at.Add(-24 * time.Hour)}, {"docs", "d", 7, at},
	} {
		obj := catalog.Object{Bucket: o.bucket, Key: o.key, Size: o.size, ETag: "e", Created: o.created, Modified: o.created}
		if _, err := e.cat.SyncObject(ctx, "test", o.bucket, o.key, fmt.Sprintf("%028X", i+1),
			func(context.Context, *catalog.Object) (*catalog.Object, error) { return &obj, nil }); err != nil {
			t.Fatal(err)
		}
	}
	owner := e.keyOf("olga", "owner")
	got, _ := e.stats(owner, statsWith(statsDay(), "interval", "1h"), http.StatusOK)
	want := &StorageGrowth{
		Current: []BucketStorage{{Bucket: "photos", Objects: 2, Bytes: 150}},
		Growth: []GrowthPoint{{Time: analyticstest.Base.Add(time.Hour), Bucket: "photos", Objects: 1, Bytes: 100,
			TotalObjects: 2, TotalBytes: 150}},
	}
	if !reflect.DeepEqual(got.Storage, want) {
		t.Errorf("storage of photos:\n%+v\nwant\n%+v", got.Storage, want)
	}
	got, _ = e.stats(adminRoot, statsDay(), http.StatusOK)
	if len(got.Storage.Current) != 2 || got.Storage.Current[0] != (BucketStorage{Bucket: "docs", Objects: 1, Bytes: 7}) || len(got.Storage.Growth) != 2 {
		t.Errorf("storage of all: %+v", got.Storage)
	}
}

// Anyone else sees the buckets they may read whole, and nothing else.
func TestStatsPerBucket(t *testing.T) {
	e := newStatsEnv(t, statsTestPolicy)
	owner := e.keyOf("olga", "owner")
	got, _ := e.stats(owner, statsDay(), http.StatusOK)
	if !reflect.DeepEqual(got.Buckets, []string{"photos"}) {
		t.Errorf("owner's buckets: %v", got.Buckets)
	}
	if u := got.Requests[analytics.ByBucket]; len(u) != 1 || u[0].Key != "photos" || u[0].Requests != 100 {
		t.Errorf("owner's requests by bucket: %+v", u)
	}
	if u := got.Requests[analytics.ByOperation]; len(u) != 1 || u[0].Key != "GetObject" {
		t.Errorf("owner's requests by operation: %+v", u)
	}
	// The docs bucket's retries are not the owner's to see.
	if len(got.Hooks) != 2 || got.Hooks[0].Processor != "search" || got.Hooks[1].Outcomes != 10 {
		t.Errorf("owner's hooks: %+v", got.Hooks)
	}
	if _, eb := e.stats(owner, statsWith(statsDay(), "bucket", "docs"), http.StatusForbidden); eb.Code != "AccessDenied" {
		t.Errorf("owner asking for docs: %+v", eb)
	}
	if _, eb := e.stats(owner, statsWith(statsDay(), "bucket", "photos,docs"), http.StatusForbidden); eb.Code != "AccessDenied" {
		t.Errorf("owner asking for photos and docs: %+v", eb)
	}
	got, _ = e.stats(owner, statsWith(statsDay(), "bucket", "photos"), http.StatusOK)
	if !reflect.DeepEqual(got.Buckets, []string{"photos"}) {
		t.Errorf("owner asking for photos: %v", got.Buckets)
	}
	// Part of a bucket is not enough: a bucket's figures tell of all of it.
	for _, who := range []aws.Credentials{e.keyOf("homer", "homer"), e.keyOf("gus", "guest")} {
		if _, eb := e.stats(who, statsDay(), http.StatusForbidden); eb.Code != "AccessDenied" || eb.RequestID == "" {
			t.Errorf("%s: %+v", who.AccessKeyID, eb)
		}
	}
	if resp, _ := e.call(aws.Credentials{}, "GET", "/api/v1/stats", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous: status %d", resp.StatusCode)
	}
}

// Without a policy, only the admin role may ask.
func TestStatsWithoutPolicy(t *testing.T) {
	e := newStatsEnv(t, "")
	if got, _ := e.stats(adminRoot, statsDay(), http.StatusOK); len(got.Operations) != 3 {
		t.Errorf("root: %+v", got.Operations)
	}
	if _, eb := e.stats(e.keyOf("rita", "reader"), statsDay(), http.StatusForbidden); eb.Code != "AccessDenied" {
		t.Errorf("reader without a policy: %+v", eb)
	}
}

func TestStatsBadQueries(t *testing.T) {
	e := newStatsEnv(t, statsTestPolicy)
	for _, c := range []struct {
		q    url.Values
		code string
	}{
		{statsWith(statsDay(), "from", "yesterday"), "InvalidArgument"},
		{statsWith(statsDay(), "to", "2025-03-10"), "InvalidArgument"},
		{statsWith(statsDay(), "from", "2025-03-10T14:00:00Z"), "InvalidArgument"}, // after to
		{statsWith(statsDay(), "interval", "1500ms"), "InvalidArgument"},
		{statsWith(statsDay(), "interval", "-1h"), "InvalidArgument"},
		{statsWith(statsDay(), "interval", "1s"), "InvalidArgument"}, // 10800 intervals
		{statsWith(statsDay(), "by", "user_agent"), "InvalidArgument"},
		{statsWith(statsDay(), "from", "1900-01-01T00:00:00Z"), "InvalidArgument"},
		{statsWith(statsDay(), "by", "bucket,"), "InvalidArgument"},
		{statsWith(statsDay(), "top", "0"), "InvalidArgument"},
		{statsWith(statsDay(), "top", "1001"), "InvalidArgument"},
		{statsWith(statsDay(), "bucket", "Not_A_Bucket"), "InvalidBucketName"},
		{statsWith(statsDay(), "bucket", "a,,b"), "InvalidBucketName"},
		{statsWith(statsDay(), "bucket", manyBuckets(maxStatsBuckets+1)), "InvalidArgument"},
	} {
		if _, eb := e.stats(adminRoot, c.q, http.StatusBadRequest); eb.Code != c.code {
			t.Errorf("%v: %+v, want %s", c.q, eb, c.code)
		}
	}
	// Defaults: the last 24 hours, in one interval.
	if got, _ := e.stats(adminRoot, statsWith(statsDay(), "bucket", manyBuckets(maxStatsBuckets)), http.StatusOK); len(got.Buckets) != maxStatsBuckets {
		t.Errorf("%d buckets counted, want %d", len(got.Buckets), maxStatsBuckets)
	}
	got, _ := e.stats(adminRoot, url.Values{}, http.StatusOK)
	if d := got.To.Sub(got.From); d != defaultStatsRange || time.Since(got.To) > time.Minute {
		t.Errorf("default range %s..%s", got.From, got.To)
	}
	if len(got.Requests) != 3 || got.Requests[analytics.ByBucket] == nil || got.TopObjects == nil || got.Operations == nil || got.Hooks == nil {
		t.Errorf("empty answer must hold empty arrays: %+v", got)
	}
	resp, b := e.call(adminRoot, "POST", "/api/v1/stats", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d %s", resp.StatusCode, b)
	}
}

// manyBuckets names n buckets, comma-separated.
func manyBuckets(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bucket-%03d", i)
	}
	return strings.Join(names, ",")
}

func TestStatsDisabled(t *testing.T) {
	e := newAdminEnv(t)
	resp, b := e.call(adminRoot, "GET", "/api/v1/stats", nil)
	var eb adminErrorBody
	adminOK(t, resp, b, http.StatusNotImplemented, &eb)
	if eb.Code != "AnalyticsDisabled" {
		t.Errorf("%+v", eb)
	}
}

// A store that cannot answer is 503, to retry; the cause is logged.
func TestStatsStoreDown(t *testing.T) {
	e := newStatsEnv(t, "")
	if err := e.gw.opts.Stats.(*embedded.Sink).Close(); err != nil {
		t.Fatal(err)
	}
	if _, eb := e.stats(adminRoot, statsDay(), http.StatusServiceUnavailable); eb.Code != "ServiceUnavailable" {
		t.Errorf("%+v", eb)
	}
	if recs := e.log.records(t, "analytics store query failed"); len(recs) != 1 {
		t.Errorf("%d log records of the failure, want 1", len(recs))
	}
}
