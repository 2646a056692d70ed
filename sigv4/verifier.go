package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verifier checks SigV4 signatures. Configure it with a struct literal and
// share one *Verifier between requests; it is safe for concurrent use and
// must not be copied after first use.
type Verifier struct {
	// Region is the only region credential scopes may name; "us-east-1"
	// when empty.
	Region string
	// Service is the expected scope service; "s3" when empty.
	Service string
	// MaxSkew bounds the difference between a header-signed request's time
	// and Now, and how far in the future a presigned URL may start; 15
	// minutes when zero.
	MaxSkew time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Secret returns the secret key of an access key, or an error wrapping
	// ErrUnknownAccessKey when there is none. Any other error makes Verify
	// fail with InternalError wrapping it.
	Secret func(ctx context.Context, accessKey string) (string, error)

	keys keyCache
}

// Kind says how a request was signed.
type Kind int

const (
	KindHeader    Kind = iota + 1 // Authorization header
	KindPresigned                 // presigned URL (query parameters)
	KindPOST                      // browser form upload signed with a policy
)

func (k Kind) String() string {
	switch k {
	case KindHeader:
		return "sigv4"
	case KindPresigned:
		return "presigned"
	case KindPOST:
		return "post"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Scope is a credential scope without its aws4_request terminator.
type Scope struct {
	Date    string // YYYYMMDD
	Region  string
	Service string
}

// String returns the scope as it appears in the string to sign:
// "YYYYMMDD/region/service/aws4_request".
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + scopeTerminator
}

// Result describes a request whose signature verified.
type Result struct {
	Kind          Kind
	AccessKey     string
	Time          time.Time // request time (X-Amz-Date or Date), UTC
	Scope         Scope
	SignedHeaders []string
	Signature     string // the verified signature; the seed of aws-chunked signatures
	// PayloadHash is the payload line of the canonical request: lower-case
	// hex SHA-256, or UnsignedPayload, or one of the streaming constants.
	PayloadHash string
	// SecurityToken is X-Amz-Security-Token, for the caller to check against
	// temporary credentials. It is covered by the signature.
	SecurityToken string
	// SigningKey is the derived key for Scope, needed to verify chunk
	// signatures. Treat it as secret.
	SigningKey []byte
	// DecodedLength is x-amz-decoded-content-length, the size of the payload
	// an aws-chunked body carries; -1 when the payload is not streamed.
	DecodedLength int64
	// Trailer lists the names declared in x-amz-trailer, lower-case, in
	// order; nil when there is none.
	Trailer []string

	// canonicalRequest is the seed request's canonical form, which S3 echoes
	// in a chunk's SignatureDoesNotMatch.
	canonicalRequest string
}

const (
	defaultRegion  = "us-east-1"
	defaultService = "s3"
	defaultSkew    = 15 * time.Minute
	maxExpires     = 7 * 24 * 60 * 60 // seconds

	serverTimeLayout = "2006-01-02T15:04:05Z"
)

func (v *Verifier) region() string {
	if v.Region == "" {
		return defaultRegion
	}
	return v.Region
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return defaultService
	}
	return v.Service
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return defaultSkew
	}
	return v.MaxSkew
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// Verify checks the SigV4 signature of a server-side request. It returns
// ErrNoAuth when the request carries no authentication at all, and otherwise
// an *Error with S3's error code on failure; a streaming payload without a
// valid x-amz-decoded-content-length fails with MissingContentLength. It
// does not read the body; wrap the body with Result.Body to verify the
// payload.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	params, queryOK := parseQuery(r.URL.RawQuery)
	authz, hasHeader := r.Header["Authorization"]
	// A URL with only some presigning parameters is a broken presigned URL,
	// not an anonymous request.
	presigned := hasParam(params, paramAlgorithm) || hasParam(params, paramCredential) || hasParam(params, paramSignature)
	v2 := hasParam(params, "AWSAccessKeyId") || hasParam(params, "Signature")

	var res *Result
	var err *Error // concrete type: returned through error only when non-nil
	switch {
	case len(authz) > 1, hasHeader && (presigned || v2), presigned && v2:
		err = newError(CodeInvalidArgument, msgOneAuth)
	case v2:
		err = newError(CodeInvalidRequest, msgUnsupportedAuth)
	case !hasHeader && !presigned:
		return nil, ErrNoAuth
	case !queryOK:
		err = badQueryEncoding()
	case hasHeader:
		res, err = v.verifyHeader(r, authz[0], params)
	default:
		res, err = v.verifyPresigned(r, params)
	}
	if err == nil {
		err = res.readBodyHeaders(r)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (v *Verifier) verifyHeader(r *http.Request, h string, params []queryParam) (*Result, *Error) {
	a, err := parseAuthorization(h)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(a.Scope, formHeader); err != nil {
		return nil, err
	}

	rawDate := r.Header.Get("X-Amz-Date")
	var t time.Time
	var ok bool
	if _, present := r.Header["X-Amz-Date"]; present {
		t, ok = parseAmzDate(rawDate)
	} else {
		rawDate = r.Header.Get("Date")
		var perr error
		t, perr = http.ParseTime(rawDate)
		ok = perr == nil
	}
	if !ok {
		return nil, newError(CodeAccessDenied, msgNoDate)
	}
	t = t.UTC()
	if d := t.Format(dateLayout); d != a.Scope.Date {
		return nil, formHeader.malformed(`Invalid credential date "` + a.Scope.Date + `". This date is not the same as X-Amz-Date: "` + d + `".`)
	}

	payload, err := headerPayloadHash(r)
	if err != nil {
		return nil, err
	}
	if missing := unsignedHeaders(r, a.SignedHeaders, false); len(missing) > 0 {
		return nil, headersNotSigned(missing)
	}

	secret, err := v.secret(r.Context(), a.AccessKey)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if skew := now.Sub(t); skew > v.maxSkew() || skew < -v.maxSkew() {
		return nil, newError(CodeRequestTimeTooSkewed, msgSkewed,
			Field{"RequestTime", rawDate},
			Field{"ServerTime", now.UTC().Format(serverTimeLayout)},
			Field{"MaxAllowedSkewMilliseconds", strconv.FormatInt(v.maxSkew().Milliseconds(), 10)})
	}

	res := &Result{
		Kind:          KindHeader,
		AccessKey:     a.AccessKey,
		Time:          t,
		Scope:         a.Scope,
		SignedHeaders: a.SignedHeaders,
		Signature:     a.Signature,
		PayloadHash:   payload,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
	}
	if err := v.checkSignature(r, params, secret, res); err != nil {
		return nil, err
	}
	return res, nil
}

// headerPayloadHash returns x-amz-content-sha256, which header auth requires.
func headerPayloadHash(r *http.Request) (string, *Error) {
	vs := r.Header.Values("X-Amz-Content-Sha256")
	if len(vs) == 0 {
		return "", newError(CodeInvalidRequest, msgMissingSHA256)
	}
	if len(vs) > 1 || !validPayloadHash(vs[0]) {
		return "", badPayloadHash(vs[0])
	}
	return vs[0], nil
}

func badPayloadHash(v string) *Error {
	return newError(CodeInvalidArgument, msgBadSHA256,
		Field{"ArgumentName", "x-amz-content-sha256"}, Field{"ArgumentValue", v})
}

func headersNotSigned(names []string) *Error {
	return newError(CodeAccessDenied, msgUnsigned, Field{"HeadersNotSigned", strings.Join(names, ", ")})
}

// checkScope checks the region and service a credential names.
func (v *Verifier) checkScope(s Scope, f authForm) *Error {
	if want := v.region(); s.Region != want {
		return f.credentialError("the region '"+s.Region+"' is wrong; expecting '"+want+"'", Field{"Region", want})
	}
	if want := v.service(); s.Service != want {
		return f.credentialError(`incorrect service "` + s.Service + `". This endpoint belongs to "` + want + `".`)
	}
	return nil
}

func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(amzDateLayout, s)
	return t, err == nil
}

// secret looks up the secret key of an access key.
func (v *Verifier) secret(ctx context.Context, accessKey string) (string, *Error) {
	if v.Secret == nil {
		return "", internalError(errors.New("sigv4: Verifier.Secret is nil"))
	}
	s, err := v.Secret(ctx, accessKey)
	switch {
	case errors.Is(err, ErrUnknownAccessKey):
		return "", newError(CodeInvalidAccessKeyID, msgUnknownKey, Field{"AWSAccessKeyId", accessKey})
	case err != nil:
		return "", internalError(err)
	}
	return s, nil
}

// checkSignature recomputes the signature of r and compares it, in constant
// time, with res.Signature. On success it sets res.SigningKey.
func (v *Verifier) checkSignature(r *http.Request, params []queryParam, secret string, res *Result) *Error {
	canonical := canonicalRequest(r, params, res.Kind == KindPresigned, res.SignedHeaders, res.PayloadHash)
	sts := stringToSign(res.Time, res.Scope, canonical)
	key := v.keys.signingKey(res.AccessKey, secret, res.Scope)

	m := hmac.New(sha256.New, key)
	m.Write([]byte(sts))
	want := make([]byte, hex.EncodedLen(sha256.Size))
	hex.Encode(want, m.Sum(nil))
	if subtle.ConstantTimeCompare(want, []byte(res.Signature)) != 1 {
		return newError(CodeSignatureDoesNotMatch, msgSignature,
			Field{"AWSAccessKeyId", res.AccessKey},
			Field{"StringToSign", sts},
			Field{"SignatureProvided", res.Signature},
			Field{"StringToSignBytes", hexBytes(sts)},
			Field{"CanonicalRequest", canonical},
			Field{"CanonicalRequestBytes", hexBytes(canonical)})
	}
	res.SigningKey = key
	if isStreaming(res.PayloadHash) {
		res.canonicalRequest = canonical
	}
	return nil
}
