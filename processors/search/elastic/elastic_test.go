package elastic

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/search/index"
	"github.com/s3gate/s3gate/processors/search/index/indextest"
)

// These tests check the requests sent to Elasticsearch against a stand-in
// that answers like Elasticsearch 8 and records what it was sent; the
// shapes follow the Elasticsearch 8 API documentation. TestSuite runs the
// shared suite against a real server when there is one.

// TestSuite runs the suite every index passes against the Elasticsearch
// at S3GATE_TEST_ELASTICSEARCH_URL (comma-separated URLs; credentials in
// the URL), each subtest in indices of its own, deleted at the end. No
// server speaking the Elasticsearch API can be installed on the project's
// machines, so this test skips without one, even under CI=true.
func TestSuite(t *testing.T) {
	urls := os.Getenv("S3GATE_TEST_ELASTICSEARCH_URL")
	if urls == "" {
		t.Skip("Elasticsearch: S3GATE_TEST_ELASTICSEARCH_URL is not set; the Elasticsearch index was not tested against a server")
	}
	indextest.Run(t, func(t *testing.T) index.Index {
		var b [6]byte
		rand.Read(b[:])
		prefix := "s3gate-test-" + hex.EncodeToString(b[:])
		ix, err := New(t.Context(), Options{URLs: strings.Split(urls, ","), IndexPrefix: prefix})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Every Put has returned: nothing waits in the bulk indexer.
			if _, err := ix.es.Indices.Delete(ix.IndexName()).Do(ctx); err != nil {
				t.Errorf("delete index %s: %v", ix.IndexName(), err)
			}
			if _, err := ix.es.Indices.DeleteIndexTemplate(ix.IndexName()).Do(ctx); err != nil {
				t.Errorf("delete index template %s: %v", ix.IndexName(), err)
			}
			ix.Close()
		})
		return ix
	})
}

type request struct {
	Method, Path, Query string
	Body                []byte
}

// fakeES answers like Elasticsearch 8: every response carries
// X-Elastic-Product, without which the client refuses it.
type fakeES struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	reqs []request
	// aliasTo is what the alias points to (nil: missing).
	aliasTo []string
	// createStatus answers index creation (0: 200).
	createStatus int
	// item answers each bulk item (nil: 200 "updated").
	item func(n int, id string) (status int, errType string)
	// bulkStatus answers the whole bulk request (0: 200).
	bulkStatus int
	// search answers searches (nil: no hits).
	search func(body []byte) string
	// status, when set, answers everything with this status.
	status int
	items  int
}

func newFake(t *testing.T) *fakeES {
	f := &fakeES{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, body})
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	reply := func(status int, s string) {
		w.WriteHeader(status)
		io.WriteString(w, s)
	}
	if f.status != 0 {
		reply(f.status, fmt.Sprintf(`{"error":{"type":"x","reason":"down"},"status":%d}`, f.status))
		return
	}
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/_index_template/"):
		reply(200, `{"acknowledged":true}`)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/_alias/"):
		alias := strings.TrimPrefix(p, "/_alias/")
		if f.aliasTo == nil {
			reply(404, fmt.Sprintf(`{"error":"alias [%s] missing","status":404}`, alias))
			return
		}
		m := map[string]any{}
		for _, ix := range f.aliasTo {
			m[ix] = map[string]any{"aliases": map[string]any{alias: map[string]any{}}}
		}
		b, _ := json.Marshal(m)
		reply(200, string(b))
	case r.Method == http.MethodPost && p == "/_aliases":
		reply(200, `{"acknowledged":true,"errors":false}`)
	case r.Method == http.MethodPut && strings.Count(p, "/") == 1:
		if f.createStatus == 400 {
			reply(400, `{"error":{"type":"resource_already_exists_exception","reason":"index [`+p[1:]+`] already exists"},"status":400}`)
			return
		}
		reply(200, `{"acknowledged":true,"shards_acknowledged":true,"index":"`+p[1:]+`"}`)
	case r.Method == http.MethodPost && p == "/_bulk":
		if f.bulkStatus != 0 {
			reply(f.bulkStatus, `{"error":{"type":"x","reason":"bulk failed"},"status":503}`)
			return
		}
		var items []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var action map[string]struct {
				ID string `json:"_id"`
			}
			if json.Unmarshal(sc.Bytes(), &action) != nil || len(action) != 1 {
				f.t.Errorf("bulk: bad action line %s", sc.Bytes())
				return
			}
			id := action["update"].ID
			sc.Scan() // the body line
			status, typ := 200, ""
			if f.item != nil {
				status, typ = f.item(f.items, id)
			}
			f.items++
			if typ != "" {
				items = append(items, fmt.Sprintf(`{"update":{"_index":"s3gate-objects-v1","_id":%q,"status":%d,"error":{"type":%q,"reason":"test"}}}`, id, status, typ))
			} else {
				items = append(items, fmt.Sprintf(`{"update":{"_index":"s3gate-objects-v1","_id":%q,"_version":1,"result":"updated","status":%d}}`, id, status))
			}
		}
		reply(200, `{"took":1,"errors":false,"items":[`+strings.Join(items, ",")+`]}`)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/_pit"):
		reply(200, `{"id":"pit-1","_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`)
	case r.Method == http.MethodDelete && p == "/_pit":
		reply(200, `{"succeeded":true,"num_freed":1}`)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/_search"):
		if f.search == nil {
			reply(200, searchResponse(0, nil, ""))
			return
		}
		reply(200, f.search(body))
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/_delete_by_query"):
		reply(200, `{"took":3,"timed_out":false,"total":2,"deleted":2,"batches":1,"version_conflicts":0,"noops":0,"failures":[]}`)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/_refresh"):
		reply(200, `{"_shards":{"total":1,"successful":1,"failed":0}}`)
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, p)
		reply(400, `{"error":{"type":"illegal_argument_exception","reason":"unexpected"},"status":400}`)
	}
}

// requests returns the recorded requests (after New's, when skip is set).
func (f *fakeES) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slicesClone(f.reqs)
}

func (f *fakeES) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = nil
}

func slicesClone(r []request) []request { return append([]request(nil), r...) }

// searchResponse is a search answer with typed_keys, as the typed client
// asks for.
func searchResponse(total int, hits []string, aggs string) string {
	if aggs == "" {
		aggs = `"sterms#content_type":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[]},` +
			`"sterms#bucket":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[]}`
	}
	return fmt.Sprintf(`{"took":2,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},`+
		`"hits":{"total":{"value":%d,"relation":"eq"},"max_score":null,"hits":[%s]},"aggregations":{%s}}`,
		total, strings.Join(hits, ","), aggs)
}

func hitJSON(bucket, key string, score float64, highlight string) string {
	hl := ""
	if highlight != "" {
		hl = fmt.Sprintf(`,"highlight":{"text":[%q]}`, highlight)
	}
	return fmt.Sprintf(`{"_index":"s3gate-objects-v1","_id":%q,"_score":null,"_source":{"bucket":%q,"key":%q,"size":42,"content_type":"image/png","modified":"2024-05-01T12:00:00Z"},"sort":[%v,%q,%q]%s}`,
		index.ID(bucket, key), bucket, key, score, bucket, key, hl)
}

func open(t *testing.T, f *fakeES, o Options) *Index {
	t.Helper()
	o.URLs = []string{f.srv.URL}
	o.Transport = f.srv.Client().Transport
	if o.FlushInterval == 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	if o.TokenKey == nil {
		o.TokenKey = []byte("test key")
	}
	ix, err := New(t.Context(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// jsonEqual fails t unless got and want are the same JSON value.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the wanted JSON: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\n got %s\nwant %s", what, gi, wi)
	}
}

const wantTemplate = `{
  "index_patterns": ["s3gate-objects-v1"],
  "priority": 200,
  "version": 1,
  "_meta": {"managed_by": "s3gate"},
  "template": {
    "settings": {
      "analysis": {
        "analyzer": {"s3gate_words": {"type": "custom", "tokenizer": "s3gate_words", "filter": ["lowercase", "asciifolding"]}},
        "tokenizer": {"s3gate_words": {"type": "pattern", "pattern": "[^\\p{L}\\p{N}\\p{M}]+"}}
      }
    },
    "mappings": {
      "dynamic": "false",
      "_meta": {"version": 1},
      "properties": {
        "id": {"type": "keyword"},
        "bucket": {"type": "keyword"},
        "key": {"type": "keyword"},
        "sequencer": {"type": "keyword"},
        "deleted": {"type": "boolean"},
        "deleted_at": {"type": "date"},
        "words": {"type": "text", "analyzer": "s3gate_words"},
        "ext": {"type": "keyword"},
        "size": {"type": "long"},
        "content_type": {"type": "keyword"},
        "modified": {"type": "date"},
        "created": {"type": "date"},
        "owner": {"type": "keyword"},
        "metadata": {"type": "flattened"},
        "tags": {"type": "flattened"},
        "values": {"type": "text", "analyzer": "s3gate_words"},
        "image": {"type": "object", "properties": {
          "width": {"type": "integer"},
          "height": {"type": "integer"},
          "camera": {"type": "keyword"},
          "taken_at": {"type": "date"}
        }},
        "text": {"type": "text", "analyzer": "s3gate_words"}
      }
    }
  }
}`

// TestNewFresh: a new cluster gets the template, the index and the alias.
func TestNewFresh(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	reqs := f.requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Path)
	}
	want := []string{
		"PUT /_index_template/s3gate-objects-v1",
		"PUT /s3gate-objects-v1",
		"GET /_alias/s3gate-objects",
		"POST /_aliases",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	jsonEqual(t, "index template", reqs[0].Body, wantTemplate)
	if len(reqs[1].Body) != 0 {
		t.Errorf("create index body %s, want none (the template applies)", reqs[1].Body)
	}
	jsonEqual(t, "aliases", reqs[3].Body, `{"actions":[
		{"add":{"index":"s3gate-objects-v1","alias":"s3gate-objects","is_write_index":true}}]}`)
	if ix.IndexName() != "s3gate-objects-v1" || ix.Alias() != "s3gate-objects" || ix.Migrated() != nil {
		t.Errorf("index %q alias %q migrated %q", ix.IndexName(), ix.Alias(), ix.Migrated())
	}
}

// TestNewCurrent: an alias on the current version, an index that exists:
// nothing to change.
func TestNewCurrent(t *testing.T) {
	f := newFake(t)
	f.aliasTo = []string{"s3gate-objects-v1"}
	f.createStatus = 400
	open(t, f, Options{})
	for _, r := range f.requests() {
		if r.Path == "/_aliases" {
			t.Errorf("alias changed: %s", r.Body)
		}
	}
}

// TestNewSwitchesAlias: the alias on an older version moves to the new
// index in one atomic request; the old index stays.
func TestNewSwitchesAlias(t *testing.T) {
	f := newFake(t)
	f.aliasTo = []string{"s3gate-objects-v0"}
	ix := open(t, f, Options{})
	var body []byte
	for _, r := range f.requests() {
		if r.Method == http.MethodDelete {
			t.Errorf("deleted %s", r.Path)
		}
		if r.Path == "/_aliases" {
			body = r.Body
		}
	}
	jsonEqual(t, "aliases", body, `{"actions":[
		{"remove":{"index":"s3gate-objects-v0","alias":"s3gate-objects"}},
		{"add":{"index":"s3gate-objects-v1","alias":"s3gate-objects","is_write_index":true}}]}`)
	if got := ix.Migrated(); !reflect.DeepEqual(got, []string{"s3gate-objects-v0"}) {
		t.Errorf("Migrated %q", got)
	}
}

// TestNewLeavesNewer: an alias already on a newer version stays there.
func TestNewLeavesNewer(t *testing.T) {
	f := newFake(t)
	f.aliasTo = []string{"s3gate-objects-v2"}
	ix := open(t, f, Options{IndexPrefix: "s3gate-objects"})
	for _, r := range f.requests() {
		if r.Path == "/_aliases" {
			t.Errorf("alias changed: %s", r.Body)
		}
	}
	if ix.IndexName() != "s3gate-objects-v2" {
		t.Errorf("IndexName %q", ix.IndexName())
	}
}

// fastRetries shortens the pauses between retries for the test.
func fastRetries(t *testing.T) {
	rb, ib := retryBackoff, itemBackoff
	retryBackoff, itemBackoff = time.Millisecond, time.Millisecond
	t.Cleanup(func() { retryBackoff, itemBackoff = rb, ib })
}

func TestNewUnavailable(t *testing.T) {
	fastRetries(t)
	f := newFake(t)
	f.status = 503
	_, err := New(t.Context(), Options{URLs: []string{f.srv.URL}})
	if !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("503: %v, want ErrUnavailable", err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err = New(t.Context(), Options{URLs: []string{url}})
	if !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("connection refused: %v, want ErrUnavailable", err)
	}
	f.status = 403
	_, err = New(t.Context(), Options{URLs: []string{f.srv.URL}})
	if err == nil || errors.Is(err, index.ErrUnavailable) {
		t.Errorf("403: %v, want an error other than ErrUnavailable", err)
	}
}

// bulkLines returns the NDJSON lines of the bulk requests sent since the
// last reset.
func bulkLines(t *testing.T, f *fakeES) (lines [][]byte, query string) {
	t.Helper()
	for _, r := range f.requests() {
		if r.Path != "/_bulk" {
			continue
		}
		if !bytes.HasSuffix(r.Body, []byte("\n")) {
			t.Errorf("bulk body does not end with a newline")
		}
		for l := range bytes.SplitSeq(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n")) {
			lines = append(lines, l)
		}
		query = r.Query
	}
	return lines, query
}

const wantScript = "def cur = ctx._source.sequencer; " +
	"if (cur != null && cur.compareTo(params.doc.sequencer) > 0) { ctx.op = 'noop'; } " +
	"else { ctx._source.clear(); ctx._source.putAll(params.doc); }"

func TestPutBulkLines(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{Refresh: "wait_for"})
	f.reset()
	doc := index.Document{
		Bucket: "photos", Key: "2024/Trip/IMG_0001.JPG", Sequencer: "0000018F2A3B4C5D0000000000000001",
		Words: "2024 trip img_0001.jpg img 0001 jpg", Ext: "jpg", Size: 123456, ContentType: "Image/JPEG",
		Modified: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("x", 2*3600)),
		Created:  time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Owner:    "alice", Metadata: map[string]string{"author": "Alice Martin", "dept": "R&D"},
		Tags:  map[string]string{"project": "Apollo", "env": "prod"},
		Image: &index.Image{Width: 4000, Height: 3000, Camera: "Canon EOS R5", TakenAt: time.Date(2024, 4, 30, 8, 0, 0, 0, time.UTC)},
		Text:  "",
	}
	if err := ix.Put(t.Context(), doc); err != nil {
		t.Fatalf("Put: %v", err)
	}
	lines, query := bulkLines(t, f)
	if len(lines) != 2 {
		t.Fatalf("%d bulk lines, want 2: %s", len(lines), bytes.Join(lines, []byte("\n")))
	}
	if query != "refresh=wait_for" {
		t.Errorf("bulk query %q, want refresh=wait_for", query)
	}
	id := index.ID(doc.Bucket, doc.Key)
	jsonEqual(t, "action line", lines[0], `{"update":{"_id":"`+id+`","_index":"s3gate-objects","retry_on_conflict":3}}`)
	jsonEqual(t, "update body", lines[1], `{
		"scripted_upsert": true,
		"script": {
			"source": `+mustJSON(wantScript)+`,
			"lang": "painless",
			"params": {"doc": {
				"id": "`+id+`",
				"bucket": "photos",
				"key": "2024/Trip/IMG_0001.JPG",
				"sequencer": "0000018F2A3B4C5D0000000000000001",
				"deleted": false,
				"words": "2024 trip img_0001.jpg img 0001 jpg",
				"ext": "jpg",
				"size": 123456,
				"content_type": "image/jpeg",
				"modified": "2024-05-01T10:00:00.123Z",
				"created": "2024-05-01T10:00:00Z",
				"owner": "alice",
				"metadata": {"author": "Alice Martin", "dept": "R&D"},
				"tags": {"env": "prod", "project": "Apollo"},
				"values": "Alice Martin\nR&D\nprod\nApollo\nCanon EOS R5",
				"image": {"width": 4000, "height": 3000, "camera": "Canon EOS R5", "taken_at": "2024-04-30T08:00:00Z"}
			}}
		},
		"upsert": {}
	}`)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDeleteTombstone(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	before := time.Now().Add(-time.Second)
	if err := ix.Delete(t.Context(), "b1", "dir/x.txt", "0000000000000000000000000007"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	lines, _ := bulkLines(t, f)
	if len(lines) != 2 {
		t.Fatalf("%d bulk lines, want 2", len(lines))
	}
	id := index.ID("b1", "dir/x.txt")
	jsonEqual(t, "action line", lines[0], `{"update":{"_id":"`+id+`","_index":"s3gate-objects","retry_on_conflict":3}}`)
	var body struct {
		Script struct {
			Params struct {
				Doc map[string]any `json:"doc"`
			} `json:"params"`
		} `json:"script"`
	}
	json.Unmarshal(lines[1], &body)
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(body.Script.Params.Doc["deleted_at"]))
	if err != nil || at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
		t.Errorf("deleted_at %v (%v), want now", body.Script.Params.Doc["deleted_at"], err)
	}
	jsonEqual(t, "tombstone", lines[1], `{
		"scripted_upsert": true,
		"script": {"source": `+mustJSON(wantScript)+`, "lang": "painless", "params": {"doc": {
			"id": "`+id+`", "bucket": "b1", "key": "dir/x.txt",
			"sequencer": "0000000000000000000000000007", "deleted": true,
			"deleted_at": `+mustJSON(body.Script.Params.Doc["deleted_at"])+`,
			"size": 0}}},
		"upsert": {}
	}`)
}

// TestPutResults: Put returns each item's own outcome; items pushed back
// (429) are retried.
func TestPutResults(t *testing.T) {
	fastRetries(t)
	f := newFake(t)
	ix := open(t, f, Options{})
	doc := index.Document{Bucket: "b", Key: "k", Sequencer: "1"}

	f.mu.Lock()
	f.item = func(n int, _ string) (int, string) {
		if n == 0 {
			return 429, "es_rejected_execution_exception"
		}
		return 200, ""
	}
	f.mu.Unlock()
	if err := ix.Put(t.Context(), doc); err != nil {
		t.Errorf("Put after one 429: %v", err)
	}

	f.mu.Lock()
	f.item = func(int, string) (int, string) { return 400, "document_parsing_exception" }
	f.mu.Unlock()
	err := ix.Put(t.Context(), doc)
	if err == nil || errors.Is(err, index.ErrUnavailable) || !strings.Contains(err.Error(), "document_parsing_exception") {
		t.Errorf("Put of a rejected document: %v", err)
	}

	f.mu.Lock()
	f.item = func(int, string) (int, string) { return 429, "es_rejected_execution_exception" }
	f.mu.Unlock()
	if err := ix.Put(t.Context(), doc); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Put always pushed back: %v, want ErrUnavailable", err)
	}

	f.mu.Lock()
	f.item, f.bulkStatus = nil, 503
	f.mu.Unlock()
	if err := ix.Delete(t.Context(), "b", "k", "2"); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Delete with bulk answering 503: %v, want ErrUnavailable", err)
	}

	ix.Close()
	if err := ix.Put(t.Context(), doc); err == nil {
		t.Error("Put after Close succeeded")
	}
}

// TestPutConcurrent: concurrent Puts are batched, and each returns once
// its own item is acknowledged.
func TestPutConcurrent(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{FlushInterval: 50 * time.Millisecond})
	f.reset()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			errs <- ix.Put(context.Background(), index.Document{Bucket: "b", Key: fmt.Sprint(i), Sequencer: "1"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	lines, _ := bulkLines(t, f)
	n := 0
	for _, r := range f.requests() {
		if r.Path == "/_bulk" {
			n++
		}
	}
	if len(lines) != 100 || n >= 50 {
		t.Errorf("%d lines in %d bulk requests, want 100 in fewer than 50", len(lines), n)
	}
}

const wantSearch = `{
  "query": {"bool": {
    "must": [
      {"dis_max": {"queries": [
        {"constant_score": {"boost": 6, "filter": {"match": {"words": {"query": "Rep", "operator": "and"}}}}},
        {"constant_score": {"boost": 4, "filter": {"match_bool_prefix": {"words": {"query": "Rep", "operator": "and"}}}}},
        {"constant_score": {"boost": 2, "filter": {"match_bool_prefix": {"values": {"query": "Rep", "operator": "and"}}}}},
        {"constant_score": {"boost": 1, "filter": {"match_bool_prefix": {"text": {"query": "Rep", "operator": "and"}}}}}
      ]}},
      {"dis_max": {"queries": [
        {"constant_score": {"boost": 6, "filter": {"match": {"words": {"query": "budget", "operator": "and"}}}}},
        {"constant_score": {"boost": 4, "filter": {"match_bool_prefix": {"words": {"query": "budget", "operator": "and"}}}}},
        {"constant_score": {"boost": 2, "filter": {"match_bool_prefix": {"values": {"query": "budget", "operator": "and"}}}}},
        {"constant_score": {"boost": 1, "filter": {"match_bool_prefix": {"text": {"query": "budget", "operator": "and"}}}}}
      ]}}
    ],
    "filter": [
      {"term": {"deleted": {"value": false}}},
      {"term": {"bucket": {"value": "b1"}}},
      {"prefix": {"key": {"value": "docs/"}}},
      {"prefix": {"content_type": {"value": "image/"}}},
      {"range": {"size": {"gte": 10, "lte": 2000}}},
      {"range": {"modified": {"gt": "2024-01-02T03:04:05.678Z"}}},
      {"term": {"tags.env": {"value": "prod"}}},
      {"term": {"tags.team": {"value": "blue"}}},
      {"bool": {"should": [
        {"bool": {"filter": [{"term": {"bucket": {"value": "b1"}}}, {"prefix": {"key": {"value": "docs/"}}}]}},
        {"bool": {"filter": [{"prefix": {"key": {"value": "shared/"}}}]}},
        {"bool": {"filter": [{"term": {"bucket": {"value": "b2"}}}]}},
        {"match_all": {}}
      ], "minimum_should_match": 1}}
    ]
  }},
  "size": 3,
  "sort": [{"_score": {"order": "desc"}}, {"bucket": {"order": "asc"}}, {"key": {"order": "asc"}}],
  "track_total_hits": true,
  "_source": {"includes": ["bucket", "key", "size", "content_type", "modified"]},
  "highlight": {
    "highlight_query": {"bool": {"should": [
      {"multi_match": {"query": "Rep", "type": "bool_prefix", "fields": ["text", "words", "values"]}},
      {"multi_match": {"query": "budget", "type": "bool_prefix", "fields": ["text", "words", "values"]}}
    ]}},
    "encoder": "html",
    "pre_tags": ["<em>"], "post_tags": ["</em>"],
    "fragment_size": 150, "number_of_fragments": 1,
    "fields": {"text": {}, "words": {}, "values": {}}
  },
  "aggregations": {
    "content_type": {"terms": {"field": "content_type", "size": 50}},
    "bucket": {"terms": {"field": "bucket", "size": 50}}
  }
}`

func TestSearch(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	size := func(n int64) *int64 { return &n }
	q := index.Query{
		Text:          `Rep "budget" rep -- +`,
		Bucket:        "b1",
		Prefix:        "docs/",
		ContentType:   "image/*",
		MinSize:       size(10),
		MaxSize:       size(2000),
		ModifiedAfter: time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC),
		Tags:          map[string]string{"team": "blue", "env": "prod"},
		Readable:      []index.Grant{{Bucket: "b1", Prefix: "docs/"}, {Bucket: "*", Prefix: "shared/"}, {Bucket: "b2"}, {Bucket: "*"}},
		Limit:         2,
	}
	f.search = func([]byte) string {
		return searchResponse(5, []string{
			hitJSON("b1", "docs/a.png", 10, "the <em>rep</em>ort <em>budget</em>"),
			hitJSON("b1", "docs/b.png", 6, ""),
			hitJSON("b1", "docs/c.png", 6, ""),
		}, `"sterms#content_type":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"image/png","doc_count":4},{"key":"image/jpeg","doc_count":1}]},`+
			`"sterms#bucket":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"b1","doc_count":5}]}`)
	}
	res, err := ix.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/s3gate-objects/_search" || reqs[0].Query != "typed_keys=true" {
		t.Fatalf("requests %+v, want one POST /s3gate-objects/_search?typed_keys=true", reqs)
	}
	jsonEqual(t, "search body", reqs[0].Body, wantSearch)

	mod := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	want := index.Result{
		Hits: []index.Hit{
			{Bucket: "b1", Key: "docs/a.png", Size: 42, ContentType: "image/png", Modified: mod, Highlight: "the <em>rep</em>ort <em>budget</em>"},
			{Bucket: "b1", Key: "docs/b.png", Size: 42, ContentType: "image/png", Modified: mod},
		},
		Total: 5,
		Facets: map[string][]index.Facet{
			"content_type": {{Value: "image/png", Count: 4}, {Value: "image/jpeg", Count: 1}},
			"bucket":       {{Value: "b1", Count: 5}},
		},
		NextPageToken: res.NextPageToken,
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result\n %+v\nwant %+v", res, want)
	}
	if res.NextPageToken == "" {
		t.Fatal("no next page token with more hits")
	}

	// The next page continues after the last hit of this one.
	f.reset()
	f.search = func([]byte) string { return searchResponse(5, []string{hitJSON("b1", "docs/c.png", 6, "")}, "") }
	q.PageToken = res.NextPageToken
	res, err = ix.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("page 2: %v", err)
	}
	var body map[string]json.RawMessage
	json.Unmarshal(f.requests()[0].Body, &body)
	jsonEqual(t, "search_after", body["search_after"], `[6, "b1", "docs/b.png"]`)
	if res.NextPageToken != "" || len(res.Hits) != 1 {
		t.Errorf("last page: %d hits, token %q", len(res.Hits), res.NextPageToken)
	}
	if res.Facets["content_type"] == nil || len(res.Facets["content_type"]) != 0 {
		t.Errorf("empty facets %#v, want empty lists", res.Facets)
	}
}

// TestSearchNoWords: no words, no scoring clause and no highlight.
func TestSearchNoWords(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	if _, err := ix.Search(t.Context(), index.Query{Text: ` "" * : () `, Readable: []index.Grant{{Bucket: "b1"}}}); err != nil {
		t.Fatal(err)
	}
	var body map[string]json.RawMessage
	json.Unmarshal(f.requests()[0].Body, &body)
	jsonEqual(t, "query", body["query"], `{"bool":{"filter":[
		{"term":{"deleted":{"value":false}}},
		{"bool":{"should":[{"bool":{"filter":[{"term":{"bucket":{"value":"b1"}}}]}}],"minimum_should_match":1}}]}}`)
	jsonEqual(t, "size", body["size"], `21`)
	if _, ok := body["highlight"]; ok {
		t.Errorf("highlight without words: %s", body["highlight"])
	}
}

func TestSearchInvalid(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	other := open(t, f, Options{TokenKey: []byte("another key")})
	f.reset()
	f.search = func([]byte) string {
		return searchResponse(3, []string{hitJSON("b", "a", 1, ""), hitJSON("b", "b", 1, "")}, "")
	}
	grants := []index.Grant{{Bucket: "b"}}
	res, err := ix.Search(t.Context(), index.Query{Text: "x", Readable: grants, Limit: 1})
	if err != nil || res.NextPageToken == "" {
		t.Fatalf("Search: %v, token %q", err, res.NextPageToken)
	}
	tok := res.NextPageToken
	f.reset()
	for name, q := range map[string]index.Query{
		"no grants":       {Text: "x"},
		"empty grants":    {Text: "x", Readable: []index.Grant{}},
		"grant no bucket": {Readable: []index.Grant{{Prefix: "a/"}}},
		"negative limit":  {Readable: grants, Limit: -1},
		"limit too large": {Readable: grants, Limit: index.MaxLimit + 1},
		"too many words":  {Text: manyWords(index.MaxWords + 1), Readable: grants},
		"garbage token":   {Text: "x", Readable: grants, PageToken: "garbage"},
		"forged token":    {Text: "x", Readable: grants, PageToken: tok[:len(tok)-2] + "AA"},
		"another query":   {Text: "y", Readable: grants, PageToken: tok},
		"another grant":   {Text: "x", Readable: []index.Grant{{Bucket: "*"}}, PageToken: tok},
	} {
		if _, err := ix.Search(t.Context(), q); !errors.Is(err, index.ErrInvalidQuery) {
			t.Errorf("%s: %v, want ErrInvalidQuery", name, err)
		}
	}
	if _, err := other.Search(t.Context(), index.Query{Text: "x", Readable: grants, PageToken: tok}); !errors.Is(err, index.ErrInvalidQuery) {
		t.Errorf("token of a replica with another key: %v, want ErrInvalidQuery", err)
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("invalid queries sent %d requests", len(reqs))
	}
	// The same query with another limit keeps its token.
	if _, err := ix.Search(t.Context(), index.Query{Text: "x", Readable: grants, Limit: 5, PageToken: tok}); err != nil {
		t.Errorf("another limit: %v", err)
	}
}

func manyWords(n int) string {
	var ws []string
	for i := range n {
		ws = append(ws, fmt.Sprintf("w%d", i))
	}
	return strings.Join(ws, " ")
}

func TestSearchUnavailable(t *testing.T) {
	fastRetries(t)
	f := newFake(t)
	ix := open(t, f, Options{})
	f.mu.Lock()
	f.status = 500
	f.mu.Unlock()
	if _, err := ix.Search(t.Context(), index.Query{Readable: []index.Grant{{Bucket: "*"}}}); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("500: %v, want ErrUnavailable", err)
	}
	f.mu.Lock()
	f.status = 400
	f.mu.Unlock()
	if _, err := ix.Search(t.Context(), index.Query{Readable: []index.Grant{{Bucket: "*"}}}); err == nil || errors.Is(err, index.ErrUnavailable) {
		t.Errorf("400: %v, want another error", err)
	}
	f.srv.CloseClientConnections()
	f.srv.Close()
	if err := ix.Keys(t.Context(), "b", func(string) error { return nil }); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("server gone: %v, want ErrUnavailable", err)
	}
}

func TestKeys(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	calls := 0
	f.search = func([]byte) string {
		calls++
		var hits []string
		n := keysPage
		if calls == 2 {
			n = 1
		}
		for i := range n {
			hits = append(hits, fmt.Sprintf(`{"_index":"s3gate-objects-v1","_id":"x","_score":null,"_source":{"key":"k%d-%d"},"sort":[%d]}`, calls, i, calls*10000+i))
		}
		return fmt.Sprintf(`{"pit_id":"pit-%d","took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"hits":[%s]}}`, calls+1, strings.Join(hits, ","))
	}
	var keys []string
	if err := ix.Keys(t.Context(), "b1", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if len(keys) != keysPage+1 || keys[0] != "k1-0" || keys[keysPage] != "k2-0" {
		t.Errorf("%d keys", len(keys))
	}
	reqs := f.requests()
	var got []string
	for _, r := range reqs {
		got = append(got, r.Method+" "+r.Path+"?"+r.Query)
	}
	want := []string{
		"POST /s3gate-objects/_pit?keep_alive=1m",
		"POST /_search?typed_keys=true",
		"POST /_search?typed_keys=true",
		"DELETE /_pit?",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	page := `{
		"pit": {"id": "pit-1", "keep_alive": "1m"},
		"size": 1000,
		"query": {"bool": {"filter": [{"term": {"bucket": {"value": "b1"}}}, {"term": {"deleted": {"value": false}}}]}},
		"sort": [{"_shard_doc": {"order": "asc"}}],
		"_source": {"includes": ["key"]},
		"track_total_hits": false
	}`
	jsonEqual(t, "first page", reqs[1].Body, page)
	page = strings.Replace(page, `"pit-1"`, `"pit-2"`, 1)
	page = strings.Replace(page, `"size"`, `"search_after": [10999], "size"`, 1)
	jsonEqual(t, "second page", reqs[2].Body, page)
	jsonEqual(t, "close", reqs[3].Body, `{"id":"pit-3"}`)

	// fn's error stops the listing and closes the point in time.
	f.reset()
	calls = 0
	stop := errors.New("stop")
	if err := ix.Keys(t.Context(), "b1", func(string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Keys: %v, want fn's error", err)
	}
	if reqs := f.requests(); reqs[len(reqs)-1].Method != http.MethodDelete {
		t.Errorf("point in time left open")
	}
}

func TestPruneTombstones(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	n, err := ix.PruneTombstones(t.Context(), 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("PruneTombstones: %d, %v", n, err)
	}
	r := f.requests()[0]
	if r.Method != http.MethodPost || r.Path != "/s3gate-objects/_delete_by_query" || r.Query != "conflicts=proceed" {
		t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query)
	}
	var body struct {
		Query struct {
			Bool struct {
				Filter []map[string]map[string]map[string]any `json:"filter"`
			} `json:"bool"`
		} `json:"query"`
	}
	json.Unmarshal(r.Body, &body)
	lt := fmt.Sprint(body.Query.Bool.Filter[1]["range"]["deleted_at"]["lt"])
	at, err := time.Parse(time.RFC3339Nano, lt)
	if err != nil || time.Since(at) < 24*time.Hour || time.Since(at) > 25*time.Hour {
		t.Errorf("lt %q (%v), want a day ago", lt, err)
	}
	jsonEqual(t, "delete by query", r.Body, `{"query":{"bool":{"filter":[
		{"term":{"deleted":{"value":true}}},
		{"range":{"deleted_at":{"lt":`+mustJSON(lt)+`}}}]}}}`)
}

func TestRefresh(t *testing.T) {
	f := newFake(t)
	ix := open(t, f, Options{})
	f.reset()
	if err := ix.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := f.requests()[0]; r.Method != http.MethodPost || r.Path != "/s3gate-objects/_refresh" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string][]string{
		"Sales Report":       {"Sales", "Report"},
		`"sales" sales*`:     {"sales"},
		"words:unrelated":    {"words", "unrelated"},
		"Q3_salesReport.pdf": {"Q3", "salesReport", "pdf"},
		"ünïcödé/日本語":        {"ünïcödé", "日本語"},
		` "" * : () - \ `:    nil,
	} {
		got, err := words(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("words(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
