package sigv4

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3Client drives the verifier with the real aws-sdk-go-v2 S3 client,
// header-signed and presigned, so whatever headers, query parameters and
// path escaping the client uses are covered.
func TestS3Client(t *testing.T) {
	v := &Verifier{Region: testRegion, Secret: secrets(map[string]string{testAccessKey: testSecret})}
	s := newServer(t, v)
	client := s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		UsePathStyle:     true,
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		RetryMaxAttempts: 1,
		HTTPClient:       s.Client(),
	})
	ctx := context.Background()
	bucket := "bucket"
	keys := []string{"plain", "a b", "a+b", "100%", "user@example.com", "ünïcødé/日本語", "a//b", "dir/", "x?y#z&w=v", "~!$'()*,;=:"}

	type op struct {
		name string
		call func() error
		body string // payload the server must read through Result.Body
	}
	var ops []op
	for _, k := range keys {
		body := "content of " + k
		ops = append(ops,
			op{"PutObject " + k, func() error {
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader(body),
					ContentType: aws.String("text/plain; charset=utf-8"),
					Metadata:    map[string]string{"owner": "Zoë  Smith", "note": " spaced "},
					Tagging:     aws.String("a=1&b=two words"),
				})
				return err
			}, body},
			op{"GetObject " + k, func() error {
				_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k), Range: aws.String("bytes=0-9")})
				return err
			}, ""},
			op{"CopyObject " + k, func() error {
				_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(k + ".copy"), CopySource: aws.String(bucket + "/" + k)})
				return err
			}, ""},
		)
	}
	ops = append(ops,
		op{"ListObjectsV2", func() error {
			_, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("ünï cø+dé/"),
				Delimiter: aws.String("/"), StartAfter: aws.String("a b"), MaxKeys: aws.Int32(7)})
			return err
		}, ""},
		op{"DeleteObjects", func() error {
			_, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{
				Objects: []types.ObjectIdentifier{{Key: aws.String("a b")}, {Key: aws.String("c")}}}})
			return err
		}, ""},
		op{"UploadPart", func() error {
			_, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("big file"),
				UploadId: aws.String("id/with+chars="), PartNumber: aws.Int32(3), Body: bytes.NewReader(bytes.Repeat([]byte("x"), 1<<16))})
			return err
		}, strings.Repeat("x", 1<<16)},
	)
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			err := o.call()
			seen := s.next(t)
			if seen.err != nil {
				t.Fatalf("Verify: %v\n%s", seen.err, fieldsOf(seen.err))
			}
			if seen.bodyErr != nil {
				t.Fatalf("body: %v", seen.bodyErr)
			}
			if o.body != "" && string(seen.body) != o.body {
				t.Fatalf("body = %q, want %q", seen.body, o.body)
			}
			_ = err // the server answers with empty bodies the client may not parse
		})
	}

	presigner := s3.NewPresignClient(client, func(o *s3.PresignOptions) { o.Expires = 10 * time.Minute })
	for _, k := range keys {
		t.Run("presigned GetObject "+k, func(t *testing.T) {
			p, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k),
				ResponseContentDisposition: aws.String(`attachment; filename="a b.txt"`)})
			if err != nil {
				t.Fatal(err)
			}
			s.sendPresigned(t, p.Method, p.URL, p.SignedHeader, nil)
		})
		t.Run("presigned PutObject "+k, func(t *testing.T) {
			p, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k),
				ContentType: aws.String("application/octet-stream"), Metadata: map[string]string{"a": "b"}})
			if err != nil {
				t.Fatal(err)
			}
			seen := s.sendPresigned(t, p.Method, p.URL, p.SignedHeader, []byte("uploaded"))
			if string(seen.body) != "uploaded" {
				t.Fatalf("body = %q", seen.body)
			}
		})
	}
}

// next returns what the server saw for the last request.
func (s *server) next(t *testing.T) outcome {
	t.Helper()
	select {
	case o := <-s.seen:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("server saw no request")
		return outcome{}
	}
}

func (s *server) sendPresigned(t *testing.T, method, u string, hdr http.Header, body []byte) outcome {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if !strings.EqualFold(k, "host") {
			req.Header[k] = vs
		}
	}
	o := s.do(t, req)
	if o.err != nil {
		t.Fatalf("Verify %s: %v\n%s", u, o.err, fieldsOf(o.err))
	}
	if o.bodyErr != nil {
		t.Fatalf("body: %v", o.bodyErr)
	}
	return o
}
