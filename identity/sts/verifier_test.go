package sts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/identity"
)

// The tests verify real ES256 JWTs with this small verifier, which stands
// in for identity/bearer: it checks the signature, issuer, audience and
// expiry, and maps the claims onto a principal the way an issuer's claim
// mapping would.

var (
	errTestExpired     = errors.New("token is expired")
	errTestUnreachable = errors.New("issuer keys unreachable")
)

// testIssuer is a configured issuer and the key it signs with.
type testIssuer struct {
	name string // the configured issuer's name
	iss  string // the "iss" claim of its tokens
	aud  string
	key  *ecdsa.PrivateKey
}

func newTestIssuer(t testing.TB, name, iss, aud string) *testIssuer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{name: name, iss: iss, aud: aud, key: k}
}

var b64 = base64.RawURLEncoding

// sign returns a compact ES256 JWT of claims.
func (i *testIssuer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": i.name + "-2026"})
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, i.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64.EncodeToString(sig)
}

type ctxKey struct{}

// testVerifier verifies the tokens of its issuers.
type testVerifier struct {
	issuers []*testIssuer
	now     func() time.Time

	mu          sync.Mutex
	unreachable bool
	lastCtx     any // the ctxKey value of the last call's context
}

func (v *testVerifier) setUnreachable(b bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.unreachable = b
}

func (v *testVerifier) Verify(ctx context.Context, raw string) (identity.VerifiedToken, error) {
	v.mu.Lock()
	v.lastCtx = ctx.Value(ctxKey{})
	unreachable := v.unreachable
	v.mu.Unlock()

	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		// Quoting the token is what careless verifiers do; the service
		// must keep it out of responses and logs.
		return identity.VerifiedToken{}, fmt.Errorf("malformed token %q", raw)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	h, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(h, &hdr) != nil || hdr.Alg != "ES256" {
		return identity.VerifiedToken{}, errors.New("bad token header")
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return identity.VerifiedToken{}, errors.New("bad token payload")
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		return identity.VerifiedToken{}, errors.New("bad token payload")
	}
	iss, _ := claims["iss"].(string)
	i := slices.IndexFunc(v.issuers, func(i *testIssuer) bool { return i.iss == iss })
	if i < 0 {
		return identity.VerifiedToken{}, fmt.Errorf("unknown issuer %q", iss)
	}
	is := v.issuers[i]
	if unreachable {
		return identity.VerifiedToken{}, fmt.Errorf("fetching the keys of %s: %w", is.name, errTestUnreachable)
	}
	sig, err := b64.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || len(sig) != 64 ||
		!ecdsa.Verify(&is.key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return identity.VerifiedToken{}, errors.New("token signature is invalid")
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != is.aud {
			return identity.VerifiedToken{}, errors.New("token audience is not accepted")
		}
	case []any:
		if !slices.Contains(aud, any(is.aud)) {
			return identity.VerifiedToken{}, errors.New("token audience is not accepted")
		}
	default:
		return identity.VerifiedToken{}, errors.New("token has no audience")
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return identity.VerifiedToken{}, errors.New("token has no expiry")
	}
	expires := time.Unix(int64(exp), 0)
	if !v.now().Before(expires) {
		return identity.VerifiedToken{}, fmt.Errorf("token expired at %s: %w", expires.UTC().Format(time.RFC3339), errTestExpired)
	}
	sub, _ := claims["sub"].(string)
	name, _ := claims["preferred_username"].(string)
	var groups []string
	if gs, ok := claims["groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			}
		}
	}
	return identity.VerifiedToken{
		Principal: identity.Principal{ID: is.name + ":" + sub, DisplayName: name, Groups: groups, Claims: claims},
		Issuer:    is.name,
		Subject:   sub,
		ExpiresAt: expires,
	}, nil
}

// The verifier itself must be right, or the tests above it prove nothing.
func TestTestVerifier(t *testing.T) {
	now := t0
	a := newTestIssuer(t, "corp", "https://idp.example.com/realms/corp", "s3gate")
	b := newTestIssuer(t, "partner", "https://login.partner.example", "s3gate-partner")
	v := &testVerifier{issuers: []*testIssuer{a, b}, now: func() time.Time { return now }}
	claims := map[string]any{"iss": a.iss, "sub": "u1", "aud": "s3gate", "exp": now.Add(time.Hour).Unix()}
	good := a.sign(t, claims)
	if tok, err := v.Verify(context.Background(), good); err != nil || tok.Issuer != "corp" || tok.Principal.ID != "corp:u1" {
		t.Fatalf("good token: %+v %v", tok, err)
	}
	forged := b.sign(t, claims) // signed by another issuer's key
	if _, err := v.Verify(context.Background(), forged); err == nil {
		t.Fatal("a token signed with the wrong key verified")
	}
	parts := strings.Split(good, ".")
	other, _ := json.Marshal(map[string]any{"iss": a.iss, "sub": "u2", "aud": "s3gate", "exp": now.Add(time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), parts[0]+"."+b64.EncodeToString(other)+"."+parts[2]); err == nil {
		t.Fatal("a token with a swapped payload verified")
	}
	claims["aud"] = "someone-else"
	if _, err := v.Verify(context.Background(), a.sign(t, claims)); err == nil {
		t.Fatal("a token for another audience verified")
	}
	now = now.Add(time.Hour)
	if _, err := v.Verify(context.Background(), good); !errors.Is(err, errTestExpired) {
		t.Fatalf("expired token: %v", err)
	}
}
