package sigv4

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Query parameters of a presigned URL.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

func (v *Verifier) verifyPresigned(r *http.Request, params []queryParam) (*Result, *Error) {
	q := make(map[string]string, 8)
	for _, name := range []string{paramAlgorithm, paramCredential, paramDate, paramExpires,
		paramSignedHeaders, paramSignature, paramSecurityToken, paramContentSHA256} {
		vs := queryValues(params, name)
		if len(vs) > 1 {
			// A repeated X-Amz-Signature would be left out of the canonical
			// query and so could be altered freely; allow no repeats at all.
			return nil, newError(CodeAuthorizationQueryParametersError, name+" must be specified only once.")
		}
		if len(vs) == 1 {
			q[name] = vs[0]
		}
	}
	for _, name := range []string{paramAlgorithm, paramCredential, paramSignature, paramDate, paramSignedHeaders, paramExpires} {
		if q[name] == "" {
			return nil, newError(CodeAuthorizationQueryParametersError, msgQueryParams)
		}
	}
	switch q[paramAlgorithm] {
	case AlgorithmHMAC:
	case AlgorithmECDSA:
		return nil, sigV4aNotImplemented()
	default:
		return nil, newError(CodeAuthorizationQueryParametersError, `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}

	accessKey, scope, err := parseCredential(q[paramCredential], formQuery)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(scope, formQuery); err != nil {
		return nil, err
	}
	t, ok := parseAmzDate(q[paramDate])
	if !ok {
		return nil, formQuery.malformed(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if d := t.Format(dateLayout); d != scope.Date {
		return nil, formQuery.malformed(`Invalid credential date "` + scope.Date + `". This date is not the same as X-Amz-Date: "` + d + `".`)
	}
	expires, err := parseExpires(q[paramExpires])
	if err != nil {
		return nil, err
	}
	signed, err := parseSignedHeaders(q[paramSignedHeaders], formQuery)
	if err != nil {
		return nil, err
	}

	payload := UnsignedPayload
	if p, ok := q[paramContentSHA256]; ok {
		if !validPayloadHash(p) {
			return nil, badPayloadHash(p)
		}
		payload = p
	} else if vs := r.Header.Values("X-Amz-Content-Sha256"); len(vs) > 0 {
		// S3 signs with the header when the URL has no hash; if the header
		// was not what the URL was signed with, the signature fails.
		if len(vs) > 1 || !validPayloadHash(vs[0]) {
			return nil, badPayloadHash(vs[0])
		}
		payload = vs[0]
	}
	if missing := unsignedHeaders(r, signed, true); len(missing) > 0 {
		return nil, headersNotSigned(missing)
	}

	secret, err := v.secret(r.Context(), accessKey)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if t.Sub(now) > v.maxSkew() {
		return nil, newError(CodeAccessDenied, msgNotYetValid)
	}
	if end := t.Add(time.Duration(expires) * time.Second); now.After(end) {
		return nil, newError(CodeAccessDenied, msgExpired,
			Field{"X-Amz-Expires", q[paramExpires]},
			Field{"Expires", end.UTC().Format(serverTimeLayout)},
			Field{"ServerTime", now.UTC().Format(serverTimeLayout)})
	}

	res := &Result{
		Kind:          KindPresigned,
		AccessKey:     accessKey,
		Time:          t,
		Scope:         scope,
		SignedHeaders: signed,
		Signature:     q[paramSignature],
		PayloadHash:   payload,
		SecurityToken: q[paramSecurityToken],
	}
	if err := v.checkSignature(r, params, secret, res); err != nil {
		return nil, err
	}
	return res, nil
}

// parseExpires parses X-Amz-Expires in seconds. S3 accepts 0 (a URL that is
// expired at once) up to one week.
func parseExpires(s string) (int64, *Error) {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		if errors.Is(err, strconv.ErrRange) {
			if s[0] == '-' {
				return 0, formQuery.malformed("X-Amz-Expires must be non-negative")
			}
			return 0, formQuery.malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		return 0, formQuery.malformed("X-Amz-Expires should be a number")
	case n < 0:
		return 0, formQuery.malformed("X-Amz-Expires must be non-negative")
	case n > maxExpires:
		return 0, formQuery.malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	return n, nil
}
