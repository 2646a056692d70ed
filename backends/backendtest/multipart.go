package backendtest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"testing"
	"testing/iotest"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// partBytes returns n deterministic pseudo-random bytes for seed.
func partBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed, 'p'}).Read(b)
	return b
}

// multipartETag computes S3's ETag of an object made of parts: the MD5 of
// the parts' binary MD5s, hex, "-N".
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		sum := md5.Sum(p)
		h.Write(sum[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func startUpload(t *testing.T, b backends.Backend, bucket, key string, opts backends.UploadOptions) string {
	t.Helper()
	id, err := b.CreateMultipartUpload(t.Context(), bucket, key, opts)
	if err != nil {
		t.Fatalf("CreateMultipartUpload(%q): %v", key, err)
	}
	if id == "" {
		t.Fatalf("CreateMultipartUpload(%q) returned an empty id", key)
	}
	return id
}

// uploadPart stores data as part n and checks the returned info.
func uploadPart(t *testing.T, b backends.Backend, bucket, key, id string, n int, data []byte) backends.PartInfo {
	t.Helper()
	p, err := b.UploadPart(t.Context(), bucket, key, id, n, bytes.NewReader(data), backends.PartOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("UploadPart(%q, %d): %v", key, n, err)
	}
	if p.Number != n || p.ETag != md5Hex(data) || p.Size != int64(len(data)) {
		t.Fatalf("UploadPart(%q, %d) = %+v, want number %d, ETag %s, size %d", key, n, p, n, md5Hex(data), len(data))
	}
	return p
}

// completed lists parts for CompleteMultipartUpload, with their checksums.
func completed(parts ...backends.PartInfo) []backends.CompletedPart {
	out := make([]backends.CompletedPart, len(parts))
	for i, p := range parts {
		out[i] = backends.CompletedPart{Number: p.Number, ETag: p.ETag, Checksum: p.Checksum.Value}
	}
	return out
}

func completeUpload(t *testing.T, b backends.Backend, bucket, key, id string, parts []backends.CompletedPart, opts backends.CompleteOptions) backends.ObjectInfo {
	t.Helper()
	info, err := b.CompleteMultipartUpload(t.Context(), bucket, key, id, parts, opts)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload(%q): %v", key, err)
	}
	return info
}

// wantMultipart checks key holds the concatenation of parts, with the
// multipart ETag and parts count.
func wantMultipart(t *testing.T, b backends.Backend, bucket, key string, parts ...[]byte) backends.ObjectInfo {
	t.Helper()
	got, obj := get(t, b, bucket, key, backends.GetOptions{})
	want := bytes.Join(parts, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("GetObject(%q): %d bytes, want %d (equal: false)", key, len(got), len(want))
	}
	info := obj.Info
	if info.ETag != multipartETag(parts...) || info.Size != int64(len(want)) || info.PartsCount != len(parts) {
		t.Fatalf("GetObject(%q) info: ETag %s, size %d, parts %d; want %s, %d, %d", key,
			info.ETag, info.Size, info.PartsCount, multipartETag(parts...), len(want), len(parts))
	}
	return info
}

// wantNoUpload checks the upload is gone: not listed, not usable.
func wantNoUpload(t *testing.T, b backends.Backend, bucket, key, id string) {
	t.Helper()
	_, err := b.ListParts(t.Context(), bucket, key, id, backends.ListPartsOptions{MaxParts: 10})
	wantErr(t, "ListParts of a finished upload", err, backends.ErrNoSuchUpload)
	_, err = b.UploadPart(t.Context(), bucket, key, id, 1, bytes.NewReader([]byte("x")), backends.PartOptions{Size: 1})
	wantErr(t, "UploadPart of a finished upload", err, backends.ErrNoSuchUpload)
	page, err := b.ListMultipartUploads(t.Context(), bucket, backends.ListUploadsOptions{MaxUploads: 1000})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range page.Uploads {
		if u.UploadID == id {
			t.Errorf("finished upload %s still listed", id)
		}
	}
}

var etagPattern = regexp.MustCompile(`^[0-9a-f]{32}-[0-9]+$`)

func testMultipart(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-multipart", "dir/sub/object"
	createBucket(t, b, bkt)
	opts := backends.UploadOptions{
		ContentHeaders: backends.ContentHeaders{ContentType: "video/mp4", CacheControl: "max-age=60"},
		Metadata:       map[string]string{"origin": "camera"},
		Tags:           map[string]string{"project": "blue", "stage": "raw"},
	}
	start := time.Now()
	id := startUpload(t, b, bkt, key, opts)
	if id2 := startUpload(t, b, bkt, key, opts); id2 == id {
		t.Fatalf("two uploads got the same id %q", id)
	} else if err := b.AbortMultipartUpload(ctx, bkt, key, id2); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	p1, p2, p3 := partBytes(1, backends.MinPartSize), partBytes(2, backends.MinPartSize+7), partBytes(3, 1000)
	// Parts may arrive in any order.
	i3 := uploadPart(t, b, bkt, key, id, 3, p3)
	i1 := uploadPart(t, b, bkt, key, id, 1, p1)
	i2 := uploadPart(t, b, bkt, key, id, 2, p2)
	wantAbsent(t, b, bkt, key) // nothing visible before completion

	page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 1000})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	if page.Upload.Key != key || page.Upload.UploadID != id || page.IsTruncated || len(page.Parts) != 3 {
		t.Fatalf("ListParts = %+v", page)
	}
	for i, want := range []backends.PartInfo{i1, i2, i3} {
		got := page.Parts[i]
		if got.Number != want.Number || got.ETag != want.ETag || got.Size != want.Size {
			t.Errorf("ListParts part %d = %+v, want %+v", i, got, want)
		}
		inWindow(t, "part LastModified", got.LastModified, start)
	}
	uploads, err := b.ListMultipartUploads(ctx, bkt, backends.ListUploadsOptions{MaxUploads: 100})
	if err != nil || len(uploads.Uploads) != 1 || uploads.Uploads[0].UploadID != id || uploads.Uploads[0].Key != key {
		t.Fatalf("ListMultipartUploads = %+v, %v; want the one upload", uploads, err)
	}
	inWindow(t, "upload Initiated", uploads.Uploads[0].Initiated, start)

	info := completeUpload(t, b, bkt, key, id, completed(i1, i2, i3), backends.CompleteOptions{})
	if !etagPattern.MatchString(info.ETag) || info.ETag != multipartETag(p1, p2, p3) {
		t.Errorf("CompleteMultipartUpload ETag = %q, want %q", info.ETag, multipartETag(p1, p2, p3))
	}
	inWindow(t, "object LastModified", info.LastModified, start)
	// A retried completion gets the same answer; another part list does
	// not.
	again, err := b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i1, i2, i3), backends.CompleteOptions{})
	if err != nil || again.ETag != info.ETag || again.Size != info.Size {
		t.Errorf("retried CompleteMultipartUpload = %+v, %v; want %+v", again, err, info)
	}
	_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i1, i2), backends.CompleteOptions{})
	wantErr(t, "CompleteMultipartUpload of a completed upload with other parts", err, backends.ErrNoSuchUpload)
	got := wantMultipart(t, b, bkt, key, p1, p2, p3)
	if got.ContentType != "video/mp4" || got.CacheControl != "max-age=60" || got.Metadata["origin"] != "camera" || got.TagCount != 2 {
		t.Errorf("object info = %+v; want the upload's headers, metadata and 2 tags", got)
	}
	tags, err := b.GetObjectTagging(ctx, bkt, key)
	if err != nil || len(tags) != 2 || tags["project"] != "blue" || tags["stage"] != "raw" {
		t.Errorf("GetObjectTagging = %v, %v; want the upload's tags", tags, err)
	}
	wantNoUpload(t, b, bkt, key, id)
	list, err := b.ListObjects(ctx, bkt, backends.ListOptions{MaxKeys: 10})
	if err != nil || len(list.Objects) != 1 || list.Objects[0].ETag != info.ETag || list.Objects[0].Size != info.Size {
		t.Errorf("ListObjects = %+v, %v; want the completed object", list.Objects, err)
	}

	// A single part, smaller than the minimum, makes an object too.
	id = startUpload(t, b, bkt, "single", backends.UploadOptions{})
	small := uploadPart(t, b, bkt, "single", id, 1, []byte("tiny"))
	completeUpload(t, b, bkt, "single", id, completed(small), backends.CompleteOptions{})
	wantMultipart(t, b, bkt, "single", []byte("tiny"))

	// Completing over an existing object replaces it.
	put(t, b, bkt, "replaced", []byte("old"))
	id = startUpload(t, b, bkt, "replaced", backends.UploadOptions{})
	p := uploadPart(t, b, bkt, "replaced", id, 5, []byte("new"))
	completeUpload(t, b, bkt, "replaced", id, completed(p), backends.CompleteOptions{})
	wantMultipart(t, b, bkt, "replaced", []byte("new"))
}

func testMultipartErrors(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-mp-errors", "k"
	createBucket(t, b, bkt)
	_, err := b.CreateMultipartUpload(ctx, "bt-missing", key, backends.UploadOptions{})
	wantErr(t, "CreateMultipartUpload in a missing bucket", err, backends.ErrNoSuchBucket)
	id := startUpload(t, b, bkt, key, backends.UploadOptions{})
	p1, p2 := partBytes(4, backends.MinPartSize), partBytes(5, 10)
	i1 := uploadPart(t, b, bkt, key, id, 1, p1)
	i2 := uploadPart(t, b, bkt, key, id, 2, p2)
	small := uploadPart(t, b, bkt, key, id, 3, []byte("small"))

	body := func() io.Reader { return bytes.NewReader([]byte("x")) }
	for _, tc := range []struct {
		name         string
		bucket, k, u string
		want         error
	}{
		{"unknown upload", bkt, key, "bm90LWFuLXVwbG9hZA", backends.ErrNoSuchUpload},
		{"another key", bkt, "other", id, backends.ErrNoSuchUpload},
		{"missing bucket", "bt-missing", key, id, backends.ErrNoSuchBucket},
		{"path in id", bkt, key, "../" + id, backends.ErrNoSuchUpload},
	} {
		_, err := b.UploadPart(ctx, tc.bucket, tc.k, tc.u, 1, body(), backends.PartOptions{Size: 1})
		wantErr(t, "UploadPart, "+tc.name, err, tc.want)
		_, err = b.ListParts(ctx, tc.bucket, tc.k, tc.u, backends.ListPartsOptions{MaxParts: 10})
		wantErr(t, "ListParts, "+tc.name, err, tc.want)
		_, err = b.CompleteMultipartUpload(ctx, tc.bucket, tc.k, tc.u, completed(i1), backends.CompleteOptions{})
		wantErr(t, "CompleteMultipartUpload, "+tc.name, err, tc.want)
		wantErr(t, "AbortMultipartUpload, "+tc.name, b.AbortMultipartUpload(ctx, tc.bucket, tc.k, tc.u), tc.want)
	}
	_, err = b.ListMultipartUploads(ctx, "bt-missing", backends.ListUploadsOptions{MaxUploads: 10})
	wantErr(t, "ListMultipartUploads in a missing bucket", err, backends.ErrNoSuchBucket)

	stale := i1
	stale.ETag = md5Hex([]byte("something else"))
	missing := backends.PartInfo{Number: 4, ETag: i2.ETag}
	for _, tc := range []struct {
		name  string
		parts []backends.CompletedPart
		want  error
	}{
		{"part never uploaded", completed(i1, missing), backends.ErrInvalidPart},
		{"wrong ETag", completed(stale, i2), backends.ErrInvalidPart},
		{"descending", completed(i2, i1), backends.ErrInvalidPartOrder},
		{"repeated", completed(i1, i1, i2), backends.ErrInvalidPartOrder},
		{"small part before the last", completed(i1, i2, small), backends.ErrEntityTooSmall},
	} {
		_, err := b.CompleteMultipartUpload(ctx, bkt, key, id, tc.parts, backends.CompleteOptions{})
		wantErr(t, "CompleteMultipartUpload, "+tc.name, err, tc.want)
	}
	// The part errors name the part.
	for _, tc := range []struct {
		parts []backends.CompletedPart
		want  backends.PartError
	}{
		{completed(stale, i2), backends.PartError{Err: backends.ErrInvalidPart, Number: 1, ETag: stale.ETag}},
		{completed(i1, missing), backends.PartError{Err: backends.ErrInvalidPart, Number: 4, ETag: missing.ETag}},
		{completed(i1, i2, small), backends.PartError{Err: backends.ErrEntityTooSmall, Number: 2, ETag: i2.ETag, Size: 10}},
	} {
		_, err := b.CompleteMultipartUpload(ctx, bkt, key, id, tc.parts, backends.CompleteOptions{})
		var pe *backends.PartError
		if !errors.As(err, &pe) || pe.Err != tc.want.Err || pe.Number != tc.want.Number || pe.ETag != tc.want.ETag ||
			(tc.want.Size != 0 && pe.Size != tc.want.Size) {
			t.Errorf("CompleteMultipartUpload error = %#v, want %+v", err, tc.want)
		}
	}
	wantAbsent(t, b, bkt, key)

	// A failed or oversized part body leaves no part behind.
	_, err = b.UploadPart(ctx, bkt, key, id, 7, io.MultiReader(bytes.NewReader(p2), iotest.ErrReader(errBoom)), backends.PartOptions{Size: -1})
	wantErr(t, "UploadPart with a failing body", err, errBoom)
	_, err = b.UploadPart(ctx, bkt, key, id, 8, bytes.NewReader(p2), backends.PartOptions{Size: 5})
	wantErr(t, "UploadPart with a long body", err, backends.ErrSizeMismatch)
	_, err = b.UploadPart(ctx, bkt, key, id, 2, bytes.NewReader(p2[:5]), backends.PartOptions{Size: 10})
	wantErr(t, "UploadPart with a short body", err, backends.ErrIncompleteBody)
	page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 100})
	if err != nil || len(page.Parts) != 3 || page.Parts[1].ETag != i2.ETag {
		t.Fatalf("ListParts after failed parts = %+v, %v; want parts 1-3 unchanged", page.Parts, err)
	}

	// The failed completions left the upload intact.
	completeUpload(t, b, bkt, key, id, completed(i1, i2), backends.CompleteOptions{})
	wantMultipart(t, b, bkt, key, p1, p2)
	wantNoUpload(t, b, bkt, key, id)

	// Abort removes the upload; a second abort finds nothing.
	id = startUpload(t, b, bkt, key, backends.UploadOptions{})
	uploadPart(t, b, bkt, key, id, 1, []byte("doomed"))
	if err := b.AbortMultipartUpload(ctx, bkt, key, id); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	wantNoUpload(t, b, bkt, key, id)
	wantErr(t, "second AbortMultipartUpload", b.AbortMultipartUpload(ctx, bkt, key, id), backends.ErrNoSuchUpload)
	_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(i1), backends.CompleteOptions{})
	wantErr(t, "CompleteMultipartUpload after abort", err, backends.ErrNoSuchUpload)
	wantMultipart(t, b, bkt, key, p1, p2) // the aborted upload did not touch the object
}

// testPartReplacement uploads a part number twice: the second replaces
// the first.
func testPartReplacement(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-mp-replace", "k"
	createBucket(t, b, bkt)
	id := startUpload(t, b, bkt, key, backends.UploadOptions{})
	first := uploadPart(t, b, bkt, key, id, 1, partBytes(6, backends.MinPartSize+1))
	second := partBytes(7, backends.MinPartSize+2)
	replaced := uploadPart(t, b, bkt, key, id, 1, second)
	last := []byte("the end")
	end := uploadPart(t, b, bkt, key, id, 2, last)
	page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 10})
	if err != nil || len(page.Parts) != 2 || page.Parts[0].ETag != replaced.ETag || page.Parts[0].Size != replaced.Size {
		t.Fatalf("ListParts = %+v, %v; want part 1 replaced", page.Parts, err)
	}
	_, err = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(first, end), backends.CompleteOptions{})
	wantErr(t, "CompleteMultipartUpload with the replaced part's ETag", err, backends.ErrInvalidPart)
	// Quoted ETags, as clients send them, match too.
	parts := completed(replaced, end)
	parts[0].ETag = `"` + parts[0].ETag + `"`
	completeUpload(t, b, bkt, key, id, parts, backends.CompleteOptions{})
	wantMultipart(t, b, bkt, key, second, last)
}

// testDeleteBucketWithUploads: as in S3, uploads in progress do not keep
// a bucket alive, and go with it.
func testDeleteBucketWithUploads(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-mp-delete-bucket"
	createBucket(t, b, bkt)
	id := startUpload(t, b, bkt, "k", backends.UploadOptions{})
	uploadPart(t, b, bkt, "k", id, 1, []byte("part"))
	if err := b.DeleteBucket(ctx, bkt); err != nil {
		t.Fatalf("DeleteBucket with an upload in progress: %v", err)
	}
	_, err := b.ListMultipartUploads(ctx, bkt, backends.ListUploadsOptions{MaxUploads: 10})
	wantErr(t, "ListMultipartUploads after DeleteBucket", err, backends.ErrNoSuchBucket)
	createBucket(t, b, bkt)
	page, err := b.ListMultipartUploads(ctx, bkt, backends.ListUploadsOptions{MaxUploads: 10})
	if err != nil || len(page.Uploads) != 0 {
		t.Fatalf("recreated bucket lists uploads %+v, %v", page.Uploads, err)
	}
	wantNoUpload(t, b, bkt, "k", id)

	// An object still refuses the delete, uploads or not.
	put(t, b, bkt, "obj", []byte("x"))
	startUpload(t, b, bkt, "k", backends.UploadOptions{})
	wantErr(t, "DeleteBucket with an object", b.DeleteBucket(ctx, bkt), backends.ErrBucketNotEmpty)
}

// errorsIsAny reports whether err is one of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
