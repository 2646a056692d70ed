package sts

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s3gate/s3gate/identity/bearer"
)

// jwksServer serves a JWK Set of RSA public keys that the test replaces, or
// a 503 while it is down.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	down bool
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, down := s.body, s.down
		s.mu.Unlock()
		if down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the served set with the public halves of keys, by kid.
func (s *jwksServer) publish(t *testing.T, keys map[string]*rsa.PrivateKey) {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		set.Keys = append(set.Keys, map[string]string{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body, s.down = b, false
	s.mu.Unlock()
}

func (s *jwksServer) setDown() {
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
}

// TestWithBearerJWKS runs AssumeRoleWithWebIdentity over the real bearer
// verifier and a JWKS served over HTTP: real RS256 tokens, key rotation,
// expiry, the refused algorithms, an unreachable issuer, and the session
// the answer carries.
func TestWithBearerJWKS(t *testing.T) {
	const (
		iss = "https://idp.s3gate.test/realms/corp"
		aud = "s3gate"
	)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	rsa1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t)
	srv.publish(t, map[string]*rsa.PrivateKey{"rsa1": rsa1})

	const minRefresh = 5 * time.Second
	newService := func(t *testing.T, jwksURL string, log *syncBuffer) *Service {
		t.Helper()
		v, err := bearer.New(context.Background(), []bearer.Issuer{{
			Name: "corp", Issuer: iss, Audiences: []string{aud}, JWKSURL: jwksURL,
			Claims: bearer.ClaimMapping{Groups: "realm_access.groups"},
		}}, bearer.Options{Now: clock, MinRefreshInterval: minRefresh, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := New(Options{
			Roles: []Role{{
				Name: "web-reader", Issuers: []string{"corp"},
				Conditions: map[string][]string{"realm_access.groups": {"s3-readers"}},
				Roles:      []string{"reader"},
			}},
			Verifier: v, Keyring: newKeyring(t),
			ExpiredErr: bearer.ErrExpired, UnreachableErr: bearer.ErrKeysUnavailable,
			Logger: slog.New(slog.NewTextHandler(log, nil)), Now: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	log := &syncBuffer{}
	svc := newService(t, srv.URL+"/jwks", log)
	post := func(svc *Service, token string, duration string) *httptest.ResponseRecorder {
		f := form(roleARN("web-reader"), "ci-session", token)
		if duration != "" {
			f.Set("DurationSeconds", duration)
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, r)
		return w
	}
	claims := func(groups ...string) jwt.MapClaims {
		n := clock()
		return jwt.MapClaims{
			"iss": iss, "aud": aud, "sub": "alice", "preferred_username": "alice",
			"realm_access": map[string]any{"groups": groups},
			"iat":          n.Unix(), "exp": n.Add(10 * time.Minute).Unix(),
		}
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var tokens []string
	rs := func(key *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
		s := sign(jwt.SigningMethodRS256, key, kid, c)
		tokens = append(tokens, s)
		return s
	}

	// A genuine token: a session whose token opens to the mapped principal
	// with the role's roles, until its expiry.
	resp := decodeOK(t, post(svc, rs(rsa1, "rsa1", claims("staff", "s3-readers")), "900"))
	c := resp.Result.Credentials
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || !exp.Equal(clock().Add(900*time.Second)) {
		t.Fatalf("Expiration %q (%v), want 900 s from now", c.Expiration, err)
	}
	if resp.Result.SubjectFromWebIdentityToken != "alice" || resp.Result.Provider != iss || resp.Result.Audience != aud {
		t.Errorf("result %+v", resp.Result)
	}
	k, err := svc.SessionKey(c.AccessKeyID, c.SessionToken, clock())
	if err != nil {
		t.Fatal(err)
	}
	if k.Secret != c.SecretAccessKey || k.Principal.ID != "corp:alice" || !slices.Equal(k.Principal.Roles, []string{"reader"}) ||
		!slices.Equal(k.Principal.Groups, []string{"staff", "s3-readers"}) {
		t.Fatalf("session key %s: principal %+v", k.ID, k.Principal)
	}
	if _, err := svc.SessionKey(c.AccessKeyID, c.SessionToken, exp); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("session at its expiry: %v, want ErrExpiredToken", err)
	}

	// The claim condition is judged on the mapped claims.
	expectError(t, post(svc, rs(rsa1, "rsa1", claims("staff")), ""), http.StatusForbidden, "IDPRejectedClaim")

	// Rotation: the issuer replaces rsa1 by rsa2. The first rsa2 token
	// refreshes the set (once the refresh interval has passed); from then
	// on rsa1 tokens are refused.
	srv.publish(t, map[string]*rsa.PrivateKey{"rsa2": rsa2})
	advance(minRefresh)
	decodeOK(t, post(svc, rs(rsa2, "rsa2", claims("s3-readers")), ""))
	expectError(t, post(svc, rs(rsa1, "rsa1", claims("s3-readers")), ""), http.StatusBadRequest, "InvalidIdentityToken")

	// Expired beyond the leeway: ExpiredTokenException; within it: accepted.
	old := claims("s3-readers")
	old["exp"] = clock().Add(-bearer.DefaultLeeway - time.Second).Unix()
	old["iat"] = clock().Add(-time.Hour).Unix()
	expectError(t, post(svc, rs(rsa2, "rsa2", old), ""), http.StatusBadRequest, "ExpiredTokenException")
	old["exp"] = clock().Add(-bearer.DefaultLeeway + 5*time.Second).Unix()
	decodeOK(t, post(svc, rs(rsa2, "rsa2", old), ""))

	// Refused algorithms: none, HS256 keyed with the RSA public key, an
	// algorithm golang-jwt does not know. None of them is an expiry.
	der, err := x509.MarshalPKIXPublicKey(&rsa2.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	genuine := rs(rsa2, "rsa2", claims("s3-readers"))
	i := strings.LastIndexByte(genuine, '.') + 10 // inside the signature
	flipped := genuine[:i] + map[bool]string{true: "B", false: "A"}[genuine[i] == 'A'] + genuine[i+1:]
	unknownAlg := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS1024","kid":"rsa2"}`)) + "." +
		strings.Split(genuine, ".")[1] + ".c2ln"
	for name, tok := range map[string]string{
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa2", claims("s3-readers")),
		"HS256 with PEM":    sign(jwt.SigningMethodHS256, pemKey, "rsa2", claims("s3-readers")),
		"HS256 with DER":    sign(jwt.SigningMethodHS256, der, "rsa2", claims("s3-readers")),
		"unknown alg":       unknownAlg,
		"wrong audience":    rs(rsa2, "rsa2", func() jwt.MapClaims { c := claims("s3-readers"); c["aud"] = "other"; return c }()),
		"unknown kid":       rs(rsa1, "rsa9", claims("s3-readers")),
		"signature flipped": flipped,
	} {
		t.Run(name, func(t *testing.T) {
			expectError(t, post(svc, tok, ""), http.StatusBadRequest, "InvalidIdentityToken")
		})
	}

	// An issuer whose JWKS never loaded: IDPCommunicationError, which
	// clients retry; not a verdict on the token.
	down := newJWKSServer(t)
	down.setDown()
	downLog := &syncBuffer{}
	expectError(t, post(newService(t, down.URL+"/jwks", downLog), rs(rsa2, "rsa2", claims("s3-readers")), ""), http.StatusBadRequest, "IDPCommunicationError")

	// Refusals are logged, and no token, nor its signature, reaches the log.
	if !strings.Contains(log.String(), "sts: refused: invalid token") || !strings.Contains(downLog.String(), "could not be reached") {
		t.Fatalf("refusals not logged:\n%s\n%s", log.String(), downLog.String())
	}
	for _, l := range []string{log.String(), downLog.String()} {
		for _, tok := range tokens {
			if sig := tok[strings.LastIndexByte(tok, '.')+1:]; strings.Contains(l, tok) || strings.Contains(l, sig) {
				t.Fatalf("the log holds a token:\n%s", l)
			}
		}
	}
}
