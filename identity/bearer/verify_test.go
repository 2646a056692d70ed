package bearer

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	f := newFixture(t, nil)
	k := keys()
	now := f.clock.Now()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		iss    string
		issuer string
	}{
		{"HS256", jwt.SigningMethodHS256, hmacSecret, "", hmacIss, "hmac"},
		{"HS384", jwt.SigningMethodHS384, hmacSecret, "", hmacIss, "hmac"},
		{"HS512", jwt.SigningMethodHS512, hmacSecret, "any-kid", hmacIss, "hmac"},
		{"RS256", jwt.SigningMethodRS256, k.rsa1, "rsa1", idpIss, "idp"},
		{"RS384", jwt.SigningMethodRS384, k.rsa1, "rsa1", idpIss, "idp"},
		{"RS512", jwt.SigningMethodRS512, k.rsa1, "rsa1", idpIss, "idp"},
		{"PS256", jwt.SigningMethodPS256, k.rsa2, "pss1", idpIss, "idp"},
		{"PS512 with an RSA key without alg", jwt.SigningMethodPS512, k.rsa1, "rsa1", idpIss, "idp"},
		{"ES256", jwt.SigningMethodES256, k.ec256, "ec256", idpIss, "idp"},
		{"ES384", jwt.SigningMethodES384, k.ec384, "ec384", idpIss, "idp"},
		{"ES512", jwt.SigningMethodES512, k.ec521, "ec521", idpIss, "idp"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed1, "ed1", idpIss, "idp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := claimsAt(now, tc.iss)
			raw := sign(t, tc.method, tc.key, tc.kid, claims)
			vt, err := f.v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if vt.Issuer != tc.issuer || vt.Subject != "alice" || vt.Principal.ID != tc.issuer+":alice" || vt.Principal.DisplayName != "Alice" {
				t.Errorf("got %+v", vt)
			}
			if want := now.Add(5 * time.Minute); !vt.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt %v, want %v", vt.ExpiresAt, want)
			}
			if vt.Principal.Claims["iss"] != tc.iss {
				t.Errorf("Claims lack iss: %v", vt.Principal.Claims)
			}
		})
	}
	// Every key of the one JWKS was served from one fetch.
	if n := f.srv.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestVerifyRefusesAlgNone(t *testing.T) {
	f := newFixture(t, nil)
	for _, iss := range []string{hmacIss, idpIss} {
		claims := claimsAt(f.clock.Now(), iss)
		raw := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", claims)
		wantErr(t, f.verify(raw), ErrInvalid)
		// "none" with some signature attached, and in other spellings.
		for _, alg := range []string{"none", "None", "NONE"} {
			raw := rawToken(t, map[string]any{"alg": alg, "kid": "rsa1"}, claims, []byte("sig"))
			wantErr(t, f.verify(raw), ErrInvalid)
		}
	}
}

func TestVerifyRefusesAlgorithmConfusion(t *testing.T) {
	f := newFixture(t, nil)
	k := keys()
	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	now := f.clock.Now()
	tests := []struct {
		name string
		raw  string
	}{
		{"HS256 keyed with the RSA public key PEM, to a JWKS issuer", sign(t, jwt.SigningMethodHS256, pemKey, "rsa1", claimsAt(now, idpIss))},
		{"HS256 keyed with the RSA public key DER, to a JWKS issuer", sign(t, jwt.SigningMethodHS256, der, "rsa1", claimsAt(now, idpIss))},
		{"HS256 keyed with the RSA modulus, without kid", sign(t, jwt.SigningMethodHS256, k.rsa1.N.Bytes(), "", claimsAt(now, idpIss))},
		{"RS256 to an HMAC issuer", sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claimsAt(now, hmacIss))},
		{"EdDSA to an HMAC issuer", sign(t, jwt.SigningMethodEdDSA, k.ed1, "", claimsAt(now, hmacIss))},
		{"HS256 with the HMAC secret to a JWKS issuer", sign(t, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(now, idpIss))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.verify(tc.raw), ErrInvalid)
		})
	}
	// A disallowed alg is refused before any key is looked for.
	if n := f.srv.hits.Load(); n != 0 {
		t.Errorf("JWKS fetched %d times for disallowed algorithms", n)
	}
}

func TestVerifyRefusesUnknownAndUnconfiguredAlgorithms(t *testing.T) {
	k := keys()
	f := newFixture(t, func(iss []Issuer, _ *Options) {
		iss[1].Algorithms = []string{"RS256", "PS256", "ES256"}
	})
	now := f.clock.Now()
	claims := claimsAt(now, idpIss)
	tests := []struct {
		name string
		raw  string
	}{
		{"alg golang-jwt does not know", rawToken(t, map[string]any{"alg": "HS1024", "kid": "rsa1"}, claims, []byte("sig"))},
		{"secp256k1", rawToken(t, map[string]any{"alg": "ES256K", "kid": "ec256"}, claims, make([]byte, 64))},
		{"known alg the issuer does not allow", sign(t, jwt.SigningMethodPS512, k.rsa1, "rsa1", claims)},
		{"EdDSA not in the issuer's list", sign(t, jwt.SigningMethodEdDSA, k.ed1, "ed1", claims)},
		{"alg other than the JWK's own alg", sign(t, jwt.SigningMethodRS256, k.rsa2, "pss1", claims)},
		{"ES256 naming a P-384 key", sign(t, jwt.SigningMethodES256, k.ec256, "ec384", claims)},
		{"HS256 with allowed HMAC alg but the wrong issuer's key type", sign(t, jwt.SigningMethodHS256, hmacSecret, "rsa1", claims)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.verify(tc.raw), ErrInvalid)
		})
	}
	// The allowed ones still work.
	wantErr(t, f.verify(sign(t, jwt.SigningMethodPS256, k.rsa2, "pss1", claims)), nil)
	wantErr(t, f.verify(sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claims)), nil)
}

func TestVerifyTokenSizeLimit(t *testing.T) {
	f := newFixture(t, nil)
	// Over the limit, refused before parsing: garbage is ErrTooLarge, not
	// ErrMalformed.
	wantErr(t, f.verify(strings.Repeat("a", DefaultMaxTokenBytes+1)), ErrTooLarge)
	wantErr(t, f.verify(strings.Repeat("a", DefaultMaxTokenBytes)), ErrMalformed)

	claims := claimsAt(f.clock.Now(), hmacIss)
	claims["pad"] = strings.Repeat("x", DefaultMaxTokenBytes)
	large := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims)
	wantErr(t, f.verify(large), ErrTooLarge)

	// The same genuine token passes with a larger limit, so the limit
	// alone refused it.
	g := newFixture(t, func(_ []Issuer, o *Options) { o.MaxTokenBytes = 64 << 10 })
	wantErr(t, g.verify(large), nil)

	small := newFixture(t, func(_ []Issuer, o *Options) { o.MaxTokenBytes = 100 })
	wantErr(t, small.verify(sign(t, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(small.clock.Now(), hmacIss))), ErrTooLarge)
}

func TestVerifyTimeClaims(t *testing.T) {
	f := newFixture(t, func(iss []Issuer, _ *Options) {
		iss[0].Leeway = 5 * time.Second
	})
	now := f.clock.Now()
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name string
		iss  string
		edit func(jwt.MapClaims)
		want error
	}{
		{"expired within default leeway", idpIss, func(c jwt.MapClaims) { c["exp"] = at(-20 * time.Second) }, nil},
		{"expired beyond default leeway", idpIss, func(c jwt.MapClaims) { c["exp"] = at(-31 * time.Second) }, ErrExpired},
		{"expired long ago", idpIss, func(c jwt.MapClaims) { c["exp"] = at(-24 * time.Hour) }, ErrExpired},
		{"expired within configured leeway", hmacIss, func(c jwt.MapClaims) { c["exp"] = at(-4 * time.Second) }, nil},
		{"expired beyond configured leeway", hmacIss, func(c jwt.MapClaims) { c["exp"] = at(-10 * time.Second) }, ErrExpired},
		{"expired and wrong audience", idpIss, func(c jwt.MapClaims) { c["exp"] = at(-time.Hour); c["aud"] = "other" }, ErrInvalid},
		{"expired and not yet valid", idpIss, func(c jwt.MapClaims) { c["exp"] = at(-time.Hour); c["nbf"] = at(time.Hour) }, ErrInvalid},
		{"nbf in the future", idpIss, func(c jwt.MapClaims) { c["nbf"] = at(time.Minute) }, ErrInvalid},
		{"nbf in the future within leeway", idpIss, func(c jwt.MapClaims) { c["nbf"] = at(20 * time.Second) }, nil},
		{"iat in the future", idpIss, func(c jwt.MapClaims) { c["iat"] = at(time.Minute) }, ErrInvalid},
		{"iat in the future within leeway", idpIss, func(c jwt.MapClaims) { c["iat"] = at(20 * time.Second) }, nil},
		{"no nbf and no iat", idpIss, func(c jwt.MapClaims) { delete(c, "nbf"); delete(c, "iat") }, nil},
		{"no exp", idpIss, func(c jwt.MapClaims) { delete(c, "exp") }, ErrInvalid},
		{"exp zero", idpIss, func(c jwt.MapClaims) { c["exp"] = 0 }, ErrInvalid},
		{"exp a string", idpIss, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := claimsAt(now, tc.iss)
			tc.edit(c)
			var raw string
			if tc.iss == hmacIss {
				raw = sign(t, jwt.SigningMethodHS256, hmacSecret, "", c)
			} else {
				raw = sign(t, jwt.SigningMethodES256, keys().ec256, "ec256", c)
			}
			err := f.verify(raw)
			wantErr(t, err, tc.want)
			if tc.want == ErrInvalid && errors.Is(err, ErrExpired) {
				t.Errorf("error %v wraps ErrExpired too", err)
			}
		})
	}
}

func TestVerifyIssuerAndAudience(t *testing.T) {
	f := newFixture(t, nil)
	// Two HMAC issuers with their own secrets.
	other := []byte("another-s3gate-test-secret-9876543210fedcba")
	g, err := New(context.Background(), []Issuer{
		{Name: "a", Issuer: "https://a.s3gate.test", Audiences: []string{aud}, HMACSecret: hmacSecret},
		{Name: "b", Issuer: "https://b.s3gate.test", Audiences: []string{aud}, HMACSecret: other},
	}, Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	ec := func(edit func(jwt.MapClaims)) string {
		c := claimsAt(now, idpIss)
		edit(c)
		return sign(t, jwt.SigningMethodES256, keys().ec256, "ec256", c)
	}
	tests := []struct {
		name string
		v    *Verifier
		raw  string
		want error
	}{
		{"unknown iss", f.v, ec(func(c jwt.MapClaims) { c["iss"] = "https://evil.s3gate.test" }), ErrUnknownIssuer},
		{"iss differing only in a trailing slash", f.v, ec(func(c jwt.MapClaims) { c["iss"] = idpIss + "/" }), ErrUnknownIssuer},
		{"no iss", f.v, ec(func(c jwt.MapClaims) { delete(c, "iss") }), ErrUnknownIssuer},
		{"iss not a string", f.v, ec(func(c jwt.MapClaims) { c["iss"] = 42 }), ErrMalformed},
		{"signed by issuer a, claiming issuer b", g, sign(t, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(now, "https://b.s3gate.test")), ErrInvalid},
		{"signed by issuer b, claiming issuer a", g, sign(t, jwt.SigningMethodHS256, other, "", claimsAt(now, "https://a.s3gate.test")), ErrInvalid},
		{"issuer b's own token", g, sign(t, jwt.SigningMethodHS256, other, "", claimsAt(now, "https://b.s3gate.test")), nil},
		{"wrong aud", f.v, ec(func(c jwt.MapClaims) { c["aud"] = "other-service" }), ErrInvalid},
		{"aud list without s3gate", f.v, ec(func(c jwt.MapClaims) { c["aud"] = []string{"x", "y"} }), ErrInvalid},
		{"no aud", f.v, ec(func(c jwt.MapClaims) { delete(c, "aud") }), ErrInvalid},
		{"empty aud", f.v, ec(func(c jwt.MapClaims) { c["aud"] = "" }), ErrInvalid},
		{"aud of the wrong type", f.v, ec(func(c jwt.MapClaims) { c["aud"] = 7 }), ErrInvalid},
		{"aud list with s3gate", f.v, ec(func(c jwt.MapClaims) { c["aud"] = []string{"x", aud} }), nil},
		{"second configured aud", f.v, ec(func(c jwt.MapClaims) { c["aud"] = "s3gate-admin" }), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(context.Background(), tc.raw)
			wantErr(t, err, tc.want)
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	f := newFixture(t, nil)
	enc := b64url.EncodeToString
	claims := enc([]byte(`{"iss":"` + idpIss + `","aud":"s3gate"}`))
	header := enc([]byte(`{"alg":"ES256","kid":"ec256"}`))
	good := sign(t, jwt.SigningMethodES256, keys().ec256, "ec256", claimsAt(f.clock.Now(), idpIss))
	parts := strings.Split(good, ".")
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"garbage", "garbage"},
		{"two segments", header + "." + claims},
		{"four segments", good + ".x"},
		{"dots only", ".."},
		{"bad base64 header", "!!!." + claims + ".c2ln"},
		{"bad base64 claims", header + ".%%%.c2ln"},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".***"},
		{"padded signature", parts[0] + "." + parts[1] + "." + parts[2] + "=="},
		{"signature with non-zero padding bits", parts[0] + "." + parts[1] + "." + flipPaddingBits(parts[2])},
		{"standard base64 alphabet", header + "." + claims + ".a+b/"},
		{"header not JSON", enc([]byte("not json")) + "." + claims + "."},
		{"header a JSON array", enc([]byte("[1,2]")) + "." + claims + "."},
		{"claims not JSON", header + "." + enc([]byte("{")) + "."},
		{"claims a JSON string", header + "." + enc([]byte(`"x"`)) + "."},
		{"header without alg", enc([]byte(`{"kid":"ec256"}`)) + "." + claims + "."},
		{"alg not a string", enc([]byte(`{"alg":256}`)) + "." + claims + "."},
		{"kid not a string", enc([]byte(`{"alg":"ES256","kid":7}`)) + "." + claims + "." + parts[2]},
		{"whitespace", " " + good},
		{"bearer prefix left on", "Bearer " + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.verify(tc.raw), ErrMalformed)
		})
	}
	wantErr(t, f.verify(good), nil)
}

func TestVerifyRefusesCriticalHeader(t *testing.T) {
	f := newFixture(t, nil)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsAt(f.clock.Now(), hmacIss))
	tok.Header["crit"] = []string{"exp"}
	raw, err := tok.SignedString(hmacSecret)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.verify(raw), ErrInvalid)
}

func TestVerifyBadSignature(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	k := keys()
	tests := []struct {
		name string
		raw  string
	}{
		{"HS256 with another secret", sign(t, jwt.SigningMethodHS256, []byte("not-the-s3gate-secret-but-long-enough"), "", claimsAt(now, hmacIss))},
		{"RS256 by another RSA key under a known kid", sign(t, jwt.SigningMethodRS256, k.rsa3, "rsa1", claimsAt(now, idpIss))},
		{"claims swapped under a genuine signature", func() string {
			a := strings.Split(sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claimsAt(now, idpIss)), ".")
			c := claimsAt(now, idpIss)
			c["sub"] = "root"
			b := strings.Split(sign(t, jwt.SigningMethodRS256, k.rsa3, "rsa1", c), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}()},
		{"empty signature", func() string {
			a := strings.Split(sign(t, jwt.SigningMethodEdDSA, k.ed1, "ed1", claimsAt(now, idpIss)), ".")
			return a[0] + "." + a[1] + "."
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, f.verify(tc.raw), ErrInvalid)
		})
	}
}

func TestErrorsHoldNoTokenOrSecret(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	k := keys()
	expired := claimsAt(now, hmacIss)
	expired["exp"] = now.Add(-time.Hour).Unix()
	wrongAud := claimsAt(now, idpIss)
	wrongAud["aud"] = "other"
	tokens := []string{
		sign(t, jwt.SigningMethodHS256, hmacSecret, "", expired),
		sign(t, jwt.SigningMethodHS256, []byte("not-the-s3gate-secret-but-long-enough"), "", claimsAt(now, hmacIss)),
		sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", wrongAud),
		sign(t, jwt.SigningMethodRS256, k.rsa1, "nokey", claimsAt(now, idpIss)),
		sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa1", claimsAt(now, "https://unknown.s3gate.test")),
		b64url.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64url.EncodeToString([]byte(`{"iss":"x",Q}`)) + ".c2ln",
	}
	for _, raw := range tokens {
		err := f.verify(raw)
		if err == nil {
			t.Fatal("token accepted")
		}
		msg := err.Error()
		sig := raw[strings.LastIndexByte(raw, '.')+1:]
		// 'Q' is how a JSON syntax error would quote the bad character.
		for _, bad := range []string{raw, sig, string(hmacSecret), "'Q'", "client_secret", "hidden"} {
			if strings.Contains(msg, bad) {
				t.Errorf("error %q holds %q", msg, bad)
			}
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := func() Issuer {
		return Issuer{Name: "idp", Issuer: idpIss, Audiences: []string{aud}, JWKSURL: "https://idp.s3gate.test/jwks"}
	}
	hmac := func() Issuer {
		return Issuer{Name: "hmac", Issuer: hmacIss, Audiences: []string{aud}, HMACSecret: hmacSecret}
	}
	with := func(edit func(*Issuer)) []Issuer {
		c := good()
		edit(&c)
		return []Issuer{c}
	}
	tests := []struct {
		name    string
		issuers []Issuer
		opts    Options
	}{
		{"no issuers", nil, Options{}},
		{"no name", with(func(c *Issuer) { c.Name = "" }), Options{}},
		{"no iss", with(func(c *Issuer) { c.Issuer = "" }), Options{}},
		{"no audiences", with(func(c *Issuer) { c.Audiences = nil }), Options{}},
		{"empty audience", with(func(c *Issuer) { c.Audiences = []string{aud, ""} }), Options{}},
		{"no key source", with(func(c *Issuer) { c.JWKSURL = "" }), Options{}},
		{"two key sources", with(func(c *Issuer) { c.HMACSecret = hmacSecret }), Options{}},
		{"short HMAC secret", []Issuer{func() Issuer { c := hmac(); c.HMACSecret = []byte("short"); return c }()}, Options{}},
		{"empty HMAC secret", []Issuer{func() Issuer { c := hmac(); c.HMACSecret = []byte{}; return c }()}, Options{}},
		{"JWKS URL not http", with(func(c *Issuer) { c.JWKSURL = "ftp://idp.s3gate.test/jwks" }), Options{}},
		{"JWKS URL relative", with(func(c *Issuer) { c.JWKSURL = "/jwks" }), Options{}},
		{"alg none", with(func(c *Issuer) { c.Algorithms = []string{"none"} }), Options{}},
		{"HS256 with a JWKS", with(func(c *Issuer) { c.Algorithms = []string{"RS256", "HS256"} }), Options{}},
		{"RS256 with a secret", []Issuer{func() Issuer { c := hmac(); c.Algorithms = []string{"RS256"}; return c }()}, Options{}},
		{"unknown alg", with(func(c *Issuer) { c.Algorithms = []string{"RS1"} }), Options{}},
		{"negative leeway", with(func(c *Issuer) { c.Leeway = -time.Second }), Options{}},
		{"missing JWKS file", with(func(c *Issuer) { c.JWKSURL = ""; c.JWKSFile = "/nonexistent/jwks.json" }), Options{}},
		{"same name twice", []Issuer{good(), func() Issuer { c := hmac(); c.Name = "idp"; return c }()}, Options{}},
		{"same iss twice", []Issuer{good(), func() Issuer { c := hmac(); c.Issuer = idpIss; return c }()}, Options{}},
		{"same id prefix", []Issuer{good(), func() Issuer { c := hmac(); c.IDPrefix = "idp:"; return c }()}, Options{}},
		{"overlapping id prefixes", []Issuer{
			func() Issuer { c := good(); c.IDPrefix = "oidc:"; return c }(),
			func() Issuer { c := hmac(); c.IDPrefix = "oidc:corp:"; return c }(),
		}, Options{}},
		{"negative token limit", []Issuer{good()}, Options{MaxTokenBytes: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(context.Background(), tc.issuers, tc.opts)
			if err == nil || v != nil {
				t.Fatalf("New accepted the config")
			}
			if strings.Contains(err.Error(), string(hmacSecret)) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
	// The two base issuers together are fine, and New fetches nothing.
	if _, err := New(context.Background(), []Issuer{good(), hmac()}, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewCopiesCallerSlices(t *testing.T) {
	c := newClock()
	auds := []string{aud}
	secret := append([]byte(nil), hmacSecret...)
	v, err := New(context.Background(), []Issuer{{Name: "hmac", Issuer: hmacIss, Audiences: auds, HMACSecret: secret}}, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	auds[0] = "changed"
	secret[0] ^= 0xff
	raw := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claimsAt(c.Now(), hmacIss))
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFromAuthorization(t *testing.T) {
	tests := []struct {
		in    string
		token string
		ok    bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc.def.ghi", "abc.def.ghi", true},
		{"BEARER   abc", "abc", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Bearer a b", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"AWS4-HMAC-SHA256 Credential=x", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		token, ok := TokenFromAuthorization(tc.in)
		if token != tc.token || ok != tc.ok {
			t.Errorf("TokenFromAuthorization(%q) = %q, %v; want %q, %v", tc.in, token, ok, tc.token, tc.ok)
		}
	}
}

// flipPaddingBits changes the unused low bits of the last character of a
// base64url segment: lenient decoders read the same bytes from it.
func flipPaddingBits(seg string) string {
	last := strings.IndexByte(b64alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64alphabet[last^1])
}
