package backendtest

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// testListParts pages through an upload of more than 1000 tiny parts
// (the minimum size applies at completion only), uploaded in parallel.
func testListParts(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key, nparts = "bt-mp-listparts", "k", 1100
	createBucket(t, b, bkt)
	id := startUpload(t, b, bkt, key, backends.UploadOptions{})
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, nparts)
	for range 8 {
		wg.Go(func() {
			for n := range next {
				data := []byte(strconv.Itoa(n))
				if _, err := b.UploadPart(ctx, bkt, key, id, n, bytes.NewReader(data), backends.PartOptions{Size: int64(len(data))}); err != nil {
					errs <- fmt.Errorf("UploadPart(%d): %w", n, err)
				}
			}
		})
	}
	for n := nparts; n >= 1; n-- { // descending: listing must sort
		next <- n
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 1000})
	if err != nil || len(page.Parts) != 1000 || !page.IsTruncated || page.NextPartNumberMarker != 1000 {
		t.Fatalf("first page: %d parts, truncated %v, next %d, %v", len(page.Parts), page.IsTruncated, page.NextPartNumberMarker, err)
	}
	page, err = b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 1000, PartNumberMarker: 1000})
	if err != nil || len(page.Parts) != 100 || page.IsTruncated || page.Parts[0].Number != 1001 || page.Parts[99].Number != nparts {
		t.Fatalf("second page: %d parts, truncated %v, %v", len(page.Parts), page.IsTruncated, err)
	}

	// Small pages visit every part once, in order, with its own data.
	var seen []int
	for marker, pages := 0, 0; ; pages++ {
		if pages > nparts {
			t.Fatal("ListParts never stops")
		}
		page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 37, PartNumberMarker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Parts {
			if p.ETag != md5Hex([]byte(strconv.Itoa(p.Number))) {
				t.Fatalf("part %d has ETag %s", p.Number, p.ETag)
			}
			seen = append(seen, p.Number)
		}
		if !page.IsTruncated {
			break
		}
		marker = page.NextPartNumberMarker
	}
	if len(seen) != nparts || !slices.IsSorted(seen) || seen[0] != 1 || seen[nparts-1] != nparts {
		t.Fatalf("paging saw %d parts (sorted %v)", len(seen), slices.IsSorted(seen))
	}
	if page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10, PartNumberMarker: nparts}); err != nil || len(page.Parts) != 0 || page.IsTruncated {
		t.Errorf("page after the last part = %+v, %v", page, err)
	}

	all := make([]backends.CompletedPart, nparts)
	for i := range all {
		all[i] = backends.CompletedPart{Number: i + 1, ETag: md5Hex([]byte(strconv.Itoa(i + 1)))}
	}
	_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, all, backends.CompleteOptions{})
	wantErr(t, "completing tiny parts", err, backends.ErrEntityTooSmall)
	if err := b.AbortMultipartUpload(ctx, bkt, key, id); err != nil {
		t.Fatal(err)
	}
}

// testListUploads checks ListMultipartUploads' order, prefix, delimiter
// and paging.
func testListUploads(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-mp-listuploads"
	createBucket(t, b, bkt)
	keys := []string{"c", "a", "b/2", "d/e/f", "b/1", "a", "a/x"}
	ids := map[string][]string{} // per key, in initiation order
	for _, k := range keys {
		ids[k] = append(ids[k], startUpload(t, b, bkt, k, backends.UploadOptions{}))
	}
	list := func(opts backends.ListUploadsOptions) backends.UploadsPage {
		t.Helper()
		page, err := b.ListMultipartUploads(ctx, bkt, opts)
		if err != nil {
			t.Fatalf("ListMultipartUploads(%+v): %v", opts, err)
		}
		return page
	}
	// item is an upload ("key id") or a common prefix ("prefix/").
	items := func(p backends.UploadsPage) []string {
		var out []string
		for _, u := range p.Uploads {
			out = append(out, u.Key+" "+u.UploadID)
		}
		return append(out, p.CommonPrefixes...)
	}

	full := list(backends.ListUploadsOptions{MaxUploads: 1000})
	var want []string
	for _, k := range []string{"a", "a/x", "b/1", "b/2", "c", "d/e/f"} {
		for _, id := range ids[k] {
			want = append(want, k+" "+id)
		}
	}
	if got := items(full); !slices.Equal(got, want) || full.IsTruncated {
		t.Fatalf("ListMultipartUploads =\n%q\nwant (by key, then initiation)\n%q", got, want)
	}
	for i := 1; i < len(full.Uploads); i++ {
		if p, u := full.Uploads[i-1], full.Uploads[i]; p.Key == u.Key && u.Initiated.Before(p.Initiated) {
			t.Errorf("uploads of %q out of initiation order", u.Key)
		}
	}

	if got := items(list(backends.ListUploadsOptions{Prefix: "b/", MaxUploads: 1000})); !slices.Equal(got, want[3:5]) {
		t.Errorf("prefix b/: %q, want %q", got, want[3:5])
	}
	delim := list(backends.ListUploadsOptions{Delimiter: "/", MaxUploads: 1000})
	if !slices.Equal(delim.CommonPrefixes, []string{"a/", "b/", "d/"}) || len(delim.Uploads) != 3 {
		t.Errorf("delimiter /: uploads %v, prefixes %q", items(delim), delim.CommonPrefixes)
	}

	// KeyMarker alone skips the marker key's uploads; with an
	// UploadIDMarker, only those up to it.
	if got := items(list(backends.ListUploadsOptions{KeyMarker: "a", MaxUploads: 1000})); !slices.Equal(got, want[2:]) {
		t.Errorf("key marker a: %q, want %q", got, want[2:])
	}
	if got := items(list(backends.ListUploadsOptions{KeyMarker: "a", UploadIDMarker: ids["a"][0], MaxUploads: 1000})); !slices.Equal(got, want[1:]) {
		t.Errorf("key marker a, id marker of its first upload: %q, want %q", got, want[1:])
	}
	if page := list(backends.ListUploadsOptions{MaxUploads: 0}); len(items(page)) != 0 || page.IsTruncated {
		t.Errorf("MaxUploads 0: %+v", page)
	}

	// Pages of every size, with and without a delimiter, add up to the
	// full listing.
	for _, opts := range []backends.ListUploadsOptions{{}, {Delimiter: "/"}, {Prefix: "a", Delimiter: "/"}} {
		whole := items(list(backends.ListUploadsOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, MaxUploads: 1000}))
		for size := 1; size <= len(whole); size++ {
			var got []string
			o := opts
			o.MaxUploads = size
			for pages := 0; ; pages++ {
				if pages > len(whole) {
					t.Fatalf("%+v: paging never stops", o)
				}
				page := list(o)
				if n := len(page.Uploads) + len(page.CommonPrefixes); n > size {
					t.Fatalf("%+v: page of %d", o, n)
				}
				got = append(got, itemsInOrder(page)...)
				if !page.IsTruncated {
					break
				}
				o.KeyMarker, o.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
			}
			if !slices.Equal(sortedCopy(got), sortedCopy(whole)) || len(got) != len(whole) {
				t.Errorf("%+v pages of %d: %q, want %q", opts, size, got, whole)
			}
		}
	}
}

// itemsInOrder merges a page's uploads and common prefixes in key order.
func itemsInOrder(p backends.UploadsPage) []string {
	var out []string
	for _, u := range p.Uploads {
		out = append(out, u.Key+" "+u.UploadID)
	}
	out = append(out, p.CommonPrefixes...)
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
