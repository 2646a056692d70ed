package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

const (
	testAccessKey = "AKIDEXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion    = "us-east-1"
	emptySHA256   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// signTime is when test requests are signed; testNow is the server's clock.
var (
	signTime = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)
	testNow  = signTime.Add(time.Minute)
)

var testCreds = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}

// secrets is a Secret function over a fixed key table.
func secrets(keys map[string]string) func(context.Context, string) (string, error) {
	return func(_ context.Context, ak string) (string, error) {
		if s, ok := keys[ak]; ok {
			return s, nil
		}
		return "", fmt.Errorf("lookup %q: %w", ak, ErrUnknownAccessKey)
	}
}

func newVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region: testRegion,
		Now:    func() time.Time { return now },
		Secret: secrets(map[string]string{testAccessKey: testSecret, "AKID/WITH/SLASH": "other-secret"}),
	}
}

// outcome is what the server saw for one request.
type outcome struct {
	res     *Result
	err     error
	body    []byte // payload read through Result.Body, up to 1 MiB
	n       int64  // payload bytes read
	bodyErr error  // error that ended the body (nil means a clean EOF)
}

// server runs a Verifier behind an httptest server on 127.0.0.1, so requests
// reach it exactly as net/http hands them to a handler.
type server struct {
	*httptest.Server
	v    *Verifier
	seen chan outcome
}

func newServer(t testing.TB, v *Verifier) *server {
	t.Helper()
	s := &server{v: v, seen: make(chan outcome, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o outcome
		o.res, o.err = s.v.Verify(r)
		if o.err == nil {
			body, err := o.res.Body(r.Body)
			if err != nil {
				o.bodyErr = err
			} else {
				keep := &cappedBuffer{max: 1 << 20}
				o.n, o.bodyErr = io.Copy(keep, body)
				o.body = keep.b
			}
		}
		s.seen <- o
		if o.err != nil || o.bodyErr != nil {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	s.Client().Timeout = 10 * time.Second
	t.Cleanup(s.Close)
	return s
}

// do sends req and returns what the server saw.
func (s *server) do(t testing.TB, req *http.Request) outcome {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case o := <-s.seen:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("server saw no request")
		return outcome{}
	}
}

// reqSpec describes a request to sign.
type reqSpec struct {
	method   string
	path     string // decoded path, e.g. "/bucket/a b"
	rawQuery string // as sent; the SDK signer rewrites it into its canonical form
	header   http.Header
	body     []byte
	payload  string // x-amz-content-sha256; sha256(body) when empty
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newRequest builds an unsigned client request for spec, escaping the path
// the way the S3 client does.
func newRequest(t testing.TB, base string, spec reqSpec) *http.Request {
	t.Helper()
	method := spec.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if spec.body != nil {
		body = bytes.NewReader(spec.body)
	}
	req, err := http.NewRequest(method, base, body)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path = spec.path
	req.URL.RawPath = httpbinding.EscapePath(spec.path, false)
	req.URL.RawQuery = spec.rawQuery
	for k, vs := range spec.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req
}

// signHeader signs req with the SDK signer as the S3 client does.
func signHeader(t testing.TB, req *http.Request, payload string, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payload)
	err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, payload, "s3", testRegion, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
}

// headerSigned returns a header-signed client request for spec.
func headerSigned(t testing.TB, base string, spec reqSpec) *http.Request {
	t.Helper()
	req := newRequest(t, base, spec)
	payload := spec.payload
	if payload == "" {
		payload = sha256Hex(spec.body)
	}
	signHeader(t, req, payload, signTime)
	return req
}

// presigned returns a client request for a URL presigned by the SDK signer,
// carrying the headers the signature covers.
func presigned(t testing.TB, base string, spec reqSpec, expires time.Duration, at time.Time) *http.Request {
	t.Helper()
	req := newRequest(t, base, spec)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int64(expires/time.Second)))
	req.URL.RawQuery = q.Encode()
	payload := spec.payload
	if payload == "" {
		payload = UnsignedPayload
	}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, req, payload, "s3", testRegion, at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if spec.body != nil {
		body = bytes.NewReader(spec.body)
	}
	out, err := http.NewRequest(req.Method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		out.Header[k] = vs
	}
	return out
}

// s3Error asserts that err is an *Error with the given code.
func s3Error(t testing.TB, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	return e
}

func wantField(t testing.TB, e *Error, name, want string) {
	t.Helper()
	got, ok := e.Field(name)
	if !ok {
		t.Fatalf("%s: no field %s in %+v", e.Code, name, e.Fields)
	}
	if got != want {
		t.Fatalf("%s: field %s = %q, want %q", e.Code, name, got, want)
	}
}

func sdkSign(req *http.Request, payload, service, region string) error {
	return v4.NewSigner().SignHTTP(context.Background(), testCreds, req, payload, service, region, signTime,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// cappedBuffer keeps the first max bytes written to it and discards the rest,
// so large bodies are not held in memory.
type cappedBuffer struct {
	b   []byte
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
