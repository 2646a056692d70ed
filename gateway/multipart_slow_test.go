package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3gate/s3gate/backends"
)

// slowComplete makes CompleteMultipartUpload take a while, then answer err
// (or succeed).
type slowComplete struct {
	backends.Backend
	delay time.Duration
	err   error
}

func (s slowComplete) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []backends.CompletedPart, o backends.CompleteOptions) (backends.ObjectInfo, error) {
	time.Sleep(s.delay)
	if s.err != nil {
		return backends.ObjectInfo{}, s.err
	}
	return s.Backend.CompleteMultipartUpload(ctx, bucket, key, id, parts, o)
}

// A Complete that outlasts the quiet period is answered 200 at once, kept
// alive with spaces, and ends with the result, or with an error document
// inside the 200, as S3 does.
func TestSlowCompleteKeepsAlive(t *testing.T) {
	defer func(q, k time.Duration) { completeQuietPeriod, completeKeepAlive = q, k }(completeQuietPeriod, completeKeepAlive)
	completeQuietPeriod, completeKeepAlive = 50*time.Millisecond, 20*time.Millisecond
	for _, fail := range []bool{false, true} {
		var failErr error
		if fail {
			failErr = backends.ErrInvalidPart
		}
		e := newEnv(t, func(_ *Options, b *backends.Backend) {
			*b = slowComplete{Backend: *b, delay: 300 * time.Millisecond, err: failErr}
		})
		e.mkBucket("slow")
		body := expectStatus(t, e.do(req{method: "POST", path: "/slow/k?uploads"}), 200)
		var init struct{ UploadId string }
		xml.Unmarshal(body, &init)
		resp := e.do(req{method: "PUT", path: "/slow/k?partNumber=1&uploadId=" + init.UploadId, body: []byte("part")})
		etag := resp.Header.Get("ETag")
		expectStatus(t, resp, 200)
		doc := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + etag + `</ETag></Part></CompleteMultipartUpload>`
		resp = e.do(req{method: "POST", path: "/slow/k?uploadId=" + init.UploadId, body: []byte(doc)})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		text := string(b)
		if !strings.HasPrefix(text, xml.Header+"  ") {
			t.Errorf("no keep-alive spaces after the declaration: %q", text[:min(len(text), 60)])
		}
		switch {
		case fail && !strings.Contains(text, "<Error><Code>InvalidPart</Code>"):
			t.Errorf("failed Complete: %s", text)
		case !fail && !strings.Contains(text, "<CompleteMultipartUploadResult"):
			t.Errorf("slow Complete: %s", text)
		}
		if fail {
			// The SDK finds the error inside the 200.
			_, err := e.client.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{
				Bucket: aws.String("slow"), Key: aws.String("k"), UploadId: aws.String(init.UploadId),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etag)}}},
			})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidPart" {
				t.Errorf("SDK: %v, want InvalidPart", err)
			}
			continue
		}
		if got := e.get("slow", "k"); string(got) != "part" {
			t.Errorf("object %q", got)
		}
	}
}
