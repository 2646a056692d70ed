package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3gate/s3gate/processors/search/embedded"
	"github.com/s3gate/s3gate/processors/search/index"
)

// searchTestPolicy says who may search and read where:
//
//	admin     everything, everywhere
//	user      search; read bucket u-ID and home/ID/ in bucket shared
//	partial   search; readable grants all of bucket plans, but allow
//	          refuses keys holding "private" (a readable rule broader
//	          than the allow rules)
//	searcher  search, with no readable grants
//	guest     nothing
const searchTestPolicy = `package s3gate.authz

import rego.v1

default allow := false

allow if "admin" in input.principal.roles

allow if {
	some role in ["user", "partial", "searcher"]
	role in input.principal.roles
	input.action == "s3gate:Search"
}

allow if {
	"user" in input.principal.roles
	input.action == "s3:GetObject"
	input.resource.bucket == concat("", ["u-", input.principal.id])
}

allow if {
	"user" in input.principal.roles
	input.action == "s3:GetObject"
	input.resource.bucket == "shared"
	startswith(input.resource.key, concat("", ["home/", input.principal.id, "/"]))
}

allow if {
	"partial" in input.principal.roles
	input.action == "s3:GetObject"
	input.resource.bucket == "plans"
	not contains(input.resource.key, "private")
}

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": concat("", ["u-", input.principal.id]), "prefix": ""} if "user" in input.principal.roles

readable contains {"bucket": "shared", "prefix": concat("", ["home/", input.principal.id, "/"])} if "user" in input.principal.roles

readable contains {"bucket": "plans", "prefix": ""} if "partial" in input.principal.roles
`

// reindexingIndex is the real embedded index with the Reindex of the
// admin API: it records the buckets asked for, reports two steps of
// progress and ends with fail, or with its final counts.
type reindexingIndex struct {
	*embedded.Index
	mu    sync.Mutex
	calls []string
	fail  error
}

func (s *reindexingIndex) Reindex(_ context.Context, bucket string, progress func(ReindexProgress)) (ReindexProgress, error) {
	s.mu.Lock()
	s.calls = append(s.calls, bucket)
	fail := s.fail
	s.mu.Unlock()
	progress(ReindexProgress{Bucket: bucket, Indexed: 1})
	progress(ReindexProgress{Bucket: bucket, Indexed: 2, Removed: 1})
	if fail != nil {
		return ReindexProgress{Bucket: bucket, Indexed: 2, Removed: 1}, fail
	}
	return ReindexProgress{Bucket: bucket, Indexed: 3, Removed: 1}, nil
}

func (s *reindexingIndex) reindexed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

var _ Search = (*reindexingIndex)(nil)

type searchEnv struct {
	*adminEnv
	idx *reindexingIndex
}

// newSearchEnv is an admin env whose policy is policyText (the embedded
// default policy when empty) and whose search index is a real embedded
// index in a temp dir.
func newSearchEnv(t *testing.T, policyText string) *searchEnv {
	t.Helper()
	ix, err := embedded.Open(filepath.Join(t.TempDir(), "search.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	engine := testPolicy(t, policyText)
	idx := &reindexingIndex{Index: ix}
	e := newAdminEnv(t, func(o *Options) { o.Authorizer, o.Search = engine, idx })
	return &searchEnv{adminEnv: e, idx: idx}
}

// searchTime is the modification time of the test documents, before any
// offsets.
var searchTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// sdoc is a test document: name is "bucket/key".
type sdoc struct {
	name, contentType string
	size              int64
	text              string
	tags              map[string]string
	modified          time.Time
}

func (e *searchEnv) index(docs ...sdoc) {
	e.t.Helper()
	for i, d := range docs {
		bucket, key, ok := strings.Cut(d.name, "/")
		if !ok {
			e.t.Fatalf("document name %q has no bucket", d.name)
		}
		mod := d.modified
		if mod.IsZero() {
			mod = searchTime
		}
		if err := e.idx.Put(context.Background(), index.Document{
			Bucket: bucket, Key: key, Sequencer: fmt.Sprintf("%028X", i+1),
			Words: strings.Join(index.KeyWords(key), " "), Ext: index.Ext(key),
			Size: d.size, ContentType: d.contentType, Modified: mod, Text: d.text, Tags: d.tags,
		}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// searchPath is /api/v1/search with query q, spaces escaped as SDKs do.
func searchPath(q url.Values) string {
	return "/api/v1/search?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// search sends GET /api/v1/search as creds and decodes the answer.
func (e *searchEnv) search(creds aws.Credentials, q url.Values) index.Result {
	e.t.Helper()
	resp, b := e.call(creds, "GET", searchPath(q), nil)
	var res index.Result
	adminOK(e.t, resp, b, http.StatusOK, &res)
	if !bytes.Contains(b, []byte(`"hits":[`)) {
		e.t.Fatalf("answer without a hits array: %s", b)
	}
	return res
}

// names are the hits' "bucket/key", in the answer's order.
func hitNames(hits []index.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.Bucket+"/"+h.Key)
	}
	return out
}

func sortedHitNames(hits []index.Hit) []string {
	out := hitNames(hits)
	slices.Sort(out)
	return out
}

// TestSearchReadableGrants: each caller finds only what it may read, and
// the facets and total count only that; admin finds everything.
func TestSearchReadableGrants(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	e.index(
		sdoc{name: "shared/home/alice/report-2024.txt", contentType: "text/plain", size: 100},
		sdoc{name: "shared/home/alice/notes/q1-report.md", contentType: "text/markdown", size: 200},
		sdoc{name: "shared/home/alice/cat.jpg", contentType: "image/jpeg", size: 300},
		sdoc{name: "shared/home/bob/report-final.pdf", contentType: "application/pdf", size: 400},
		sdoc{name: "shared/home/bob/drafts/reportcard.txt", contentType: "text/plain", size: 500},
		sdoc{name: "shared/home/alicebob/report.txt", contentType: "text/plain", size: 600},
		sdoc{name: "shared/public/report.txt", contentType: "text/plain", size: 700},
		sdoc{name: "u-alice/report.csv", contentType: "text/csv", size: 800},
		sdoc{name: "u-alice/misc/summary.txt", contentType: "text/plain", size: 900, text: "quarterly report draft"},
		sdoc{name: "u-bob/report.csv", contentType: "text/csv", size: 1000},
		sdoc{name: "u-bob/annual/Report.doc", contentType: "application/msword", size: 1100},
		sdoc{name: "u-bob/photos/beach.jpg", contentType: "image/jpeg", size: 1200},
	)
	alice, bob := e.keyOf("alice", "user"), e.keyOf("bob", "user")
	type facets = map[string][]index.Facet
	for _, c := range []struct {
		who    string
		creds  aws.Credentials
		query  url.Values
		want   []string
		facets facets
	}{
		{"alice", alice, url.Values{"q": {"report"}},
			[]string{"shared/home/alice/notes/q1-report.md", "shared/home/alice/report-2024.txt", "u-alice/misc/summary.txt", "u-alice/report.csv"},
			facets{
				"bucket":       {{Value: "shared", Count: 2}, {Value: "u-alice", Count: 2}},
				"content_type": {{Value: "text/plain", Count: 2}, {Value: "text/csv", Count: 1}, {Value: "text/markdown", Count: 1}},
			}},
		{"bob", bob, url.Values{"q": {"report"}},
			[]string{"shared/home/bob/drafts/reportcard.txt", "shared/home/bob/report-final.pdf", "u-bob/annual/Report.doc", "u-bob/report.csv"},
			facets{
				"bucket":       {{Value: "shared", Count: 2}, {Value: "u-bob", Count: 2}},
				"content_type": {{Value: "application/msword", Count: 1}, {Value: "application/pdf", Count: 1}, {Value: "text/csv", Count: 1}, {Value: "text/plain", Count: 1}},
			}},
		{"admin", adminRoot, url.Values{"q": {"report"}},
			[]string{
				"shared/home/alice/notes/q1-report.md", "shared/home/alice/report-2024.txt", "shared/home/alicebob/report.txt",
				"shared/home/bob/drafts/reportcard.txt", "shared/home/bob/report-final.pdf", "shared/public/report.txt",
				"u-alice/misc/summary.txt", "u-alice/report.csv", "u-bob/annual/Report.doc", "u-bob/report.csv",
			},
			facets{
				"bucket":       {{Value: "shared", Count: 6}, {Value: "u-alice", Count: 2}, {Value: "u-bob", Count: 2}},
				"content_type": {{Value: "text/plain", Count: 5}, {Value: "text/csv", Count: 2}, {Value: "application/msword", Count: 1}, {Value: "application/pdf", Count: 1}, {Value: "text/markdown", Count: 1}},
			}},
		{"alice, every document", alice, url.Values{},
			[]string{"shared/home/alice/cat.jpg", "shared/home/alice/notes/q1-report.md", "shared/home/alice/report-2024.txt", "u-alice/misc/summary.txt", "u-alice/report.csv"},
			facets{
				"bucket":       {{Value: "shared", Count: 3}, {Value: "u-alice", Count: 2}},
				"content_type": {{Value: "text/plain", Count: 2}, {Value: "image/jpeg", Count: 1}, {Value: "text/csv", Count: 1}, {Value: "text/markdown", Count: 1}},
			}},
		{"alice asking for bob's home", alice, url.Values{"q": {"report"}, "bucket": {"shared"}, "prefix": {"home/bob/"}},
			[]string{}, facets{"bucket": {}, "content_type": {}}},
		{"alice asking for all homes", alice, url.Values{"q": {"report"}, "bucket": {"shared"}, "prefix": {"home/"}},
			[]string{"shared/home/alice/notes/q1-report.md", "shared/home/alice/report-2024.txt"},
			facets{
				"bucket":       {{Value: "shared", Count: 2}},
				"content_type": {{Value: "text/markdown", Count: 1}, {Value: "text/plain", Count: 1}},
			}},
		{"bob asking for alice's bucket", bob, url.Values{"bucket": {"u-alice"}},
			[]string{}, facets{"bucket": {}, "content_type": {}}},
	} {
		q := c.query
		q.Set("limit", "100")
		res := e.search(c.creds, q)
		if got := sortedHitNames(res.Hits); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: hits %v, want %v", c.who, got, c.want)
		}
		if res.Total != int64(len(c.want)) {
			t.Errorf("%s: total %d, want %d", c.who, res.Total, len(c.want))
		}
		if !reflect.DeepEqual(res.Facets, c.facets) {
			t.Errorf("%s: facets %v, want %v", c.who, res.Facets, c.facets)
		}
		if res.NextPageToken != "" {
			t.Errorf("%s: next_page_token %q on the only page", c.who, res.NextPageToken)
		}
	}

	// A hit carries the document's facts and a highlight of what matched.
	res := e.search(alice, url.Values{"q": {"quarterly"}})
	want := []index.Hit{{Bucket: "u-alice", Key: "misc/summary.txt", Size: 900, ContentType: "text/plain", Modified: searchTime,
		Highlight: "<em>quarterly</em> report draft"}}
	if !reflect.DeepEqual(res.Hits, want) {
		t.Errorf("hits for quarterly: %+v, want %+v", res.Hits, want)
	}
}

// TestSearchFilters: each query parameter reaches the index.
func TestSearchFilters(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	e.index(
		sdoc{name: "media/a/small.png", contentType: "image/png", size: 10, modified: searchTime.Add(-48 * time.Hour)},
		sdoc{name: "media/a/large.png", contentType: "image/png", size: 5000, tags: map[string]string{"team": "red"}},
		sdoc{name: "media/b/photo.jpg", contentType: "image/jpeg", size: 700, tags: map[string]string{"team": "blue"}},
		sdoc{name: "media/b/readme.txt", contentType: "text/plain", size: 50, text: "png and jpg files"},
		sdoc{name: "other/a/small.png", contentType: "image/png", size: 10},
	)
	for _, c := range []struct {
		query url.Values
		want  []string
	}{
		{url.Values{}, []string{"media/a/large.png", "media/a/small.png", "media/b/photo.jpg", "media/b/readme.txt", "other/a/small.png"}},
		{url.Values{"q": {"png"}}, []string{"media/a/large.png", "media/a/small.png", "media/b/readme.txt", "other/a/small.png"}},
		{url.Values{"bucket": {"media"}}, []string{"media/a/large.png", "media/a/small.png", "media/b/photo.jpg", "media/b/readme.txt"}},
		{url.Values{"prefix": {"a/"}}, []string{"media/a/large.png", "media/a/small.png", "other/a/small.png"}},
		{url.Values{"content_type": {"image/*"}, "bucket": {"media"}}, []string{"media/a/large.png", "media/a/small.png", "media/b/photo.jpg"}},
		{url.Values{"content_type": {"image/jpeg"}}, []string{"media/b/photo.jpg"}},
		{url.Values{"min_size": {"700"}}, []string{"media/a/large.png", "media/b/photo.jpg"}},
		{url.Values{"max_size": {"50"}}, []string{"media/a/small.png", "media/b/readme.txt", "other/a/small.png"}},
		{url.Values{"modified_after": {searchTime.Add(-time.Hour).Format(time.RFC3339)}, "bucket": {"media"}},
			[]string{"media/a/large.png", "media/b/photo.jpg", "media/b/readme.txt"}},
		{url.Values{"tag.team": {"red"}}, []string{"media/a/large.png"}},
		{url.Values{"q": {"small png"}, "bucket": {"other"}}, []string{"other/a/small.png"}},
	} {
		if got := sortedHitNames(e.search(adminRoot, c.query).Hits); !reflect.DeepEqual(got, c.want) {
			t.Errorf("GET %s: hits %v, want %v", searchPath(c.query), got, c.want)
		}
	}
}

// TestSearchFullPagesDespiteGuard: when the policy's readable grants reach
// keys its allow rules refuse, the refused hits are dropped and the pages
// are still full, and following the page tokens gives every allowed hit
// exactly once.
func TestSearchFullPagesDespiteGuard(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	var docs []sdoc
	var allowedByKey, denied []string
	for i := range 12 {
		name := fmt.Sprintf("plans/f%02d-plan.txt", i)
		if slices.Contains([]int{1, 2, 4, 7, 10}, i) {
			name = fmt.Sprintf("plans/f%02d-private-plan.txt", i)
			denied = append(denied, name)
		} else {
			allowedByKey = append(allowedByKey, name)
		}
		docs = append(docs, sdoc{name: name, contentType: "text/plain", size: int64(i)})
	}
	// Matches of the text alone rank after the matches in keys.
	docs = append(docs,
		sdoc{name: "plans/notes-a.txt", contentType: "text/plain", text: "the plan for May"},
		sdoc{name: "plans/private-notes.txt", contentType: "text/plain", text: "the plan for June"},
		sdoc{name: "plans/zz-other.txt", contentType: "text/plain", text: "nothing to see"},
		sdoc{name: "elsewhere/plan.txt", contentType: "text/plain"},
	)
	denied = append(denied, "plans/private-notes.txt")
	e.index(docs...)
	partial := e.keyOf("pat", "partial")

	// walk follows the page tokens of a query and returns its pages.
	walk := func(q url.Values, limit int) [][]string {
		t.Helper()
		q.Set("limit", fmt.Sprint(limit))
		var pages [][]string
		for {
			res := e.search(partial, q)
			pages = append(pages, hitNames(res.Hits))
			if res.NextPageToken == "" {
				return pages
			}
			if len(pages) > 20 {
				t.Fatalf("limit %d: more than 20 pages: %v", limit, pages)
			}
			q.Set("page_token", res.NextPageToken)
		}
	}

	wantByRank := append(slices.Clone(allowedByKey), "plans/notes-a.txt")
	pages := walk(url.Values{"q": {"plan"}}, 5)
	wantPages := [][]string{wantByRank[:5], wantByRank[5:]}
	if !reflect.DeepEqual(pages, wantPages) {
		t.Fatalf("pages of 5:\n%v\nwant\n%v", pages, wantPages)
	}
	// Each refused hit was looked at once, and logged.
	var logged []string
	for _, rec := range e.log.records(t, "search hit outside the policy's readable grants dropped; the policy's readable rule and its allow rules disagree") {
		logged = append(logged, rec["bucket"].(string)+"/"+rec["key"].(string))
	}
	slices.Sort(logged)
	if !reflect.DeepEqual(logged, denied) {
		t.Errorf("dropped hits logged: %v, want %v", logged, denied)
	}

	// Whatever the page size and with or without words, every page but the
	// last is full and the pages hold the allowed hits once, in order.
	everything := append(slices.Clone(allowedByKey), "plans/notes-a.txt", "plans/zz-other.txt")
	var underF0 []string
	for _, n := range allowedByKey {
		if strings.HasPrefix(n, "plans/f0") {
			underF0 = append(underF0, n)
		}
	}
	for _, c := range []struct {
		query url.Values
		want  []string
	}{
		{url.Values{"q": {"plan"}}, wantByRank},
		{url.Values{}, everything},
		{url.Values{"bucket": {"plans"}, "prefix": {"f0"}}, underF0},
	} {
		for _, limit := range []int{1, 2, 3, 5, 7, 100} {
			pages := walk(c.query, limit)
			var all []string
			for i, p := range pages {
				if i < len(pages)-1 && len(p) != limit {
					t.Errorf("GET %s limit %d: page %d of %d has %d hits: %v", searchPath(c.query), limit, i+1, len(pages), len(p), pages)
				}
				if len(p) > limit {
					t.Errorf("GET %s limit %d: page %d has %d hits", searchPath(c.query), limit, i+1, len(p))
				}
				all = append(all, p...)
			}
			if !reflect.DeepEqual(all, c.want) {
				t.Errorf("GET %s limit %d: hits %v, want %v", searchPath(c.query), limit, all, c.want)
			}
			c.query.Del("page_token")
		}
	}
}

// TestSearchParameterErrors: bad parameters, and page tokens that are
// forged or of another query, are 400 InvalidArgument.
func TestSearchParameterErrors(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	var docs []sdoc
	for i := range 4 {
		docs = append(docs, sdoc{name: fmt.Sprintf("box/report-%d.txt", i), contentType: "text/plain"})
	}
	e.index(docs...)
	res := e.search(adminRoot, url.Values{"q": {"report"}, "limit": {"2"}})
	token := res.NextPageToken
	if len(res.Hits) != 2 || token == "" {
		t.Fatalf("first page: %+v", res)
	}
	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 1 // base64url letters stay letters
	var words []string
	for i := range 33 {
		words = append(words, fmt.Sprintf("w%d", i))
	}
	manyWords := strings.Join(words, " ")

	for _, c := range []struct {
		query   string
		message string // the whole message, when set
	}{
		{"limit=0", "limit must be between 1 and 1000."},
		{"limit=1001", "limit must be between 1 and 1000."},
		{"limit=ten", "limit must be between 1 and 1000."},
		{"min_size=-1", "min_size must be a size in bytes."},
		{"min_size=1k", "min_size must be a size in bytes."},
		{"max_size=big", "max_size must be a size in bytes."},
		{"modified_before=2026-01-02T15:04:05Z", "modified_before must be left out: search filters by modified_after only."},
		{"modified_after=yesterday", "modified_after must be an RFC 3339 time (2026-01-02T15:04:05Z)."},
		{"modified_after=2026-01-02", "modified_after must be an RFC 3339 time (2026-01-02T15:04:05Z)."},
		{"tag.=x", ""},
		{"tag.team=a&tag.team=b", ""},
		{"q=" + url.QueryEscape(manyWords), ""},
		{"q=report&page_token=AAAA", ""},
		{"q=report&page_token=" + string(tampered), ""},
		{"q=report&page_token=" + token + "A", ""},
		{"q=other&page_token=" + token, ""},
	} {
		resp, b := e.call(adminRoot, "GET", "/api/v1/search?"+strings.ReplaceAll(c.query, "+", "%20"), nil)
		got := adminFails(t, resp, b, http.StatusBadRequest, "InvalidArgument")
		if c.message != "" && got.Message != c.message {
			t.Errorf("%s: message %q, want %q", c.query, got.Message, c.message)
		}
	}

	// The genuine token still gives the rest.
	res = e.search(adminRoot, url.Values{"q": {"report"}, "limit": {"2"}, "page_token": {token}})
	if got := hitNames(res.Hits); !reflect.DeepEqual(got, []string{"box/report-2.txt", "box/report-3.txt"}) || res.NextPageToken != "" {
		t.Errorf("second page: %v, next %q", got, res.NextPageToken)
	}
}

// TestSearchAccess: no readable grants is an empty answer; anonymous
// callers and principals the policy does not let search are refused.
func TestSearchAccess(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	e.index(sdoc{name: "box/report.txt", contentType: "text/plain"})
	searcher, guest := e.keyOf("sam", "searcher"), e.keyOf("gus", "guest")

	resp, b := e.call(searcher, "GET", "/api/v1/search?q=report", nil)
	var res index.Result
	adminOK(t, resp, b, http.StatusOK, &res)
	if !bytes.Contains(b, []byte(`"hits":[]`)) || res.Total != 0 || res.NextPageToken != "" {
		t.Errorf("answer without grants: %s", b)
	}
	for name, values := range res.Facets {
		if len(values) != 0 {
			t.Errorf("answer without grants: facet %s counts %v", name, values)
		}
	}

	for _, creds := range []aws.Credentials{{}, guest} {
		resp, b := e.call(creds, "GET", "/api/v1/search?q=report", nil)
		adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
		resp, b = e.call(creds, "POST", "/api/v1/search/reindex", []byte(`{"bucket": "box"}`))
		adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	}
	if got := e.idx.reindexed(); len(got) != 0 {
		t.Errorf("refused requests reindexed %v", got)
	}
	if got := e.search(adminRoot, url.Values{"q": {"report"}}); !reflect.DeepEqual(hitNames(got.Hits), []string{"box/report.txt"}) {
		t.Errorf("admin's hits: %v", hitNames(got.Hits))
	}
}

// TestSearchDisabled: without an index both routes answer 501.
func TestSearchDisabled(t *testing.T) {
	e := newAdminEnv(t)
	resp, b := e.call(adminRoot, "GET", "/api/v1/search?q=report", nil)
	adminFails(t, resp, b, http.StatusNotImplemented, "SearchDisabled")
	resp, b = e.call(adminRoot, "POST", "/api/v1/search/reindex", []byte(`{"bucket": "box"}`))
	adminFails(t, resp, b, http.StatusNotImplemented, "SearchDisabled")
}

// createBucket makes a bucket through the S3 API as root.
func (e *searchEnv) createBucket(name string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(newSignedRequest(e.t, req{method: "PUT"}, e.s3URL+"/"+name))
	if err != nil {
		e.t.Fatal(err)
	}
	expectStatus(e.t, resp, http.StatusOK)
}

// reindex sends POST /api/v1/search/reindex and decodes its lines.
func (e *searchEnv) reindex(creds aws.Credentials, body string) []ReindexLine {
	e.t.Helper()
	resp, b := e.call(creds, "POST", "/api/v1/search/reindex", []byte(body))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("reindex %s: status %d; body %s", body, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		e.t.Errorf("reindex Content-Type %q, want application/x-ndjson", ct)
	}
	var lines []ReindexLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l ReindexLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			e.t.Fatalf("reindex line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		e.t.Fatalf("reindex %s: no lines", body)
	}
	return lines
}

// checkReindexLines checks the progress lines before the last: the first
// step is always sent; the second may fall within the throttle.
func checkReindexLines(t *testing.T, lines []ReindexLine, bucket string) {
	t.Helper()
	steps := []ReindexLine{
		{ReindexProgress: ReindexProgress{Bucket: bucket, Indexed: 1}},
		{ReindexProgress: ReindexProgress{Bucket: bucket, Indexed: 2, Removed: 1}},
	}
	progress := lines[:len(lines)-1]
	if len(progress) == 0 || len(progress) > 2 || !reflect.DeepEqual(progress, steps[:len(progress)]) {
		t.Errorf("progress lines %+v, want %+v or its first", progress, steps)
	}
}

// TestReindex: a reindex streams progress and ends with a line that is
// done or carries the error; its bucket is checked first.
func TestReindex(t *testing.T) {
	e := newSearchEnv(t, searchTestPolicy)
	e.createBucket("box")

	lines := e.reindex(adminRoot, `{"bucket": "box"}`)
	checkReindexLines(t, lines, "box")
	if got, want := lines[len(lines)-1], (ReindexLine{ReindexProgress: ReindexProgress{Bucket: "box", Indexed: 3, Removed: 1}, Done: true}); got != want {
		t.Errorf("last line %+v, want %+v", got, want)
	}
	started, done := e.log.records(t, "reindex started"), e.log.records(t, "reindex done")
	if len(started) != 1 || started[0]["bucket"] != "box" || started[0]["by"] != "root" {
		t.Errorf("reindex started records: %v", started)
	}
	if len(done) != 1 || done[0]["indexed"] != float64(3) || done[0]["removed"] != float64(1) {
		t.Errorf("reindex done records: %v", done)
	}

	// No bucket: every bucket.
	lines = e.reindex(adminRoot, `{}`)
	checkReindexLines(t, lines, "")
	if got := lines[len(lines)-1]; !got.Done || got.Error != "" || got.Indexed != 3 {
		t.Errorf("last line of a reindex of all: %+v", got)
	}
	if got := e.idx.reindexed(); !reflect.DeepEqual(got, []string{"box", ""}) {
		t.Fatalf("reindexed %q, want box then every bucket", got)
	}

	// Refused before any work.
	for _, c := range []struct {
		body         string
		status       int
		code         string
		creds        aws.Credentials
		description  string
		callsAllowed bool
	}{
		{`{"bucket": "nosuchbucket"}`, http.StatusNotFound, "NoSuchBucket", adminRoot, "unknown bucket", false},
		{`{"bucket": "Not_A_Bucket"}`, http.StatusBadRequest, "InvalidBucketName", adminRoot, "invalid name", false},
		{`{"bucket": "ab"}`, http.StatusBadRequest, "InvalidBucketName", adminRoot, "short name", false},
		{`{"bucket": "box", "prefix": "a/"}`, http.StatusBadRequest, "MalformedJSON", adminRoot, "unknown field", false},
		{`{"bucket": "box"}`, http.StatusForbidden, "AccessDenied", e.keyOf("alice", "user"), "non-admin", false},
	} {
		resp, b := e.call(c.creds, "POST", "/api/v1/search/reindex", []byte(c.body))
		adminFails(t, resp, b, c.status, c.code)
	}
	if got := e.idx.reindexed(); len(got) != 2 {
		t.Errorf("refused reindexes reached the index: %q", got)
	}

	// A failing reindex ends with its error and the counts so far.
	e.idx.mu.Lock()
	e.idx.fail = errors.New("listing box failed: backend gone")
	e.idx.mu.Unlock()
	lines = e.reindex(adminRoot, `{"bucket": "box"}`)
	checkReindexLines(t, lines, "box")
	want := ReindexLine{ReindexProgress: ReindexProgress{Bucket: "box", Indexed: 2, Removed: 1}, Error: "listing box failed: backend gone"}
	if got := lines[len(lines)-1]; got != want {
		t.Errorf("last line of a failed reindex %+v, want %+v", got, want)
	}
	if recs := e.log.records(t, "reindex failed"); len(recs) != 1 || recs[0]["err"] != "listing box failed: backend gone" {
		t.Errorf("reindex failed records: %v", recs)
	}
}

// TestSearchDefaultPolicy: with the built-in policy readers and writers
// may search everything but not reindex; admin may do both.
func TestSearchDefaultPolicy(t *testing.T) {
	e := newSearchEnv(t, "")
	e.createBucket("box")
	e.index(sdoc{name: "box/report.txt", contentType: "text/plain"}, sdoc{name: "other/report.md", contentType: "text/markdown"})
	reader, writer, guest := e.keyOf("rita", "reader"), e.keyOf("will", "writer"), e.keyOf("gus", "guest")
	for who, creds := range map[string]aws.Credentials{"reader": reader, "writer": writer, "admin": adminRoot} {
		if got := sortedHitNames(e.search(creds, url.Values{"q": {"report"}}).Hits); !reflect.DeepEqual(got, []string{"box/report.txt", "other/report.md"}) {
			t.Errorf("%s: hits %v", who, got)
		}
	}
	resp, b := e.call(guest, "GET", "/api/v1/search?q=report", nil)
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	for _, creds := range []aws.Credentials{reader, writer, guest} {
		resp, b := e.call(creds, "POST", "/api/v1/search/reindex", []byte(`{"bucket": "box"}`))
		adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	}
	if got := e.idx.reindexed(); len(got) != 0 {
		t.Errorf("refused reindexes reached the index: %q", got)
	}
	if lines := e.reindex(adminRoot, `{"bucket": "box"}`); !lines[len(lines)-1].Done {
		t.Errorf("admin's reindex: %+v", lines)
	}
}

// searchFailingPolicy lets the searcher search and read bucket box, but
// its evaluation fails for the key broken.txt: two complete definitions
// of allow give different values.
const searchFailingPolicy = `package s3gate.authz

import rego.v1

default allow := false

allow := true if "admin" in input.principal.roles

allow := true if {
	"searcher" in input.principal.roles
	input.action in {"s3gate:Search", "s3:GetObject"}
}

allow := false if {
	input.action == "s3:GetObject"
	input.resource.key == "broken.txt"
}

readable contains {"bucket": "box", "prefix": ""} if "searcher" in input.principal.roles
`

// TestSearchPolicyFailure: a policy that fails to evaluate for a hit is an
// internal error of the search, as it is of every other request, not a
// silently dropped hit.
func TestSearchPolicyFailure(t *testing.T) {
	e := newSearchEnv(t, searchFailingPolicy)
	e.index(sdoc{name: "box/fine.txt", contentType: "text/plain"}, sdoc{name: "box/broken.txt", contentType: "text/plain"})
	searcher := e.keyOf("sam", "searcher")
	if got := hitNames(e.search(searcher, url.Values{"q": {"fine"}}).Hits); !reflect.DeepEqual(got, []string{"box/fine.txt"}) {
		t.Fatalf("hits for fine: %v", got)
	}
	resp, b := e.call(searcher, "GET", "/api/v1/search?q=txt", nil)
	adminFails(t, resp, b, http.StatusInternalServerError, "InternalError")
	if recs := e.log.records(t, "policy evaluation failed"); len(recs) != 1 || recs[0]["op"] != "AdminSearch" {
		t.Errorf("policy evaluation failed records: %v", recs)
	}
}
