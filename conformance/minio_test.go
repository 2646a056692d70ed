package conformance

// minio-go signs uploads chunk by chunk over plain http
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with a signed trailer when asked for
// a checksum); over https it sends UNSIGNED-PAYLOAD, or an unsigned trailer
// with the checksum asked for.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

var minioChecksums = map[string]minio.ChecksumType{
	"CRC32":     minio.ChecksumCRC32,
	"CRC32C":    minio.ChecksumCRC32C,
	"CRC64NVME": minio.ChecksumCRC64NVME,
	"SHA1":      minio.ChecksumSHA1,
	"SHA256":    minio.ChecksumSHA256,
}

func newMinioClient(t *testing.T, s *server, transport http.RoundTripper, trailingHeaders bool) *minio.Client {
	t.Helper()
	u, err := url.Parse(s.S3URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:           miniocreds.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:          u.Scheme == "https",
		Transport:       transport,
		Region:          "us-east-1",
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: trailingHeaders,
		MaxRetries:      1,
	})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c
}

func TestMinioGo(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			var opts serverOptions
			if scheme == "https" {
				opts.TLS = newTestPKI(t)
			}
			s := startServerOpts(t, opts)
			wire := &wireRecorder{next: s.HTTP.Transport}
			mc := newMinioClient(t, s, wire, false)
			// Checksums need TrailingHeaders: minio-go refuses them
			// otherwise.
			mcTrail := newMinioClient(t, s, wire, true)
			bucket := newBucketName(t)
			if err := mc.MakeBucket(testContext(t), bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
				t.Fatalf("MakeBucket: %v", err)
			}

			type tc struct {
				name     string
				client   *minio.Client
				size     int
				checksum string // PutObjectOptions.Checksum
				want     wantUpload
			}
			var cases []tc
			if scheme == "http" {
				// Sizes around minio-go's 64 KiB chunks; 5 MiB is many.
				for _, size := range []int{0, 1, 64 << 10, 64<<10 + 1, 5<<20 + 3} {
					cases = append(cases, tc{name: fmt.Sprintf("streaming-%d", size), client: mc, size: size, want: wantUpload{Payload: payloadStreaming}})
				}
				// Over http minio-go adds no checksum of its own, but
				// names one in x-amz-checksum-algorithm.
				cases = append(cases, tc{name: "streaming-trailing-headers", client: mcTrail, size: 100 << 10, want: wantUpload{Payload: payloadStreaming}})
				for alg := range minioChecksums {
					cases = append(cases, tc{name: "streaming-trailer-" + alg, client: mcTrail, size: 150<<10 + 5, checksum: alg,
						want: wantUpload{payloadStreamingTrailer, alg, sourceTrailer}})
				}
			} else {
				cases = append(cases,
					tc{name: "unsigned", client: mc, size: 300 << 10, want: wantUpload{Payload: payloadUnsigned}},
					// minio-go names CRC32C in x-amz-checksum-algorithm,
					// and that header then stops it adding the CRC32C.
					tc{name: "trailing-headers", client: mcTrail, size: 300<<10 + 9, want: wantUpload{Payload: payloadUnsigned}},
				)
				for alg := range minioChecksums {
					cases = append(cases, tc{name: "unsigned-trailer-" + alg, client: mcTrail, size: 150<<10 + 5, checksum: alg,
						want: wantUpload{payloadUnsignedTrailer, alg, sourceTrailer}})
				}
			}

			sdk := s.client()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					key := "minio/" + c.name
					data := testData("minio:"+scheme+key, c.size)
					var po minio.PutObjectOptions
					if c.checksum != "" {
						po.Checksum = minioChecksums[c.checksum]
					}
					info, err := c.client.PutObject(testContext(t), bucket, key, bytes.NewReader(data), int64(len(data)), po)
					if err != nil {
						t.Fatalf("minio-go PutObject %s (%d bytes): %v", key, len(data), err)
					}
					name := "minio-go over " + scheme
					wire.requireSent(t, name, key, c.want)
					s.requireUpload(t, name, bucket, key, c.want)
					if `"`+info.ETag+`"` != quotedMD5(data) || info.Size != int64(len(data)) {
						t.Errorf("PutObject: ETag %s size %d, want %s %d", info.ETag, info.Size, quotedMD5(data), len(data))
					}

					obj, err := c.client.GetObject(testContext(t), bucket, key, minio.GetObjectOptions{})
					if err != nil {
						t.Fatalf("minio-go GetObject: %v", err)
					}
					got, err := io.ReadAll(obj)
					obj.Close()
					if err != nil || !bytes.Equal(got, data) {
						t.Errorf("minio-go GetObject %s: %d bytes sha256 %s (%v), want %d bytes sha256 %s", key, len(got), sha256Hex(got), err, len(data), sha256Hex(data))
					}
					// The stored checksum, read back by the Go SDK.
					requireStoredChecksum(t, sdk, bucket, key, c.want.Checksum, data)
				})
			}

			if scheme == "http" {
				// A chunk changed in flight fails its signature; nothing
				// is stored.
				t.Run("corrupted-chunk", func(t *testing.T) {
					const key = "minio/corrupted"
					wire.mu.Lock()
					wire.corruptUpload = true
					wire.mu.Unlock()
					data := testData("minio-corrupted", 200<<10)
					_, err := mc.PutObject(testContext(t), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
					wire.mu.Lock()
					wire.corruptUpload = false
					wire.mu.Unlock()
					if resp := minio.ToErrorResponse(err); err == nil || resp.StatusCode != http.StatusForbidden || resp.Code != "SignatureDoesNotMatch" {
						t.Errorf("PutObject with a chunk corrupted in flight: %v (status %d code %q), want 403 SignatureDoesNotMatch", err, resp.StatusCode, resp.Code)
					}
					if _, err := mc.StatObject(testContext(t), bucket, key, minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
						t.Errorf("StatObject after the refused upload: %v, want 404", err)
					}
				})
			}
		})
	}
}
