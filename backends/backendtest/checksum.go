package backendtest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// trailingChecksum is a body that sets its checksum only when it ends, as
// the gateway does for a checksum sent in an aws-chunked trailer.
type trailingChecksum struct {
	r   io.Reader
	set *backends.Checksum
	val backends.Checksum
}

func (b *trailingChecksum) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		*b.set = b.val
	}
	return n, err
}

func testChecksum(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-checksum"
	createBucket(t, b, bkt)
	want := backends.Checksum{Algorithm: "CRC32", Value: "DUoRhQ==", Type: "FULL_OBJECT"}
	var cs backends.Checksum
	body := &trailingChecksum{r: strings.NewReader("hello world"), set: &cs, val: want}
	info, err := b.PutObject(ctx, bkt, "k", body, backends.PutOptions{Size: 11, Checksum: &cs})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if info.Checksum != want {
		t.Errorf("PutObject Checksum = %+v, want %+v", info.Checksum, want)
	}
	head, err := b.HeadObject(ctx, bkt, "k", backends.GetOptions{})
	if err != nil || head.Checksum != want {
		t.Errorf("HeadObject Checksum = %+v (%v), want %+v", head.Checksum, err, want)
	}
	_, obj := get(t, b, bkt, "k", backends.GetOptions{})
	if obj.Info.Checksum != want {
		t.Errorf("GetObject Checksum = %+v, want %+v", obj.Info.Checksum, want)
	}
	page, err := b.ListObjects(ctx, bkt, backends.ListOptions{MaxKeys: 10})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Checksum.Algorithm != "CRC32" {
		t.Errorf("ListObjects: %+v (%v), want the CRC32 algorithm listed", page.Objects, err)
	}
	// An overwrite without a checksum keeps none of the old one: it
	// stores none, or (a backend that always stores one, as S3 does) the
	// default CRC64NVME of the new bytes.
	put(t, b, bkt, "k", []byte("plain"))
	deflt := backends.Checksum{Algorithm: "CRC64NVME", Value: b64(digestOf("CRC64NVME", []byte("plain"))), Type: "FULL_OBJECT"}
	if head, err := b.HeadObject(ctx, bkt, "k", backends.GetOptions{}); err != nil || !head.Checksum.IsZero() && head.Checksum != deflt {
		t.Errorf("after overwrite: Checksum = %+v (%v), want none or %+v", head.Checksum, err, deflt)
	}

	// A body of several MiB, every algorithm: the algorithm is set before
	// the body is read (as the gateway sets it), the value only at its
	// end.
	for _, alg := range []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"} {
		data := partBytes(60, 3<<20+17)
		want := backends.Checksum{Algorithm: alg, Value: b64(digestOf(alg, data)), Type: "FULL_OBJECT"}
		cs := backends.Checksum{Algorithm: alg, Type: "FULL_OBJECT"}
		body := &trailingChecksum{r: bytes.NewReader(data), set: &cs, val: want}
		key := "large-" + alg
		info, err := b.PutObject(ctx, bkt, key, body, backends.PutOptions{Size: int64(len(data)), Checksum: &cs})
		if err != nil {
			t.Fatalf("PutObject(%s): %v", key, err)
		}
		if info.Checksum != want {
			t.Errorf("PutObject(%s) Checksum = %+v, want %+v", key, info.Checksum, want)
		}
		if head, err := b.HeadObject(ctx, bkt, key, backends.GetOptions{}); err != nil || head.Checksum != want {
			t.Errorf("HeadObject(%s) Checksum = %+v (%v), want %+v", key, head.Checksum, err, want)
		}
		wantBody(t, b, bkt, key, data)
	}
}
