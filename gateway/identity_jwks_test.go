package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity/bearer"
)

// TestBearerJWKSUnavailable: while a token issuer's JWKS URL answers 503,
// s3gate cannot check its tokens. That is s3gate's trouble, not the
// caller's: the request gets 503 ServiceUnavailable with Retry-After (not
// InvalidToken, which would tell a client its token is bad), each such
// request is one failed authentication, and the URL is not hammered. Once
// the URL answers, the same token works.
func TestBearerJWKSUnavailable(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		down  = true
		hits  int
		clock = time.Now()
	)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	fetches := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		isDown := down
		mu.Unlock()
		if isDown {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(set)
	}))
	t.Cleanup(jwks.Close)

	const iss = "https://idp.jwks.s3gate.test/"
	tokens, err := bearer.New(context.Background(), []bearer.Issuer{{
		Name: "ext", Issuer: iss, Audiences: []string{jwtAudience}, JWKSURL: jwks.URL + "/jwks.json",
	}}, bearer.Options{Now: now, HTTPClient: jwks.Client(), MinRefreshInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logs := &idLog{}
	e := &idEnv{env: newEnv(t, func(o *Options, _ *backends.Backend) {
		o.Tokens, o.Now, o.Logger = tokens, now, logs.logger()
	}), log: logs}
	e.mkBucket("jwks")

	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "aud": jwtAudience, "sub": "erin", "iat": now().Unix(), "exp": now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}

	unavailable := func(what string) {
		t.Helper()
		before := e.failures("jwt", "ServiceUnavailable")
		resp := e.bearerDo(t, "PUT", "/jwks/by-token", raw, []byte("hello"))
		if got := resp.Header.Get("Retry-After"); got == "" {
			t.Errorf("%s: 503 without Retry-After", what)
		}
		expectError(t, resp, http.StatusServiceUnavailable, "ServiceUnavailable")
		if got := e.failures("jwt", "ServiceUnavailable") - before; got != 1 {
			t.Errorf("%s: ServiceUnavailable auth failures rose by %v, want 1", what, got)
		}
		if got := e.failures("jwt", "InvalidToken"); got != 0 {
			t.Errorf("%s: %v InvalidToken failures counted", what, got)
		}
	}
	unavailable("first request")
	if n := fetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	// Within the refresh interval the next request does not fetch again.
	unavailable("second request")
	if n := fetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times within the refresh interval, want 1", n)
	}
	if codes := logs.authFailures(t, "jwt"); codes["ServiceUnavailable"] != 2 || len(codes) != 1 {
		t.Errorf("jwt authentication failures logged: %v, want 2 ServiceUnavailable", codes)
	}
	logs.noSecrets(t, raw)

	// The issuer is back: after the refresh interval the token works.
	mu.Lock()
	down = false
	clock = clock.Add(31 * time.Second)
	mu.Unlock()
	expectStatus(t, e.bearerDo(t, "PUT", "/jwks/by-token", raw, []byte("hello")), http.StatusOK)
	if got := expectStatus(t, e.bearerDo(t, "GET", "/jwks/by-token", raw, nil), http.StatusOK); string(got) != "hello" {
		t.Fatalf("GET = %q", got)
	}
	if n := fetches(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
	if got := e.failures("jwt", "ServiceUnavailable"); got != 2 {
		t.Errorf("ServiceUnavailable auth failures: %v, want 2", got)
	}
}
