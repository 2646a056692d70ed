package bearer

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults for the zero values of Issuer and Options.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenBytes      = 16 << 10
	DefaultMaxJWKSBytes       = 1 << 20
	DefaultJWKSCacheTTL       = time.Hour
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultFetchTimeout bounds one JWKS fetch, whatever HTTPClient says.
	DefaultFetchTimeout = 10 * time.Second
	// MinHMACSecretBytes is the shortest HMAC secret accepted: 256 bits,
	// the output size of HS256 (RFC 7518 section 3.2).
	MinHMACSecretBytes = 32
)

// Issuer is one token issuer s3gate trusts. Exactly one of HMACSecret,
// JWKSFile and JWKSURL says where its keys come from.
type Issuer struct {
	// Name is s3gate's name for the issuer. It is reported as
	// VerifiedToken.Issuer and, unless IDPrefix is set, prefixes principal
	// ids as Name + ":".
	Name string
	// Issuer is the exact "iss" value of the issuer's tokens.
	Issuer string
	// Audiences are the "aud" values s3gate answers to; a token must name at
	// least one of them. At least one is required: a token minted for some
	// other service of the same issuer must not open s3gate.
	Audiences []string

	// HMACSecret is a shared secret (at least MinHMACSecretBytes long).
	HMACSecret []byte
	// JWKSFile is a local JWK Set file. It is read by New and read again
	// when a token names an unknown kid or the cache TTL has passed.
	JWKSFile string
	// JWKSURL is an http or https URL serving a JWK Set.
	JWKSURL string

	// Algorithms are the allowed "alg" values. Empty: HS256, HS384 and
	// HS512 for an HMAC secret; for a JWKS every algorithm its keys can
	// verify (RS* and PS* for RSA keys, ES* by curve for EC keys, EdDSA for
	// Ed25519 keys). "none" is never allowed, nor HS* with a JWKS or
	// anything but HS* with a secret.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means
	// DefaultLeeway. Negative values are refused.
	Leeway time.Duration
	// Claims says which claims make up the principal.
	Claims ClaimMapping
	// IDPrefix is put in front of every principal id from this issuer so
	// ids from different issuers, and s3gate's own principals such as
	// "root", cannot collide. Empty means Name + ":". No issuer's prefix may
	// be a prefix of another's.
	IDPrefix string
}

// ClaimMapping names the claims a principal is built from. Each is a dotted
// path into nested objects, e.g. "realm_access.roles". A claim whose own
// name contains dots ("https://example.com/roles") is found too: at each
// level the whole remaining path is tried as a name before it is split.
type ClaimMapping struct {
	// ID is the principal id claim; default "sub". A token without it is
	// refused.
	ID string
	// DisplayName is the display name claim. Default: "preferred_username",
	// then "name". When absent the principal id is used.
	DisplayName string
	// Roles is the roles claim, default "roles": an array of strings or one
	// string of space or comma separated roles.
	Roles string
	// Groups is the groups claim, default "groups", read like Roles.
	Groups string
}

// Options are settings shared by all issuers.
type Options struct {
	// HTTPClient fetches JWKS URLs. Default: a client with a
	// DefaultFetchTimeout timeout.
	HTTPClient *http.Client
	// MaxTokenBytes caps the token length, checked before any parsing;
	// default DefaultMaxTokenBytes.
	MaxTokenBytes int
	// MaxJWKSBytes caps a JWKS document; default DefaultMaxJWKSBytes.
	MaxJWKSBytes int64
	// JWKSCacheTTL is how long a fetched JWKS is used before it is fetched
	// again; default DefaultJWKSCacheTTL.
	JWKSCacheTTL time.Duration
	// MinRefreshInterval is the least time between two fetches of one
	// issuer's JWKS, however many unknown kids arrive; default
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Now is the clock for token times and for the JWKS cache; default
	// time.Now.
	Now func() time.Time
}

var (
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	rsaAlgs  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ecAlgs   = []string{"ES256", "ES384", "ES512"}
	edAlgs   = []string{"EdDSA"}
	// keyAlgs is everything a JWK may verify.
	keyAlgs = slices.Concat(rsaAlgs, ecAlgs, edAlgs)
)

func (o Options) withDefaults() (Options, error) {
	if o.MaxTokenBytes < 0 || o.MaxJWKSBytes < 0 || o.JWKSCacheTTL < 0 || o.MinRefreshInterval < 0 {
		return o, errors.New("bearer: negative limit in options")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if o.MaxTokenBytes == 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.MaxJWKSBytes == 0 {
		o.MaxJWKSBytes = DefaultMaxJWKSBytes
	}
	if o.JWKSCacheTTL == 0 {
		o.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	if o.MinRefreshInterval == 0 {
		o.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// check validates one issuer's settings (not those that span issuers) and
// fills in its defaults. Its errors name the issuer but never the secret.
func (c Issuer) check() (Issuer, error) {
	fail := func(format string, args ...any) (Issuer, error) {
		return c, fmt.Errorf("bearer: issuer %q: %s", c.Name, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Name) == "" {
		return c, errors.New("bearer: issuer without a name")
	}
	if c.Issuer == "" {
		return fail("no iss value configured")
	}
	if len(c.Audiences) == 0 {
		return fail("no audiences configured; at least one is required")
	}
	if slices.Contains(c.Audiences, "") {
		return fail("empty audience")
	}
	sources := 0
	for _, set := range []bool{c.HMACSecret != nil, c.JWKSFile != "", c.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return fail("exactly one of HMACSecret, JWKSFile and JWKSURL must be set")
	}
	if c.HMACSecret != nil && len(c.HMACSecret) < MinHMACSecretBytes {
		return fail("HMAC secret shorter than %d bytes", MinHMACSecretBytes)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fail("JWKS URL must be an absolute http or https URL")
		}
	}
	allowed := keyAlgs
	if c.HMACSecret != nil {
		allowed = hmacAlgs
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = allowed
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(allowed, a) {
			return fail("algorithm %q is not allowed with this key source", a)
		}
	}
	switch {
	case c.Leeway < 0:
		return fail("negative leeway")
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	}
	if c.IDPrefix == "" {
		c.IDPrefix = c.Name + ":"
	}
	// Copies, so a caller reusing its slices cannot change a running verifier.
	c.Audiences = slices.Clone(c.Audiences)
	c.Algorithms = slices.Clone(c.Algorithms)
	c.HMACSecret = slices.Clone(c.HMACSecret)
	c.Claims = c.Claims.withDefaults()
	return c, nil
}

// checkAll validates the issuers together: names, iss values and id
// prefixes must not clash.
func checkAll(issuers []Issuer) ([]Issuer, error) {
	if len(issuers) == 0 {
		return nil, errors.New("bearer: no issuers configured")
	}
	out := make([]Issuer, 0, len(issuers))
	for _, c := range issuers {
		c, err := c.check()
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			switch {
			case o.Name == c.Name:
				return nil, fmt.Errorf("bearer: two issuers named %q", c.Name)
			case o.Issuer == c.Issuer:
				return nil, fmt.Errorf("bearer: issuers %q and %q have the same iss", o.Name, c.Name)
			case strings.HasPrefix(o.IDPrefix, c.IDPrefix) || strings.HasPrefix(c.IDPrefix, o.IDPrefix):
				return nil, fmt.Errorf("bearer: id prefixes of issuers %q and %q overlap, so their principal ids could collide", o.Name, c.Name)
			}
		}
		out = append(out, c)
	}
	return out, nil
}
