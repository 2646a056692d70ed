package search

import (
	"fmt"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/search/index"
)

// TestReindex: a reindex indexes objects the index has never seen (more
// than one listing page of them), removes documents of objects that are
// gone and documents of skipped keys, leaves the rest, and reports what it
// did.
func TestReindex(t *testing.T) {
	skip := func(_, key string) bool { return strings.HasPrefix(key, ".variants/") }
	e := newEnv(t, func(o *Options) { o.Skip = skip })
	defer func(p int) { reindexPage = p }(reindexPage)
	reindexPage = 40
	const n = 101 // three pages
	for i := range n {
		e.put(fmt.Sprintf("docs/note-%04d.txt", i), []byte("lighthouse keeper number "+fmt.Sprint(i)), backends.PutOptions{})
	}
	e.put(".variants/x/thumb.jpg", jpegImage(t, 4, 4), backends.PutOptions{})
	// Documents the backend no longer backs: a deleted object, and a
	// skipped key indexed by an older version of s3gate.
	e.put("gone.txt", []byte("ephemeral"), backends.PutOptions{})
	e.sync("gone.txt")
	e.del("gone.txt")
	if err := e.ix.Put(e.ctx, index.Document{Bucket: bucket, Key: ".variants/old/thumb.jpg", Sequencer: e.seq.Next(), Words: "variants old thumb"}); err != nil {
		t.Fatal(err)
	}

	var calls []Progress
	p, err := e.p.Reindex(e.ctx, "", e.seq.Next, func(p Progress) { calls = append(calls, p) })
	if err != nil {
		t.Fatal(err)
	}
	if want := (Progress{Bucket: "", Indexed: n, Removed: 2}); p != want {
		t.Errorf("Reindex = %+v, want %+v", p, want)
	}
	if len(calls) < 3 || calls[0].Indexed >= n || calls[len(calls)-1].Indexed != n || calls[0].Bucket != bucket {
		t.Errorf("progress calls %+v: want one per page of bucket %q, ending at %d", calls, bucket, n)
	}
	if got := e.search(index.Query{Text: "lighthouse"}).Total; got != n {
		t.Errorf("%d documents match after the reindex, want %d", got, n)
	}
	e.expect("ephemeral")
	e.expect("variants")
	e.expect("0017", "docs/note-0017.txt")

	// Again, for one bucket: nothing to remove, everything indexed again.
	p, err = e.p.Reindex(e.ctx, bucket, e.seq.Next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Progress{Bucket: bucket, Indexed: n}); p != want {
		t.Errorf("second Reindex = %+v, want %+v", p, want)
	}

	// An unknown bucket is the backend's error.
	if _, err := e.p.Reindex(e.ctx, "no-such-bucket", e.seq.Next, nil); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("Reindex of a missing bucket = %v", err)
	}
	if got := e.search(index.Query{Prefix: "docs/", Bucket: bucket}).Total; got != n {
		t.Errorf("%d documents under docs/, want %d", got, n)
	}
}
