package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestPresignedRequests(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("pre")
	ctx := context.Background()
	presign := s3.NewPresignClient(e.client)

	put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")},
		s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("presigned body"))
	for k, v := range put.SignedHeader {
		hr.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, resp, 200)

	get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	if b := expectStatus(t, resp, 200); string(b) != "presigned body" {
		t.Fatalf("presigned GET: %q", b)
	}

	// A tampered query fails; an expired URL is refused.
	resp, _ = http.Get(strings.Replace(get.URL, "file%20name", "file%20namf", 1))
	expectError(t, resp, 403, "SignatureDoesNotMatch")
	expired, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")},
		s3.WithPresignExpires(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Move the gateway's clock past the URL's expiry (requests here are
	// sequential, so the change is seen by the next one).
	e.gw.verifier.Now = func() time.Time { return time.Now().Add(time.Minute) }
	defer func() { e.gw.verifier.Now = time.Now }()
	resp, _ = http.Get(expired.URL)
	expectError(t, resp, 403, "AccessDenied")
	io.Copy(io.Discard, resp.Body)
}
