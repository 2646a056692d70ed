package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/search/index"
	"github.com/s3gate/s3gate/processors/search/index/indextest"
)

func open(t testing.TB, path string) *Index {
	t.Helper()
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func TestSuite(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Index {
		return open(t, filepath.Join(t.TempDir(), "search.db"))
	})
}

var all = []index.Grant{{Bucket: "*"}}

func search(t testing.TB, ix *Index, q index.Query) index.Result {
	t.Helper()
	if q.Readable == nil {
		q.Readable = all
	}
	res, err := ix.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search %+v: %v", q, err)
	}
	return res
}

func put(t testing.TB, ix *Index, docs ...index.Document) {
	t.Helper()
	for _, d := range docs {
		if err := ix.Put(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReopen: the documents, tombstones and page tokens survive a close.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "search.db")
	ix := open(t, path)
	if !ix.Fresh() {
		t.Error("a new index is not Fresh")
	}
	for i := range 5 {
		put(t, ix, indextest.Doc("b", fmt.Sprintf("k%d.txt", i), "kept"))
	}
	if err := ix.Delete(t.Context(), "b", "gone.txt", indextest.Seq(5)); err != nil {
		t.Fatal(err)
	}
	res := search(t, ix, index.Query{Text: "kept", Limit: 2})
	ix.Close()
	if err := ix.Put(t.Context(), indextest.Doc("b", "x", "y")); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := ix.Search(t.Context(), index.Query{Readable: all}); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Search after Close: %v", err)
	}

	ix = open(t, path)
	if ix.Fresh() {
		t.Error("a reopened index is Fresh")
	}
	next := search(t, ix, index.Query{Text: "kept", Limit: 2, PageToken: res.NextPageToken})
	if next.Total != 5 || len(next.Hits) != 2 || next.Hits[0].Key != "k2.txt" {
		t.Errorf("after reopening: %+v", next)
	}
	put(t, ix, indextest.Doc("b", "gone.txt", "late")) // sequencer 1 < 5
	if res := search(t, ix, index.Query{Text: "late"}); res.Total != 0 {
		t.Errorf("a tombstone did not survive reopening: %+v", res)
	}
}

// TestSchemaVersion: an index of another version starts empty.
func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "search.db")
	ix := open(t, path)
	put(t, ix, indextest.Doc("b", "k.txt", "old"))
	if _, err := ix.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix = open(t, path)
	if !ix.Fresh() {
		t.Error("a rebuilt index is not Fresh")
	}
	if res := search(t, ix, index.Query{}); res.Total != 0 {
		t.Errorf("after a version change: %+v", res)
	}
	put(t, ix, indextest.Doc("b", "k.txt", "new"))
	if res := search(t, ix, index.Query{Text: "new"}); res.Total != 1 {
		t.Errorf("after the rebuild: %+v", res)
	}
}

// TestTokens: a token altered, of another query, or of another index is
// refused; one of the same query with other grants or limit is not.
func TestTokens(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	for i := range 5 {
		put(t, ix, indextest.Doc("b", fmt.Sprintf("k%d.txt", i), "word"))
	}
	q := index.Query{Text: "word", Limit: 2, Readable: all}
	tok := search(t, ix, q).NextPageToken
	if tok == "" {
		t.Fatal("no token")
	}
	invalid := func(q index.Query) {
		t.Helper()
		if _, err := ix.Search(t.Context(), q); !errors.Is(err, index.ErrInvalidQuery) {
			t.Errorf("token %q with %+v: %v, want ErrInvalidQuery", q.PageToken, q, err)
		}
	}
	for i := range len(tok) {
		b := []byte(tok)
		b[i] = "AB"[b[i]%2] // another character
		if string(b) == tok {
			b[i] = 'C'
		}
		q := q
		q.PageToken = string(b)
		invalid(q)
	}
	for _, other := range []index.Query{{Text: "words"}, {Text: "word", Bucket: "b"}, {Text: "word", Prefix: "k"},
		{Text: "word", ContentType: "text/plain"}, {Text: "word", Tags: map[string]string{"a": "b"}}, {Text: "word", ModifiedAfter: time.Unix(1, 0)}} {
		other.PageToken, other.Readable, other.Limit = tok, all, 2
		invalid(other)
	}
	ix2 := open(t, filepath.Join(t.TempDir(), "search.db"))
	q2 := q
	q2.PageToken = tok
	if _, err := ix2.Search(t.Context(), q2); !errors.Is(err, index.ErrInvalidQuery) {
		t.Errorf("a token of another index: %v", err)
	}
	q.PageToken, q.Limit, q.Readable = tok, 10, []index.Grant{{Bucket: "b"}}
	if res := search(t, ix, q); len(res.Hits) != 3 {
		t.Errorf("same query, other limit and grants: %d hits, want 3", len(res.Hits))
	}
}

// TestRanking: a word of the key ranks first, then a key word's prefix,
// then metadata and tags, then the text.
func TestRanking(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	meta := indextest.Doc("b", "c.txt", "")
	meta.Metadata = map[string]string{"title": "report"}
	put(t, ix,
		indextest.Doc("b", "a.txt", "report report report"),
		indextest.Doc("b", "reports.txt", ""),
		meta,
		indextest.Doc("b", "report.txt", ""))
	res := search(t, ix, index.Query{Text: "report"})
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.Key)
	}
	if strings.Join(got, " ") != "report.txt reports.txt c.txt a.txt" {
		t.Errorf("order %q", got)
	}
}

// TestDiacritics: words match without their accents.
func TestDiacritics(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	put(t, ix, indextest.Doc("b", "cv/Résumé.pdf", "Crème brûlée à la française"))
	for _, q := range []string{"resume", "RÉSUMÉ", "creme brulee", "francaise", "fran"} {
		if res := search(t, ix, index.Query{Text: q}); res.Total != 1 {
			t.Errorf("%q: %d hits", q, res.Total)
		}
	}
}

// TestPruneTombstones: old tombstones go, recent ones stay.
func TestPruneTombstones(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	for i := range 3 {
		if err := ix.Delete(t.Context(), "b", fmt.Sprintf("k%d", i), indextest.Seq(5)); err != nil {
			t.Fatal(err)
		}
	}
	put(t, ix, indextest.Doc("b", "live.txt", "x"))
	if n, err := ix.PruneTombstones(t.Context(), time.Hour); err != nil || n != 0 {
		t.Fatalf("prune recent: %d, %v", n, err)
	}
	if n, err := ix.PruneTombstones(t.Context(), -time.Minute); err != nil || n != 3 {
		t.Fatalf("prune all: %d, %v", n, err)
	}
	put(t, ix, indextest.Doc("b", "k0", "back")) // nothing holds it off now
	if res := search(t, ix, index.Query{}); res.Total != 2 {
		t.Errorf("after pruning: %+v", res)
	}
}

// TestConcurrent: puts, deletes and searches at once (run with -race).
func TestConcurrent(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				d := indextest.Doc("b", fmt.Sprintf("w%d/k%d.txt", w, i%10), fmt.Sprintf("worker%d item%d", w, i))
				d.Sequencer = indextest.Seq(i + 1)
				if err := ix.Put(t.Context(), d); err != nil {
					errs <- err
					return
				}
				if i%7 == 0 {
					if err := ix.Delete(t.Context(), "b", d.Key, indextest.Seq(i+1)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range 30 {
				if _, err := ix.Search(t.Context(), index.Query{Text: fmt.Sprintf("worker%d", w), Readable: all, Limit: 5}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each worker's 10 keys are last written by puts 40 to 49, and 42 and
	// 49 were deleted (with the same sequencer) right after.
	res := search(t, ix, index.Query{Limit: index.MaxLimit})
	if res.Total != 32 {
		t.Errorf("%d documents, want 32", res.Total)
	}
}

// TestLatency logs how long searches of 1,000 documents take.
func TestLatency(t *testing.T) {
	ix := open(t, filepath.Join(t.TempDir(), "search.db"))
	fill(t, ix, 1000)
	for _, q := range []index.Query{{Text: "report"}, {Text: "alpha beta"}, {Text: "re"}, {}, {Text: "report", ContentType: "image/*"}} {
		q.Readable = []index.Grant{{Bucket: "b0"}, {Bucket: "b1", Prefix: "dir1/"}}
		start := time.Now()
		const n = 20
		var res index.Result
		for range n {
			res = search(t, ix, q)
		}
		t.Logf("%-30q %4d hits: %v a search", q.Text+" "+q.ContentType, res.Total, time.Since(start)/n)
	}
}

var vocabulary = strings.Fields("alpha beta gamma delta report invoice photo summer holiday budget meeting notes draft final " +
	"project plan review design sales quarterly annual customer contract release")

// fill puts n documents over 4 buckets with words from vocabulary.
func fill(tb testing.TB, ix *Index, n int) {
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				key := fmt.Sprintf("dir%d/%s-%s-%d.txt", i%10, vocabulary[i%len(vocabulary)], vocabulary[(i/3)%len(vocabulary)], i)
				var text []string
				for j := range 40 {
					text = append(text, vocabulary[(i*7+j*j)%len(vocabulary)])
				}
				d := indextest.Doc(fmt.Sprintf("b%d", i%4), key, strings.Join(text, " "))
				if i%3 == 0 {
					d.ContentType = "image/jpeg"
				}
				if err := ix.Put(context.Background(), d); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSearch(b *testing.B) {
	ix := open(b, filepath.Join(b.TempDir(), "search.db"))
	fill(b, ix, 10000)
	q := index.Query{Text: "report budget", Readable: all}
	b.ResetTimer()
	var total int64
	for b.Loop() {
		total = search(b, ix, q).Total
	}
	b.ReportMetric(float64(total), "matches")
}

func BenchmarkPut(b *testing.B) {
	ix := open(b, filepath.Join(b.TempDir(), "search.db"))
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			put(b, ix, indextest.Doc("s", fmt.Sprintf("k%d.txt", i), "some words of text"))
			i++
		}
	})
	// 16 writers a core: concurrent puts share commits.
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		var mu sync.Mutex
		n := 0
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				n++
				i := n
				mu.Unlock()
				put(b, ix, indextest.Doc("p", fmt.Sprintf("k%d.txt", i), "some words of text"))
			}
		})
	})
}
