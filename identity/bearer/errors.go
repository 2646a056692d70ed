package bearer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The errors Verify returns wrap exactly one of these, so the gateway can pick
// the S3 error with errors.Is. The wrapped text adds detail for logs; it never
// holds the token or a secret, and values taken from the token (kid, alg,
// iss) are quoted and shortened.
var (
	// ErrTooLarge: the token is longer than Options.MaxTokenBytes. It was not
	// parsed at all.
	ErrTooLarge = errors.New("bearer token too large")
	// ErrMalformed: the token is not a well-formed JWT (segments, base64url,
	// JSON, header fields of the wrong type).
	ErrMalformed = errors.New("malformed bearer token")
	// ErrUnknownIssuer: the token's iss is missing or names no configured
	// issuer.
	ErrUnknownIssuer = errors.New("bearer token from unknown issuer")
	// ErrExpired: the token is genuine and expiry (beyond the leeway) is the
	// only thing wrong with it. The gateway answers ExpiredToken.
	ErrExpired = errors.New("bearer token expired")
	// ErrInvalid: the token was refused: bad signature, no matching key,
	// disallowed algorithm, wrong audience or issuer, not yet valid, issued
	// in the future, missing exp, or claims s3gate cannot map to a principal.
	ErrInvalid = errors.New("invalid bearer token")
	// ErrKeysUnavailable: the issuer's JWKS has never been loaded (its URL
	// did not answer, or answered with something that is not a JWKS), so no
	// token of that issuer can be checked yet. This is s3gate's problem,
	// not the caller's; the gateway should answer with a server error.
	ErrKeysUnavailable = errors.New("bearer token keys unavailable")
)

// errRefreshLimited says a JWKS refresh was skipped because the last one was
// less than MinRefreshInterval ago.
var errRefreshLimited = errors.New("JWKS refresh rate-limited")

// claimFailures are the claim checks other than expiry; a token failing any
// of them is ErrInvalid even when it is also expired, so ExpiredToken is only
// ever said of a token that would otherwise have been accepted.
var claimFailures = []error{
	jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued,
	jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenInvalidSubject,
	jwt.ErrTokenInvalidId,
	jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrInvalidType,
}

// classify maps an error of jwt.Parser.ParseWithClaims to one of the
// sentinels, keeping golang-jwt's error in the chain.
func classify(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %s", ErrMalformed, scrub(err))
	case errors.Is(err, jwt.ErrTokenExpired) && !isAny(err, claimFailures):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	default:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// scrub returns err's text without the one piece of token content
// golang-jwt's messages can carry: the offending character a JSON syntax
// error quotes.
func scrub(err error) string {
	msg := err.Error()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg = strings.Replace(msg, se.Error(), fmt.Sprintf("invalid JSON at byte %d", se.Offset), 1)
	}
	return msg
}

// quote renders a value taken from the token for an error message: quoted so
// it cannot forge log lines, and cut short so it cannot flood them.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
