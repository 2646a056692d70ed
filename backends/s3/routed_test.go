package s3

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/backends/router"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity"
)

// TestRoutedCopies serves a gateway over two backends, as serve does with
// a `buckets` section: photos on this Store (versitygw, through a relay
// that counts bytes), scratch on a local fs backend. An SDK client copies
// with CopyObject and UploadPartCopy: within photos the backend copies
// (no object bytes pass s3gate), between photos and scratch s3gate
// streams GET -> PUT.
func TestRoutedCopies(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	ctx := t.Context()
	r := newRelay(t, strings.TrimPrefix(vgw.endpoint, "http://"), false)
	opts := testOptions(map[string]Mapping{"*": {Bucket: namespace() + "-*"}})
	opts.Endpoint = r.endpoint()
	origin, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	local, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	rt, err := router.New(map[string]backends.Backend{"origin": origin, "fs": local}, map[string]string{"scratch": "fs"}, "origin")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	const ak, sk = "AKIDROUTED", "routed-test-secret"
	keys := identity.NewKeys(identity.AccessKey{ID: ak, Secret: sk, Principal: identity.RootPrincipal()})
	srv := httptest.NewServer(gateway.New(rt, cat, keys, gateway.Options{Region: "us-east-1", MaxRequests: 64}))
	defer srv.Close()
	c := s3sdk.New(s3sdk.Options{BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""), HTTPClient: srv.Client()})

	for _, b := range []string{"photos", "scratch"} {
		if _, err := c.CreateBucket(ctx, &s3sdk.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("CreateBucket(%s): %v", b, err)
		}
	}
	// Each bucket lives on its backend, and only there.
	if _, err := origin.HeadBucket(ctx, "photos"); err != nil {
		t.Errorf("photos is not on the s3 backend: %v", err)
	}
	if _, err := local.HeadBucket(ctx, "scratch"); err != nil {
		t.Errorf("scratch is not on the fs backend: %v", err)
	}
	if _, err := origin.HeadBucket(ctx, "scratch"); !errors.Is(err, backends.ErrNoSuchBucket) {
		t.Errorf("scratch is on the s3 backend too: %v", err)
	}

	const size = 6 << 20 // a part that need not be the last
	put := func(bucket, key string, data []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3sdk.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
		}
	}
	get := func(bucket, key string) []byte {
		t.Helper()
		out, err := c.GetObject(ctx, &s3sdk.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	photo, note := genBytes(20, size), genBytes(21, size)
	put("photos", "src", photo)
	put("scratch", "src", note)

	// moved runs fn and returns the bytes it sent to the s3 backend and
	// read from it.
	moved := func(fn func()) (up, down int64) {
		u, d := r.up.Load(), r.down.Load()
		fn()
		return r.up.Load() - u, r.down.Load() - d
	}
	copyObject := func(src, bucket, key string) {
		t.Helper()
		if _, err := c.CopyObject(ctx, &s3sdk.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(src)}); err != nil {
			t.Fatalf("CopyObject(%s -> %s/%s): %v", src, bucket, key, err)
		}
	}
	// carried reports whether n bytes on one side of the relay match
	// whether an object crossed it that way: all of it, or only requests
	// and answers.
	carried := func(n int64, crossed bool) bool {
		if crossed {
			return n >= size
		}
		return n < 256<<10
	}
	for _, tc := range []struct {
		name, src, bucket, key string
		want                   []byte
		up, down               bool // whether the object crosses the relay that way
	}{
		{"within the s3 backend", "photos/src", "photos", "copy", photo, false, false},
		{"s3 -> fs", "photos/src", "scratch", "from-photos", photo, false, true},
		{"fs -> s3", "scratch/src", "photos", "from-scratch", note, true, false},
	} {
		up, down := moved(func() { copyObject(tc.src, tc.bucket, tc.key) })
		if !carried(up, tc.up) || !carried(down, tc.down) {
			t.Errorf("CopyObject %s: %d bytes to the s3 backend, %d from it", tc.name, up, down)
		}
		if got := get(tc.bucket, tc.key); !bytes.Equal(got, tc.want) {
			t.Errorf("CopyObject %s: the copy differs from its source", tc.name)
		}
	}

	// UploadPartCopy into photos: part 1 from photos (the backend copies),
	// part 2 from scratch (streamed through s3gate).
	mp, err := c.CreateMultipartUpload(ctx, &s3sdk.CreateMultipartUploadInput{Bucket: aws.String("photos"), Key: aws.String("parts")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, tc := range []struct {
		src      string
		crossing bool
	}{{"photos/src", false}, {"scratch/src", true}} {
		n := int32(i + 1)
		var out *s3sdk.UploadPartCopyOutput
		up, down := moved(func() {
			out, err = c.UploadPartCopy(ctx, &s3sdk.UploadPartCopyInput{Bucket: aws.String("photos"), Key: aws.String("parts"),
				UploadId: mp.UploadId, PartNumber: aws.Int32(n), CopySource: aws.String(tc.src)})
		})
		if err != nil {
			t.Fatalf("UploadPartCopy(%s): %v", tc.src, err)
		}
		if !carried(up, tc.crossing) || !carried(down, false) {
			t.Errorf("UploadPartCopy from %s: %d bytes to the s3 backend, %d from it", tc.src, up, down)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3sdk.CompleteMultipartUploadInput{Bucket: aws.String("photos"), Key: aws.String("parts"),
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	if got := get("photos", "parts"); !bytes.Equal(got, append(append([]byte{}, photo...), note...)) {
		t.Errorf("the object of copied parts differs from its sources")
	}
}
