package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// keys and queries S3 clients send that must survive canonicalisation.
var pathCases = []string{
	"/",
	"/bucket",
	"/bucket/key",
	"/bucket/a b",
	"/bucket/a+b",
	"/bucket/100%",
	"/bucket/100%25",
	"/bucket/user@example.com",
	"/bucket/ünïcødé/日本語.txt",
	"/bucket/a//b",
	"/bucket/dir/",
	"/bucket//",
	"/bucket/a/../b/./c",
	"/bucket/~tilde_-.dot",
	"/bucket/!$&'()*,;=:",
	"/bucket/?#[]{}|\\^`\"<>",
	"/bucket/tab\tand\x01ctl",
}

var queryCases = []string{
	"",
	"acl",
	"uploads=",
	"list-type=2&prefix=a%20b&delimiter=%2F&max-keys=10",
	"tagging&versionId=abc",
	"a=2&a=1&a=3&a=",
	"prefix=%C3%BCber%20caf%C3%A9",
	"prefix=a%2Bb&marker=x%3By",
	"empty=&other=&x-id=PutObject",
	"prefix=%7E%21%2A%27%28%29",
}

func TestHeaderSignedVerifies(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	type tc struct {
		name string
		spec reqSpec
	}
	var cases []tc
	for _, p := range pathCases {
		cases = append(cases, tc{"path " + p, reqSpec{path: p}})
	}
	for _, q := range queryCases {
		cases = append(cases, tc{"query " + q, reqSpec{path: "/bucket/key", rawQuery: q}})
	}
	cases = append(cases,
		tc{"put with body", reqSpec{method: http.MethodPut, path: "/bucket/obj", body: []byte("hello, world\n"),
			header: http.Header{"Content-Type": {"text/plain"}}}},
		tc{"put unsigned payload", reqSpec{method: http.MethodPut, path: "/bucket/obj", body: []byte("data"), payload: UnsignedPayload}},
		tc{"put empty body", reqSpec{method: http.MethodPut, path: "/bucket/empty", body: []byte{}}},
		tc{"inner spaces", reqSpec{path: "/bucket/k", header: http.Header{
			"X-Amz-Meta-Spaces": {"a   b    c"},
			"X-Amz-Meta-Edges":  {"  padded value  "},
		}}},
		tc{"several values of one header", reqSpec{path: "/bucket/k", header: http.Header{
			"X-Amz-Meta-Multi": {"one", "two  three", "four"},
			"X-Amz-Meta-Comma": {"a, b,c"},
		}}},
		tc{"unicode header value", reqSpec{path: "/bucket/k", header: http.Header{"X-Amz-Meta-Name": {"Grüße 日本"}}}},
		tc{"conditional and range", reqSpec{path: "/bucket/k", header: http.Header{
			"Range":                        {"bytes=0-99"},
			"If-None-Match":                {`"abc"`},
			"X-Amz-Server-Side-Encryption": {"AES256"},
		}}},
		tc{"delete with query and body", reqSpec{method: http.MethodPost, path: "/bucket", rawQuery: "delete",
			body: []byte(`<Delete><Object><Key>a</Key></Object></Delete>`), header: http.Header{"Content-Md5": {"x5S0OGP4kx6hvA1SPpZ9xA=="}}}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := headerSigned(t, s.URL, c.spec)
			o := s.do(t, req)
			if o.err != nil {
				t.Fatalf("Verify: %v\n%s", o.err, fieldsOf(o.err))
			}
			if o.bodyErr != nil {
				t.Fatalf("body: %v", o.bodyErr)
			}
			if string(o.body) != string(c.spec.body) {
				t.Fatalf("body = %q, want %q", o.body, c.spec.body)
			}
			checkResult(t, o.res, KindHeader, c.spec)
		})
	}
}

func TestPresignedVerifies(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	type tc struct {
		name string
		spec reqSpec
	}
	var cases []tc
	for _, p := range pathCases {
		cases = append(cases, tc{"path " + p, reqSpec{path: p}})
	}
	for _, q := range queryCases {
		cases = append(cases, tc{"query " + q, reqSpec{path: "/bucket/key", rawQuery: q}})
	}
	cases = append(cases,
		tc{"put with signed headers", reqSpec{method: http.MethodPut, path: "/bucket/up load", body: []byte("payload"),
			header: http.Header{"Content-Type": {"image/png"}, "X-Amz-Meta-Owner": {"a  b"}}}},
		tc{"hoisted x-amz header", reqSpec{path: "/bucket/k", header: http.Header{"X-Amz-Expected-Bucket-Owner": {"123456789012"}}}},
		tc{"signed payload hash", reqSpec{method: http.MethodPut, path: "/bucket/k", body: []byte("abc"), payload: sha256Hex([]byte("abc"))}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := presigned(t, s.URL, c.spec, time.Hour, signTime)
			if c.spec.payload != "" {
				// The signer takes the hash as an argument; carry it in the URL
				// as S3 clients do.
				req = presignedWithHash(t, s.URL, c.spec)
			}
			o := s.do(t, req)
			if o.err != nil {
				t.Fatalf("Verify: %v\n%s", o.err, fieldsOf(o.err))
			}
			if o.bodyErr != nil {
				t.Fatalf("body: %v", o.bodyErr)
			}
			checkResult(t, o.res, KindPresigned, c.spec)
		})
	}
}

// presignedWithHash presigns with X-Amz-Content-Sha256 in the query.
func presignedWithHash(t *testing.T, base string, spec reqSpec) *http.Request {
	t.Helper()
	q, _ := url.ParseQuery(spec.rawQuery)
	q.Set("X-Amz-Content-Sha256", spec.payload)
	spec.rawQuery = q.Encode()
	return presigned(t, base, spec, time.Hour, signTime)
}

func checkResult(t *testing.T, res *Result, kind Kind, spec reqSpec) {
	t.Helper()
	if res.Kind != kind || res.AccessKey != testAccessKey || !res.Time.Equal(signTime) {
		t.Errorf("result = %v %q %v, want %v %q %v", res.Kind, res.AccessKey, res.Time, kind, testAccessKey, signTime)
	}
	if want := (Scope{"20240517", testRegion, "s3"}); res.Scope != want {
		t.Errorf("scope = %+v, want %+v", res.Scope, want)
	}
	if !slices.Contains(res.SignedHeaders, "host") {
		t.Errorf("signed headers %v lack host", res.SignedHeaders)
	}
	wantPayload := spec.payload
	switch {
	case wantPayload != "":
	case kind == KindHeader:
		wantPayload = sha256Hex(spec.body)
	default:
		wantPayload = UnsignedPayload
	}
	if res.PayloadHash != wantPayload {
		t.Errorf("payload hash = %q, want %q", res.PayloadHash, wantPayload)
	}
	if !hmac.Equal(res.SigningKey, referenceKey(testSecret, "20240517", testRegion, "s3")) {
		t.Errorf("signing key differs from the reference derivation")
	}
	if len(res.Signature) != 64 {
		t.Errorf("signature = %q", res.Signature)
	}
}

// referenceKey is the SigV4 key derivation written out step by step.
func referenceKey(secret, date, region, service string) []byte {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	return mac(mac(mac(mac([]byte("AWS4"+secret), date), region), service), "aws4_request")
}

func fieldsOf(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	var b strings.Builder
	for _, f := range e.Fields {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	return b.String()
}

// TestEquivalentQueryForms sends, after signing, query strings that differ
// in form but not in meaning from what the signer produced; S3 decodes and
// re-encodes, so they must verify.
func TestEquivalentQueryForms(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	cases := []struct{ name, signed, sent string }{
		{"reordered", "a=1&b=2&c=3", "c=3&a=1&b=2"},
		{"repeated names reordered", "a=1&a=2&a=3&b=", "a=3&b&a=1&a=2"},
		{"plus for space", "prefix=a%20b%20c", "prefix=a+b%20c"},
		{"lower-case hex", "prefix=%C3%BC%2F", "prefix=%c3%bc%2f"},
		{"unreserved escaped", "prefix=abc-_.~", "prefix=%61bc%2D%5F%2E%7E"},
		{"slash unescaped", "delimiter=%2F", "delimiter=/"},
		{"value-less and empty", "acl=", "acl"},
		{"semicolon in value", "marker=a%3Bb", "marker=a;b"},
		{"empty pieces", "a=1&b=2", "&a=1&&b=2&"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := headerSigned(t, s.URL, reqSpec{path: "/bucket/k", rawQuery: c.signed})
			req.URL.RawQuery = c.sent
			if o := s.do(t, req); o.err != nil {
				t.Fatalf("Verify: %v\n%s", o.err, fieldsOf(o.err))
			}
		})
	}
}

func replaceAuth(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		h := r.Header.Get("Authorization")
		if !strings.Contains(h, old) {
			panic("authorization " + h + " lacks " + old)
		}
		r.Header.Set("Authorization", strings.Replace(h, old, new, 1))
	}
}

func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// setQuery changes one parameter of a request's query.
func setQuery(name, value string) func(*http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set(name, value)
		r.URL.RawQuery = q.Encode()
	}
}

func flipSignature(r *http.Request) {
	if sig := r.URL.Query().Get("X-Amz-Signature"); sig != "" {
		setQuery("X-Amz-Signature", flipHex(sig))(r)
		return
	}
	h := r.Header.Get("Authorization")
	i := strings.LastIndex(h, "Signature=") + len("Signature=")
	r.Header.Set("Authorization", h[:i]+flipHex(h[i:]))
}

// flipHex changes the last hex digit of s.
func flipHex(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

type tamper struct {
	name   string
	mutate func(*http.Request)
	code   string
}

// tamperCases change one signed component each; both forms must fail.
var tamperCases = []tamper{
	{"method", func(r *http.Request) { r.Method = http.MethodPost }, CodeSignatureDoesNotMatch},
	{"path", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/bucket/other", "" }, CodeSignatureDoesNotMatch},
	{"path case", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/bucket/Key%201", "/bucket/Key%25201" }, CodeSignatureDoesNotMatch},
	{"trailing slash", func(r *http.Request) { r.URL.Path += "/"; r.URL.RawPath += "/" }, CodeSignatureDoesNotMatch},
	{"query value", setQuery("versionId", "2"), CodeSignatureDoesNotMatch},
	{"query added", setQuery("extra", ""), CodeSignatureDoesNotMatch},
	{"query removed", func(r *http.Request) {
		q := r.URL.Query()
		q.Del("tagging")
		r.URL.RawQuery = q.Encode()
	}, CodeSignatureDoesNotMatch},
	{"signed header", setHeader("X-Amz-Meta-A", "w"), CodeSignatureDoesNotMatch},
	{"signed header removed", func(r *http.Request) { r.Header.Del("Content-Type") }, CodeSignatureDoesNotMatch},
	{"signed header value added", func(r *http.Request) { r.Header.Add("X-Amz-Meta-A", "more") }, CodeSignatureDoesNotMatch},
	{"host", func(r *http.Request) { r.Host = "example.com" }, CodeSignatureDoesNotMatch},
	{"signature", flipSignature, CodeSignatureDoesNotMatch},
}

var headerTamperCases = []tamper{
	{"payload hash", setHeader("X-Amz-Content-Sha256", sha256Hex([]byte("other"))), CodeSignatureDoesNotMatch},
	{"payload unsigned", setHeader("X-Amz-Content-Sha256", UnsignedPayload), CodeSignatureDoesNotMatch},
	{"date second", setHeader("X-Amz-Date", "20240517T123046Z"), CodeSignatureDoesNotMatch},
	{"date day", setHeader("X-Amz-Date", "20240518T123045Z"), CodeAuthorizationHeaderMalformed},
	{"scope region", replaceAuth("/us-east-1/", "/eu-west-1/"), CodeAuthorizationHeaderMalformed},
	{"scope service", replaceAuth("/s3/", "/s4/"), CodeAuthorizationHeaderMalformed},
	{"scope date", replaceAuth("/20240517/", "/20240516/"), CodeAuthorizationHeaderMalformed},
	{"scope terminator", replaceAuth("/aws4_request", "/aws5_request"), CodeAuthorizationHeaderMalformed},
	{"access key unknown", replaceAuth("Credential="+testAccessKey, "Credential=AKIDOTHER"), CodeInvalidAccessKeyID},
	{"access key known", replaceAuth("Credential="+testAccessKey, "Credential=AKID/WITH/SLASH"), CodeSignatureDoesNotMatch},
	{"signed headers dropped", replaceAuth(";content-type;", ";"), CodeSignatureDoesNotMatch},
	{"signed headers unsigned x-amz", replaceAuth(";x-amz-meta-a", ""), CodeAccessDenied},
}

var presignTamperCases = []tamper{
	{"expires", setQuery("X-Amz-Expires", "3601"), CodeSignatureDoesNotMatch},
	{"date second", setQuery("X-Amz-Date", "20240517T123046Z"), CodeSignatureDoesNotMatch},
	{"date day", setQuery("X-Amz-Date", "20240518T123045Z"), CodeAuthorizationQueryParametersError},
	{"scope region", setQuery("X-Amz-Credential", testAccessKey+"/20240517/eu-west-1/s3/aws4_request"), CodeAuthorizationQueryParametersError},
	{"scope service", setQuery("X-Amz-Credential", testAccessKey+"/20240517/us-east-1/s4/aws4_request"), CodeAuthorizationQueryParametersError},
	{"access key unknown", setQuery("X-Amz-Credential", "AKIDOTHER/20240517/us-east-1/s3/aws4_request"), CodeInvalidAccessKeyID},
	{"access key known", setQuery("X-Amz-Credential", "AKID/WITH/SLASH/20240517/us-east-1/s3/aws4_request"), CodeSignatureDoesNotMatch},
	{"signed headers", setQuery("X-Amz-SignedHeaders", "host;x-amz-meta-a"), CodeSignatureDoesNotMatch},
	{"payload hash added", setQuery("X-Amz-Content-Sha256", sha256Hex([]byte("hello"))), CodeSignatureDoesNotMatch},
	{"payload hash header", setHeader("X-Amz-Content-Sha256", sha256Hex([]byte("hello"))), CodeSignatureDoesNotMatch},
	{"security token added", setQuery("X-Amz-Security-Token", "token"), CodeSignatureDoesNotMatch},
}

var tamperSpec = reqSpec{
	method:   http.MethodPut,
	path:     "/bucket/key 1",
	rawQuery: "tagging=&versionId=1",
	header:   http.Header{"X-Amz-Meta-A": {"v"}, "Content-Type": {"text/plain"}},
	body:     []byte("hello"),
}

func TestTamperedHeaderSigned(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	if o := s.do(t, headerSigned(t, s.URL, tamperSpec)); o.err != nil {
		t.Fatalf("untampered request: %v", o.err)
	}
	for _, c := range append(slices.Clone(tamperCases), headerTamperCases...) {
		t.Run(c.name, func(t *testing.T) {
			req := headerSigned(t, s.URL, tamperSpec)
			c.mutate(req)
			o := s.do(t, req)
			s3Error(t, o.err, c.code)
		})
	}
}

func TestTamperedPresigned(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	if o := s.do(t, presigned(t, s.URL, tamperSpec, time.Hour, signTime)); o.err != nil {
		t.Fatalf("untampered request: %v", o.err)
	}
	for _, c := range append(slices.Clone(tamperCases), presignTamperCases...) {
		t.Run(c.name, func(t *testing.T) {
			req := presigned(t, s.URL, tamperSpec, time.Hour, signTime)
			c.mutate(req)
			o := s.do(t, req)
			s3Error(t, o.err, c.code)
		})
	}
}

// TestSignatureMismatchDetails checks the fields S3 returns to help debug a
// bad signature, and that they describe what the server computed.
func TestSignatureMismatchDetails(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	req := headerSigned(t, s.URL, reqSpec{path: "/bucket/a b", rawQuery: "x=1"})
	flipSignature(req)
	e := s3Error(t, s.do(t, req).err, CodeSignatureDoesNotMatch)
	if e.Message != msgSignature {
		t.Errorf("message = %q", e.Message)
	}
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Name)
	}
	want := []string{"AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes", "CanonicalRequest", "CanonicalRequestBytes"}
	if !slices.Equal(names, want) {
		t.Fatalf("fields = %v, want %v", names, want)
	}
	wantField(t, e, "AWSAccessKeyId", testAccessKey)
	sts, _ := e.Field("StringToSign")
	lines := strings.Split(sts, "\n")
	if len(lines) != 4 || lines[0] != AlgorithmHMAC || lines[1] != "20240517T123045Z" || lines[2] != "20240517/us-east-1/s3/aws4_request" {
		t.Errorf("string to sign = %q", sts)
	}
	cr, _ := e.Field("CanonicalRequest")
	if !strings.HasPrefix(cr, "GET\n/bucket/a%20b\nx=1\nhost:") {
		t.Errorf("canonical request = %q", cr)
	}
	if got, _ := e.Field("StringToSignBytes"); !strings.HasPrefix(got, "41 57 53 34 2d 48 4d 41 43") {
		t.Errorf("StringToSignBytes = %q", got)
	}
	if got, _ := e.Field("CanonicalRequestBytes"); got != hexBytes(cr) || !strings.HasPrefix(got, "47 45 54 0a") {
		t.Errorf("CanonicalRequestBytes = %q", got)
	}
	if strings.Contains(e.Error(), testSecret) || strings.Contains(fieldsOf(e), testSecret) {
		t.Error("error reveals the secret")
	}
}
