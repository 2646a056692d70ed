package conformance

// Every upload encoding a real client sends, over https and plain http. The
// clients choose the encoding by scheme: over https aws-sdk-go-v2 sends
// aws-chunked bodies with a trailing checksum; over http it signs the
// payload hash and sends the checksum in a header. Each case checks the
// bytes, the client's wire request and s3gate's own access log line, so a
// case cannot pass on the wrong path.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// allChecksums are the algorithms S3 accepts in x-amz-checksum-*.
var allChecksums = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// sdkChecksum returns the checksum of an algorithm from a GetObject or
// PutObject output.
func sdkChecksum(alg string, crc32, crc32c, crc64nvme, sha1, sha256 *string) string {
	return aws.ToString(map[string]*string{"CRC32": crc32, "CRC32C": crc32c, "CRC64NVME": crc64nvme, "SHA1": sha1, "SHA256": sha256}[alg])
}

// oneShotReader hides a body's Seek, as a pipe or socket would.
type oneShotReader struct{ io.Reader }

func TestSDKUploadEncodings(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"https", "http"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			var opts serverOptions
			if scheme == "https" {
				opts.TLS = newTestPKI(t)
			}
			s := startServerOpts(t, opts)
			wire := &wireRecorder{next: s.HTTP.Transport}
			viaWire := func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: wire} }
			whenRequired := func(o *s3.Options) {
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			}
			clients := map[string]*s3.Client{
				"default":      s.client(viaWire),
				"WhenRequired": s.client(viaWire, whenRequired),
			}
			bucket := newBucketName(t)
			createBucket(t, clients["default"], bucket)

			// What aws-sdk-go-v2 sends for a body with a checksum.
			withChecksum := func(alg string) wantUpload {
				if scheme == "https" {
					return wantUpload{payloadUnsignedTrailer, alg, sourceTrailer}
				}
				return wantUpload{payloadSHA256, alg, sourceHeader}
			}
			// Without a checksum (or with an empty body, which never
			// goes aws-chunked) the SDK signs the payload hash over
			// http only; over https it sends UNSIGNED-PAYLOAD.
			plain := payloadSHA256
			if scheme == "https" {
				plain = payloadUnsigned
			}
			type tc struct {
				name       string
				client     string
				alg        types.ChecksumAlgorithm
				size       int
				unseekable bool
				want       wantUpload
			}
			cases := []tc{
				{name: "default", client: "default", size: 1<<20 + 7, want: withChecksum("CRC32")},
				{name: "default-one-byte", client: "default", size: 1, want: withChecksum("CRC32")},
				{name: "default-64KiB", client: "default", size: 64 << 10, want: withChecksum("CRC32")},
				{name: "default-empty", client: "default", size: 0, want: wantUpload{plain, "CRC32", sourceHeader}},
				{name: "when-required", client: "WhenRequired", size: 300<<10 + 1, want: wantUpload{Payload: plain}},
				{name: "when-required-sha256", client: "WhenRequired", alg: types.ChecksumAlgorithmSha256, size: 300 << 10, want: withChecksum("SHA256")},
			}
			if scheme == "https" {
				// Only with a trailer can the SDK stream a body it
				// cannot rewind.
				cases = append(cases, tc{name: "default-unseekable", client: "default", size: 700<<10 + 3, unseekable: true, want: withChecksum("CRC32")})
			}
			for _, alg := range allChecksums {
				cases = append(cases, tc{name: "algorithm-" + alg, client: "default", alg: types.ChecksumAlgorithm(alg), size: 200<<10 + 11, want: withChecksum(alg)})
			}

			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					client := clients[c.client]
					key := "enc/" + c.name
					data := testData(scheme+key, c.size)
					in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: c.alg}
					if c.unseekable {
						in.Body, in.ContentLength = oneShotReader{bytes.NewReader(data)}, aws.Int64(int64(len(data)))
					}
					put, err := client.PutObject(testContext(t), in)
					if err != nil {
						t.Fatalf("PutObject %s (%d bytes): %v", key, len(data), err)
					}
					name := fmt.Sprintf("aws-sdk-go-v2 %s over %s", c.client, scheme)
					wire.requireSent(t, name, key, c.want)
					s.requireUpload(t, name, bucket, key, c.want)
					if got, want := aws.ToString(put.ETag), quotedMD5(data); got != want {
						t.Errorf("PutObject ETag %s, want %s", got, want)
					}
					if c.want.Checksum != "" {
						got := sdkChecksum(c.want.Checksum, put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumCRC64NVME, put.ChecksumSHA1, put.ChecksumSHA256)
						if want := checksumOf(t, c.want.Checksum, data); got != want {
							t.Errorf("PutObject x-amz-checksum-%s %q, want %q", strings.ToLower(c.want.Checksum), got, want)
						}
					}
					requireStoredChecksum(t, client, bucket, key, c.want.Checksum, data)
				})
			}

			// A body changed in flight after the SDK computed its digests
			// is refused, and nothing is stored.
			t.Run("corrupted-upload", func(t *testing.T) {
				const key = "enc/corrupted"
				wire.mu.Lock()
				wire.corruptUpload = true
				wire.mu.Unlock()
				_, err := clients["default"].PutObject(testContext(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
					Body: bytes.NewReader(testData("corrupted", 100<<10))})
				wire.mu.Lock()
				wire.corruptUpload = false
				wire.mu.Unlock()
				code, status := apiError(err)
				// Over https only the trailing CRC32 covers the body;
				// over http the signed payload hash does too.
				wantCodes := []string{"BadDigest"}
				if scheme == "http" {
					wantCodes = append(wantCodes, "XAmzContentSHA256Mismatch")
				}
				if err == nil || status != http.StatusBadRequest || !slices.Contains(wantCodes, code) {
					t.Errorf("PutObject of a body corrupted in flight: %v (code %q, status %d), want 400 %s", err, code, status, strings.Join(wantCodes, " or "))
				}
				_, err = clients["default"].HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				wantAPIError(t, "HeadObject after the refused upload", err, "", http.StatusNotFound)
			})

			// The SDK checks the stored checksum s3gate returns: a body
			// changed in flight fails the read.
			t.Run("corrupted-download", func(t *testing.T) {
				const key = "enc/algorithm-CRC32"
				wire.mu.Lock()
				wire.corruptDownload = true
				wire.mu.Unlock()
				defer func() {
					wire.mu.Lock()
					wire.corruptDownload = false
					wire.mu.Unlock()
				}()
				out, err := clients["default"].GetObject(testContext(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				_, err = io.ReadAll(out.Body)
				out.Body.Close()
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "checksum") {
					t.Errorf("reading a body corrupted in flight with ChecksumMode ENABLED: %v, want the SDK's checksum mismatch", err)
				}
			})
		})
	}
}

// requireStoredChecksum reads the object back with ChecksumMode ENABLED:
// the bytes must match, and s3gate must return the checksum the upload
// declared (the SDK validates the body against it as it reads).
func requireStoredChecksum(t *testing.T, c *s3.Client, bucket, key, alg string, data []byte) {
	t.Helper()
	out, err := c.GetObject(testContext(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("GetObject %s with ChecksumMode ENABLED: %v", key, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatalf("GetObject %s with ChecksumMode ENABLED: reading (the SDK validates the checksum here): %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("GetObject %s: %d bytes sha256 %s, want %d bytes sha256 %s", key, len(got), sha256Hex(got), len(data), sha256Hex(data))
	}
	sums := map[string]string{}
	for _, a := range allChecksums {
		if v := sdkChecksum(a, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256); v != "" {
			sums[a] = v
		}
	}
	if alg == "" {
		// No checksum declared: S3 stores its own CRC64NVME; nothing
		// else may appear.
		for a, v := range sums {
			if a != "CRC64NVME" || v != checksumOf(t, a, data) {
				t.Errorf("GetObject %s: x-amz-checksum-%s %q for an upload that declared no checksum", key, strings.ToLower(a), v)
			}
		}
		return
	}
	if want := checksumOf(t, alg, data); sums[alg] != want || len(sums) != 1 {
		t.Errorf("GetObject %s with ChecksumMode ENABLED: checksums %v, want just %s %s", key, sums, alg, want)
	}
	if out.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("GetObject %s: x-amz-checksum-type %q, want FULL_OBJECT", key, out.ChecksumType)
	}
}
