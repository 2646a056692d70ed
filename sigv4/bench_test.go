package sigv4

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
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
