package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// streamSeen is what a streaming test server saw of one upload.
type streamSeen struct {
	mode     string      // x-amz-content-sha256 as verified
	decoded  int64       // Result.DecodedLength
	declared []string    // Result.Trailer
	n        int64       // payload bytes decoded
	sum      [32]byte    // their SHA-256
	trailer  http.Header // from the decoder, after EOF
	err      error       // from Verify, Body or the decoding
}

// newStreamServer runs the real Verifier behind an httptest server on
// 127.0.0.1, plain or TLS, decoding bodies with Result.Body. Its clock is
// now, or the real one when now is zero.
func newStreamServer(t *testing.T, useTLS bool, now time.Time) (*httptest.Server, <-chan streamSeen) {
	t.Helper()
	v := &Verifier{Region: testRegion, Secret: secrets(map[string]string{testAccessKey: testSecret})}
	if !now.IsZero() {
		v.Now = func() time.Time { return now }
	}
	seen := make(chan streamSeen, 8)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s streamSeen
		res, err := v.Verify(r)
		if err == nil {
			s.mode, s.decoded, s.declared = res.PayloadHash, res.DecodedLength, res.Trailer
			var body io.ReadCloser
			if body, err = res.Body(r.Body); err == nil {
				h := sha256.New()
				s.n, err = io.Copy(h, body)
				h.Sum(s.sum[:0])
				if tr, ok := body.(interface{ Trailer() http.Header }); ok {
					s.trailer = tr.Trailer()
				}
			}
		}
		s.err = err
		seen <- s
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
	})
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, seen
}

func nextSeen(t *testing.T, seen <-chan streamSeen) streamSeen {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("server saw no request")
		return streamSeen{}
	}
}

// checkUpload asserts that the server decoded exactly data in mode, with a
// verified trailer named checksum when that is not empty.
func checkUpload(t *testing.T, s streamSeen, mode string, data []byte, checksum, want string) {
	t.Helper()
	t.Logf("client sent %s, decoded length %d, declared trailers %v, trailers %v", s.mode, s.decoded, s.declared, s.trailer)
	if s.err != nil {
		t.Fatalf("server: %v\n%s", s.err, fieldsOf(s.err))
	}
	if s.mode != mode {
		t.Fatalf("client sent %s, want %s", s.mode, mode)
	}
	if s.decoded != int64(len(data)) || s.n != int64(len(data)) || s.sum != sha256.Sum256(data) {
		t.Fatalf("decoded %d bytes (declared %d), want the %d bytes sent", s.n, s.decoded, len(data))
	}
	if checksum == "" {
		if len(s.trailer) != 0 {
			t.Fatalf("unexpected trailers %v", s.trailer)
		}
		return
	}
	if len(s.declared) != 1 || s.declared[0] != checksum {
		t.Fatalf("declared trailers %v, want [%s]", s.declared, checksum)
	}
	if got := s.trailer.Get(checksum); got != want || len(s.trailer) != 1 {
		t.Fatalf("trailers %v, want %s: %s", s.trailer, checksum, want)
	}
}

func checksumOf(data []byte, table *crc32.Table) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, table))
	return base64.StdEncoding.EncodeToString(b[:])
}

// uploadSizes cover an empty object, one chunk, and several 64 KiB chunks
// with a short last one.
var uploadSizes = []int{0, 1, 8 << 10, 200_000, 1<<20 + 7}

// TestAWSSDKStreamingUpload: aws-sdk-go-v2 over https computes a CRC32 by
// default and sends it as a trailer of STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func TestAWSSDKStreamingUpload(t *testing.T) {
	srv, seen := newStreamServer(t, true, time.Time{})
	client := s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		RetryMaxAttempts: 1,
		HTTPClient:       srv.Client(),
		// What config.LoadDefaultConfig resolves to; s3.New alone leaves
		// it unset, which computes no checksum.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	for _, size := range uploadSizes {
		data := newPatternBytes(size)
		for _, seekable := range []bool{true, false} {
			name := "seekable"
			var body io.Reader = bytes.NewReader(data)
			if !seekable {
				name, body = "stream", io.MultiReader(bytes.NewReader(data))
			}
			t.Run(name+"/"+strconv.Itoa(size), func(t *testing.T) {
				_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String("bucket"), Key: aws.String("dir/object " + strconv.Itoa(size)),
					Body: body, ContentLength: aws.Int64(int64(size)),
				})
				s := nextSeen(t, seen)
				if size == 0 {
					// The SDK sends the checksum of an empty body as a header.
					t.Logf("client sent %s for an empty object", s.mode)
					if s.err != nil || s.mode != UnsignedPayload || s.n != 0 {
						t.Fatalf("empty object: %s, %d bytes, %v", s.mode, s.n, s.err)
					}
				} else {
					checkUpload(t, s, StreamingUnsignedTrailer, data, "x-amz-checksum-crc32", checksumOf(data, crc32.IEEETable))
				}
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
			})
		}
	}
}

// TestAWSSDKUnknownLength: given a stream of unknown length, the SDK sends
// aws-chunked without x-amz-decoded-content-length, which S3 refuses.
func TestAWSSDKUnknownLength(t *testing.T) {
	srv, seen := newStreamServer(t, true, time.Time{})
	client := s3.New(s3.Options{
		Region:                     testRegion,
		BaseEndpoint:               aws.String(srv.URL),
		UsePathStyle:               true,
		Credentials:                aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil }),
		RetryMaxAttempts:           1,
		HTTPClient:                 srv.Client(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: io.MultiReader(bytes.NewReader(newPatternBytes(200_000))),
	})
	s := nextSeen(t, seen)
	s3Error(t, s.err, CodeMissingContentLength)
	if err == nil {
		t.Fatal("PutObject succeeded")
	}
}

func minioClient(t *testing.T, srv *httptest.Server, secure, trailers bool) *minio.Client {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:           credentials.NewStaticV4(testAccessKey, testSecret, ""),
		Secure:          secure,
		Region:          testRegion,
		BucketLookup:    minio.BucketLookupPath,
		Transport:       srv.Client().Transport,
		TrailingHeaders: trailers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMinioStreamingUpload drives minio-go, which signs every chunk over
// http (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), signs a CRC32C trailer too when
// asked for a checksum (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), and
// sends that checksum as an unsigned trailer over https. It ends trailer
// lines in LF CRLF. (Its automatic checksum over https is switched off by
// the x-amz-checksum-algorithm header it adds itself, so the checksum is
// asked for explicitly.)
func TestMinioStreamingUpload(t *testing.T) {
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	plain, plainSeen := newStreamServer(t, false, time.Time{})
	secure, secureSeen := newStreamServer(t, true, time.Time{})
	cases := []struct {
		name      string
		client    *minio.Client
		seen      <-chan streamSeen
		opts      minio.PutObjectOptions
		mode      string
		checksum  string // trailer name; "" for none
		emptyMode string // what an empty object is sent as: minio-go adds no trailer to it
	}{
		{"http", minioClient(t, plain, false, false), plainSeen, minio.PutObjectOptions{}, StreamingPayload, "", StreamingPayload},
		{"http checksum", minioClient(t, plain, false, true), plainSeen,
			minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}, StreamingPayloadTrailer, "x-amz-checksum-crc32c", StreamingPayload},
		{"https checksum", minioClient(t, secure, true, true), secureSeen,
			minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}, StreamingUnsignedTrailer, "x-amz-checksum-crc32c", UnsignedPayload},
	}
	for _, c := range cases {
		for _, size := range uploadSizes {
			t.Run(c.name+"/"+strconv.Itoa(size), func(t *testing.T) {
				data := newPatternBytes(size)
				// A reader without Seek, so minio-go streams it.
				_, err := c.client.PutObject(context.Background(), "bucket", "dir/object "+strconv.Itoa(size),
					io.MultiReader(bytes.NewReader(data)), int64(size), c.opts)
				s := nextSeen(t, c.seen)
				switch {
				case size > 0:
					checkUpload(t, s, c.mode, data, c.checksum, checksumOf(data, castagnoli))
				case c.emptyMode == UnsignedPayload:
					t.Logf("client sent %s for an empty object", s.mode)
					if s.err != nil || s.mode != UnsignedPayload || s.n != 0 {
						t.Fatalf("empty object: %s, %d bytes, %v", s.mode, s.n, s.err)
					}
				default:
					checkUpload(t, s, c.emptyMode, data, "", "")
				}
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
			})
		}
	}
}

func newPatternBytes(n int) []byte {
	b, _ := io.ReadAll(newPattern(int64(n)))
	if b == nil {
		b = []byte{}
	}
	return b
}
