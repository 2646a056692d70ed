// Package indextest is the acceptance suite every search index.Index must
// pass: the embedded one and the Elasticsearch one answer the same
// queries alike. It uses the index.Index contract only.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/search/index"
)

// Refresher is implemented by an index whose writes become searchable
// some time after Put and Delete return (Elasticsearch's refresh): the
// suite calls Refresh after its writes, before it searches. An index
// whose writes are searchable at once need not implement it.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Run runs the suite. open must return an empty index, independent of
// every other it returned, and close it when t ends (t.Cleanup); it is
// called once per subtest, and subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) index.Index) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"Words", testWords},
		{"Replace", testReplace},
		{"Filters", testFilters},
		{"Grants", testGrants},
		{"Paging", testPaging},
		{"PagingStable", testPagingStable},
		{"PagingNoText", testPagingNoText},
		{"Limits", testLimits},
		{"Facets", testFacets},
		{"Highlight", testHighlight},
		{"Delete", testDelete},
		{"Sequencer", testSequencer},
		{"Keys", testKeys},
		{"Syntax", testSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &fixture{t: t, ix: open(t)})
		})
	}
}

// base is the modification time of the suite's documents, give or take
// whole hours (whole seconds: every index keeps those).
var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// everything is a grant to read every bucket.
var everything = []index.Grant{{Bucket: "*"}}

// Seq returns the n-th sequencer, fixed width like the real ones.
func Seq(n int) string { return fmt.Sprintf("%028X", n) }

// Doc returns a document of bucket/key as the search hook makes it, with
// sequencer 1, 100 bytes of text/plain modified at base, and text.
func Doc(bucket, key, text string) index.Document {
	return index.Document{
		Bucket:      bucket,
		Key:         key,
		Sequencer:   Seq(1),
		Words:       strings.Join(index.KeyWords(key), " "),
		Ext:         index.Ext(key),
		Size:        100,
		ContentType: "text/plain",
		Modified:    base,
		Text:        text,
	}
}

type fixture struct {
	t  *testing.T
	ix index.Index
}

func (f *fixture) refresh() {
	f.t.Helper()
	if r, ok := f.ix.(Refresher); ok {
		if err := r.Refresh(f.t.Context()); err != nil {
			f.t.Fatalf("Refresh: %v", err)
		}
	}
}

// put stores docs and makes them searchable.
func (f *fixture) put(docs ...index.Document) {
	f.t.Helper()
	for _, d := range docs {
		if err := f.ix.Put(f.t.Context(), d); err != nil {
			f.t.Fatalf("Put %s/%s: %v", d.Bucket, d.Key, err)
		}
	}
	f.refresh()
}

func (f *fixture) del(bucket, key, seq string) {
	f.t.Helper()
	if err := f.ix.Delete(f.t.Context(), bucket, key, seq); err != nil {
		f.t.Fatalf("Delete %s/%s: %v", bucket, key, err)
	}
	f.refresh()
}

// search runs q, reading everything when q has no grants.
func (f *fixture) search(q index.Query) index.Result {
	f.t.Helper()
	if q.Readable == nil {
		q.Readable = everything
	}
	res, err := f.ix.Search(f.t.Context(), q)
	if err != nil {
		f.t.Fatalf("Search %+v: %v", q, err)
	}
	return res
}

// all runs q page by page (q.Limit per page) and returns every hit, after
// checking that every page but the last is full and Total agrees.
func (f *fixture) all(q index.Query) []index.Hit {
	f.t.Helper()
	var hits []index.Hit
	for range 10000 {
		res := f.search(q)
		hits = append(hits, res.Hits...)
		if res.NextPageToken == "" {
			if res.Total != int64(len(hits)) {
				f.t.Errorf("Search %q: Total %d, but %d hits on all pages", q.Text, res.Total, len(hits))
			}
			return hits
		}
		if limit := cmpOr(q.Limit, index.DefaultLimit); len(res.Hits) != limit {
			f.t.Fatalf("Search %q: a page of %d hits with a next page, want %d", q.Text, len(res.Hits), limit)
		}
		q.PageToken = res.NextPageToken
	}
	f.t.Fatalf("Search %q: pages without end", q.Text)
	return nil
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// names returns "bucket/key" of each hit, sorted.
func names(hits []index.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Bucket + "/" + h.Key
	}
	slices.Sort(out)
	return out
}

// want checks that q finds exactly the documents named "bucket/key", and
// that Total agrees.
func (f *fixture) want(q index.Query, want ...string) {
	f.t.Helper()
	q.Limit = index.MaxLimit
	res := f.search(q)
	slices.Sort(want)
	if got := names(res.Hits); !slices.Equal(got, want) {
		f.t.Errorf("Search %+v found %q, want %q", q, got, want)
	}
	if res.Total != int64(len(want)) {
		f.t.Errorf("Search %+v: Total %d, want %d", q, res.Total, len(want))
	}
}

// invalid checks that q fails with index.ErrInvalidQuery.
func (f *fixture) invalid(q index.Query) {
	f.t.Helper()
	if _, err := f.ix.Search(f.t.Context(), q); !errors.Is(err, index.ErrInvalidQuery) {
		f.t.Errorf("Search %+v: %v, want ErrInvalidQuery", q, err)
	}
}

// testWords finds a document by a word of its key, of its text, of a
// metadata value and of a tag value: whole words or their prefixes, in
// any case, every word required.
func testWords(t *testing.T, f *fixture) {
	report := Doc("b1", "reports/2024/Q3_salesReport-final.pdf", "Quarterly numbers look strong")
	report.ContentType = "application/pdf"
	report.Size = 1234
	report.Metadata = map[string]string{"author": "Alice Martin"}
	report.Tags = map[string]string{"project": "Apollo"}
	todo := Doc("b1", "notes/todo.txt", "buy milk and eggs")
	f.put(report, todo)
	const r, n = "b1/reports/2024/Q3_salesReport-final.pdf", "b1/notes/todo.txt"

	for q, want := range map[string][]string{
		"sales":               {r}, // a word of the key
		"SALES":               {r},
		"Sales Report":        {r},
		"2024":                {r},
		"rep":                 {r}, // a prefix
		"quarterly":           {r}, // a word of the text
		"QUARTERLY numbers":   {r},
		"num":                 {r},
		"martin":              {r}, // a metadata value
		"alice martin":        {r},
		"apollo":              {r}, // a tag value
		"apollo quarterly q3": {r},
		"milk":                {n},
		"todo":                {n},
		"txt":                 {n},
		"ales":                {}, // not a substring
		"port":                {},
		"sales milk":          {}, // every word must match
		"nothingmatches":      {},
		"":                    {r, n},
	} {
		f.want(index.Query{Text: q}, want...)
	}

	res := f.search(index.Query{Text: "sales"})
	if len(res.Hits) != 1 {
		t.Fatalf("sales: %d hits", len(res.Hits))
	}
	h := res.Hits[0]
	if h.Bucket != "b1" || h.Key != report.Key || h.Size != 1234 || h.ContentType != "application/pdf" || !h.Modified.Equal(base) {
		t.Errorf("hit %+v, want the fields of %+v", h, report)
	}
}

// testReplace: a newer Put of a key replaces its document.
func testReplace(t *testing.T, f *fixture) {
	d := Doc("b1", "doc.txt", "alpha")
	f.put(d)
	d.Sequencer, d.Text, d.Size = Seq(2), "bravo", 7
	f.put(d)
	f.want(index.Query{Text: "alpha"})
	f.want(index.Query{Text: "bravo"}, "b1/doc.txt")
	f.want(index.Query{}, "b1/doc.txt")
	if res := f.search(index.Query{Text: "bravo"}); len(res.Hits) == 1 && res.Hits[0].Size != 7 {
		t.Errorf("size %d after the replacement, want 7", res.Hits[0].Size)
	}
}

func testFilters(t *testing.T, f *fixture) {
	mk := func(bucket, key, ct string, size int64, hours int, tags map[string]string) index.Document {
		d := Doc(bucket, key, "common words here")
		d.ContentType, d.Size, d.Modified, d.Tags = ct, size, base.Add(time.Duration(hours)*time.Hour), tags
		return d
	}
	f.put(
		mk("b1", "photos/a.png", "image/png", 500, -48, map[string]string{"color": "red", "kind": "photo"}),
		mk("b1", "photos/b.jpg", "image/jpeg", 5000, -24, map[string]string{"color": "blue", "kind": "photo"}),
		mk("b1", "photos2/c.png", "image/png", 50, 0, map[string]string{"color": "red"}),
		mk("b1", "docs/d.txt", "text/plain", 10, 24, map[string]string{"kind": "doc"}),
		mk("b2", "photos/e.png", "image/png", 700, 48, map[string]string{"color": "red", "kind": "photo"}),
		mk("b2", "docs/f.pdf", "application/pdf", 1000000, 0, nil),
	)
	const a, b, c, d, e, ff = "b1/photos/a.png", "b1/photos/b.jpg", "b1/photos2/c.png", "b1/docs/d.txt", "b2/photos/e.png", "b2/docs/f.pdf"
	size := func(n int64) *int64 { return &n }
	for _, text := range []string{"", "common"} {
		for _, tc := range []struct {
			q    index.Query
			want []string
		}{
			{index.Query{Bucket: "b1"}, []string{a, b, c, d}},
			{index.Query{Bucket: "b3"}, nil},
			{index.Query{Prefix: "photos/"}, []string{a, b, e}},
			{index.Query{Prefix: "photos"}, []string{a, b, c, e}},
			{index.Query{Bucket: "b1", Prefix: "photos/"}, []string{a, b}},
			{index.Query{ContentType: "image/png"}, []string{a, c, e}},
			{index.Query{ContentType: "image/*"}, []string{a, b, c, e}},
			{index.Query{ContentType: "text/plain"}, []string{d}},
			{index.Query{ContentType: "text/*"}, []string{d}},
			{index.Query{ContentType: "video/*"}, nil},
			{index.Query{MinSize: size(500)}, []string{a, b, e, ff}},
			{index.Query{MaxSize: size(700)}, []string{a, c, d, e}},
			{index.Query{MinSize: size(500), MaxSize: size(700)}, []string{a, e}},
			{index.Query{ModifiedAfter: base.Add(-time.Hour)}, []string{c, d, e, ff}},
			{index.Query{ModifiedAfter: base.Add(time.Hour)}, []string{d, e}},
			{index.Query{Tags: map[string]string{"color": "red"}}, []string{a, c, e}},
			{index.Query{Tags: map[string]string{"color": "red", "kind": "photo"}}, []string{a, e}},
			{index.Query{Tags: map[string]string{"color": "green"}}, nil},
			{index.Query{Tags: map[string]string{"kind": "red"}}, nil},
			{index.Query{Bucket: "b1", ContentType: "image/*", Tags: map[string]string{"color": "red"}}, []string{a, c}},
		} {
			tc.q.Text = text
			f.want(tc.q, tc.want...)
		}
	}
}

// testGrants: only documents inside a grant are found, counted and
// faceted, however well the others match.
func testGrants(t *testing.T, f *fixture) {
	for _, bk := range []string{"b1/a/1.txt", "b1/b/1.txt", "b1/ab/1.txt", "b1/A/1.txt", "b2/a/1.txt", "b2/x/1.txt", "b3/a/1.txt"} {
		bucket, key, _ := strings.Cut(bk, "/")
		f.put(Doc(bucket, key, "secret"))
	}
	best := Doc("b1", "b/secret/secret-secret.txt", "secret secret secret secret")
	best.Tags = map[string]string{"secret": "secret"}
	f.put(best)

	for _, text := range []string{"", "secret"} {
		for _, tc := range []struct {
			grants []index.Grant
			q      index.Query
			want   []string
		}{
			{[]index.Grant{{Bucket: "b1", Prefix: "a/"}, {Bucket: "b2"}}, index.Query{}, []string{"b1/a/1.txt", "b2/a/1.txt", "b2/x/1.txt"}},
			{[]index.Grant{{Bucket: "*", Prefix: "a/"}}, index.Query{}, []string{"b1/a/1.txt", "b2/a/1.txt", "b3/a/1.txt"}},
			{[]index.Grant{{Bucket: "b1", Prefix: "a"}}, index.Query{}, []string{"b1/a/1.txt", "b1/ab/1.txt"}},
			{[]index.Grant{{Bucket: "b1", Prefix: "A/"}}, index.Query{}, []string{"b1/A/1.txt"}},
			{[]index.Grant{{Bucket: "b1", Prefix: "a_"}, {Bucket: "b1", Prefix: "a%"}}, index.Query{}, nil},
			{[]index.Grant{{Bucket: "b1", Prefix: "a/"}}, index.Query{Bucket: "b1"}, []string{"b1/a/1.txt"}},
			{[]index.Grant{{Bucket: "b1", Prefix: "a/"}}, index.Query{Prefix: "a/1"}, []string{"b1/a/1.txt"}},
			{[]index.Grant{{Bucket: "b1", Prefix: "a/"}}, index.Query{Prefix: "b/"}, nil},
			{[]index.Grant{{Bucket: "b1", Prefix: "a/"}}, index.Query{Prefix: "a"}, []string{"b1/a/1.txt"}},
			{[]index.Grant{{Bucket: "b1"}}, index.Query{Bucket: "b2"}, nil},
			{[]index.Grant{{Bucket: "b9"}}, index.Query{}, nil},
			{[]index.Grant{{Bucket: "*"}, {Bucket: "b1", Prefix: "zzz"}}, index.Query{Bucket: "b3"}, []string{"b3/a/1.txt"}},
		} {
			tc.q.Text, tc.q.Readable = text, tc.grants
			f.want(tc.q, tc.want...)
		}
	}

	// The best match, outside the grants, is in no page, total or facet.
	q := index.Query{Text: "secret", Readable: []index.Grant{{Bucket: "b1", Prefix: "a/"}, {Bucket: "b2"}}, Limit: 1}
	hits := f.all(q)
	if got := names(hits); !slices.Equal(got, []string{"b1/a/1.txt", "b2/a/1.txt", "b2/x/1.txt"}) {
		t.Errorf("paged: %q", got)
	}
	res := f.search(q)
	if want := []index.Facet{{Value: "b2", Count: 2}, {Value: "b1", Count: 1}}; !slices.Equal(res.Facets["bucket"], want) {
		t.Errorf("bucket facet %v, want %v", res.Facets["bucket"], want)
	}

	f.invalid(index.Query{Text: "secret"})
	f.invalid(index.Query{Text: "secret", Readable: []index.Grant{}})
	f.invalid(index.Query{Readable: []index.Grant{{Bucket: ""}}})
	f.invalid(index.Query{Readable: []index.Grant{{Bucket: "b1"}, {Bucket: "", Prefix: "a/"}}})
}

// pagingDocs puts 45 documents of b1 that match "alpha", with scores as
// varied as can be (the word in the key, tags, metadata or text, once or
// many times, among more or fewer other words), 3 of b1 that do not, and
// 5 matching ones of b2, which the paging queries may not read.
func pagingDocs(f *fixture) []string {
	var want []string
	for i := range 45 {
		key := fmt.Sprintf("page/doc-%02d.txt", i)
		if i%11 == 0 {
			key = fmt.Sprintf("page/alpha-%02d.txt", i)
		}
		d := Doc("b1", key, strings.Repeat("alpha ", i%5+1)+strings.Repeat("filler words ", i%7))
		if i%9 == 0 {
			d.Tags = map[string]string{"t": "alpha"}
		}
		if i%4 == 0 {
			d.Metadata = map[string]string{"m": "alphabet"}
		}
		f.put(d)
		want = append(want, "b1/"+key)
	}
	for i := range 3 {
		f.put(Doc("b1", fmt.Sprintf("page/other-%d.txt", i), "beta"))
	}
	for i := range 5 {
		f.put(Doc("b2", fmt.Sprintf("page/hidden-%d.txt", i), "alpha alpha alpha"))
	}
	slices.Sort(want)
	return want
}

var b1 = []index.Grant{{Bucket: "b1"}}

// testPaging: 45 hits by 10 are full pages of 10, 10, 10, 10 and 5, each
// hit once, every page with the same Total.
func testPaging(t *testing.T, f *fixture) {
	want := pagingDocs(f)
	q := index.Query{Text: "alpha", Readable: b1, Limit: 10}
	var sizes []int
	var hits []index.Hit
	for range 10 {
		res := f.search(q)
		sizes = append(sizes, len(res.Hits))
		hits = append(hits, res.Hits...)
		if res.Total != 45 {
			t.Errorf("page %d: Total %d, want 45", len(sizes), res.Total)
		}
		if q.PageToken = res.NextPageToken; q.PageToken == "" {
			break
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 10, 10, 5}) {
		t.Errorf("pages of %v, want [10 10 10 10 5]", sizes)
	}
	if got := names(hits); !slices.Equal(got, want) {
		t.Errorf("paged hits %q, want %q", got, want)
	}
	// The same again, in pages of 7 and 1.
	for _, limit := range []int{7, 1} {
		if got := names(f.all(index.Query{Text: "alpha", Readable: b1, Limit: limit})); !slices.Equal(got, want) {
			t.Errorf("pages of %d: hits %q, want %q", limit, got, want)
		}
	}
	// A garbage token is refused.
	for _, tok := range []string{"garbage", "!!!", "e30", strings.Repeat("A", 200)} {
		f.invalid(index.Query{Text: "alpha", Readable: b1, PageToken: tok})
	}
}

// testPagingStable: documents written between pages neither repeat nor
// skip any of those that were there before.
func testPagingStable(t *testing.T, f *fixture) {
	want := pagingDocs(f)
	q := index.Query{Text: "alpha", Readable: b1, Limit: 10}
	seen := map[string]int{}
	for page := 0; ; page++ {
		res := f.search(q)
		for _, h := range res.Hits {
			seen[h.Bucket+"/"+h.Key]++
		}
		if res.NextPageToken == "" {
			break
		}
		if len(res.Hits) != 10 {
			t.Fatalf("page %d: %d hits with a next page", page, len(res.Hits))
		}
		if page > 20 {
			t.Fatal("pages without end")
		}
		q.PageToken = res.NextPageToken
		// New documents: ones that match better than any, worse than
		// any, and ones that do not match.
		best := Doc("b1", fmt.Sprintf("page/alpha/alpha-new-%d.txt", page), "alpha")
		best.Tags = map[string]string{"t": "alpha"}
		f.put(best,
			Doc("b1", fmt.Sprintf("page/new-%d.txt", page), strings.Repeat("long text ", 50)+"alphanumeric"),
			Doc("b1", fmt.Sprintf("page/new-other-%d.txt", page), "beta"))
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Errorf("%s found %d times, want once", k, seen[k])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s found %d times", k, n)
		}
	}
}

// testPagingNoText: without words, pages are in bucket and key order.
func testPagingNoText(t *testing.T, f *fixture) {
	want := pagingDocs(f)
	for i := range 3 {
		want = append(want, fmt.Sprintf("b1/page/other-%d.txt", i))
	}
	slices.Sort(want)
	hits := f.all(index.Query{Readable: b1, Limit: 10})
	var got []string
	for _, h := range hits {
		got = append(got, h.Bucket+"/"+h.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("hits %q, want %q in this order", got, want)
	}
	hits = f.all(index.Query{Limit: 10})
	if !slices.IsSortedFunc(hits, func(a, b index.Hit) int {
		return strings.Compare(a.Bucket+"\x00"+a.Key, b.Bucket+"\x00"+b.Key)
	}) || len(hits) != len(want)+5 {
		t.Errorf("every bucket: %d hits %q, want %d in bucket and key order", len(hits), names(hits), len(want)+5)
	}
}

func testLimits(t *testing.T, f *fixture) {
	for i := range 25 {
		f.put(Doc("b1", fmt.Sprintf("d%02d.txt", i), "word"))
	}
	for _, text := range []string{"", "word"} {
		res := f.search(index.Query{Text: text})
		if len(res.Hits) != index.DefaultLimit || res.NextPageToken == "" || res.Total != 25 {
			t.Errorf("%q: limit 0 gave %d hits (total %d, next %q), want %d and a next page", text, len(res.Hits), res.Total, res.NextPageToken, index.DefaultLimit)
		}
		res = f.search(index.Query{Text: text, Limit: index.MaxLimit})
		if len(res.Hits) != 25 || res.NextPageToken != "" {
			t.Errorf("%q: limit %d gave %d hits (next %q), want 25 and no next page", text, index.MaxLimit, len(res.Hits), res.NextPageToken)
		}
		res = f.search(index.Query{Text: text, Limit: 25})
		if len(res.Hits) != 25 || res.NextPageToken != "" {
			t.Errorf("%q: limit 25 gave %d hits (next %q), want 25 and no next page", text, len(res.Hits), res.NextPageToken)
		}
		for _, limit := range []int{-1, index.MaxLimit + 1} {
			f.invalid(index.Query{Text: text, Readable: everything, Limit: limit})
		}
	}
}

// testFacets: Total and facets count every match of the query inside the
// grants, not just the page.
func testFacets(t *testing.T, f *fixture) {
	n := 0
	add := func(bucket, ct, text string, count int) {
		for range count {
			d := Doc(bucket, fmt.Sprintf("f/%03d", n), text)
			d.ContentType = ct
			f.put(d)
			n++
		}
	}
	add("b1", "text/plain", "report", 3)
	add("b1", "image/png", "report", 1)
	add("b2", "text/plain", "report", 1)
	add("b2", "image/png", "report", 4)
	add("b2", "application/pdf", "report", 2)
	add("b1", "image/png", "other", 2) // no match
	add("b3", "text/plain", "report", 5)
	grants := []index.Grant{{Bucket: "b1"}, {Bucket: "b2"}}

	check := func(q index.Query, total int64, types, buckets []index.Facet) {
		t.Helper()
		q.Readable = grants
		for page := 0; ; page++ {
			res := f.search(q)
			if res.Total != total {
				t.Errorf("%q page %d: Total %d, want %d", q.Text, page, res.Total, total)
			}
			if got := res.Facets["content_type"]; !slices.Equal(got, types) && (len(got) != 0 || len(types) != 0) {
				t.Errorf("%q page %d: content_type facet %v, want %v", q.Text, page, got, types)
			}
			if got := res.Facets["bucket"]; !slices.Equal(got, buckets) && (len(got) != 0 || len(buckets) != 0) {
				t.Errorf("%q page %d: bucket facet %v, want %v", q.Text, page, got, buckets)
			}
			if q.PageToken = res.NextPageToken; q.PageToken == "" || page > 10 {
				return
			}
		}
	}
	check(index.Query{Text: "report", Limit: 2}, 11,
		[]index.Facet{{Value: "image/png", Count: 5}, {Value: "text/plain", Count: 4}, {Value: "application/pdf", Count: 2}},
		[]index.Facet{{Value: "b2", Count: 7}, {Value: "b1", Count: 4}})
	check(index.Query{Limit: 3}, 13,
		[]index.Facet{{Value: "image/png", Count: 7}, {Value: "text/plain", Count: 4}, {Value: "application/pdf", Count: 2}},
		[]index.Facet{{Value: "b2", Count: 7}, {Value: "b1", Count: 6}})
	check(index.Query{Text: "report", ContentType: "image/*", Limit: 2}, 5,
		[]index.Facet{{Value: "image/png", Count: 5}},
		[]index.Facet{{Value: "b2", Count: 4}, {Value: "b1", Count: 1}})
	check(index.Query{Text: "nothingmatches"}, 0, nil, nil)
}

// testHighlight: a text match comes with a passage around it, its
// matches in <em>, the rest HTML-escaped.
func testHighlight(t *testing.T, f *fixture) {
	f.put(Doc("b1", "fox.txt", "the quick brown fox jumps over the lazy dog"),
		Doc("b1", "html.txt", `if a < b && c > d then escape <script>alert("x")</script> & more`))
	res := f.search(index.Query{Text: "brown"})
	if len(res.Hits) != 1 || !strings.Contains(res.Hits[0].Highlight, "<em>brown</em>") {
		t.Errorf("brown: %+v, want a highlight with <em>brown</em>", res.Hits)
	}
	res = f.search(index.Query{Text: "escape"})
	if len(res.Hits) != 1 || !strings.Contains(res.Hits[0].Highlight, "<em>escape</em>") {
		t.Fatalf("escape: %+v, want a highlight with <em>escape</em>", res.Hits)
	}
	if rest := strings.NewReplacer("<em>", "", "</em>", "").Replace(res.Hits[0].Highlight); strings.ContainsAny(rest, "<>") {
		t.Errorf("highlight %q is not HTML-escaped", res.Hits[0].Highlight)
	}
	for _, h := range f.search(index.Query{}).Hits {
		if h.Highlight != "" {
			t.Errorf("no words, highlight %q", h.Highlight)
		}
	}
}

func testDelete(t *testing.T, f *fixture) {
	f.put(Doc("b1", "x.txt", "gamma"), Doc("b1", "y.txt", "gamma"))
	f.del("b1", "x.txt", Seq(2))
	f.want(index.Query{Text: "gamma"}, "b1/y.txt")
	f.want(index.Query{}, "b1/y.txt")
	if got := keys(t, f.ix, "b1"); !slices.Equal(got, []string{"y.txt"}) {
		t.Errorf("Keys after a delete: %q", got)
	}
	f.del("b1", "never-put.txt", Seq(2))
	f.del("b9", "x.txt", Seq(2))
	f.want(index.Query{}, "b1/y.txt")
}

// testSequencer: a Put or Delete older than what was applied to a key is
// ignored; a newer one applies, a Put after a Delete too.
func testSequencer(t *testing.T, f *fixture) {
	d := func(seq int, text string) index.Document {
		d := Doc("b1", "k.txt", text)
		d.Sequencer = Seq(seq)
		return d
	}
	f.put(d(5, "five"))
	f.put(d(3, "three"))
	f.want(index.Query{Text: "five"}, "b1/k.txt")
	f.want(index.Query{Text: "three"})

	f.del("b1", "k.txt", Seq(7))
	f.put(d(6, "six"))
	f.want(index.Query{Text: "six"})
	f.want(index.Query{})
	if got := keys(t, f.ix, "b1"); len(got) != 0 {
		t.Errorf("Keys after a late Put: %q", got)
	}

	f.put(d(8, "eight"))
	f.want(index.Query{Text: "eight"}, "b1/k.txt")
	f.want(index.Query{Text: "six"})

	// A delete of a key never put still holds off older puts.
	f.del("b1", "gone.txt", Seq(9))
	late := Doc("b1", "gone.txt", "late")
	late.Sequencer = Seq(4)
	f.put(late)
	f.want(index.Query{Text: "late"})

	// An older delete leaves a newer document.
	f.put(d(10, "ten"))
	f.del("b1", "k.txt", Seq(9))
	f.want(index.Query{Text: "ten"}, "b1/k.txt")
	if got := keys(t, f.ix, "b1"); !slices.Equal(got, []string{"k.txt"}) {
		t.Errorf("Keys: %q, want [k.txt]", got)
	}
}

// keys returns the keys Keys lists for bucket, sorted.
func keys(t *testing.T, ix index.Index, bucket string) []string {
	t.Helper()
	var out []string
	if err := ix.Keys(t.Context(), bucket, func(k string) error {
		out = append(out, k)
		return nil
	}); err != nil {
		t.Fatalf("Keys %s: %v", bucket, err)
	}
	slices.Sort(out)
	return out
}

// testKeys: Keys lists exactly the live keys of a bucket, whatever their
// characters and length, and those keys come back intact in hits.
func testKeys(t *testing.T, f *fixture) {
	long := "long/" + strings.Repeat("x", 1024-len("long/")-len(".txt")) + ".txt"
	live := []string{"plain.txt", "dir/sub/file.txt", "with space/and more.txt", "ünïcödé/日本語/файл.txt", "emoji 🎉.txt",
		long, `odd %+?#&="quoted"\back.txt`, "trailing/"}
	for _, k := range live {
		f.put(Doc("b1", k, "delta"))
	}
	f.put(Doc("b1", "deleted.txt", "delta"), Doc("b2", "plain.txt", "delta"), Doc("b2", "other.txt", "delta"))
	f.del("b1", "deleted.txt", Seq(2))
	slices.Sort(live)
	if got := keys(t, f.ix, "b1"); !slices.Equal(got, live) {
		t.Errorf("Keys b1: %q, want %q", got, live)
	}
	if got := keys(t, f.ix, "b2"); !slices.Equal(got, []string{"other.txt", "plain.txt"}) {
		t.Errorf("Keys b2: %q", got)
	}
	if got := keys(t, f.ix, "b3"); len(got) != 0 {
		t.Errorf("Keys b3: %q", got)
	}
	stop := errors.New("stop")
	calls := 0
	if err := f.ix.Keys(t.Context(), "b1", func(string) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Keys with fn failing: %v after %d calls, want its error after 1", err, calls)
	}

	var want []string
	for _, k := range live {
		want = append(want, "b1/"+k)
	}
	f.want(index.Query{Bucket: "b1"}, want...)
	f.want(index.Query{Text: "delta", Bucket: "b1"}, want...)
	f.want(index.Query{Prefix: "long/"}, "b1/"+long)
	f.want(index.Query{Prefix: "ünïcödé/日本"}, "b1/ünïcödé/日本語/файл.txt")
	for _, q := range []string{"файл", "ФАЙЛ", "ünïcödé", "ÜNÏCÖDÉ", "日本語", "emoji", "space more"} {
		if got := names(f.search(index.Query{Text: q}).Hits); len(got) != 1 {
			t.Errorf("%q found %q, want one key", q, got)
		}
	}
}

// testSyntax: what would be query syntax is words or separators, never
// an error.
func testSyntax(t *testing.T, f *fixture) {
	f.put(Doc("b1", "notes/sales-final.txt", "quarterly sales report final figures"),
		Doc("b1", "other.txt", "unrelated words"))
	const s = "b1/notes/sales-final.txt"
	for q, want := range map[string][]string{
		`"sales"`:                    {s},
		`"sales`:                     {s},
		`sales"`:                     {s},
		`'sales'`:                    {s},
		`sales*`:                     {s},
		`sal*`:                       {s},
		`*sales`:                     {s},
		`-final sales`:               {s},
		`sales -final`:               {s},
		`+sales +final`:              {s},
		`sales:`:                     {s},
		`(sales)`:                    {s},
		`((sales`:                    {s},
		`sales\`:                     {s},
		`"report quarterly"`:         {s},
		`"quarterly report" figures`: {s},
		`sales AND final`:            {},
		`sales OR unrelated`:         {},
		`NOT unrelated`:              {},
		`NEAR(sales final)`:          {},
		`sales NEAR/2 final`:         {},
		`text:sales`:                 {},
		`words:unrelated`:            {"b1/other.txt"},
		`{words}: unrelated`:         {"b1/other.txt"},
		`sales^2`:                    {},
		`AND`:                        {},
		`OR`:                         {},
		`sales; DROP TABLE docs;--`:  {},
		`"`:                          {s, "b1/other.txt"},
		`*`:                          {s, "b1/other.txt"},
		`""`:                         {s, "b1/other.txt"},
		`:`:                          {s, "b1/other.txt"},
		`()`:                         {s, "b1/other.txt"},
		`-`:                          {s, "b1/other.txt"},
		`{}`:                         {s, "b1/other.txt"},
		`\`:                          {s, "b1/other.txt"},
		`  `:                         {s, "b1/other.txt"},
	} {
		f.want(index.Query{Text: q}, want...)
	}
	f.want(index.Query{Text: "sales"}, s)
}
