package sigv4test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credentials sign requests for the s3 service.
type Credentials struct {
	AccessKey string
	SecretKey string
	Region    string
}

// Sign makes req a streaming upload of data encoded by e, signed at t. It
// sets X-Amz-Date, X-Amz-Content-Sha256 (e.Mode), Content-Encoding
// (aws-chunked), X-Amz-Decoded-Content-Length (len(data)) and, when e has
// Trailers in a trailer mode, X-Amz-Trailer (their names). A header the
// caller set beforehand is kept as set, which makes a request declare a wrong
// length or trailer set; one set to the empty string is left out. Sign then
// signs host, content-type, content-md5, content-encoding and every x-amz-*
// header, writes the canonical form of the path and query back into req.URL,
// fills e's Key, Seed, Time and Scope, and sets req.Body (with GetBody and
// ContentLength) to the encoding of data.
func Sign(req *http.Request, c Credentials, t time.Time, e *Encoder, data []byte) error {
	if c.AccessKey == "" || c.SecretKey == "" || c.Region == "" {
		return errors.New("sigv4test: credentials need an access key, a secret key and a region")
	}
	if e.Mode != Signed && e.Mode != SignedTrailer && e.Mode != UnsignedTrailer {
		return errors.New("sigv4test: unknown mode " + string(e.Mode))
	}
	t = t.UTC()
	h := req.Header
	if h == nil {
		h = http.Header{}
		req.Header = h
	}
	h.Set("X-Amz-Date", t.Format(amzDate))
	h.Set("X-Amz-Content-Sha256", string(e.Mode))
	setDefault(h, "Content-Encoding", "aws-chunked")
	setDefault(h, "X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	if e.Mode != Signed && len(e.Trailers) > 0 {
		names := make([]string, len(e.Trailers))
		for i, tr := range e.Trailers {
			names[i] = strings.ToLower(tr.Name)
		}
		setDefault(h, "X-Amz-Trailer", strings.Join(names, ","))
	}
	for k, vs := range h {
		if len(vs) == 1 && vs[0] == "" {
			delete(h, k)
		}
	}

	scope := t.Format("20060102") + "/" + c.Region + "/s3/aws4_request"
	key := signingKey(c.SecretKey, t.Format("20060102"), c.Region, "s3")
	canonical, signed := canonicalRequest(req, string(e.Mode))
	sum := sha256.Sum256([]byte(canonical))
	seed := hmacHex(key, "AWS4-HMAC-SHA256\n"+t.Format(amzDate)+"\n"+scope+"\n"+hex.EncodeToString(sum[:]))
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.AccessKey+"/"+scope+
		", SignedHeaders="+signed+", Signature="+seed)

	e.Key, e.Seed, e.Time, e.Scope = key, seed, t, scope
	body := e.Encode(data)
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return nil
}

func setDefault(h http.Header, name, value string) {
	if _, ok := h[name]; !ok {
		h.Set(name, value)
	}
}

// canonicalRequest builds the SigV4 canonical request the way S3 clients do
// (paths encoded once, not normalised) and rewrites req.URL so that what is
// sent is exactly what was signed. It returns the canonical request and the
// signed header list.
func canonicalRequest(req *http.Request, payload string) (string, string) {
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	req.URL.RawPath = encode(path, false)

	var pairs []string
	for part := range strings.SplitSeq(req.URL.RawQuery, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if v, err := url.QueryUnescape(value); err == nil {
			value = v
		}
		pairs = append(pairs, encode(name, true)+"="+encode(value, true))
	}
	sort.Strings(pairs)
	req.URL.RawQuery = strings.Join(pairs, "&")

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if lk == "content-type" || lk == "content-md5" || lk == "content-encoding" || strings.HasPrefix(lk, "x-amz-") {
			trimmed := make([]string, len(vs))
			for i, v := range vs {
				trimmed[i] = strings.Join(strings.Fields(v), " ")
			}
			headers[lk] = strings.Join(trimmed, ",")
		}
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)

	var b strings.Builder
	b.WriteString(req.Method + "\n" + req.URL.RawPath + "\n" + req.URL.RawQuery + "\n")
	for _, n := range names {
		b.WriteString(n + ":" + headers[n] + "\n")
	}
	signed := strings.Join(names, ";")
	b.WriteString("\n" + signed + "\n" + payload)
	return b.String(), signed
}

// encode is SigV4's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ (and /
// in paths) as %XX.
func encode(s string, slash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && !slash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	return hmacSum(k, "aws4_request")
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hmacHex(key []byte, data string) string { return hex.EncodeToString(hmacSum(key, data)) }
