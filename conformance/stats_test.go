package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse/chtest"
)

// statsWorkload is what run did to one bucket, as the client counted it.
type statsWorkload struct {
	bucket string
	// requests and errors per operation; bytes the client sent and got.
	requests, errors  map[string]uint64
	bytesIn, bytesOut map[string]uint64
	downloads         map[string]uint64 // per key
	slowest           map[string]time.Duration
	wire              *countingTransport
	kept              map[string]int64 // key -> size, still stored at the end
}

// total is every request the client made.
func (w *statsWorkload) total() (n uint64) {
	for _, c := range w.requests {
		n += c
	}
	return n
}

// writes are the events the metadata hook sees: each put and delete.
func (w *statsWorkload) writes() uint64 {
	return w.requests["PutObject"] + w.requests["DeleteObject"]
}

func newStatsWorkload(bucket string) *statsWorkload {
	return &statsWorkload{bucket: bucket, requests: map[string]uint64{}, errors: map[string]uint64{},
		bytesIn: map[string]uint64{}, bytesOut: map[string]uint64{}, downloads: map[string]uint64{},
		slowest: map[string]time.Duration{}, kept: map[string]int64{}, wire: &countingTransport{base: httpClient.Transport}}
}

// client is an SDK client of s whose bodies are plain (no aws-chunked
// framing) and counted as they cross the wire.
func (w *statsWorkload) client(s *server) *s3.Client {
	hc := &http.Client{Transport: w.wire}
	return s.client(func(o *s3.Options) {
		o.HTTPClient = hc
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
}

// countingTransport counts the body bytes requests send and responses
// bring, each response read to its end when closed.
type countingTransport struct {
	base          http.RoundTripper
	sent, receive atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = &countingBody{ReadCloser: r.Body, n: &c.sent}
	}
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.receive, drain: true}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n     *atomic.Int64
	drain bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error {
	if b.drain {
		n, _ := io.Copy(io.Discard, b.ReadCloser)
		b.n.Add(n)
	}
	return b.ReadCloser.Close()
}

// do runs one SDK call, timing it as the client saw it, and counts it.
func (w *statsWorkload) do(t *testing.T, op string, wantErr bool, call func() error) {
	t.Helper()
	sent, received := w.wire.sent.Load(), w.wire.receive.Load()
	start := time.Now()
	err := call()
	took := time.Since(start)
	w.bytesIn[op] += uint64(w.wire.sent.Load() - sent)
	w.bytesOut[op] += uint64(w.wire.receive.Load() - received)
	if (err != nil) != wantErr {
		t.Fatalf("%s: error %v, want error: %v", op, err, wantErr)
	}
	w.requests[op]++
	if err != nil {
		w.errors[op]++
	}
	w.slowest[op] = max(w.slowest[op], took)
}

// run puts, gets, heads, lists and deletes in the bucket through c (see
// client).
func (w *statsWorkload) run(ctx context.Context, t *testing.T, c *s3.Client) {
	t.Helper()
	w.do(t, "CreateBucket", false, func() error {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &w.bucket})
		return err
	})
	const n = 12
	sizes := map[string]int64{}
	var putBytes, getBytes uint64
	for i := range n {
		key := fmt.Sprintf("obj-%02d", i)
		size := int64(1000*i + 17)
		sizes[key] = size
		w.do(t, "PutObject", false, func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.bucket, Key: &key, Body: bytes.NewReader(bytes.Repeat([]byte{'s'}, int(size)))})
			return err
		})
		w.kept[key] = size
		putBytes += uint64(size)
	}
	// obj-00 three times, obj-01 twice, the rest of the first six once.
	for i := range 6 {
		key := fmt.Sprintf("obj-%02d", i)
		for range max(1, 3-i) {
			w.do(t, "GetObject", false, func() error {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.bucket, Key: &key})
				if err != nil {
					return err
				}
				defer out.Body.Close()
				var b bytes.Buffer
				if _, err := b.ReadFrom(out.Body); err != nil {
					return err
				}
				if int64(b.Len()) != sizes[key] {
					return fmt.Errorf("%s: %d bytes, want %d", key, b.Len(), sizes[key])
				}
				return nil
			})
			getBytes += uint64(sizes[key])
			w.downloads[key]++
		}
	}
	// The wire carried the objects' bytes, no more.
	if w.bytesIn["PutObject"] != putBytes || w.bytesOut["GetObject"] != getBytes {
		t.Fatalf("the client sent %d bytes in PutObject bodies and got %d in GetObject's, want %d and %d",
			w.bytesIn["PutObject"], w.bytesOut["GetObject"], putBytes, getBytes)
	}
	for i := range 3 {
		key := fmt.Sprintf("missing-%d", i)
		w.do(t, "HeadObject", true, func() error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &w.bucket, Key: &key})
			return err
		})
	}
	w.do(t, "HeadObject", false, func() error {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &w.bucket, Key: aws.String("obj-03")})
		return err
	})
	for range 2 {
		w.do(t, "ListObjectsV2", false, func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &w.bucket})
			return err
		})
	}
	for _, key := range []string{"obj-10", "obj-11"} {
		w.do(t, "DeleteObject", false, func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.bucket, Key: &key})
			return err
		})
		delete(w.kept, key)
	}
}

// statsOf asks the server's GET /api/v1/stats for the bucket.
func (s *server) statsOf(t *testing.T, q url.Values) (int, gateway.Stats, []byte) {
	t.Helper()
	code, b := s.admin(t, http.MethodGet, "/api/v1/stats?"+q.Encode(), nil)
	var st gateway.Stats
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("stats: %v\n%s", err, b)
		}
	}
	return code, st, b
}

// statsQuery is the range [from, now + 1 min) of bucket.
func statsQuery(from time.Time, bucket string) url.Values {
	return url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)},
		"bucket": {bucket}}
}

// requestsSeen is the fewest requests any dimension of the stats counts:
// the store's queries are not one snapshot, so rows written between them
// show in the later ones only.
func requestsSeen(st gateway.Stats) uint64 {
	seen := uint64(math.MaxUint64)
	for _, d := range analytics.Dimensions {
		var n uint64
		for _, u := range st.Requests[d] {
			n += u.Requests
		}
		seen = min(seen, n)
	}
	return seen
}

// waitForStats polls the stats of w's bucket until they count every
// request the client made (and the catalogue every object kept), and
// returns them.
func waitForStats(t *testing.T, s *server, from time.Time, w *statsWorkload) gateway.Stats {
	t.Helper()
	var st gateway.Stats
	var last []byte
	waitFor(t, "the stats to count every request", func() bool {
		code, got, b := s.statsOf(t, statsQuery(from, w.bucket))
		last = b
		if code != http.StatusOK {
			return false
		}
		st = got
		objects := int64(-1)
		if st.Storage != nil && len(st.Storage.Current) == 1 {
			objects = st.Storage.Current[0].Objects
		}
		metadataOK := uint64(0)
		for _, h := range st.Hooks {
			if h.Processor == "metadata" && h.Result == "ok" {
				metadataOK += h.Outcomes
			}
		}
		return requestsSeen(st) >= w.total() && objects == int64(len(w.kept)) && metadataOK >= w.writes()
	})
	if requestsSeen(st) != w.total() {
		t.Fatalf("stats count %d requests, the client made %d:\n%s", requestsSeen(st), w.total(), last)
	}
	return st
}

// checkStats compares the stats with what the client counted.
func checkStats(t *testing.T, st gateway.Stats, w *statsWorkload, principal string) {
	t.Helper()
	if !slices.Equal(st.Buckets, []string{w.bucket}) {
		t.Errorf("buckets %v", st.Buckets)
	}
	byOp := map[string]analytics.Usage{}
	for _, u := range st.Requests[analytics.ByOperation] {
		byOp[u.Key] = u
	}
	for op, n := range w.requests {
		u := byOp[op]
		if u.Requests != n || u.Errors != w.errors[op] || u.BytesIn != w.bytesIn[op] || u.BytesOut != w.bytesOut[op] {
			t.Errorf("%s: stats %+v; the client made %d requests, %d errors, sent %d bytes, got %d",
				op, u, n, w.errors[op], w.bytesIn[op], w.bytesOut[op])
		}
	}
	if len(byOp) != len(w.requests) {
		t.Errorf("operations in the stats %v, the client's %v", byOp, w.requests)
	}
	total := analytics.Usage{Requests: w.total()}
	for op := range w.requests {
		total.Errors += w.errors[op]
		total.BytesIn += w.bytesIn[op]
		total.BytesOut += w.bytesOut[op]
	}
	for d, want := range map[analytics.Dimension]string{analytics.ByBucket: w.bucket, analytics.ByPrincipal: principal} {
		u := st.Requests[d]
		if len(u) != 1 || u[0].Key != want || u[0].Requests != total.Requests || u[0].Errors != total.Errors ||
			u[0].BytesIn != total.BytesIn || u[0].BytesOut != total.BytesOut {
			t.Errorf("requests by %s: %+v, want one %s with %+v", d, u, want, total)
		}
	}

	var top []string
	for _, o := range st.TopObjects {
		if o.Downloads != w.downloads[o.Key] {
			t.Errorf("top object %s: %d downloads, the client made %d", o.Key, o.Downloads, w.downloads[o.Key])
		}
		top = append(top, o.Key)
	}
	if want := []string{"obj-00", "obj-01", "obj-05", "obj-04", "obj-03", "obj-02"}; !slices.Equal(top, want) {
		t.Errorf("top objects %v, want %v (downloads, then bytes)", top, want)
	}

	for _, o := range st.Operations {
		n := w.requests[o.Operation]
		if o.Requests != n || o.Errors != w.errors[o.Operation] || o.ErrorRate != float64(o.Errors)/float64(n) {
			t.Errorf("%s: %d requests, %d errors, rate %v; the client made %d, %d", o.Operation, o.Requests, o.Errors, o.ErrorRate, n, w.errors[o.Operation])
		}
		// The server's latency is part of the client's: no quantile can
		// exceed the slowest call the client timed.
		if o.P50 <= 0 || o.P50 > o.P95 || o.P95 > o.P99 || o.P99 > w.slowest[o.Operation] {
			t.Errorf("%s: p50 %s p95 %s p99 %s, the client's slowest %s", o.Operation, o.P50, o.P95, o.P99, w.slowest[o.Operation])
		}
		if o.BackendP99 > o.P99 || o.BackendP50 > o.P50 {
			t.Errorf("%s: backend p50 %s p99 %s exceed the request's %s %s", o.Operation, o.BackendP50, o.BackendP99, o.P50, o.P99)
		}
	}
	get := slices.IndexFunc(st.Operations, func(o analytics.OperationStats) bool { return o.Operation == "GetObject" })
	if get < 0 || st.Operations[get].BackendP50 <= 0 {
		t.Errorf("GetObject: backend latency not measured: %+v", st.Operations)
	}

	var size int64
	for _, s := range w.kept {
		size += s
	}
	want := []gateway.BucketStorage{{Bucket: w.bucket, Objects: int64(len(w.kept)), Bytes: size}}
	if st.Storage == nil || !slices.Equal(st.Storage.Current, want) {
		t.Errorf("storage now %+v, want %+v", st.Storage, want)
	} else if g := st.Storage.Growth; len(g) != 1 || g[0].TotalObjects != int64(len(w.kept)) || g[0].TotalBytes != size {
		t.Errorf("storage growth %+v, want %d objects, %d bytes", g, len(w.kept), size)
	}
}

// TestStatsMatchClients: after an SDK client's puts, gets, heads, lists
// and deletes, GET /api/v1/stats (and `s3gate stats`) show the requests,
// errors and bytes the client counted, latencies within what the client
// timed, the most downloaded objects in order, and the stored bytes; on fs
// with the embedded store, and through the s3 backend with ClickHouse.
func TestStatsMatchClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, opts serverOptions) {
		if !slices.Contains(opts.Args, "--config") { // fs: the embedded store
			opts.Args = append(opts.Args, "--analytics-flush-interval", "200ms")
		} else {
			opts.Args = append(opts.Args, "--analytics-flush-interval", "200ms", "--analytics-store", "clickhouse",
				"--analytics-clickhouse-addr", chtest.Start(t), "--analytics-clickhouse-database", "conf_"+randomHex(6))
		}
		from := time.Now().Add(-time.Second)
		s := startServerOpts(t, opts)
		ctx := testContext(t)
		w := newStatsWorkload(newBucketName(t))
		w.run(ctx, t, w.client(s))
		st := waitForStats(t, s, from, w)
		checkStats(t, st, w, "root")

		// The CLI prints the same figures.
		out := runTool(t, clientEnv(t, nil), t.TempDir(), s3gateBinary(t), "stats", "--bucket", w.bucket,
			"--from", from.UTC().Format(time.RFC3339Nano), "--admin-url", s.OpsURL,
			"--admin-access-key", s.AccessKey, "--admin-secret-key", s.SecretKey)
		for _, want := range [][]string{
			{"PutObject", fmt.Sprint(w.requests["PutObject"]), "0", fmt.Sprint(w.bytesIn["PutObject"]), "0"},
			{"GetObject", fmt.Sprint(w.requests["GetObject"]), "0", "0", fmt.Sprint(w.bytesOut["GetObject"])},
			{"HeadObject", "4", "3", "0", "0"},
			{w.bucket, "obj-00", "3", "51"},
		} {
			if !hasRow(out, want) {
				t.Errorf("s3gate stats has no row %q:\n%s", want, out)
			}
		}
	})
}

// hasRow reports whether a line of a table starts with fields.
func hasRow(table string, fields []string) bool {
	for line := range strings.SplitSeq(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return true
		}
	}
	return false
}

// TestStatsClickHouseDown: ClickHouse stops while clients work. S3
// requests go on succeeding; the stats API answers 503 while the store is
// away; the rows wait in the spool and, once ClickHouse is back, the
// stats count every request exactly once.
func TestStatsClickHouseDown(t *testing.T) {
	t.Parallel()
	ch := chtest.StartServer(t)
	s := startServerOpts(t, serverOptions{Args: []string{"--analytics-flush-interval", "200ms", "--analytics-store", "clickhouse",
		"--analytics-clickhouse-addr", ch.Addr(), "--analytics-clickhouse-database", "conf_" + randomHex(6)}})
	ctx := testContext(t)
	from := time.Now().Add(-time.Second)
	w := newStatsWorkload(newBucketName(t))
	w.run(ctx, t, w.client(s))
	before := waitForStats(t, s, from, w)
	if requestsSeen(before) != w.total() {
		t.Fatalf("before the outage: %d requests counted, want %d", requestsSeen(before), w.total())
	}

	ch.Stop()
	// Work on while the store is away: a second bucket, the same workload.
	w2 := newStatsWorkload(newBucketName(t))
	w2.run(ctx, t, w2.client(s))
	waitFor(t, "rows to spool while ClickHouse is down", func() bool {
		return s.metric(t, "s3gate_analytics_spool_bytes") > 0
	})
	if code, _, b := s.statsOf(t, statsQuery(from, w2.bucket)); code != http.StatusServiceUnavailable ||
		!strings.Contains(string(b), `"code":"ServiceUnavailable"`) {
		t.Errorf("stats while ClickHouse is down: %d %s", code, b)
	}

	ch.Start()
	st := waitForStats(t, s, from, w2)
	checkStats(t, st, w2, "root")
	// The first bucket's rows were not counted again by the replay.
	_, again, _ := s.statsOf(t, statsQuery(from, w.bucket))
	if requestsSeen(again) != w.total() {
		t.Errorf("first bucket after the outage: %d requests, want %d", requestsSeen(again), w.total())
	}
	waitFor(t, "the spool to empty", func() bool { return s.metric(t, "s3gate_analytics_spool_bytes") == 0 })
	if n := s.metricSum(t, "s3gate_analytics_dropped_total"); n != 0 {
		t.Errorf("%v rows dropped", n)
	}
}

// metricSum sums every series of a metric, whatever its labels.
func (s *server) metricSum(t *testing.T, name string) float64 {
	t.Helper()
	var sum float64
	for line := range strings.SplitSeq(s.metrics(t), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

// metrics is the server's /metrics page.
func (s *server) metrics(t *testing.T) string {
	t.Helper()
	resp, err := httpClient.Get(s.OpsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
