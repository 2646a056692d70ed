package conformance

// s3gate's memory under a multipart upload of 2 GiB and its download. The
// parts are generated on the fly and never held by the test; several are
// in flight at once, as real clients send them, so that a gateway that
// buffered whole parts would hold several of them at the same time and
// fail the limit.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	rssObjectSize  = 2 << 30  // 2 GiB
	rssPartSize    = 64 << 20 // 64 MiB
	rssParts       = rssObjectSize / rssPartSize
	rssConcurrency = 4
)

// rssPart is part n (1-based) of the object: its own deterministic stream.
func rssPart(n int) io.Reader { return newStream(fmt.Sprintf("rss-part-%d", n), rssPartSize) }

var multipartETagRE = regexp.MustCompile(`^"[0-9a-f]{32}-(\d+)"$`)

func TestMultipartMemory(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("skipping the 2 GiB multipart transfer in -short mode (never skipped when CI=true)")
	}
	t.Parallel()
	s := startServer(t)
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	const key = "rss/two-gib.bin"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
	signer := v4.NewSigner()
	t.Logf("s3gate peak RSS after start: %.1f MiB", float64(s.peakRSS(t))/(1<<20))

	// The expected digest of the whole object, computed alongside (the
	// parts' generators cannot fail, nor can hashing).
	wantSHA := make(chan string, 1)
	go func() {
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for n := 1; n <= rssParts; n++ {
			io.CopyBuffer(h, rssPart(n), buf)
		}
		wantSHA <- hex.EncodeToString(h.Sum(nil))
	}()

	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	uploadID := aws.ToString(created.UploadId)

	// uploadPart sends part n as a raw request: UNSIGNED-PAYLOAD, the body
	// streamed from its generator with a known Content-Length.
	uploadPart := func(n int) (string, error) {
		u := fmt.Sprintf("%s/%s/%s?partNumber=%d&uploadId=%s", s.S3URL, bucket, key, n, url.QueryEscape(uploadID))
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, rssPart(n))
		if err != nil {
			return "", err
		}
		req.ContentLength = rssPartSize
		req.Header.Set("X-Amz-Content-Sha256", payloadUnsigned)
		if err := signer.SignHTTP(ctx, creds, req, payloadUnsigned, "s3", "us-east-1", time.Now()); err != nil {
			return "", err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return resp.Header.Get("ETag"), nil
	}

	start := time.Now()
	etags := make([]string, rssParts+1)
	errs := make([]error, rssParts+1)
	next := make(chan int)
	var wg sync.WaitGroup
	for range rssConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				etags[n], errs[n] = uploadPart(n)
			}
		}()
	}
	for n := 1; n <= rssParts; n++ {
		next <- n
	}
	close(next)
	wg.Wait()
	parts := make([]types.CompletedPart, 0, rssParts)
	for n := 1; n <= rssParts; n++ {
		if errs[n] != nil {
			t.Fatalf("UploadPart %d: %v", n, errs[n])
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: aws.String(etags[n])})
	}
	upload := time.Since(start)
	afterParts := s.peakRSS(t)

	start = time.Now()
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	complete := time.Since(start)
	if m := multipartETagRE.FindStringSubmatch(aws.ToString(done.ETag)); m == nil || m[1] != fmt.Sprint(rssParts) {
		t.Errorf("CompleteMultipartUpload: ETag %s, want a multipart ETag of %d parts", aws.ToString(done.ETag), rssParts)
	}
	afterComplete := s.peakRSS(t)
	t.Logf("upload: %d parts of %d MiB, %d at a time, in %v (%.0f MiB/s); CompleteMultipartUpload in %v",
		rssParts, rssPartSize>>20, rssConcurrency, upload.Round(time.Millisecond), float64(rssObjectSize)/(1<<20)/upload.Seconds(), complete.Round(time.Millisecond))

	// Down: one GET of the whole object, streamed through SHA-256.
	start = time.Now()
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, noResponseChecksum)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, get.Body, make([]byte, 1<<20))
	get.Body.Close()
	if err != nil {
		t.Fatalf("GetObject: reading after %d bytes: %v", n, err)
	}
	download := time.Since(start)
	t.Logf("download: %d bytes in %v (%.0f MiB/s)", n, download.Round(time.Millisecond), float64(n)/(1<<20)/download.Seconds())
	if aws.ToInt64(get.ContentLength) != rssObjectSize || aws.ToString(get.ETag) != aws.ToString(done.ETag) {
		t.Errorf("GetObject: Content-Length %d ETag %s, want %d %s", aws.ToInt64(get.ContentLength), aws.ToString(get.ETag), int64(rssObjectSize), aws.ToString(done.ETag))
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), <-wantSHA; got != want || n != rssObjectSize {
		t.Errorf("GetObject: %d bytes sha256 %s, want %d bytes sha256 %s", n, got, int64(rssObjectSize), want)
	}

	peak := s.peakRSS(t)
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("s3gate peak RSS (VmHWM): %s after the parts, %s after CompleteMultipartUpload, %s after the download (limit %d MiB)",
		mib(afterParts), mib(afterComplete), mib(peak), maxPeakRSS>>20)
	if peak > maxPeakRSS {
		t.Errorf("s3gate peak RSS %s exceeds %d MiB over a 2 GiB multipart upload (%d parts of %d MiB, %d at a time) and its download: bodies are being buffered",
			mib(peak), maxPeakRSS>>20, rssParts, rssPartSize>>20, rssConcurrency)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Errorf("DeleteObject: %v", err)
	}
}
