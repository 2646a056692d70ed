package bearer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

var sentinels = []error{ErrTooLarge, ErrMalformed, ErrUnknownIssuer, ErrExpired, ErrInvalid, ErrKeysUnavailable}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzVerify checks that Verify never panics, that every refusal wraps one
// of the sentinels, that only tokens signed here are accepted, and that a
// genuine token whose signature was altered (as bytes or as text) is
// always refused.
func FuzzVerify(f *testing.F) {
	k := keys()
	c := newClock()
	path := filepath.Join(f.TempDir(), "jwks.json")
	writeJWKSFile(f, path, jwkOf("rsa1", "", k.rsa1), jwkOf("ec256", "", k.ec256), jwkOf("ec521", "", k.ec521), jwkOf("ed1", "EdDSA", k.ed1))
	v, err := New(context.Background(), []Issuer{
		{Name: "hmac", Issuer: hmacIss, Audiences: []string{aud}, HMACSecret: hmacSecret},
		{Name: "idp", Issuer: idpIss, Audiences: []string{aud}, JWKSFile: path},
	}, Options{Now: c.Now})
	if err != nil {
		f.Fatal(err)
	}
	now := c.Now()
	seeds := []string{
		sign(f, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(now, hmacIss)),
		sign(f, jwt.SigningMethodHS512, hmacSecret, "k", claimsAt(now, hmacIss)),
		sign(f, jwt.SigningMethodRS256, k.rsa1, "rsa1", claimsAt(now, idpIss)),
		sign(f, jwt.SigningMethodPS256, k.rsa1, "", claimsAt(now, idpIss)),
		sign(f, jwt.SigningMethodES256, k.ec256, "ec256", claimsAt(now, idpIss)),
		sign(f, jwt.SigningMethodES512, k.ec521, "ec521", claimsAt(now, idpIss)),
		sign(f, jwt.SigningMethodEdDSA, k.ed1, "ed1", claimsAt(now, idpIss)),
	}
	signed := make(map[string]bool, len(seeds))
	for i, s := range seeds {
		if _, err := v.Verify(context.Background(), s); err != nil {
			f.Fatalf("seed %d refused: %v", i, err)
		}
		signed[s[:strings.LastIndexByte(s, '.')]] = true
		f.Add(s, uint16(i+len(seeds)*i*5), byte(i+1))
	}
	f.Add("", uint16(0), byte(0))
	f.Add("e30.e30.", uint16(1), byte(0x80))
	f.Add(rawToken(f, map[string]any{"alg": "none"}, claimsAt(now, idpIss), nil), uint16(2), byte(2))

	f.Fuzz(func(t *testing.T, raw string, pos uint16, mask byte) {
		vt, err := v.Verify(context.Background(), raw)
		if err == nil {
			dot := strings.LastIndexByte(raw, '.')
			if dot < 0 || !signed[raw[:dot]] {
				t.Fatalf("accepted a token not signed here: %q", raw)
			}
			if vt.Principal.ID == "" || vt.Issuer == "" {
				t.Fatalf("accepted token without principal: %+v", vt)
			}
		} else if !isAny(err, sentinels) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		// One seed per input: verification is slow under the fuzzer's
		// coverage instrumentation.
		s := seeds[int(pos)%len(seeds)]
		byBytes, byText := tamper(t, s, pos/uint16(len(seeds)), mask)
		if _, err := v.Verify(context.Background(), byBytes); !errors.Is(err, ErrInvalid) {
			t.Fatalf("seed %d with signature bytes altered: error %v, want ErrInvalid", int(pos)%len(seeds), err)
		}
		if _, err := v.Verify(context.Background(), byText); err == nil {
			t.Fatalf("seed %d with signature text altered: accepted", int(pos)%len(seeds))
		}
	})
}

// tamper returns tok with one signature byte xor-ed with mask (0 counts as
// 1) and tok with one character of the signature segment replaced.
func tamper(t *testing.T, tok string, pos uint16, mask byte) (byBytes, byText string) {
	dot := strings.LastIndexByte(tok, '.')
	head, seg := tok[:dot+1], tok[dot+1:]
	sig, err := b64url.DecodeString(seg)
	if err != nil || len(sig) == 0 {
		t.Fatalf("seed signature: %v", err)
	}
	if mask == 0 {
		mask = 1
	}
	sig[int(pos)%len(sig)] ^= mask
	i := int(pos) % len(seg)
	j := (strings.IndexByte(b64alphabet, seg[i]) + 1 + int(mask)%63) % 64
	return head + b64url.EncodeToString(sig), head + seg[:i] + b64alphabet[j:j+1] + seg[i+1:]
}
