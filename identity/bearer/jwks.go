package bearer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
)

const (
	// minRSABits is the smallest RSA modulus accepted in a JWKS.
	minRSABits = 2048
	// maxJWKSKeys bounds the usable keys kept from one JWKS, and so the
	// signature checks one token without kid can cost. Real issuers
	// publish a handful.
	maxJWKSKeys = 100
)

// jwk is one usable verification key of a JWK Set.
type jwk struct {
	kid string
	// algs are the algorithms the key may verify: those its type allows,
	// narrowed to the JWK's own "alg" when it has one.
	algs []string
	key  any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

type rawJWK struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS returns the usable signature keys of a JWK Set. Keys meant for
// encryption, of an unsupported type or curve, with an "alg" their type
// cannot verify, or with broken parameters are left out rather than failing
// the set: one odd key must not lock out every token of the issuer.
// Symmetric ("oct") keys are among the unsupported: a secret has no place
// in a published key set. Usable keys past the first maxJWKSKeys are
// dropped too.
func parseJWKS(b []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if doc.Keys == nil {
		return nil, errors.New(`no "keys" array`)
	}
	var keys []jwk
	for _, raw := range doc.Keys {
		var r rawJWK
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		if k, ok := r.parse(); ok && len(keys) < maxJWKSKeys {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (r rawJWK) parse() (jwk, bool) {
	if r.Use != "" && r.Use != "sig" {
		return jwk{}, false
	}
	if r.KeyOps != nil && !slices.Contains(r.KeyOps, "verify") {
		return jwk{}, false
	}
	var (
		key  any
		algs []string
		ok   bool
	)
	switch r.Kty {
	case "RSA":
		key, ok = r.rsaKey()
		algs = rsaAlgs
	case "EC":
		key, algs, ok = r.ecKey()
	case "OKP":
		key, ok = r.ed25519Key()
		algs = edAlgs
	}
	if !ok {
		return jwk{}, false
	}
	if r.Alg != "" {
		if !slices.Contains(algs, r.Alg) {
			return jwk{}, false
		}
		algs = []string{r.Alg}
	}
	return jwk{kid: r.Kid, algs: algs, key: key}, true
}

func (r rawJWK) rsaKey() (*rsa.PublicKey, bool) {
	n, err1 := b64(r.N)
	e, err2 := b64(r.E)
	if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
		return nil, false
	}
	mod := new(big.Int).SetBytes(n)
	if mod.BitLen() < minRSABits {
		return nil, false
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, false
	}
	return &rsa.PublicKey{N: mod, E: exp}, true
}

func (r rawJWK) ecKey() (*ecdsa.PublicKey, []string, bool) {
	var (
		curve elliptic.Curve
		size  int
		alg   string
	)
	switch r.Crv {
	case "P-256":
		curve, size, alg = elliptic.P256(), 32, "ES256"
	case "P-384":
		curve, size, alg = elliptic.P384(), 48, "ES384"
	case "P-521":
		curve, size, alg = elliptic.P521(), 66, "ES512"
	default:
		return nil, nil, false
	}
	x, err1 := b64(r.X)
	y, err2 := b64(r.Y)
	if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
		return nil, nil, false
	}
	// The uncompressed point form lets crypto/ecdsa check the point is on
	// the curve.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, x, y))
	if err != nil {
		return nil, nil, false
	}
	return pub, []string{alg}, true
}

func (r rawJWK) ed25519Key() (ed25519.PublicKey, bool) {
	if r.Crv != "Ed25519" {
		return nil, false
	}
	x, err := b64(r.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(x), true
}

// b64 decodes a base64url JWK parameter. RFC 7517 says unpadded; padding
// is tolerated because some issuers send it.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}

// match returns the keys that may verify a token with the given alg and
// kid. With a kid only keys carrying that kid match; a token without a kid
// is tried against every key that can verify its alg. hasKid implies a
// non-empty kid, so keys without a kid never match one.
func match(keys []jwk, kid string, hasKid bool, alg string) []any {
	var out []any
	for _, k := range keys {
		if hasKid && k.kid != kid {
			continue
		}
		if slices.Contains(k.algs, alg) {
			out = append(out, k.key)
		}
	}
	return out
}
