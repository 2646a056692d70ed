package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// queryParam is one decoded name=value pair of the raw query string.
type queryParam struct{ name, value string }

// parseQuery splits a raw query on '&' and decodes each name and value, '+'
// meaning space as S3 treats it. Unlike url.ParseQuery it keeps every pair in
// order, accepts ';' and keeps empty values. ok is false when some part has
// malformed percent-encoding; that part is then kept undecoded so that auth
// detection still sees the other names.
func parseQuery(raw string) (params []queryParam, ok bool) {
	ok = true
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		} else {
			ok = false
		}
		if v, err := url.QueryUnescape(value); err == nil {
			value = v
		} else {
			ok = false
		}
		params = append(params, queryParam{name, value})
	}
	return params, ok
}

// queryValues returns the values of the parameters named name.
func queryValues(params []queryParam, name string) []string {
	var vs []string
	for _, p := range params {
		if p.name == name {
			vs = append(vs, p.value)
		}
	}
	return vs
}

func hasParam(params []queryParam, name string) bool {
	for _, p := range params {
		if p.name == name {
			return true
		}
	}
	return false
}

// badQueryEncoding rejects a query that cannot be decoded: it could not be
// canonicalised the same way the client did, nor read by the gateway.
func badQueryEncoding() *Error {
	return newError(CodeInvalidArgument, "The query string contains malformed percent-encoding.")
}

// canonicalQuery encodes each name and value, then sorts by encoded name and
// value (SigV4 sorts after encoding). Presigned requests leave out their own
// X-Amz-Signature.
func canonicalQuery(params []queryParam, presigned bool) string {
	pairs := make([]queryParam, 0, len(params))
	for _, p := range params {
		if presigned && p.name == paramSignature {
			continue
		}
		pairs = append(pairs, queryParam{EncodeQuery(p.name), EncodeQuery(p.value)})
	}
	slices.SortFunc(pairs, func(a, b queryParam) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// headerValues returns the received values of a signed header. Go moves Host
// and Transfer-Encoding out of the header map, so those come from the
// request fields.
func headerValues(r *http.Request, name string) []string {
	switch strings.ToLower(name) {
	case "host":
		return []string{r.Host}
	case "content-length":
		if vs := r.Header["Content-Length"]; len(vs) > 0 {
			return vs
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return r.TransferEncoding
		}
	}
	if vs, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return vs
	}
	// Names that are not valid MIME keys are stored as sent.
	for k, vs := range r.Header {
		if strings.EqualFold(k, name) {
			return vs
		}
	}
	return nil
}

// canonicalHeaderValue collapses inner runs of spaces and trims the value.
// Trimming takes any Unicode white space, as the AWS SDKs, botocore and
// minio-go all do, so a value ending in, say, U+00A0 verifies from each.
func canonicalHeaderValue(v string) string {
	if strings.Contains(v, "  ") {
		b := make([]byte, 0, len(v))
		for i := 0; i < len(v); i++ {
			if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
				continue
			}
			b = append(b, v[i])
		}
		v = string(b)
	}
	return strings.TrimSpace(v)
}

// canonicalRequest builds the SigV4 canonical request from the request as
// received.
func canonicalRequest(r *http.Request, params []queryParam, presigned bool, signed []string, payloadHash string) string {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(EncodePath(path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(params, presigned))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(canonicalHeaderValue(v))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func stringToSign(t time.Time, s Scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return AlgorithmHMAC + "\n" + t.UTC().Format(amzDateLayout) + "\n" + s.String() + "\n" + hex.EncodeToString(sum[:])
}

// unsignedHeaders lists, sorted, the headers that must be signed but are
// not: host, and every x-amz-* header present. Presigned requests may carry
// an unsigned x-amz-content-sha256, which S3 then puts into the canonical
// request, so a wrong value still fails the signature.
func unsignedHeaders(r *http.Request, signed []string, presigned bool) []string {
	set := make(map[string]bool, len(signed))
	for _, n := range signed {
		set[strings.ToLower(n)] = true
	}
	var missing []string
	if !set["host"] {
		missing = append(missing, "host")
	}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-") || set[lk] {
			continue
		}
		if presigned && lk == "x-amz-content-sha256" {
			continue
		}
		missing = append(missing, lk)
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// hexBytes formats s as S3 does in StringToSignBytes: space-separated
// lower-case hex bytes.
func hexBytes(s string) string {
	const digits = "0123456789abcdef"
	if s == "" {
		return ""
	}
	b := make([]byte, 0, 3*len(s)-1)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}
