package backendtest

import (
	"bytes"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// testCopy covers what the gateway's server-side copies need from a
// backend: an object read while it is overwritten (CopyObject onto itself
// with new metadata), objects copied across buckets, and a part made from a
// range of another object (UploadPartCopy), all streamed Get -> Put.
func testCopy(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const src, dst = "bt-copy-src", "bt-copy-dst"
	createBucket(t, b, src)
	createBucket(t, b, dst)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	put(t, b, src, "k", data)

	// Onto itself: the body being read is the object being replaced.
	obj, err := b.GetObject(ctx, src, "k", backends.GetOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	info, err := b.PutObject(ctx, src, "k", obj.Body, backends.PutOptions{Size: obj.Info.Size,
		ContentHeaders: backends.ContentHeaders{ContentType: "text/plain"}, Metadata: map[string]string{"copied": "yes"}})
	obj.Body.Close()
	if err != nil {
		t.Fatalf("PutObject onto itself: %v", err)
	}
	if info.ETag != md5Hex(data) {
		t.Errorf("self copy ETag %s, want %s", info.ETag, md5Hex(data))
	}
	wantBody(t, b, src, "k", data)
	head, err := b.HeadObject(ctx, src, "k", backends.GetOptions{})
	if err != nil || head.Metadata["copied"] != "yes" || head.ContentType != "text/plain" {
		t.Errorf("self copy metadata: %+v %v", head, err)
	}

	// Across buckets.
	obj, err = b.GetObject(ctx, src, "k", backends.GetOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	_, err = b.PutObject(ctx, dst, "copy", obj.Body, backends.PutOptions{Size: obj.Info.Size})
	obj.Body.Close()
	if err != nil {
		t.Fatalf("PutObject across buckets: %v", err)
	}
	wantBody(t, b, dst, "copy", data)

	// A part from a range of another object, completed alone.
	id, err := b.CreateMultipartUpload(ctx, dst, "from-range", backends.UploadOptions{})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	obj, err = b.GetObject(ctx, src, "k", backends.GetOptions{Range: &backends.Range{Start: 100, End: 1099}})
	if err != nil {
		t.Fatalf("GetObject range: %v", err)
	}
	part, err := b.UploadPart(ctx, dst, "from-range", id, 1, obj.Body, backends.PartOptions{Size: obj.Range.Length()})
	obj.Body.Close()
	if err != nil {
		t.Fatalf("UploadPart from a range: %v", err)
	}
	if _, err := b.CompleteMultipartUpload(ctx, dst, "from-range", id, []backends.CompletedPart{{Number: 1, ETag: part.ETag}}, backends.CompleteOptions{}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if got, _ := get(t, b, dst, "from-range", backends.GetOptions{}); !bytes.Equal(got, data[100:1100]) {
		t.Errorf("object from a range: %d bytes, want bytes 100..1099 of the source", len(got))
	}
}
