package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// TestStreamedContentMD5: the client's Content-MD5 of a streamed body
// (object or part) goes to the backend, which checks it too: the right
// one is sent as is (the relay sees the header), a wrong one makes the
// backend refuse the body.
func TestStreamedContentMD5(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	r := newRelay(t, strings.TrimPrefix(vgw.endpoint, "http://"), true)
	opts := testOptions(nil)
	opts.Endpoint = r.endpoint()
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	bkt := namespace() + "-md5"
	if err := s.CreateBucket(t.Context(), bkt); err != nil {
		t.Fatal(err)
	}
	data := genBytes(7, 2*inlineMax+123)
	sum := md5.Sum(data)
	good := base64.StdEncoding.EncodeToString(sum[:])
	bad := base64.StdEncoding.EncodeToString(make([]byte, md5.Size))

	// PutObject.
	if _, err := s.PutObject(t.Context(), bkt, "k", bytes.NewReader(data), backends.PutOptions{Size: int64(len(data)), ContentMD5: good}); err != nil {
		t.Fatalf("PutObject with the right Content-MD5: %v", err)
	}
	if !r.sent([]byte("Content-Md5: " + good + "\r\n")) {
		t.Fatal("the backend did not receive the client's Content-MD5")
	}
	_, err = s.PutObject(t.Context(), bkt, "k", bytes.NewReader(data), backends.PutOptions{Size: int64(len(data)), ContentMD5: bad})
	if !errors.Is(err, backends.ErrBadDigest) {
		t.Fatalf("PutObject with a wrong Content-MD5: %v, want ErrBadDigest from the backend", err)
	}
	if got := mustGet(t, s, bkt, "k"); !bytes.Equal(got, data) {
		t.Fatal("the refused PUT changed the object")
	}

	// UploadPart.
	up, err := s.CreateMultipartUpload(t.Context(), bkt, "mp", backends.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortMultipartUpload(t.Context(), bkt, "mp", up)
	_, err = s.UploadPart(t.Context(), bkt, "mp", up, 1, bytes.NewReader(data), backends.PartOptions{Size: int64(len(data)), ContentMD5: bad})
	if !errors.Is(err, backends.ErrBadDigest) {
		t.Fatalf("UploadPart with a wrong Content-MD5: %v, want ErrBadDigest from the backend", err)
	}
	part, err := s.UploadPart(t.Context(), bkt, "mp", up, 1, bytes.NewReader(data), backends.PartOptions{Size: int64(len(data)), ContentMD5: good})
	if err != nil {
		t.Fatalf("UploadPart with the right Content-MD5: %v", err)
	}
	if want := hex.EncodeToString(sum[:]); part.ETag != want {
		t.Fatalf("part ETag %s, want %s", part.ETag, want)
	}
}
