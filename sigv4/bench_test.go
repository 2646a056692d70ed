package sigv4

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/s3gate/s3gate/sigv4/sigv4test"
)

// BenchmarkVerify measures header-auth verification of a PUT with a 4 KiB
// body, including streaming the body through the payload check.
func BenchmarkVerify(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 256)
	client := headerSigned(b, "http://127.0.0.1:9000", reqSpec{
		method:   http.MethodPut,
		path:     "/bucket/photos/2024/05/cat picture.jpg",
		rawQuery: "x-id=PutObject",
		header:   http.Header{"Content-Type": {"image/jpeg"}, "X-Amz-Meta-Owner": {"alice"}},
		body:     payload,
	})
	var wire bytes.Buffer
	if err := client.Write(&wire); err != nil {
		b.Fatal(err)
	}
	// Parse once, as net/http's server does, so the loop measures only
	// verification.
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		b.Fatal(err)
	}
	v := newVerifier(testNow)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := v.Verify(r)
		if err != nil {
			b.Fatal(err)
		}
		body, err := res.Body(io.NopCloser(bytes.NewReader(payload)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkReader decodes a 16 MiB aws-chunked body in 64 KiB chunks,
// as the AWS SDKs and minio-go send it, checking every chunk signature.
func BenchmarkChunkReader(b *testing.B) {
	const size = 16 << 20
	data, _ := io.ReadAll(newPattern(size))
	for _, mode := range []sigv4test.Mode{sigv4test.Signed, sigv4test.UnsignedTrailer} {
		b.Run(string(mode), func(b *testing.B) {
			up := streamUpload{mode: mode, chunk: sigv4test.DefaultChunkSize, data: data}
			r, body := up.build(b)
			res, err := newVerifier(testNow).Verify(r)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				dec, err := res.Body(io.NopCloser(bytes.NewReader(body)))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, dec); err != nil || n != size {
					b.Fatalf("decoded %d bytes: %v", n, err)
				}
			}
		})
	}
}
