package sigv4test_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/s3gate/s3gate/sigv4/sigv4test"
)

// The worked examples of the S3 API reference, "Signature Calculations for
// the Authorization Header: Transferring Payload in Multiple Chunks" and its
// trailing-header sequel: 66560 bytes of 'a' in chunks of 64 KiB.
var (
	docCreds = sigv4test.Credentials{AccessKey: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Region: "us-east-1"}
	docTime  = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	docData  = bytes.Repeat([]byte("a"), 66560)
)

func docWire(sigs []string, tail string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.Write(docData[:65536])
	b.WriteString("\r\n400;chunk-signature=" + sigs[1] + "\r\n")
	b.Write(docData[:1024])
	b.WriteString("\r\n0;chunk-signature=" + sigs[2] + "\r\n" + tail)
	return b.Bytes()
}

func hmacSum(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func docKey() []byte {
	k := hmacSum([]byte("AWS4"+docCreds.SecretKey), "20130524")
	for _, s := range []string{"us-east-1", "s3", "aws4_request"} {
		k = hmacSum(k, s)
	}
	return k
}

func TestEncoderAWSExample(t *testing.T) {
	e := &sigv4test.Encoder{Mode: sigv4test.Signed, Key: docKey(), Time: docTime,
		Seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", Scope: "20130524/us-east-1/s3/aws4_request"}
	got := e.Encode(docData)
	want := docWire([]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}, "\r\n")
	if len(want) != 66824 || !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from the example (%d bytes, want %d)\n%q", len(got), len(want), firstDiff(got, want))
	}
}

func TestSignAWSTrailerExample(t *testing.T) {
	req, err := http.NewRequest(http.MethodPut, "https://s3.amazonaws.com/examplebucket/chunkObject.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	e := &sigv4test.Encoder{Mode: sigv4test.SignedTrailer, Trailers: []sigv4test.Trailer{{Name: "x-amz-checksum-crc32c", Value: "sOO8/Q=="}}}
	if err := sigv4test.Sign(req, docCreds, docTime, e, docData); err != nil {
		t.Fatal(err)
	}
	wantAuth := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
		"SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer, " +
		"Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	if got := req.Header.Get("Authorization"); got != wantAuth {
		t.Fatalf("Authorization:\n got %s\nwant %s", got, wantAuth)
	}
	got, _ := io.ReadAll(req.Body)
	want := docWire([]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}, "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
	if len(want) != 66946 || !bytes.Equal(got, want) || req.ContentLength != int64(len(want)) {
		t.Fatalf("encoding differs from the example (%d bytes, want %d)\n%q", len(got), len(want), firstDiff(got, want))
	}
	// The checksum in the example is that of the data.
	if sum := crc(docData, crc32.MakeTable(crc32.Castagnoli)); sum != "sOO8/Q==" {
		t.Fatalf("CRC32C of the example data = %s", sum)
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return string(a[max(0, i-40):min(len(a), i+40)])
		}
	}
	return ""
}

func crc(data []byte, table *crc32.Table) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, table))
	return base64.StdEncoding.EncodeToString(b[:])
}

// TestSignMatchesSDK compares the seed signature of Sign with the AWS SDK's
// signer over the same request and headers.
func TestSignMatchesSDK(t *testing.T) {
	creds := sigv4test.Credentials{AccessKey: "AKID", SecretKey: "secret/with+chars", Region: "eu-west-3"}
	at := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	cases := []struct {
		url    string
		header map[string]string
		mode   sigv4test.Mode
	}{
		{"http://127.0.0.1:9000/bucket/key", nil, sigv4test.Signed},
		{"http://127.0.0.1:9000/bucket/a b/ünï+%25?x-id=PutObject", map[string]string{"Content-Type": "text/plain;  charset=utf-8"}, sigv4test.SignedTrailer},
		{"https://bucket.s3.example.com/k?partNumber=2&uploadId=a%2Fb%3D", map[string]string{"X-Amz-Meta-Note": "  two  words "}, sigv4test.UnsignedTrailer},
		{"http://localhost/b/~!$&'()*,;=:@", map[string]string{"Content-Encoding": "gzip,aws-chunked", "Content-Md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, sigv4test.Signed},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, c.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			e := &sigv4test.Encoder{Mode: c.mode, Trailers: []sigv4test.Trailer{{Name: "x-amz-checksum-sha256", Value: "x"}}}
			if err := sigv4test.Sign(req, creds, at, e, []byte("payload")); err != nil {
				t.Fatal(err)
			}
			ours := req.Header.Get("Authorization")

			sdk := req.Clone(context.Background())
			sdk.Header.Del("Authorization")
			sdk.ContentLength, sdk.Body = 0, nil // Sign leaves content-length unsigned
			err = v4.NewSigner().SignHTTP(context.Background(),
				aws.Credentials{AccessKeyID: creds.AccessKey, SecretAccessKey: creds.SecretKey},
				sdk, string(c.mode), "s3", creds.Region, at,
				func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err != nil {
				t.Fatal(err)
			}
			if got := sdk.Header.Get("Authorization"); got != ours {
				t.Fatalf("Sign:\n %s\nSDK signer:\n %s", ours, got)
			}
			if e.Seed == "" || !strings.HasSuffix(ours, "Signature="+e.Seed) {
				t.Fatalf("Encoder seed %q, Authorization %s", e.Seed, ours)
			}
		})
	}
}

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

var sigRE = regexp.MustCompile(`(chunk-signature=|x-amz-trailer-signature:)([0-9a-f]{64})`)

// TestEncoderMatchesMinio encodes what minio-go's streaming signer encodes,
// from the same seed, and compares: byte for byte without trailers, and
// signature for signature with a signed trailer (minio-go ends its trailer
// lines in LF CRLF where AWS's example has CRLF).
func TestEncoderMatchesMinio(t *testing.T) {
	at := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	data := make([]byte, 3*sigv4test.DefaultChunkSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, trailer := range []bool{false, true} {
		req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/key", io.NopCloser(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		mode := sigv4test.Signed
		var trailers []sigv4test.Trailer
		if trailer {
			mode = sigv4test.SignedTrailer
			trailers = []sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: crc(data, crc32.IEEETable)}}
			req.Trailer = http.Header{"X-Amz-Checksum-Crc32": {trailers[0].Value}}
		}
		req = signer.StreamingSignV4(req, "AKID", "secret", "", "us-east-1", int64(len(data)), at, sha256Hasher{sha256.New()})
		theirs, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		seed := req.Header.Get("Authorization")
		seed = seed[strings.LastIndex(seed, "=")+1:]

		key := hmacSum([]byte("AWS4secret"), "20250203")
		for _, s := range []string{"us-east-1", "s3", "aws4_request"} {
			key = hmacSum(key, s)
		}
		e := &sigv4test.Encoder{Mode: mode, Trailers: trailers, Key: key, Seed: seed, Time: at, Scope: "20250203/us-east-1/s3/aws4_request"}
		ours := e.Encode(data)
		if !trailer {
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("encoding differs from minio-go's: %q", firstDiff(ours, theirs))
			}
			continue
		}
		a, b := sigRE.FindAllString(string(ours), -1), sigRE.FindAllString(string(theirs), -1)
		if len(a) != 6 || strings.Join(a, " ") != strings.Join(b, " ") {
			t.Fatalf("signatures differ from minio-go's:\n%v\n%v", a, b)
		}
		if lf := strings.Replace(string(ours), "\r\nx-amz-trailer", "\n\r\nx-amz-trailer", 1); lf != string(theirs) {
			t.Fatalf("framing differs from minio-go's beyond its LF CRLF: %q", firstDiff([]byte(lf), theirs))
		}
	}
}

// TestEncoderMatchesAWSSDK captures what aws-sdk-go-v2 sends over https for
// a PutObject and compares it with the encoding of the same data.
func TestEncoderMatchesAWSSDK(t *testing.T) {
	type capture struct {
		header http.Header
		body   []byte
	}
	got := make(chan capture, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- capture{r.Header.Clone(), b}
	}))
	defer srv.Close()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts:           1,
		HTTPClient:                 srv.Client(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
	data := bytes.Repeat([]byte("0123456789"), 20000)
	_, _ = client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: bytes.NewReader(data)})
	c := <-got
	if mode := c.header.Get("X-Amz-Content-Sha256"); mode != string(sigv4test.UnsignedTrailer) {
		t.Fatalf("the SDK sent %s", mode)
	}
	e := &sigv4test.Encoder{Mode: sigv4test.UnsignedTrailer, ChunkSize: len(data),
		Trailers: []sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: crc(data, crc32.IEEETable)}}}
	if ours := e.Encode(data); !bytes.Equal(ours, c.body) {
		t.Fatalf("encoding differs from the SDK's: %q", firstDiff(ours, c.body))
	}
	if c.header.Get("Content-Encoding") != "aws-chunked" || c.header.Get("X-Amz-Trailer") != "x-amz-checksum-crc32" ||
		c.header.Get("X-Amz-Decoded-Content-Length") != "200000" {
		t.Fatalf("the SDK's headers differ from Sign's: %v", c.header)
	}
}
