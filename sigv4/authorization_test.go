package sigv4

import (
	"reflect"
	"testing"
)

const exampleSig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"

func TestParseAuthorization(t *testing.T) {
	want := Authorization{
		AccessKey:     "AKIAIOSFODNN7EXAMPLE",
		Scope:         Scope{"20130524", "us-east-1", "s3"},
		SignedHeaders: []string{"host", "range", "x-amz-date"},
		Signature:     exampleSig,
	}
	withKey := func(ak string) Authorization { a := want; a.AccessKey = ak; return a }
	cases := []struct {
		name string
		in   string
		want Authorization
	}{
		{"sdk form", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig, want},
		{"no spaces", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=" + exampleSig, want},
		{"any order", "AWS4-HMAC-SHA256 Signature=" + exampleSig + ", SignedHeaders=host;range;x-amz-date, Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request", want},
		{"loose whitespace", "  AWS4-HMAC-SHA256   Credential = AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request ,\tSignedHeaders=host;range;x-amz-date ,  Signature=" + exampleSig + "  ", want},
		{"trailing comma", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig + ",", want},
		{"slash in access key", "AWS4-HMAC-SHA256 Credential=AK/IA/IOSF/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=" + exampleSig, withKey("AK/IA/IOSF")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAuthorization(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			again, err := ParseAuthorization(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	const (
		cred   = "Credential=AKID/20130524/us-east-1/s3/aws4_request"
		signed = "SignedHeaders=host;x-amz-date"
		sig    = "Signature=" + exampleSig
		three  = "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature."
	)
	cases := []struct {
		name, in, code, message string
	}{
		{"scheme only", "AWS4-HMAC-SHA256", CodeAuthorizationHeaderMalformed, three},
		{"no signature", "AWS4-HMAC-SHA256 " + cred + ", " + signed, CodeAuthorizationHeaderMalformed, three},
		{"no credential", "AWS4-HMAC-SHA256 " + signed + ", " + sig, CodeAuthorizationHeaderMalformed, three},
		{"component without value", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders, " + sig, CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; the authorization component "SignedHeaders" is malformed.`},
		{"unknown component", "AWS4-HMAC-SHA256 " + cred + ", " + signed + ", " + sig + ", Foo=bar", CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; the authorization component "Foo=bar" is malformed.`},
		{"repeated component", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", " + signed + ", " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"empty signature", "AWS4-HMAC-SHA256 " + cred + ", " + signed + ", Signature=", CodeAuthorizationHeaderMalformed, ""},
		{"empty signed headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"empty header name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, " + sig, CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; the authorization component "SignedHeaders=host;;x-amz-date" is malformed.`},
		{"bad header name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x amz, " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"short credential", "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"empty credential", "AWS4-HMAC-SHA256 Credential=, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"bad date", "AWS4-HMAC-SHA256 Credential=AKID/2013-05-24/us-east-1/s3/aws4_request, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; incorrect date format "2013-05-24". This date in the credential must be in the format "yyyyMMdd".`},
		{"impossible date", "AWS4-HMAC-SHA256 Credential=AKID/20131324/us-east-1/s3/aws4_request, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed, ""},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_reques, " + signed + ", " + sig, CodeAuthorizationHeaderMalformed,
			`The authorization header is malformed; incorrect terminal "aws4_reques". This endpoint uses "aws4_request".`},
		{"sigv2", "AWS AKID:frJIUN8DYpKDtOLCwo//yllqDzg=", CodeInvalidRequest, msgUnsupportedAuth},
		{"lower-case scheme", "aws4-hmac-sha256 " + cred + ", " + signed + ", " + sig, CodeInvalidRequest, msgUnsupportedAuth},
		{"no space after scheme", "AWS4-HMAC-SHA256" + cred + ", " + signed + ", " + sig, CodeInvalidRequest, msgUnsupportedAuth},
		{"empty", "", CodeInvalidRequest, msgUnsupportedAuth},
		{"sigv4a", "AWS4-ECDSA-P256-SHA256 " + cred + ", " + signed + ", " + sig, CodeNotImplemented, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAuthorization(c.in)
			if err == nil {
				t.Fatalf("accepted: %+v", a)
			}
			e := s3Error(t, err, c.code)
			if c.message != "" && e.Message != c.message {
				t.Errorf("message = %q\nwant      %q", e.Message, c.message)
			}
		})
	}
}
