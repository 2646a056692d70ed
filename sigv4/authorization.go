package sigv4

import (
	"strings"
	"time"
)

// Signing algorithms. Only AlgorithmHMAC is verified; AlgorithmECDSA
// (SigV4a) is recognised so that it is answered with NotImplemented rather
// than as an unknown scheme.
const (
	AlgorithmHMAC  = "AWS4-HMAC-SHA256"
	AlgorithmECDSA = "AWS4-ECDSA-P256-SHA256"
)

const (
	scopeTerminator = "aws4_request"
	dateLayout      = "20060102"
	amzDateLayout   = "20060102T150405Z"
)

// Authorization is a parsed "Authorization: AWS4-HMAC-SHA256 ..." header.
type Authorization struct {
	AccessKey     string
	Scope         Scope    // from the Credential; its terminator is always aws4_request
	SignedHeaders []string // as listed, in order
	Signature     string
}

// String formats a in the form AWS SDKs send.
func (a Authorization) String() string {
	return AlgorithmHMAC + " Credential=" + a.AccessKey + "/" + a.Scope.String() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") +
		", Signature=" + a.Signature
}

// ParseAuthorization parses the value of an Authorization header of the
// AWS4-HMAC-SHA256 scheme. It accepts what S3 accepts: the Credential,
// SignedHeaders and Signature components in any order, separated by commas
// with or without spaces, and an access key that itself contains '/'.
// Errors are *Error values with S3's codes and messages.
func ParseAuthorization(h string) (Authorization, error) {
	a, err := parseAuthorization(h)
	if err != nil {
		return Authorization{}, err
	}
	return a, nil
}

// parseAuthorization returns a concrete *Error so callers avoid the typed-nil
// trap of returning it through the error interface.
func parseAuthorization(h string) (Authorization, *Error) {
	h = strings.Trim(h, " \t")
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i+1:]
	}
	switch scheme {
	case AlgorithmHMAC:
	case AlgorithmECDSA:
		return Authorization{}, sigV4aNotImplemented()
	default:
		return Authorization{}, newError(CodeInvalidRequest, msgUnsupportedAuth)
	}

	var credential, signedHeaders, signature string
	var seen [3]bool
	for _, part := range strings.Split(rest, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.Trim(name, " \t"), strings.Trim(value, " \t")
		i := -1
		switch name {
		case "Credential":
			i, credential = 0, value
		case "SignedHeaders":
			i, signedHeaders = 1, value
		case "Signature":
			i, signature = 2, value
		}
		if !ok || i < 0 || seen[i] || value == "" && i != 0 {
			return Authorization{}, formHeader.malformed(`the authorization component "` + part + `" is malformed.`)
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return Authorization{}, formHeader.malformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}

	var a Authorization
	var err *Error
	if a.AccessKey, a.Scope, err = parseCredential(credential, formHeader); err != nil {
		return Authorization{}, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(signedHeaders, formHeader); err != nil {
		return Authorization{}, err
	}
	a.Signature = signature
	return a, nil
}

// authForm says which form of authentication an error is about, since S3
// words the same problem differently for headers and query parameters.
type authForm int

const (
	formHeader authForm = iota
	formQuery
)

func (f authForm) malformed(msg string, fields ...Field) *Error {
	if f == formHeader {
		return newError(CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+msg, fields...)
	}
	return newError(CodeAuthorizationQueryParametersError, msg, fields...)
}

// credentialError reports a problem with the credential scope.
func (f authForm) credentialError(msg string, fields ...Field) *Error {
	if f == formQuery {
		msg = "Error parsing the X-Amz-Credential parameter; " + msg
	}
	return f.malformed(msg, fields...)
}

// parseCredential splits "AKID/YYYYMMDD/REGION/SERVICE/aws4_request" from the
// right, so an access key containing '/' survives.
func parseCredential(v string, f authForm) (string, Scope, *Error) {
	parts := strings.Split(v, "/")
	n := len(parts)
	if n < 5 || parts[0] == "" {
		return "", Scope{}, f.credentialError(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	s := Scope{Date: parts[n-4], Region: parts[n-3], Service: parts[n-2]}
	if !validScopeDate(s.Date) {
		return "", Scope{}, f.credentialError(`incorrect date format "` + s.Date + `". This date in the credential must be in the format "yyyyMMdd".`)
	}
	if t := parts[n-1]; t != scopeTerminator {
		return "", Scope{}, f.credentialError(`incorrect terminal "` + t + `". This endpoint uses "aws4_request".`)
	}
	return strings.Join(parts[:n-4], "/"), s, nil
}

func validScopeDate(d string) bool {
	if len(d) != len(dateLayout) {
		return false
	}
	_, err := time.Parse(dateLayout, d)
	return err == nil
}

func parseSignedHeaders(v string, f authForm) ([]string, *Error) {
	names := strings.Split(v, ";")
	for _, n := range names {
		if !validHeaderName(n) {
			if f == formHeader {
				return nil, f.malformed(`the authorization component "SignedHeaders=` + v + `" is malformed.`)
			}
			return nil, f.malformed("Error parsing the X-Amz-SignedHeaders parameter; the SignedHeaders value is malformed.")
		}
	}
	return names, nil
}

// validHeaderName reports whether n is an RFC 9110 token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
