package reserved_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/backendtest"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/backends/reserved"
)

const variants = ".variants/"

func openFS(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The acceptance suite, which never uses the reserved prefix, passes
// through the wrapper.
func TestAcceptance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		return reserved.Hide(openFS(t), variants)
	}, openFS(t).Capabilities(""))
}

func TestEmptyPrefixPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Hide with an empty prefix did not panic")
		}
	}()
	reserved.Hide(openFS(t), "")
}

// counting counts the inner backend's ListObjects calls.
type counting struct {
	backends.Backend
	lists atomic.Int64
}

func (c *counting) ListObjects(ctx context.Context, bucket string, o backends.ListOptions) (backends.ListPage, error) {
	c.lists.Add(1)
	return c.Backend.ListObjects(ctx, bucket, o)
}

func put(t *testing.T, b backends.Backend, bucket, key, body string) {
	t.Helper()
	if _, err := b.PutObject(t.Context(), bucket, key, strings.NewReader(body), backends.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
}

func createBucket(t *testing.T, b backends.Backend, bucket string) {
	t.Helper()
	if err := b.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
}

// hiddenKeys are n variant keys, as the image processor would write them.
func hiddenKeys(n int) []string {
	keys := []string{variants} // the prefix itself is a key under it
	for i := range n {
		keys = append(keys, fmt.Sprintf("%sp%04d.jpg/w%d", variants, i/5, 100*(i%5+1)))
	}
	return keys
}

// listAll pages through a listing V1-style, resuming after NextStartAfter.
func listAll(t *testing.T, b backends.Backend, bucket string, o backends.ListOptions) []backends.ListPage {
	t.Helper()
	var pages []backends.ListPage
	for {
		p, err := b.ListObjects(t.Context(), bucket, o)
		if err != nil {
			t.Fatalf("ListObjects(%+v): %v", o, err)
		}
		pages = append(pages, p)
		if !p.IsTruncated {
			return pages
		}
		if len(pages) > 1000 {
			t.Fatalf("ListObjects(%+v): no end after %d pages", o, len(pages))
		}
		o.StartAfter = p.NextStartAfter
	}
}

func keysOf(objs []backends.ObjectInfo) []string {
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// Listings through the wrapper equal those of a store holding only the
// visible keys, page by page, and find their way past thousands of hidden
// keys in a few inner calls.
func TestListing(t *testing.T) {
	t.Parallel()
	buckets := []struct {
		name    string
		visible []string
		hidden  int
	}{
		// Visible keys on both sides of the hidden range, some sharing
		// its first bytes.
		{"full", []string{"-a", ".a", ".bashrc", ".v", ".variants", ".variants-x", ".variants0", ".w/x", "a", "b/c", "img.jpg", "z"}, 2500},
		// "." holds a visible key only after the hidden range.
		{"after", []string{".w", "a"}, 30},
		// "." holds hidden keys only.
		{"none", []string{"a", "z"}, 30},
		{"hidden-only", nil, 30},
	}
	inner, ref := &counting{Backend: openFS(t)}, openFS(t)
	w := reserved.Hide(inner, variants)
	for _, bk := range buckets {
		createBucket(t, inner, bk.name)
		createBucket(t, ref, bk.name)
		for _, k := range bk.visible {
			put(t, inner, bk.name, k, k)
			put(t, ref, bk.name, k, k)
		}
		for _, k := range hiddenKeys(bk.hidden) {
			put(t, inner, bk.name, k, "variant")
		}
	}

	prefixes := []string{"", ".", ".v", ".variants", variants, variants + "p00", "a", ".w"}
	delimiters := []string{"", "/", ".", "s", "p"}
	// Every page size from the start; a few from inside "." and from
	// inside the hidden range.
	type list struct {
		startAfter string
		max        int
	}
	var lists []list
	for _, max := range []int{1, 2, 3, 4, 5, 6, 7, 1000} {
		lists = append(lists, list{"", max})
	}
	for _, sa := range []string{".b", variants + "p0100.jpg/w100"} {
		lists = append(lists, list{sa, 2}, list{sa, 1000})
	}
	for _, bk := range buckets {
		for _, prefix := range prefixes {
			for _, delim := range delimiters {
				for _, l := range lists {
					o := backends.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: l.startAfter, MaxKeys: l.max}
					what := fmt.Sprintf("%s: %+v", bk.name, o)
					want := listAll(t, ref, bk.name, o)
					before := inner.lists.Load()
					got := listAll(t, w, bk.name, o)
					calls := inner.lists.Load() - before
					if err := samePages(got, want, l.max); err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					// Without the jump, 2,500 hidden keys would cost
					// 2,500/max calls; with it, a page costs at most a
					// listing, a jump and a look into a common prefix.
					if calls > int64(4*len(got)+2) {
						t.Errorf("%s: %d inner ListObjects calls for %d pages", what, calls, len(got))
					}
				}
			}
		}
	}

	// One full page past all 2,500 variants: the first inner page ends
	// among them, the second starts after them.
	before := inner.lists.Load()
	got := listAll(t, w, "full", backends.ListOptions{MaxKeys: 1000})
	calls := inner.lists.Load() - before
	if len(got) != 1 || len(got[0].Objects) != 12 || calls > 2 {
		t.Errorf("full listing: %d pages, %d objects, %d inner calls; want 1 page of 12 in at most 2 calls", len(got), len(got[0].Objects), calls)
	}
	t.Logf("full listing past 2,500 variants: %d inner calls", calls)
}

// samePages checks the wrapper's pages against the reference store's: the
// same entries, page by page, every truncated page full, and no hidden
// name anywhere. The wrapper may not know that only hidden keys follow
// its last entries: its last page may then say truncated and be followed
// by one empty page.
func samePages(got, want []backends.ListPage, max int) error {
	for i, g := range got {
		for _, name := range append(keysOf(g.Objects), append(g.CommonPrefixes, g.NextStartAfter)...) {
			if strings.HasPrefix(name, variants) {
				return fmt.Errorf("page %d shows hidden name %q", i, name)
			}
		}
		if g.IsTruncated && len(g.Objects)+len(g.CommonPrefixes) != max {
			return fmt.Errorf("page %d: truncated with %d entries, want %d", i, len(g.Objects)+len(g.CommonPrefixes), max)
		}
	}
	if len(got) == len(want)+1 {
		extra := got[len(got)-1]
		if len(extra.Objects)+len(extra.CommonPrefixes) != 0 {
			return fmt.Errorf("page %d after the last: %+v", len(got)-1, extra)
		}
		got = got[:len(got)-1]
		got[len(got)-1].IsTruncated = false
		got[len(got)-1].NextStartAfter = ""
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d pages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		switch {
		case !slices.Equal(keysOf(g.Objects), keysOf(w.Objects)):
			return fmt.Errorf("page %d: objects %q, want %q", i, keysOf(g.Objects), keysOf(w.Objects))
		case !slices.Equal(g.CommonPrefixes, w.CommonPrefixes):
			return fmt.Errorf("page %d: common prefixes %q, want %q", i, g.CommonPrefixes, w.CommonPrefixes)
		case g.IsTruncated != w.IsTruncated || g.NextStartAfter != w.NextStartAfter:
			return fmt.Errorf("page %d: truncated %v after %q, want %v after %q", i, g.IsTruncated, g.NextStartAfter, w.IsTruncated, w.NextStartAfter)
		}
	}
	return nil
}

// unread fails the test if PutObject reads the body.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body of a PUT to a hidden key was read")
	return 0, io.ErrUnexpectedEOF
}

// Hidden keys can be neither read nor written through the wrapper, and the
// attempts leave the store as it was.
func TestHiddenKeys(t *testing.T) {
	ctx := t.Context()
	inner := openFS(t)
	w := reserved.Hide(inner, variants)
	const bkt, key, absent = "photos", variants + "cat.jpg/thumb", variants + "new"
	createBucket(t, inner, bkt)
	put(t, inner, bkt, key, "variant")
	if err := inner.PutObjectTagging(ctx, bkt, key, map[string]string{"kind": "thumb"}); err != nil {
		t.Fatal(err)
	}
	id, err := inner.CreateMultipartUpload(ctx, bkt, key, backends.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Hidden(key) || w.Hidden("cat.jpg") || w.Hidden(".variants") {
		t.Error("Hidden disagrees with the prefix")
	}

	// Reads: the key does not exist.
	_, err = w.GetObject(ctx, bkt, key, backends.GetOptions{})
	wantErr(t, "GetObject", err, backends.ErrNoSuchKey)
	_, err = w.HeadObject(ctx, bkt, key, backends.GetOptions{})
	wantErr(t, "HeadObject", err, backends.ErrNoSuchKey)
	_, err = w.GetObjectTagging(ctx, bkt, key)
	wantErr(t, "GetObjectTagging", err, backends.ErrNoSuchKey)

	// Writes: the key is reserved.
	_, err = w.PutObject(ctx, bkt, absent, unread{t}, backends.PutOptions{Size: -1})
	wantErr(t, "PutObject", err, backends.ErrReservedKey)
	_, err = w.PutObject(ctx, bkt, key, unread{t}, backends.PutOptions{Size: -1})
	wantErr(t, "PutObject over a variant", err, backends.ErrReservedKey)
	wantErr(t, "DeleteObject", w.DeleteObject(ctx, bkt, key, backends.DeleteOptions{}), backends.ErrReservedKey)
	wantErr(t, "PutObjectTagging", w.PutObjectTagging(ctx, bkt, key, nil), backends.ErrReservedKey)
	_, err = w.CreateMultipartUpload(ctx, bkt, absent, backends.UploadOptions{})
	wantErr(t, "CreateMultipartUpload", err, backends.ErrReservedKey)
	_, err = w.UploadPart(ctx, bkt, key, id, 1, unread{t}, backends.PartOptions{Size: -1})
	wantErr(t, "UploadPart", err, backends.ErrReservedKey)
	_, err = w.CompleteMultipartUpload(ctx, bkt, key, id, nil, backends.CompleteOptions{})
	wantErr(t, "CompleteMultipartUpload", err, backends.ErrReservedKey)
	wantErr(t, "AbortMultipartUpload", w.AbortMultipartUpload(ctx, bkt, key, id), backends.ErrNoSuchUpload)
	_, err = w.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10})
	wantErr(t, "ListParts", err, backends.ErrNoSuchUpload)

	// Copies: a hidden source is missing, a hidden destination reserved;
	// the fs backend copies nothing itself.
	put(t, inner, bkt, "cat.jpg", "cat")
	ref := func(k string) backends.ObjectRef { return backends.ObjectRef{Bucket: bkt, Key: k} }
	_, err = w.CopyObject(ctx, ref(key), ref("copy"), backends.CopyOptions{})
	wantErr(t, "CopyObject from a variant", err, backends.ErrNoSuchKey)
	_, err = w.CopyObject(ctx, ref("cat.jpg"), ref(absent), backends.CopyOptions{})
	wantErr(t, "CopyObject onto a variant", err, backends.ErrReservedKey)
	_, err = w.CopyObject(ctx, ref("cat.jpg"), ref("copy"), backends.CopyOptions{})
	wantErr(t, "CopyObject", err, backends.ErrCopyUnsupported)
	_, err = w.CopyPart(ctx, ref(key), nil, ref("copy"), id, 1, backends.CopyOptions{})
	wantErr(t, "CopyPart from a variant", err, backends.ErrNoSuchKey)
	_, err = w.CopyPart(ctx, ref("cat.jpg"), nil, ref(key), id, 1, backends.CopyOptions{})
	wantErr(t, "CopyPart onto a variant", err, backends.ErrReservedKey)

	// The store is as it was.
	obj, err := inner.GetObject(ctx, bkt, key, backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "variant" {
		t.Errorf("variant body = %q", body)
	}
	if tags, err := inner.GetObjectTagging(ctx, bkt, key); err != nil || tags["kind"] != "thumb" {
		t.Errorf("variant tags = %v, %v", tags, err)
	}
	for _, k := range []string{absent, "copy"} {
		_, err = inner.HeadObject(ctx, bkt, k, backends.GetOptions{})
		wantErr(t, "inner HeadObject("+k+")", err, backends.ErrNoSuchKey)
	}
	if p, err := inner.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10}); err != nil || len(p.Parts) != 0 {
		t.Errorf("inner upload: %+v, %v", p, err)
	}
	ups, err := inner.ListMultipartUploads(ctx, bkt, backends.ListUploadsOptions{MaxUploads: 10})
	if err != nil || len(ups.Uploads) != 1 {
		t.Errorf("inner uploads: %+v, %v", ups.Uploads, err)
	}
}

// Refusals of hidden keys never reach the inner backend: calling any of its
// methods here would panic on the nil interface.
func TestRefusalsDoNotCallInner(t *testing.T) {
	ctx := t.Context()
	w := reserved.Hide(struct{ backends.Backend }{}, variants)
	key := variants + "x"
	ref := backends.ObjectRef{Bucket: "b", Key: key}
	w.GetObject(ctx, "b", key, backends.GetOptions{})
	w.HeadObject(ctx, "b", key, backends.GetOptions{})
	w.GetObjectTagging(ctx, "b", key)
	w.PutObject(ctx, "b", key, unread{t}, backends.PutOptions{Size: -1})
	w.DeleteObject(ctx, "b", key, backends.DeleteOptions{})
	w.PutObjectTagging(ctx, "b", key, nil)
	w.CreateMultipartUpload(ctx, "b", key, backends.UploadOptions{})
	w.UploadPart(ctx, "b", key, "id", 1, unread{t}, backends.PartOptions{Size: -1})
	w.CompleteMultipartUpload(ctx, "b", key, "id", nil, backends.CompleteOptions{})
	w.AbortMultipartUpload(ctx, "b", key, "id")
	w.ListParts(ctx, "b", key, "id", backends.ListPartsOptions{})
	w.CopyObject(ctx, ref, backends.ObjectRef{Bucket: "b", Key: "k"}, backends.CopyOptions{})
	w.CopyObject(ctx, backends.ObjectRef{Bucket: "b", Key: "k"}, ref, backends.CopyOptions{})
	w.CopyPart(ctx, ref, nil, backends.ObjectRef{Bucket: "b", Key: "k"}, "id", 1, backends.CopyOptions{})
}

// copier counts the copies the inner backend makes itself.
type copier struct {
	backends.Backend
	calls int
}

func (c *copier) CopyObject(ctx context.Context, src, dst backends.ObjectRef, o backends.CopyOptions) (backends.ObjectInfo, error) {
	c.calls++
	return backends.ObjectInfo{Key: dst.Key}, nil
}

func (c *copier) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, id string, n int, o backends.CopyOptions) (backends.PartInfo, error) {
	c.calls++
	return backends.PartInfo{Number: n}, nil
}

// Copies between visible keys reach an inner Copier; hidden ones do not.
func TestCopier(t *testing.T) {
	ctx := t.Context()
	c := &copier{Backend: openFS(t)}
	w := reserved.Hide(c, variants)
	ref := func(k string) backends.ObjectRef { return backends.ObjectRef{Bucket: "b", Key: k} }
	if _, err := w.CopyObject(ctx, ref("a"), ref("b"), backends.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CopyPart(ctx, ref("a"), nil, ref("b"), "id", 1, backends.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := w.CopyObject(ctx, ref(variants+"a"), ref("b"), backends.CopyOptions{})
	wantErr(t, "CopyObject from a variant", err, backends.ErrNoSuchKey)
	_, err = w.CopyPart(ctx, ref("a"), nil, ref(variants+"b"), "id", 1, backends.CopyOptions{})
	wantErr(t, "CopyPart onto a variant", err, backends.ErrReservedKey)
	if c.calls != 2 {
		t.Errorf("inner copies: %d, want 2", c.calls)
	}
}

// Uploads of hidden keys are not listed, and paging never names one.
func TestListUploads(t *testing.T) {
	ctx := t.Context()
	inner := openFS(t)
	w := reserved.Hide(inner, variants)
	createBucket(t, inner, "uploads")
	for _, k := range []string{"-a", variants + "x", variants + "y", "a", "z"} {
		if _, err := inner.CreateMultipartUpload(ctx, "uploads", k, backends.UploadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, max := range []int{1, 2, 1000} {
		var keys []string
		o := backends.ListUploadsOptions{MaxUploads: max}
		for range 10 {
			p, err := w.ListMultipartUploads(ctx, "uploads", o)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Uploads {
				keys = append(keys, u.Key)
			}
			if p.NextKeyMarker == variants+"x" || p.NextKeyMarker == variants+"y" {
				t.Errorf("max %d: NextKeyMarker names a hidden upload: %q", max, p.NextKeyMarker)
			}
			if !p.IsTruncated {
				break
			}
			o.KeyMarker, o.UploadIDMarker = p.NextKeyMarker, p.NextUploadIDMarker
		}
		if want := []string{"-a", "a", "z"}; !slices.Equal(keys, want) {
			t.Errorf("max %d: uploads of %q, want %q", max, keys, want)
		}
	}
}

// A bucket holding only variants can be deleted; one holding any client
// object cannot, and keeps its variants.
func TestDeleteBucket(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	inner := openFS(t)
	w := reserved.Hide(inner, variants)
	hidden := hiddenKeys(1005) // more than one inner page of 1,000

	createBucket(t, inner, "only-variants")
	for _, k := range hidden {
		put(t, inner, "only-variants", k, "v")
	}
	if err := w.DeleteBucket(ctx, "only-variants"); err != nil {
		t.Fatalf("DeleteBucket with only variants: %v", err)
	}
	_, err := inner.HeadBucket(ctx, "only-variants")
	wantErr(t, "HeadBucket after DeleteBucket", err, backends.ErrNoSuchBucket)

	// The visible key sorts before or after the variants.
	for _, visible := range []string{"-a", "z"} {
		bkt := "with" + visible
		createBucket(t, inner, bkt)
		put(t, inner, bkt, visible, "client")
		for _, k := range hidden[:20] {
			put(t, inner, bkt, k, "v")
		}
		wantErr(t, "DeleteBucket with "+visible, w.DeleteBucket(ctx, bkt), backends.ErrBucketNotEmpty)
		p, err := inner.ListObjects(ctx, bkt, backends.ListOptions{Prefix: variants, MaxKeys: 1000})
		if err != nil || len(p.Objects) != 20 {
			t.Errorf("with %s: %d variants left, %v; want 20", visible, len(p.Objects), err)
		}
	}
	wantErr(t, "DeleteBucket of a missing bucket", w.DeleteBucket(ctx, "missing"), backends.ErrNoSuchBucket)
}

// Listing under the reserved prefix is empty, but not for a missing bucket.
func TestListHiddenPrefix(t *testing.T) {
	inner := openFS(t)
	w := reserved.Hide(inner, variants)
	createBucket(t, inner, "photos")
	put(t, inner, "photos", variants+"x", "v")
	p, err := w.ListObjects(t.Context(), "photos", backends.ListOptions{Prefix: variants, MaxKeys: 10})
	if err != nil || len(p.Objects)+len(p.CommonPrefixes) != 0 || p.IsTruncated {
		t.Errorf("listing under the prefix: %+v, %v", p, err)
	}
	_, err = w.ListObjects(t.Context(), "missing", backends.ListOptions{Prefix: variants, MaxKeys: 10})
	wantErr(t, "listing a missing bucket", err, backends.ErrNoSuchBucket)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}
