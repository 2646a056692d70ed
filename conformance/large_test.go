package conformance

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	largeObjectSize = 1 << 30   // 1 GiB
	maxPeakRSS      = 100 << 20 // 100 MiB
)

// stream is a deterministic pseudo-random byte stream of a fixed length,
// generated on the fly (AES-CTR keystream) so that no test ever holds a
// large object in memory.
type stream struct {
	ctr       cipher.Stream
	remaining int64
}

func newStream(seed string, size int64) *stream {
	key := sha256.Sum256([]byte(seed))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err)
	}
	return &stream{ctr: cipher.NewCTR(block, make([]byte, aes.BlockSize)), remaining: size}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.remaining {
		p = p[:s.remaining]
	}
	clear(p)
	s.ctr.XORKeyStream(p, p)
	s.remaining -= int64(len(p))
	return len(p), nil
}

// streamHashes returns the hex SHA-256 and MD5 of a stream.
func streamHashes(t *testing.T, r io.Reader) (sha, md string) {
	t.Helper()
	hs, hm := sha256.New(), md5.New()
	if _, err := io.CopyBuffer(io.MultiWriter(hs, hm), r, make([]byte, 1<<20)); err != nil {
		t.Fatalf("hashing stream: %v", err)
	}
	return hex.EncodeToString(hs.Sum(nil)), hex.EncodeToString(hm.Sum(nil))
}

// TestLargeObjectMemory streams 1 GiB up and down twice (signed payload
// hash, then UNSIGNED-PAYLOAD) and checks the bytes and s3gate's peak RSS.
func TestLargeObjectMemory(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("skipping the 1 GiB transfer in -short mode (never skipped when CI=true)")
	}
	t.Parallel()
	s := startServer(t)
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Logf("s3gate peak RSS after start: %.1f MiB", float64(s.peakRSS(t))/(1<<20))

	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
	presign := s3.NewPresignClient(c)

	// download streams the object through SHA-256 with a presigned GET.
	download := func(t *testing.T, key string) string {
		t.Helper()
		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(30*time.Minute))
		if err != nil {
			t.Fatalf("PresignGetObject: %v", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, get.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			t.Fatalf("GET %s: status %d: %s", key, resp.StatusCode, body)
		}
		if resp.ContentLength != largeObjectSize {
			t.Errorf("GET %s: Content-Length %d, want %d", key, resp.ContentLength, largeObjectSize)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, resp.Body, make([]byte, 1<<20))
		if err != nil {
			t.Fatalf("GET %s: reading body after %d bytes: %v", key, n, err)
		}
		t.Logf("GET %s: %d bytes in %v", key, n, time.Since(start).Round(time.Millisecond))
		return hex.EncodeToString(h.Sum(nil))
	}

	upload := func(t *testing.T, req *http.Request, key string) *http.Response {
		t.Helper()
		start := time.Now()
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", key, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: status %d: %s", key, resp.StatusCode, body)
		}
		t.Logf("PUT %s: %d bytes in %v", key, int64(largeObjectSize), time.Since(start).Round(time.Millisecond))
		return resp
	}

	t.Run("SignedPayload", func(t *testing.T) {
		const key, seed = "large/signed.bin", "large-signed"
		wantSHA, wantMD5 := streamHashes(t, newStream(seed, largeObjectSize))

		req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.S3URL+"/"+bucket+"/"+key, newStream(seed, largeObjectSize))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = largeObjectSize
		req.Header.Set("X-Amz-Content-Sha256", wantSHA)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, wantSHA, "s3", "us-east-1", time.Now()); err != nil {
			t.Fatalf("signing: %v", err)
		}
		resp := upload(t, req, key)
		if got := resp.Header.Get("ETag"); got != `"`+wantMD5+`"` {
			t.Errorf("PUT %s: ETag %s, want %q", key, got, wantMD5)
		}
		if got := download(t, key); got != wantSHA {
			t.Errorf("GET %s: sha256 %s, want %s", key, got, wantSHA)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Errorf("DeleteObject %s: %v", key, err)
		}
	})

	t.Run("UnsignedPayload", func(t *testing.T) {
		const key, seed = "large/unsigned.bin", "large-unsigned"
		put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(30*time.Minute))
		if err != nil {
			t.Fatalf("PresignPutObject: %v", err)
		}
		hs, hm := sha256.New(), md5.New()
		body := io.TeeReader(newStream(seed, largeObjectSize), io.MultiWriter(hs, hm))
		req, err := http.NewRequestWithContext(ctx, put.Method, put.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = largeObjectSize
		for k, vs := range put.SignedHeader {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp := upload(t, req, key)
		wantSHA, wantMD5 := hexSum(hs), hexSum(hm)
		if got := resp.Header.Get("ETag"); got != `"`+wantMD5+`"` {
			t.Errorf("PUT %s: ETag %s, want %q", key, got, wantMD5)
		}
		if got := download(t, key); got != wantSHA {
			t.Errorf("GET %s: sha256 %s, want %s", key, got, wantSHA)
		}
	})

	peak := s.peakRSS(t)
	t.Logf("s3gate peak RSS (VmHWM) after 2 x 1 GiB up and down: %.1f MiB (limit %d MiB)", float64(peak)/(1<<20), maxPeakRSS>>20)
	if peak > maxPeakRSS {
		t.Errorf("s3gate peak RSS %s exceeds %d MiB: object bodies are being buffered", fmt.Sprintf("%.1f MiB", float64(peak)/(1<<20)), maxPeakRSS>>20)
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
