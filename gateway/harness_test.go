package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
)

const (
	testAccessKey = "AKIDS3GATETEST"
	testSecret    = "s3gate-test-secret-key"
	testRegion    = "us-east-1"
	testDomain    = "s3.test"
)

// env is a Gateway over a real fs backend in a temp dir, served by
// httptest on 127.0.0.1, with an SDK client and a raw signed-request helper.
type env struct {
	t       *testing.T
	url     string
	gw      *Gateway
	backend backends.Backend
	client  *s3.Client
}

func newEnv(t *testing.T, mutate ...func(*Options, *backends.Backend)) *env {
	t.Helper()
	store, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var backend backends.Backend = store
	opts := Options{Region: testRegion, Domains: []string{testDomain}, MaxRequests: 64}
	for _, m := range mutate {
		m(&opts, &backend)
	}
	keys := identity.NewKeys(identity.AccessKey{ID: testAccessKey, Secret: testSecret, Principal: identity.RootPrincipal()})
	cat, err := catalog.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	gw := New(backend, cat, keys, opts)
	if _, err := gw.AdoptBuckets(context.Background(), identity.RootPrincipal()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecret, ""),
		HTTPClient:   srv.Client(),
	})
	return &env{t: t, url: srv.URL, gw: gw, backend: backend, client: client}
}

// req describes a raw request; do signs it with the SDK signer unless
// anonymous is set.
type req struct {
	method    string
	path      string // escaped path plus query, e.g. "/b/k?acl"
	body      []byte
	header    map[string]string
	host      string
	anonymous bool
	// payloadHash overrides the signed x-amz-content-sha256.
	payloadHash string
	signTime    time.Time
	region      string
}

func (e *env) do(r req) *http.Response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(newSignedRequest(e.t, r, e.url+r.path))
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// newSignedRequest builds r for target (a full URL) and, unless r is
// anonymous, signs it with the test key and the SDK signer.
func newSignedRequest(t testing.TB, r req, target string) *http.Request {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, target, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body == nil {
		hr.Body = http.NoBody
	}
	if r.host != "" {
		hr.Host = r.host
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.anonymous {
		return hr
	}
	ph := r.payloadHash
	if ph == "" {
		sum := sha256.Sum256(r.body)
		ph = hex.EncodeToString(sum[:])
	}
	hr.Header.Set("X-Amz-Content-Sha256", ph)
	when := r.signTime
	if when.IsZero() {
		when = time.Now()
	}
	region := r.region
	if region == "" {
		region = testRegion
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := signer.SignHTTP(context.Background(), creds, hr, ph, "s3", region, when); err != nil {
		t.Fatal(err)
	}
	return hr
}

// s3err is a decoded S3 error document.
type s3err struct {
	Code       string
	Message    string
	Resource   string
	RequestID  string `xml:"RequestId"`
	Key        string
	BucketName string
	Region     string
	Condition  string
}

// expectError reads resp and checks its status and S3 error code.
func expectError(t *testing.T, resp *http.Response, status int, code string) s3err {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var e s3err
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not XML: %v: %s", err, body)
	}
	if e.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Code, code, body)
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Fatalf("RequestId %q does not match header %q", e.RequestID, resp.Header.Get("x-amz-request-id"))
	}
	return e
}

// expectStatus reads resp, checks its status and returns the body.
func expectStatus(t *testing.T, resp *http.Response, status int) []byte {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	return body
}

func (e *env) mkBucket(name string) {
	e.t.Helper()
	expectStatus(e.t, e.do(req{method: "PUT", path: "/" + name}), 200)
}

func (e *env) put(bucket, key string, body []byte, hdr map[string]string) *http.Response {
	return e.do(req{method: "PUT", path: "/" + bucket + "/" + escapeKey(key), body: body, header: hdr})
}

// escapeKey escapes a key for a request path the way SDKs do.
func escapeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// get returns the stored bytes of a key, or nil when it does not exist.
func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	resp := e.do(req{path: "/" + bucket + "/" + escapeKey(key)})
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s/%s: %d %s", bucket, key, resp.StatusCode, b)
	}
	return b
}

// signRaw signs an already built request with the test key.
func signRaw(t *testing.T, hr *http.Request, payloadHash string) {
	t.Helper()
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := signer.SignHTTP(context.Background(), creds, hr, payloadHash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// countOf is how many requests of operation op the gateway has finished.
func countOf(t *testing.T, g *Gateway, op string) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { g.metrics.requests.Collect(ch); close(ch) }()
	n := 0
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "op" && l.GetValue() == op {
				n += int(pb.GetCounter().GetValue())
			}
		}
	}
	return n
}
