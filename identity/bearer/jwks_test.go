package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	k := keys()
	with := func(m map[string]any, kv ...any) map[string]any {
		out := make(map[string]any, len(m))
		for key, v := range m {
			out[key] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	rsaKey := jwkOf("r", "", k.rsa1)
	ecKey := jwkOf("e", "", k.ec256)
	edKey := jwkOf("o", "", k.ed1)
	// The good key with one bit of y flipped: well-formed, not on the curve.
	y, err := b64url.DecodeString(ecKey["y"].(string))
	if err != nil {
		t.Fatal(err)
	}
	y[len(y)-1] ^= 1
	offCurve := with(ecKey, "y", b64url.EncodeToString(y))

	tests := []struct {
		name string
		key  map[string]any
		algs []string // nil: skipped
	}{
		{"RSA", rsaKey, rsaAlgs},
		{"RSA with alg", with(rsaKey, "alg", "PS384"), []string{"PS384"}},
		{"RSA without use", with(rsaKey, "use", nil), rsaAlgs},
		{"RSA with padded parameters", with(rsaKey, "e", "AQAB"), rsaAlgs},
		{"RSA for encryption", with(rsaKey, "use", "enc"), nil},
		{"RSA with key_ops verify", with(rsaKey, "key_ops", []string{"verify"}), rsaAlgs},
		{"RSA with key_ops encrypt", with(rsaKey, "key_ops", []string{"encrypt"}), nil},
		{"RSA with an encryption alg", with(rsaKey, "alg", "RSA-OAEP"), nil},
		{"RSA claiming HS256", with(rsaKey, "alg", "HS256"), nil},
		{"RSA claiming ES256", with(rsaKey, "alg", "ES256"), nil},
		{"RSA of 1024 bits", jwkOf("s", "", k.rsaSmall), nil},
		{"RSA with bad base64", with(rsaKey, "n", "!!"), nil},
		{"RSA with even exponent", with(rsaKey, "e", "Ag"), nil},
		{"RSA with huge exponent", with(rsaKey, "e", "AQABAQAB"), nil},
		{"RSA without n", with(rsaKey, "n", nil), nil},
		{"EC P-256", ecKey, []string{"ES256"}},
		{"EC P-384", jwkOf("", "", k.ec384), []string{"ES384"}},
		{"EC P-521", jwkOf("", "", k.ec521), []string{"ES512"}},
		{"EC P-256 claiming ES384", with(ecKey, "alg", "ES384"), nil},
		{"EC point off the curve", offCurve, nil},
		{"EC with short x", with(ecKey, "x", "AAAA"), nil},
		{"EC on secp256k1", with(ecKey, "crv", "secp256k1"), nil},
		{"Ed25519", edKey, []string{"EdDSA"}},
		{"Ed25519 with alg", with(edKey, "alg", "EdDSA"), []string{"EdDSA"}},
		{"X25519", with(edKey, "crv", "X25519"), nil},
		{"Ed448", with(edKey, "crv", "Ed448"), nil},
		{"Ed25519 with short x", with(edKey, "x", "AAAA"), nil},
		{"symmetric key", map[string]any{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}, nil},
		{"unknown kty", map[string]any{"kty": "PQC", "kid": "x"}, nil},
		{"no kty", map[string]any{"kid": "x"}, nil},
		{"fields of the wrong type", map[string]any{"kty": 5, "kid": []int{1}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each key shares its set with a good key, which must survive.
			doc, err := json.Marshal(map[string]any{"keys": []any{tc.key, jwkOf("good", "", k.ed1)}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseJWKS(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got[len(got)-1].kid != "good" {
				t.Fatalf("the good key was lost: %+v", got)
			}
			got = got[:len(got)-1]
			if tc.algs == nil {
				if len(got) != 0 {
					t.Fatalf("key kept: %+v", got)
				}
				return
			}
			if len(got) != 1 || !slices.Equal(got[0].algs, tc.algs) {
				t.Fatalf("got %+v, want one key for %v", got, tc.algs)
			}
		})
	}
}

func TestParseJWKSKeyMaterial(t *testing.T) {
	k := keys()
	got, err := parseJWKS(jwksJSON(t, jwkOf("r", "", k.rsa1), jwkOf("e", "", k.ec384), jwkOf("o", "", k.ed1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d keys", len(got))
	}
	if r, ok := got[0].key.(*rsa.PublicKey); !ok || !r.Equal(&k.rsa1.PublicKey) || got[0].kid != "r" {
		t.Errorf("RSA key %+v", got[0])
	}
	if e, ok := got[1].key.(*ecdsa.PublicKey); !ok || !e.Equal(&k.ec384.PublicKey) {
		t.Errorf("EC key %+v", got[1])
	}
	if o, ok := got[2].key.(ed25519.PublicKey); !ok || !o.Equal(k.ed1.Public()) {
		t.Errorf("Ed25519 key %+v", got[2])
	}
}

func TestParseJWKSRefusesNonSets(t *testing.T) {
	for _, doc := range []string{``, `{`, `[]`, `"keys"`, `{}`, `{"keys":null}`, `{"keys":{}}`, `{"keys":"x"}`} {
		if _, err := parseJWKS([]byte(doc)); err == nil {
			t.Errorf("parseJWKS(%q) accepted", doc)
		}
	}
	got, err := parseJWKS([]byte(`{"keys":[]}`))
	if err != nil || len(got) != 0 {
		t.Errorf("empty set: %v, %v", got, err)
	}
}

func TestMatch(t *testing.T) {
	k := keys()
	set, err := parseJWKS(jwksJSON(t, jwkOf("a", "", k.rsa1), jwkOf("", "", k.rsa2), jwkOf("a", "", k.ec256), jwkOf("b", "PS256", k.rsa3)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kid    string
		hasKid bool
		alg    string
		want   []any
	}{
		{"a", true, "RS256", []any{&k.rsa1.PublicKey}},
		{"a", true, "ES256", []any{&k.ec256.PublicKey}},
		{"a", true, "ES384", nil},
		{"b", true, "RS256", nil},
		{"b", true, "PS256", []any{&k.rsa3.PublicKey}},
		{"", false, "RS256", []any{&k.rsa1.PublicKey, &k.rsa2.PublicKey}},
		{"", false, "PS256", []any{&k.rsa1.PublicKey, &k.rsa2.PublicKey, &k.rsa3.PublicKey}},
		{"c", true, "RS256", nil},
	}
	for _, tc := range tests {
		got := match(set, tc.kid, tc.hasKid, tc.alg)
		if len(got) != len(tc.want) {
			t.Errorf("match(%q, %s) = %d keys, want %d", tc.kid, tc.alg, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if !got[i].(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.want[i]) {
				t.Errorf("match(%q, %s)[%d] is another key", tc.kid, tc.alg, i)
			}
		}
	}
}

func TestParseJWKSKeepsAtMostMaxKeys(t *testing.T) {
	var set []map[string]any
	for i := range maxJWKSKeys + 20 {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": fmt.Sprint(i), "x": b64url.EncodeToString(pub)})
	}
	got, err := parseJWKS(jwksJSON(t, set...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxJWKSKeys || got[0].kid != "0" || got[maxJWKSKeys-1].kid != fmt.Sprint(maxJWKSKeys-1) {
		t.Fatalf("kept %d keys", len(got))
	}
}
