package bearer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s3gate/s3gate/identity"
)

// Verifier checks bearer tokens against the configured issuers. It is safe
// for concurrent use.
type Verifier struct {
	byIss    map[string]*issuer
	issuers  []*issuer
	maxBytes int
	// router only reads the unverified iss to pick the issuer.
	router *jwt.Parser
}

// issuer is a checked Issuer ready to verify tokens.
type issuer struct {
	cfg    Issuer
	parser *jwt.Parser
	secret []byte  // HMAC issuers
	keys   *keySet // JWKS issuers
}

// New checks the issuers and builds a Verifier. JWKS files are read now and
// must hold at least one usable key. JWKS URLs are fetched on first use (or
// by Prefetch), so an issuer that is down when s3gate starts does not stop
// it from starting; its tokens are refused with ErrKeysUnavailable until the
// URL answers.
func New(ctx context.Context, issuers []Issuer, opts Options) (*Verifier, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cfgs, err := checkAll(issuers)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		byIss:    make(map[string]*issuer, len(cfgs)),
		maxBytes: opts.MaxTokenBytes,
		router:   jwt.NewParser(jwt.WithStrictDecoding()),
	}
	for _, c := range cfgs {
		is := &issuer{
			cfg: c,
			parser: jwt.NewParser(
				jwt.WithValidMethods(c.Algorithms),
				jwt.WithIssuer(c.Issuer),
				jwt.WithAudience(c.Audiences...),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithLeeway(c.Leeway),
				jwt.WithTimeFunc(opts.Now),
				jwt.WithStrictDecoding(),
			),
			secret: c.HMACSecret,
		}
		switch {
		case c.JWKSFile != "":
			is.keys = newKeySet(c.JWKSFile, fetchFile(c.JWKSFile, opts.MaxJWKSBytes), opts)
			if err := is.keys.refresh(ctx, true); err != nil {
				return nil, fmt.Errorf("bearer: issuer %q: JWKS file %s: %w", c.Name, c.JWKSFile, err)
			}
			if len(is.keys.snapshot()) == 0 {
				return nil, fmt.Errorf("bearer: issuer %q: JWKS file %s has no usable signature key", c.Name, c.JWKSFile)
			}
		case c.JWKSURL != "":
			is.keys = newKeySet(redactURL(c.JWKSURL), fetchURL(opts.HTTPClient, c.JWKSURL, opts.MaxJWKSBytes), opts)
		}
		v.byIss[c.Issuer] = is
		v.issuers = append(v.issuers, is)
	}
	return v, nil
}

func newKeySet(where string, fetch func(context.Context) ([]byte, error), opts Options) *keySet {
	return &keySet{where: where, fetch: fetch, now: opts.Now, ttl: opts.JWKSCacheTTL, minInterval: opts.MinRefreshInterval}
}

// Prefetch loads every JWKS URL not loaded yet, so s3gate can report an
// unreachable issuer at start. Its error is for logging only: the Verifier
// keeps working and fetches again on demand, at most once per
// MinRefreshInterval.
func (v *Verifier) Prefetch(ctx context.Context) error {
	var errs []error
	for _, is := range v.issuers {
		if is.cfg.JWKSURL == "" {
			continue
		}
		keys, err := is.keys.current(ctx)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("issuer %q: %w", is.cfg.Name, err))
		case len(keys) == 0:
			errs = append(errs, fmt.Errorf("issuer %q: JWKS %s has no usable signature key", is.cfg.Name, is.keys.where))
		}
	}
	return errors.Join(errs...)
}

// Verify checks a bearer token (the part after "Bearer ") and returns what
// it says. Its errors wrap one of ErrTooLarge, ErrMalformed,
// ErrUnknownIssuer, ErrExpired, ErrInvalid and ErrKeysUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string) (identity.VerifiedToken, error) {
	if len(raw) > v.maxBytes {
		return identity.VerifiedToken{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), v.maxBytes)
	}
	is, err := v.route(raw)
	if err != nil {
		return identity.VerifiedToken{}, err
	}
	return is.verify(ctx, raw)
}

// route picks the issuer named by the token's iss. Nothing here is trusted:
// the chosen issuer's keys and checks decide.
func (v *Verifier) route(raw string) (*issuer, error) {
	claims := jwt.MapClaims{}
	tok, _, err := v.router.ParseUnverified(raw, claims)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenUnverifiable) {
			// The header decoded but its alg is missing or unknown.
			if alg, ok := tok.Header["alg"].(string); ok {
				return nil, fmt.Errorf("%w: signing algorithm %s is not supported", ErrInvalid, quote(alg))
			}
			return nil, fmt.Errorf("%w: header has no alg", ErrMalformed)
		}
		return nil, classify(err)
	}
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515 section 4.1.11: extensions we do not implement must be
		// refused, and s3gate implements none.
		return nil, fmt.Errorf("%w: critical header extensions are not supported", ErrInvalid)
	}
	if kid, ok := tok.Header["kid"]; ok {
		if _, ok := kid.(string); !ok {
			return nil, fmt.Errorf("%w: kid is not a string", ErrMalformed)
		}
	}
	iss, err := claims.GetIssuer()
	if err != nil {
		return nil, fmt.Errorf("%w: iss is not a string", ErrMalformed)
	}
	if iss == "" {
		return nil, fmt.Errorf("%w: token has no iss", ErrUnknownIssuer)
	}
	is := v.byIss[iss]
	if is == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownIssuer, quote(iss))
	}
	return is, nil
}

func (is *issuer) verify(ctx context.Context, raw string) (identity.VerifiedToken, error) {
	var keyErr error
	claims := jwt.MapClaims{}
	_, err := is.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		key, err := is.key(ctx, t)
		keyErr = err
		return key, err
	})
	if err != nil {
		if keyErr != nil {
			return identity.VerifiedToken{}, keyErr
		}
		return identity.VerifiedToken{}, classify(err)
	}
	p, err := is.cfg.Claims.principal(claims, is.cfg.IDPrefix)
	if err != nil {
		return identity.VerifiedToken{}, err
	}
	// Both read fine: the parser already checked them.
	exp, _ := claims.GetExpirationTime()
	sub, _ := claims.GetSubject()
	return identity.VerifiedToken{Principal: p, Issuer: is.cfg.Name, Subject: sub, ExpiresAt: exp.Time}, nil
}

// key returns the key or keys that may verify t. golang-jwt calls it only
// once t's alg passed WithValidMethods, so a disallowed alg never causes a
// JWKS fetch.
func (is *issuer) key(ctx context.Context, t *jwt.Token) (any, error) {
	if is.secret != nil {
		return is.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	keys, err := is.keys.lookup(ctx, kid, kid != "", t.Method.Alg())
	if err != nil {
		return nil, err
	}
	if len(keys) == 1 {
		return keys[0], nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set, nil
}

// TokenFromAuthorization returns the token of an Authorization header value
// of the form "Bearer <token>" (scheme matched case-insensitively, RFC
// 9110 section 11.1). ok is false for any other scheme or an empty token.
func TokenFromAuthorization(value string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(value, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
