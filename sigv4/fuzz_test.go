package sigv4

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig,
		"AWS4-HMAC-SHA256 Signature=abc,Credential=a/b/c/20130524/r/s/aws4_request,SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,,SignedHeaders=host, Signature=00,",
		"AWS4-HMAC-SHA256\tCredential = AK/20130524//s3/aws4_request ,SignedHeaders=Host;X-Amz-Date,Signature=a=b",
		"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
		"AWS4-HMAC-SHA256 Credential=AK/2013-05-24/us-east-1/s3/aws4_request, SignedHeaders=, Signature=",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v is not an S3 error", err)
			}
			return
		}
		if a.AccessKey == "" || a.Signature == "" || len(a.SignedHeaders) == 0 || !validScopeDate(a.Scope.Date) {
			t.Fatalf("accepted incomplete %+v from %q", a, h)
		}
		for _, n := range a.SignedHeaders {
			if !validHeaderName(n) {
				t.Fatalf("accepted header name %q", n)
			}
		}
		s := a.String()
		b, err := ParseAuthorization(s)
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", h, s, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed %+v into %+v", a, b)
		}
		if b.String() != s {
			t.Fatalf("String not stable: %q then %q", s, b.String())
		}
	})
}

// FuzzCanonical signs a request built from the inputs with the AWS SDK,
// sends it through net/http and checks that it verifies; then it changes one
// byte of the path, a signed query value, a signed header value or the
// signature, and checks that verification fails.
func FuzzCanonical(f *testing.F) {
	f.Add("key", "prefix", "a b", "value", uint8(0), uint16(0))
	f.Add("dir/ünï cødé+%@//", "list-type", "2", "  spaced   out  ", uint8(1), uint16(3))
	f.Add("a b/c", "", "", "", uint8(2), uint16(7))
	f.Add("~!$&'()*,;=:", "delimiter", "/", "x,y", uint8(3), uint16(1))
	f.Add("", "acl", "", "日本語", uint8(4), uint16(2))
	f.Add("k", "marker", "é+ü%20", "\u00a0nbsp\u00a0", uint8(5), uint16(9))
	f.Add("..", "a", "\x00\xff", "tab\tinside", uint8(6), uint16(4))
	f.Add("x", "q", "v", "w", uint8(7), uint16(65535))

	s := newServer(f, newVerifier(testNow))
	f.Fuzz(func(t *testing.T, key, qname, qvalue, hvalue string, which uint8, pos uint16) {
		// Inputs outside the property are uninteresting, not failures: a
		// query name that is an auth parameter, or a header value net/http
		// would not send as is.
		if strings.HasPrefix(qname, "X-Amz-") || qname == "Signature" || qname == "AWSAccessKeyId" ||
			!sendableHeaderValue(hvalue) {
			return
		}
		spec := reqSpec{
			path:     "/bucket/" + key,
			rawQuery: url.Values{qname: {qvalue}}.Encode(),
			header:   http.Header{"X-Amz-Meta-Fuzz": {hvalue}},
		}
		presign := which&1 == 1
		build := func() *http.Request {
			if presign {
				return presigned(t, s.URL, spec, time.Hour, signTime)
			}
			return headerSigned(t, s.URL, spec)
		}
		if o := s.do(t, build()); o.err != nil {
			t.Fatalf("SDK-signed request failed: %v\n%s", o.err, fieldsOf(o.err))
		}

		req := build()
		switch which >> 1 % 4 {
		case 0:
			if key == "" {
				return
			}
			p := "/bucket/" + flipByte(key, pos)
			req.URL.Path, req.URL.RawPath = p, EncodePath(p)
		case 1:
			if qvalue == "" {
				return
			}
			q := req.URL.Query()
			q.Set(qname, flipByte(qvalue, pos))
			req.URL.RawQuery = q.Encode()
		case 2:
			if hvalue == "" {
				return
			}
			v := flipByte(hvalue, pos)
			if !sendableHeaderValue(v) {
				return
			}
			req.Header.Set("X-Amz-Meta-Fuzz", v)
		case 3:
			if presign {
				q := req.URL.Query()
				q.Set("X-Amz-Signature", flipByte(q.Get("X-Amz-Signature"), pos))
				req.URL.RawQuery = q.Encode()
			} else {
				h := req.Header.Get("Authorization")
				i := strings.LastIndex(h, "Signature=") + len("Signature=")
				req.Header.Set("Authorization", h[:i]+flipByte(h[i:], pos))
			}
		}
		o := s.do(t, req)
		if o.err == nil {
			t.Fatalf("request changed in part %d still verifies: %s %s %q", which>>1%4, req.Method, req.URL, req.Header)
		}
		s3Error(t, o.err, CodeSignatureDoesNotMatch)
	})
}

// flipByte flips the low bit of one byte of s.
func flipByte(s string, pos uint16) string {
	b := []byte(s)
	b[int(pos)%len(b)] ^= 1
	return string(b)
}

// sendableHeaderValue reports whether net/http sends v: no control bytes
// but tab.
func sendableHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
