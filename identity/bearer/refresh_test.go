package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// rsaFixture is a verifier with one JWKS URL issuer serving rsa1.
func rsaFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, nil)
	f.srv.setKeys(t, jwkOf("rsa1", "", keys().rsa1))
	return f
}

func (f *fixture) rsaToken(t *testing.T, key any, kid string) string {
	t.Helper()
	return sign(t, jwt.SigningMethodRS256, key, kid, claimsAt(f.clock.Now(), idpIss))
}

func wantHits(t *testing.T, s *jwksServer, want int64) {
	t.Helper()
	if n := s.hits.Load(); n != want {
		t.Fatalf("JWKS fetched %d times, want %d", n, want)
	}
}

func TestUnknownKidRefreshesOnce(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantHits(t, f.srv, 1)
	// Right after the first fetch even an unknown kid fetches nothing.
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "bogus-0")), ErrInvalid)
	wantHits(t, f.srv, 1)

	// Later, an unknown kid fetches the JWKS again, once.
	f.clock.Advance(DefaultMinRefreshInterval)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "bogus-1")), ErrInvalid)
	wantHits(t, f.srv, 2)
	// More unknown kids within MinRefreshInterval fetch nothing.
	for i := range 5 {
		f.clock.Advance(5 * time.Second)
		wantErr(t, f.verify(f.rsaToken(t, k.rsa1, fmt.Sprintf("bogus-%d", i+2))), ErrInvalid)
	}
	wantHits(t, f.srv, 2)
	// Known kids never fetch.
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantHits(t, f.srv, 2)
	// Once the interval has passed, the next unknown kid may fetch again.
	f.clock.Advance(DefaultMinRefreshInterval)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "bogus-9")), ErrInvalid)
	wantHits(t, f.srv, 3)
}

func TestBogusKidFloodIsRateLimited(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	f.clock.Advance(DefaultMinRefreshInterval)

	const n = 64
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = f.rsaToken(t, k.rsa1, fmt.Sprintf("bogus-%d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, raw := range tokens {
		wg.Go(func() { errs <- f.verify(raw) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantErr(t, err, ErrInvalid)
	}
	wantHits(t, f.srv, 2)
}

func TestConcurrentRefreshesAreCoalesced(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)

	// The issuer rotates to rsa2; the server holds the next fetch until
	// every request is under way.
	f.srv.setKeys(t, jwkOf("rsa1", "", k.rsa1), jwkOf("rsa2", "", k.rsa2))
	f.srv.mu.Lock()
	f.srv.gate, f.srv.entered = make(chan struct{}), make(chan struct{}, 100)
	f.srv.mu.Unlock()
	f.clock.Advance(DefaultMinRefreshInterval)

	const n = 32
	raw := f.rsaToken(t, k.rsa2, "rsa2")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- f.verify(raw) })
	}
	select {
	case <-f.srv.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no JWKS fetch started")
	}
	time.Sleep(50 * time.Millisecond) // let the other requests queue on the fetch
	close(f.srv.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		wantErr(t, err, nil)
	}
	wantHits(t, f.srv, 2)
}

func TestKeyRotation(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)

	// Overlap: the issuer publishes rsa2 beside rsa1. The first rsa2 token
	// brings it in; rsa1 tokens go on working.
	f.srv.setKeys(t, jwkOf("rsa1", "", k.rsa1), jwkOf("rsa2", "", k.rsa2))
	f.clock.Advance(DefaultMinRefreshInterval)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "rsa2")), nil)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantHits(t, f.srv, 2)

	// rsa1 is withdrawn and rsa3 added. Until the cache is refreshed rsa1
	// still verifies; the first rsa3 token refreshes it and from then on
	// rsa1 does not.
	f.srv.setKeys(t, jwkOf("rsa2", "", k.rsa2), jwkOf("rsa3", "", k.rsa3))
	f.clock.Advance(DefaultMinRefreshInterval)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa3, "rsa3")), nil)
	wantHits(t, f.srv, 3)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), ErrInvalid)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "rsa2")), nil)

	// rsa2 is withdrawn with no new kid to notice it by: the TTL refresh
	// drops it.
	f.srv.setKeys(t, jwkOf("rsa3", "", k.rsa3))
	f.clock.Advance(DefaultJWKSCacheTTL - time.Second)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "rsa2")), nil)
	wantHits(t, f.srv, 3)
	f.clock.Advance(time.Second)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "rsa2")), ErrInvalid)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa3, "rsa3")), nil)
	wantHits(t, f.srv, 4)
}

func TestJWKSUnavailableAtStart(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	f.srv.setBody([]byte("down for maintenance"), http.StatusServiceUnavailable)

	if err := f.v.Prefetch(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Prefetch error %v, want one naming the 503", err)
	}
	wantHits(t, f.srv, 1)
	err := f.verify(f.rsaToken(t, k.rsa1, "rsa1"))
	wantErr(t, err, ErrKeysUnavailable)
	// The JWKS URL's query may hold a credential.
	if msg := err.Error(); !strings.Contains(msg, f.srv.URL+"/jwks") || strings.Contains(msg, "hidden") {
		t.Errorf("error %q should name the URL without its query", msg)
	}
	// Tokens of other issuers are not affected.
	wantErr(t, f.verify(sign(t, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(f.clock.Now(), hmacIss))), nil)

	// The issuer comes up; within MinRefreshInterval nothing is fetched.
	f.srv.setKeys(t, jwkOf("rsa1", "", k.rsa1))
	f.clock.Advance(DefaultMinRefreshInterval - time.Second)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), ErrKeysUnavailable)
	wantHits(t, f.srv, 1)
	f.clock.Advance(time.Second)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantHits(t, f.srv, 2)
	if err := f.v.Prefetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantHits(t, f.srv, 2)
}

func TestFailedTTLRefreshKeepsKeys(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	f.srv.setBody([]byte("{"), http.StatusOK)
	f.clock.Advance(DefaultJWKSCacheTTL)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), nil)
	wantHits(t, f.srv, 2)
}

func TestJWKSResponseSizeLimit(t *testing.T) {
	k := keys()
	body, err := json.Marshal(map[string]any{
		"keys":    []any{jwkOf("rsa1", "", k.rsa1)},
		"padding": strings.Repeat("x", DefaultMaxJWKSBytes),
	})
	if err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, nil)
	f.srv.setBody(body, http.StatusOK)
	err = f.verify(f.rsaToken(t, k.rsa1, "rsa1"))
	wantErr(t, err, ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %v does not say the JWKS was too large", err)
	}

	// The same document is a fine JWKS once the limit allows it.
	g := newFixture(t, func(_ []Issuer, o *Options) { o.MaxJWKSBytes = 2 << 20 })
	g.srv.setBody(body, http.StatusOK)
	wantErr(t, g.verify(g.rsaToken(t, k.rsa1, "rsa1")), nil)
}

func TestJWKSFetchTimeout(t *testing.T) {
	k := keys()
	f := newFixture(t, func(_ []Issuer, o *Options) {
		c := *o.HTTPClient
		c.Timeout = 200 * time.Millisecond
		o.HTTPClient = &c
	})
	// The server holds every request and never answers.
	f.srv.mu.Lock()
	f.srv.gate, f.srv.entered = make(chan struct{}), make(chan struct{}, 10)
	f.srv.mu.Unlock()
	start := time.Now()
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "rsa1")), ErrKeysUnavailable)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("fetch gave up after %v", d)
	}
}

func TestJWKSFileIssuer(t *testing.T) {
	k := keys()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKSFile(t, path, jwkOf("ec256", "ES256", k.ec256), map[string]any{"kty": "oct", "k": "c2VjcmV0"})
	c := newClock()
	v, err := New(context.Background(), []Issuer{{Name: "file", Issuer: idpIss, Audiences: []string{aud}, JWKSFile: path}}, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(key any, m jwt.SigningMethod, kid string) error {
		_, err := v.Verify(context.Background(), sign(t, m, key, kid, claimsAt(c.Now(), idpIss)))
		return err
	}
	wantErr(t, verify(k.ec256, jwt.SigningMethodES256, "ec256"), nil)
	wantErr(t, verify(k.ed1, jwt.SigningMethodEdDSA, "ed1"), ErrInvalid)

	// Rotation by rewriting the file: picked up by the next unknown kid
	// once MinRefreshInterval has passed.
	writeJWKSFile(t, path, jwkOf("ed1", "", k.ed1))
	c.Advance(DefaultMinRefreshInterval)
	wantErr(t, verify(k.ed1, jwt.SigningMethodEdDSA, "ed1"), nil)
	wantErr(t, verify(k.ec256, jwt.SigningMethodES256, "ec256"), ErrInvalid)

	// A file that disappears later keeps the keys read last.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c.Advance(DefaultJWKSCacheTTL)
	wantErr(t, verify(k.ed1, jwt.SigningMethodEdDSA, "ed1"), nil)
}

func TestJWKSFileWithoutUsableKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	enc := jwkOf("enc", "", keys().rsa1)
	enc["use"] = "enc"
	writeJWKSFile(t, path, map[string]any{"kty": "oct", "k": "c2VjcmV0"}, enc)
	_, err := New(context.Background(), []Issuer{{Name: "file", Issuer: idpIss, Audiences: []string{aud}, JWKSFile: path}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "no usable") {
		t.Fatalf("New error %v, want no usable key", err)
	}
	if err := os.WriteFile(path, []byte(`{"not":"a jwks"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), []Issuer{{Name: "file", Issuer: idpIss, Audiences: []string{aud}, JWKSFile: path}}, Options{}); err == nil {
		t.Fatal("New accepted a file that is not a JWKS")
	}
}

func TestTokensWithoutKid(t *testing.T) {
	f := newFixture(t, nil)
	k := keys()
	// rsa1 carries a kid, rsa2 does not.
	f.srv.setKeys(t, jwkOf("rsa1", "", k.rsa1), jwkOf("", "", k.rsa2))
	wantErr(t, f.verify(f.rsaToken(t, k.rsa1, "")), nil)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "")), nil)
	wantErr(t, f.verify(f.rsaToken(t, k.rsa3, "")), ErrInvalid)
	// A key without kid is never matched by kid.
	wantErr(t, f.verify(f.rsaToken(t, k.rsa2, "rsa2")), ErrInvalid)
	// Only keys of the token's type are tried.
	wantErr(t, f.verify(sign(t, jwt.SigningMethodEdDSA, k.ed1, "", claimsAt(f.clock.Now(), idpIss))), ErrInvalid)
}

func TestStaleKeysServedDuringRefresh(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	raw := f.rsaToken(t, k.rsa1, "rsa1")
	wantErr(t, f.verify(raw), nil)
	f.srv.mu.Lock()
	f.srv.gate, f.srv.entered = make(chan struct{}), make(chan struct{}, 10)
	f.srv.mu.Unlock()
	f.clock.Advance(DefaultJWKSCacheTTL)
	raw = f.rsaToken(t, k.rsa1, "rsa1")

	// The first request after the TTL starts a refresh and waits for it.
	first := make(chan error, 1)
	go func() { first <- f.verify(raw) }()
	<-f.srv.entered
	// Later ones use the cached keys instead of queueing behind it.
	later := make(chan error, 1)
	go func() { later <- f.verify(raw) }()
	select {
	case err := <-later:
		wantErr(t, err, nil)
	case <-time.After(5 * time.Second):
		t.Fatal("request queued behind the TTL refresh")
	}
	close(f.srv.gate)
	wantErr(t, <-first, nil)
	wantHits(t, f.srv, 2)
}

func TestCancelledRequestDoesNotAbortSharedFetch(t *testing.T) {
	f := rsaFixture(t)
	k := keys()
	f.srv.mu.Lock()
	f.srv.gate, f.srv.entered = make(chan struct{}), make(chan struct{}, 10)
	f.srv.mu.Unlock()
	raw := f.rsaToken(t, k.rsa1, "rsa1")

	// A starts the first fetch, B waits on it, then A's client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	a := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(ctx, raw)
		a <- err
	}()
	<-f.srv.entered
	b := make(chan error, 1)
	go func() { b <- f.verify(raw) }()
	cancel()
	select {
	case err := <-a:
		wantErr(t, err, context.Canceled)
		wantErr(t, err, ErrKeysUnavailable)
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled request still waiting on the fetch")
	}
	time.Sleep(20 * time.Millisecond) // give a wrongly cancelled fetch time to fail
	close(f.srv.gate)
	wantErr(t, <-b, nil)
	wantHits(t, f.srv, 1)
}
