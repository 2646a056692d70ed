package backendtest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

func testBuckets(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	start := time.Now()
	names := []string{"bt-zeta", "bt-alpha", "bt-mid.dot", "bt-0num"}
	for _, n := range names {
		createBucket(t, b, n)
	}
	wantErr(t, "CreateBucket(existing)", b.CreateBucket(ctx, names[0]), backends.ErrBucketExists)

	for _, n := range names {
		bi, err := b.HeadBucket(ctx, n)
		if err != nil {
			t.Fatalf("HeadBucket(%q): %v", n, err)
		}
		if bi.Name != n {
			t.Errorf("HeadBucket(%q).Name = %q", n, bi.Name)
		}
		inWindow(t, "HeadBucket("+n+").Created", bi.Created, start)
	}
	wantBuckets(t, b, "bt-", []string{"bt-0num", "bt-alpha", "bt-mid.dot", "bt-zeta"})

	for _, n := range []string{"", "ab", strings.Repeat("a", 64), "Upper", "under_score", "-lead", "trail-",
		"dot..dot", ".dot", "dot.", "192.168.1.1", "a/b", "../up", "..", "sp ace", "nul\x00x", "ü-bucket"} {
		wantErr(t, "CreateBucket("+n+")", b.CreateBucket(ctx, n), backends.ErrInvalidBucket)
	}
	for _, n := range []string{"a/b", "..", ".", "../bt-alpha", "bt-alpha/..", ""} {
		if _, err := b.HeadBucket(ctx, n); !errors.Is(err, backends.ErrNoSuchBucket) && !errors.Is(err, backends.ErrInvalidBucket) {
			t.Errorf("HeadBucket(%q) error = %v, want ErrNoSuchBucket or ErrInvalidBucket", n, err)
		}
	}

	const missing = "bt-missing"
	_, err := b.HeadBucket(ctx, missing)
	wantErr(t, "HeadBucket(missing)", err, backends.ErrNoSuchBucket)
	wantErr(t, "DeleteBucket(missing)", b.DeleteBucket(ctx, missing), backends.ErrNoSuchBucket)
	_, err = b.PutObject(ctx, missing, "k", bytes.NewReader(nil), backends.PutOptions{Size: 0})
	wantErr(t, "PutObject(missing bucket)", err, backends.ErrNoSuchBucket)
	_, err = b.GetObject(ctx, missing, "k", backends.GetOptions{})
	wantErr(t, "GetObject(missing bucket)", err, backends.ErrNoSuchBucket)
	_, err = b.HeadObject(ctx, missing, "k", backends.GetOptions{})
	wantErr(t, "HeadObject(missing bucket)", err, backends.ErrNoSuchBucket)
	wantErr(t, "DeleteObject(missing bucket)", b.DeleteObject(ctx, missing, "k", backends.DeleteOptions{}), backends.ErrNoSuchBucket)
	_, err = b.ListObjects(ctx, missing, backends.ListOptions{MaxKeys: 10})
	wantErr(t, "ListObjects(missing bucket)", err, backends.ErrNoSuchBucket)

	// A bucket holding any object, even a folder marker deep down, is not
	// empty.
	bkt := names[0]
	for _, key := range []string{"deep/down/x", "dir/", "top"} {
		data := []byte("x")
		if strings.HasSuffix(key, "/") && b.Capabilities(bkt).Limits.PathKeys {
			data = nil // a path-keyed backend's folder marker holds no bytes
		}
		put(t, b, bkt, key, data)
		wantErr(t, "DeleteBucket(non-empty)", b.DeleteBucket(ctx, bkt), backends.ErrBucketNotEmpty)
		if err := b.DeleteObject(ctx, bkt, key, backends.DeleteOptions{}); err != nil {
			t.Fatalf("DeleteObject(%q): %v", key, err)
		}
	}
	if err := b.DeleteBucket(ctx, bkt); err != nil {
		t.Fatalf("DeleteBucket(emptied): %v", err)
	}
	_, err = b.HeadBucket(ctx, bkt)
	wantErr(t, "HeadBucket(deleted)", err, backends.ErrNoSuchBucket)
	wantBuckets(t, b, "bt-", []string{"bt-0num", "bt-alpha", "bt-mid.dot"})

	// Recreated, the bucket starts empty.
	createBucket(t, b, bkt)
	page, err := b.ListObjects(ctx, bkt, backends.ListOptions{MaxKeys: 1000})
	if err != nil || len(page.Objects)+len(page.CommonPrefixes) != 0 {
		t.Fatalf("ListObjects(recreated) = %+v, %v; want empty", page, err)
	}
}

// wantBuckets checks ListBuckets is sorted and that the buckets named with
// prefix are exactly want.
func wantBuckets(t *testing.T, b backends.Backend, prefix string, want []string) {
	t.Helper()
	all, err := b.ListBuckets(t.Context())
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var got []string
	for i, bi := range all {
		if i > 0 && all[i-1].Name >= bi.Name {
			t.Errorf("ListBuckets not sorted: %q before %q", all[i-1].Name, bi.Name)
		}
		if strings.HasPrefix(bi.Name, prefix) {
			got = append(got, bi.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListBuckets = %q, want %q", got, want)
	}
}
