// Package bearer verifies the JWTs s3gate accepts as
// "Authorization: Bearer <token>" and maps them onto principals.
//
// # Checks, in order
//
//  1. Size: a token longer than Options.MaxTokenBytes (16 KiB by default)
//     is refused with ErrTooLarge before any parsing.
//  2. Routing: the unverified "iss" claim picks the configured Issuer with
//     exactly that iss; no match is ErrUnknownIssuer. From here on only
//     that issuer's keys and settings apply. Segments must be strict
//     base64url; a header with "crit" is refused (s3gate implements no JWS
//     extensions); "jku", "x5u", "jwk" and "x5c" headers are ignored, so a
//     token can never bring its own key.
//  3. Algorithm: "alg" must be in the issuer's Algorithms (golang-jwt's
//     WithValidMethods). "none" is never allowed, HS* only with an HMAC
//     secret and RS*, PS*, ES*, EdDSA only with a JWKS, which rules out
//     HS/RS confusion from both sides.
//  4. Key: an HMAC issuer has its one secret. A JWKS issuer matches the
//     token's "kid" against keys that carry that kid and can verify the
//     alg (key type, EC curve, and the JWK's own "alg" when it has one).
//     A token without kid is tried against every key that can verify its
//     alg, keys without a kid included; keys without a kid are never
//     matched by kid. An empty kid counts as no kid.
//  5. Signature.
//  6. Claims, with golang-jwt's validator: "iss" equal to the configured
//     value, "aud" naming at least one configured audience, "exp" present
//     and not passed, "nbf" and "iat" not in the future, each with the
//     issuer's Leeway (30 s by default).
//  7. Mapping: the claims named by the issuer's ClaimMapping make the
//     principal; a token without the id claim is refused.
//
// # Errors
//
// Every error wraps exactly one of ErrTooLarge, ErrMalformed,
// ErrUnknownIssuer, ErrExpired, ErrInvalid and ErrKeysUnavailable.
// ErrExpired is only returned for a token whose signature verified and
// whose sole fault is expiry; an expired token that also fails another
// check is ErrInvalid. Error text never holds the token or a secret.
//
// # JWKS
//
// A JWKS (file or URL) is cached. It is fetched again when the cache is
// older than Options.JWKSCacheTTL (1 h) and when a token names a kid the
// cache does not hold, or, without a kid, no cached key fits its alg. To
// keep a flood of bogus kids from hammering the issuer, each issuer fetches
// at most once per Options.MinRefreshInterval (30 s), and requests that
// arrive while a fetch is under way wait for that fetch instead of starting
// their own. The flip side: a legitimately new kid that arrives within
// MinRefreshInterval of the previous fetch is refused until the interval
// has passed. A failed fetch keeps the previous keys; a fetched set replaces
// the cache entirely, so keys the issuer removed stop verifying at the first
// successful refresh. Responses are capped at Options.MaxJWKSBytes (1 MiB)
// and each fetch at DefaultFetchTimeout.
//
// Keys for other uses than "sig", with "key_ops" lacking "verify", of
// unsupported types (including symmetric "oct" keys) or curves, with an
// "alg" their type cannot verify, RSA keys under 2048 bits and EC points not
// on their curve are skipped; the rest of the set still counts.
//
// JWKS URLs are fetched on first use rather than by New, so an issuer that
// is down when s3gate starts does not keep it from starting;
// Verifier.Prefetch fetches them early for a start-up log line. JWKS files
// are read by New, which fails if a file is unreadable or holds no usable
// key.
//
// # Configuration choices
//
// Audiences are mandatory: an issuer serves many services, and a token
// minted for another one must not open s3gate. HMAC secrets must be at
// least 32 bytes. Principal ids are prefixed per issuer, by default with
// Name + ":", so "alice" of one issuer is not "alice" of another, nor any
// principal s3gate makes itself (such as "root"); New refuses prefixes of
// which one starts with another. Principal.Claims holds every claim as
// encoding/json decodes it (numbers are float64).
package bearer
