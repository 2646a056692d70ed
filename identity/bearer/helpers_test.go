package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Test keys are generated once per test binary: RSA generation is slow
// under the race detector.
type testKeys struct {
	rsa1, rsa2, rsa3, rsaSmall *rsa.PrivateKey
	ec256, ec384, ec521        *ecdsa.PrivateKey
	ed1                        ed25519.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	must := func(k any, err error) any {
		if err != nil {
			panic(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{
		rsa1:     must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsa2:     must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsa3:     must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsaSmall: must(rsa.GenerateKey(rand.Reader, 1024)).(*rsa.PrivateKey),
		ec256:    must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey),
		ec384:    must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)).(*ecdsa.PrivateKey),
		ec521:    must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)).(*ecdsa.PrivateKey),
		ed1:      ed,
	}
})

// hmacSecret is printable so tests can look for it in error text.
var hmacSecret = []byte("s3gate-test-hmac-secret-0123456789abcdef")

const (
	hmacIss = "https://hmac.s3gate.test"
	idpIss  = "https://idp.s3gate.test/realms/main"
	aud     = "s3gate"
)

var b64url = base64.RawURLEncoding

// jwkOf returns the public JWK of a private key. alg may be empty.
func jwkOf(kid, alg string, priv any) map[string]any {
	m := map[string]any{"use": "sig"}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		m["kty"] = "RSA"
		m["n"] = b64url.EncodeToString(k.N.Bytes())
		m["e"] = b64url.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		b, err := k.PublicKey.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = k.Curve.Params().Name
		m["x"] = b64url.EncodeToString(b[1 : 1+size])
		m["y"] = b64url.EncodeToString(b[1+size:])
	case ed25519.PrivateKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64url.EncodeToString(k.Public().(ed25519.PublicKey))
	default:
		panic("unsupported key type")
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func jwksJSON(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer serves a JWKS on loopback and counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
	// gate, when set, holds every request until it is closed; entered
	// receives a value as each held request arrives.
	gate    chan struct{}
	entered chan struct{}
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{body: jwksJSON(t, keys...), status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, gate, entered := s.body, s.status, s.gate, s.entered
		s.mu.Unlock()
		if gate != nil {
			entered <- struct{}{}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, keys ...map[string]any) {
	s.setBody(jwksJSON(t, keys...), http.StatusOK)
}

func (s *jwksServer) setBody(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// clock is a settable time source shared by the verifier and the tokens.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// claimsAt are the claims of a good token for iss at now.
func claimsAt(now time.Time, iss string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":                iss,
		"aud":                aud,
		"sub":                "alice",
		"preferred_username": "Alice",
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(5 * time.Minute).Unix(),
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles a token from a header, claims and signature as given,
// for tokens golang-jwt would not sign.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return b64url.EncodeToString(h) + "." + b64url.EncodeToString(c) + "." + b64url.EncodeToString(sig)
}

// allKeysJWKS is the key set of the "idp" issuer in the standard fixture.
func allKeysJWKS() []map[string]any {
	k := keys()
	return []map[string]any{
		jwkOf("rsa1", "", k.rsa1),
		jwkOf("pss1", "PS256", k.rsa2),
		jwkOf("ec256", "", k.ec256),
		jwkOf("ec384", "ES384", k.ec384),
		jwkOf("ec521", "", k.ec521),
		jwkOf("ed1", "", k.ed1),
	}
}

type fixture struct {
	clock *clock
	srv   *jwksServer
	v     *Verifier
}

func (f *fixture) verify(raw string) error {
	_, err := f.v.Verify(context.Background(), raw)
	return err
}

// newFixture builds a verifier with an HMAC issuer ("hmac") and a JWKS URL
// issuer ("idp") served by a loopback JWKS server holding allKeysJWKS.
// edit may change the issuers and options first.
func newFixture(t testing.TB, edit func(iss []Issuer, o *Options)) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(), srv: newJWKSServer(t, allKeysJWKS()...)}
	issuers := []Issuer{
		{Name: "hmac", Issuer: hmacIss, Audiences: []string{aud}, HMACSecret: hmacSecret},
		{Name: "idp", Issuer: idpIss, Audiences: []string{aud, "s3gate-admin"}, JWKSURL: f.srv.URL + "/jwks?client_secret=hidden"},
	}
	opts := Options{Now: f.clock.Now, HTTPClient: f.srv.Client()}
	if edit != nil {
		edit(issuers, &opts)
	}
	v, err := New(context.Background(), issuers, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func writeJWKSFile(t testing.TB, path string, keys ...map[string]any) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "tmp.json")
	if err := os.WriteFile(tmp, jwksJSON(t, keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// wantErr fails the test unless err wraps want (nil: no error).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want)
	}
}
