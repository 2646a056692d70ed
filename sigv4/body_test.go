package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBody(t *testing.T) {
	hello := []byte("hello, world")
	cases := []struct {
		name    string
		payload string
		body    []byte
		wrap    func(io.Reader) io.Reader // how the underlying body delivers bytes
		code    string                    // expected *Error at the end; "" for a clean EOF
	}{
		{"match", sha256Hex(hello), hello, nil, ""},
		{"match one byte at a time", sha256Hex(hello), hello, iotest.OneByteReader, ""},
		{"match with data and EOF together", sha256Hex(hello), hello, iotest.DataErrReader, ""},
		{"empty", emptySHA256, nil, nil, ""},
		{"mismatch", sha256Hex([]byte("hello, world!")), hello, nil, CodeXAmzContentSHA256Mismatch},
		{"mismatch one byte at a time", sha256Hex([]byte("jello, world")), hello, iotest.OneByteReader, CodeXAmzContentSHA256Mismatch},
		{"mismatch with data and EOF together", sha256Hex([]byte("jello, world")), hello, iotest.DataErrReader, CodeXAmzContentSHA256Mismatch},
		{"mismatch empty", sha256Hex(hello), nil, nil, CodeXAmzContentSHA256Mismatch},
		{"unsigned", UnsignedPayload, hello, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(c.body)
			if c.wrap != nil {
				r = c.wrap(r)
			}
			body, err := (&Result{PayloadHash: c.payload}).Body(io.NopCloser(r))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAllSmall(body)
			if c.code == "" {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if !bytes.Equal(got, c.body) {
					t.Fatalf("read %q, want %q", got, c.body)
				}
				return
			}
			e := s3Error(t, err, c.code)
			wantField(t, e, "ClientComputedContentSHA256", c.payload)
			wantField(t, e, "S3ComputedContentSHA256", sha256Hex(c.body))
			// The failure is sticky: no later read ends cleanly.
			if n, err2 := body.Read(make([]byte, 8)); n != 0 || !errors.Is(err2, err) {
				t.Fatalf("read after failure = %d, %v", n, err2)
			}
		})
	}
}

// readAllSmall reads with a small buffer and fails the test's expectations
// if io.EOF is ever returned together with or after an error.
func readAllSmall(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 5)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestBodyPassesReadErrors(t *testing.T) {
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(io.ErrUnexpectedEOF))
	body, err := (&Result{PayloadHash: sha256Hex([]byte("partial body"))}).Body(io.NopCloser(r))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "partial" {
		t.Fatalf("ReadAll = %q, %v; want the read error", got, err)
	}
	if _, err := body.Read(make([]byte, 1)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("later read = %v", err)
	}
}

func TestBodyModes(t *testing.T) {
	orig := io.NopCloser(strings.NewReader("x"))
	if got, err := (&Result{PayloadHash: UnsignedPayload}).Body(orig); err != nil || got != orig {
		t.Errorf("UNSIGNED-PAYLOAD: %v, %v; want the body unchanged", got, err)
	}
	for _, p := range []string{StreamingECDSAPayload, StreamingECDSAPayloadTrailer} {
		got, err := (&Result{PayloadHash: p, DecodedLength: 1}).Body(orig)
		if got != nil {
			t.Errorf("%s: returned a body", p)
		}
		s3Error(t, err, CodeNotImplemented)
	}
	for _, p := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer} {
		// Without x-amz-decoded-content-length, as Verify would have refused.
		if _, err := (&Result{PayloadHash: p, DecodedLength: -1}).Body(orig); err == nil {
			t.Errorf("%s without a decoded length accepted", p)
		} else {
			s3Error(t, err, CodeMissingContentLength)
		}
	}
	// Signed chunks need the verified seed signature and key.
	_, err := (&Result{PayloadHash: StreamingPayload, DecodedLength: 1}).Body(orig)
	s3Error(t, err, CodeInternalError)
	// Trailers cannot follow a payload that is not streamed.
	_, err = (&Result{PayloadHash: UnsignedPayload, Trailer: []string{"x-amz-checksum-crc32"}}).Body(orig)
	s3Error(t, err, CodeMalformedTrailerError)
	if _, err := (&Result{PayloadHash: "bogus"}).Body(orig); err == nil {
		t.Error("bogus payload hash accepted")
	}
	// A nil body is an empty one.
	body, err := (&Result{PayloadHash: emptySHA256}).Body(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(body); err != nil || len(b) != 0 {
		t.Fatalf("nil body read %q, %v", b, err)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestBodyClose(t *testing.T) {
	rc := &closeRecorder{Reader: strings.NewReader("x")}
	body, err := (&Result{PayloadHash: sha256Hex([]byte("x"))}).Body(rc)
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if !rc.closed {
		t.Fatal("Close not passed on")
	}
}

// TestBodyOverHTTP checks payload verification on requests as net/http
// delivers them: a good body, a body that differs from its signed hash, and a
// body cut short by the client.
func TestBodyOverHTTP(t *testing.T) {
	s := newServer(t, newVerifier(testNow))

	good := headerSigned(t, s.URL, reqSpec{method: http.MethodPut, path: "/b/k", body: []byte("hello")})
	if o := s.do(t, good); o.err != nil || o.bodyErr != nil || string(o.body) != "hello" {
		t.Fatalf("good body: %v, %v, %q", o.err, o.bodyErr, o.body)
	}

	bad := headerSigned(t, s.URL, reqSpec{method: http.MethodPut, path: "/b/k", body: []byte("hello")})
	bad.Body = io.NopCloser(strings.NewReader("jello"))
	o := s.do(t, bad)
	if o.err != nil {
		t.Fatalf("Verify: %v", o.err)
	}
	e := s3Error(t, o.bodyErr, CodeXAmzContentSHA256Mismatch)
	wantField(t, e, "S3ComputedContentSHA256", sha256Hex([]byte("jello")))

	// Send the signed request by hand and stop half way through the body.
	cut := headerSigned(t, s.URL, reqSpec{method: http.MethodPut, path: "/b/k", body: []byte("hello, world")})
	var wire bytes.Buffer
	if err := cut.Write(&wire); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire.Bytes()[:wire.Len()-6]); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	http.ReadResponse(bufio.NewReader(conn), nil)
	o = s.next(t)
	if o.err != nil {
		t.Fatalf("Verify: %v", o.err)
	}
	var se *Error
	if !errors.Is(o.bodyErr, io.ErrUnexpectedEOF) || errors.As(o.bodyErr, &se) {
		t.Fatalf("truncated body error = %v, want io.ErrUnexpectedEOF passed through", o.bodyErr)
	}
}

// pattern generates n deterministic bytes without holding them: a 64 KiB
// pseudo-random block, repeated.
type pattern struct{ n, off int64 }

var patternBlock = func() []byte {
	b := make([]byte, 64<<10)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}()

func newPattern(n int64) *pattern { return &pattern{n: n} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], patternBlock[(p.off+int64(n))%int64(len(patternBlock)):])
	}
	p.off += int64(n)
	return n, nil
}

func patternHash(t testing.TB, n int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, newPattern(n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func TestBodyLargeStreams(t *testing.T) {
	const size = 64 << 20
	sum := patternHash(t, size)

	before := allocated()
	body, err := (&Result{PayloadHash: sum}).Body(io.NopCloser(newPattern(size)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, body)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	if a := allocated() - before; a > 1<<20 {
		t.Fatalf("verifying %d bytes allocated %d bytes", size, a)
	}

	// The same through net/http, client and server in this process.
	s := newServer(t, newVerifier(testNow))
	req := newRequest(t, s.URL, reqSpec{method: http.MethodPut, path: "/b/large"})
	req.Body, req.ContentLength = io.NopCloser(newPattern(size)), size
	signHeader(t, req, sum, signTime)
	before = allocated()
	o := s.do(t, req)
	if o.err != nil || o.bodyErr != nil || o.n != size {
		t.Fatalf("large upload: %v, %v, %d bytes", o.err, o.bodyErr, o.n)
	}
	if a := allocated() - before; a > 8<<20 {
		t.Fatalf("a %d byte upload allocated %d bytes", size, a)
	}

	// One flipped hash bit still fails at the very end.
	bad := flipHex(sum)
	req = newRequest(t, s.URL, reqSpec{method: http.MethodPut, path: "/b/large"})
	req.Body, req.ContentLength = io.NopCloser(newPattern(size)), size
	signHeader(t, req, bad, signTime)
	o = s.do(t, req)
	if o.err != nil || o.n != size {
		t.Fatalf("Verify: %v after %d bytes", o.err, o.n)
	}
	s3Error(t, o.bodyErr, CodeXAmzContentSHA256Mismatch)
}
