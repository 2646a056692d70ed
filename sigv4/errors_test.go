package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func dropSignedHeader(name string) func(*http.Request) {
	return func(r *http.Request) {
		h := r.Header.Get("Authorization")
		i := strings.Index(h, "SignedHeaders=") + len("SignedHeaders=")
		j := i + strings.Index(h[i:], ",")
		var keep []string
		for _, n := range strings.Split(h[i:j], ";") {
			if n != name {
				keep = append(keep, n)
			}
		}
		r.Header.Set("Authorization", h[:i]+strings.Join(keep, ";")+h[j:])
	}
}

func deleteQuery(name string) func(*http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Del(name)
		r.URL.RawQuery = q.Encode()
	}
}

func TestVerifyErrors(t *testing.T) {
	spec := reqSpec{method: http.MethodPut, path: "/bucket/key", body: []byte("data"), header: http.Header{"X-Amz-Meta-A": {"1"}}}
	sign := func(t *testing.T, base string) *http.Request { return headerSigned(t, base, spec) }
	presign := func(expires time.Duration, at time.Time) func(*testing.T, string) *http.Request {
		return func(t *testing.T, base string) *http.Request { return presigned(t, base, spec, expires, at) }
	}
	raw := func(rawQuery string, header http.Header) func(*testing.T, string) *http.Request {
		return func(t *testing.T, base string) *http.Request {
			return newRequest(t, base, reqSpec{path: "/bucket/key", rawQuery: rawQuery, header: header})
		}
	}
	cases := []struct {
		name    string
		build   func(*testing.T, string) *http.Request
		mutate  func(*http.Request)
		now     time.Time     // server clock; testNow when zero
		skew    time.Duration // Verifier.MaxSkew
		code    string
		message string // exact, when set
		fields  []Field
	}{
		{name: "both header and presigned", build: sign, mutate: setQuery("X-Amz-Algorithm", AlgorithmHMAC),
			code: CodeInvalidArgument, message: msgOneAuth},
		{name: "header and sigv2 query", build: sign, mutate: setQuery("Signature", "abc"),
			code: CodeInvalidArgument, message: msgOneAuth},
		{name: "presigned and sigv2 query", build: presign(time.Hour, signTime), mutate: setQuery("AWSAccessKeyId", testAccessKey),
			code: CodeInvalidArgument, message: msgOneAuth},
		{name: "two authorization headers", build: sign, mutate: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) },
			code: CodeInvalidArgument, message: msgOneAuth},
		{name: "sigv2 header", build: raw("", http.Header{"Authorization": {"AWS " + testAccessKey + ":frJIUN8DYpKDtOLCwo//yllqDzg="}}),
			code: CodeInvalidRequest, message: msgUnsupportedAuth},
		{name: "sigv2 presigned", build: raw("AWSAccessKeyId="+testAccessKey+"&Expires=1716000000&Signature=abc%3D", nil),
			code: CodeInvalidRequest, message: msgUnsupportedAuth},
		{name: "bearer", build: raw("", http.Header{"Authorization": {"Bearer eyJhbGciOi"}}),
			code: CodeInvalidRequest, message: msgUnsupportedAuth},
		{name: "sigv4a header", build: sign, mutate: replaceAuth(AlgorithmHMAC, AlgorithmECDSA), code: CodeNotImplemented},
		{name: "sigv4a presigned", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Algorithm", AlgorithmECDSA), code: CodeNotImplemented},

		{name: "skewed past", build: sign, now: signTime.Add(15*time.Minute + time.Second),
			code: CodeRequestTimeTooSkewed, message: msgSkewed, fields: []Field{
				{"RequestTime", "20240517T123045Z"}, {"ServerTime", "2024-05-17T12:45:46Z"}, {"MaxAllowedSkewMilliseconds", "900000"}}},
		{name: "skewed future", build: sign, now: signTime.Add(-15*time.Minute - time.Second),
			code: CodeRequestTimeTooSkewed, fields: []Field{{"ServerTime", "2024-05-17T12:15:44Z"}}},
		{name: "skew edge past", build: sign, now: signTime.Add(15 * time.Minute)},
		{name: "skew edge future", build: sign, now: signTime.Add(-15 * time.Minute)},
		{name: "custom skew", build: sign, now: signTime.Add(61 * time.Second), skew: time.Minute,
			code: CodeRequestTimeTooSkewed, fields: []Field{{"MaxAllowedSkewMilliseconds", "60000"}}},
		{name: "no date", build: sign, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			code: CodeAccessDenied, message: msgNoDate},
		{name: "bad x-amz-date", build: sign, mutate: setHeader("X-Amz-Date", "2024-05-17T12:30:45Z"),
			code: CodeAccessDenied, message: msgNoDate},
		{name: "bad date header", build: sign, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date"); r.Header.Set("Date", "yesterday") },
			code: CodeAccessDenied, message: msgNoDate},
		{name: "date header is used", build: sign, mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", signTime.Format(http.TimeFormat))
			dropSignedHeader("x-amz-date")(r)
		}, now: signTime.Add(time.Hour), code: CodeRequestTimeTooSkewed, fields: []Field{{"RequestTime", "Fri, 17 May 2024 12:30:45 GMT"}}},

		{name: "missing content sha256", build: sign, mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Content-Sha256")
			dropSignedHeader("x-amz-content-sha256")(r)
		}, code: CodeInvalidRequest, message: msgMissingSHA256},
		{name: "short content sha256", build: sign, mutate: setHeader("X-Amz-Content-Sha256", "abc"),
			code: CodeInvalidArgument, message: msgBadSHA256, fields: []Field{{"ArgumentName", "x-amz-content-sha256"}, {"ArgumentValue", "abc"}}},
		{name: "upper-case content sha256", build: sign, mutate: setHeader("X-Amz-Content-Sha256", strings.ToUpper(sha256Hex(nil))),
			code: CodeInvalidArgument, message: msgBadSHA256},
		{name: "unknown streaming mode", build: sign, mutate: setHeader("X-Amz-Content-Sha256", "STREAMING-PAYLOAD"),
			code: CodeInvalidArgument, message: msgBadSHA256},
		{name: "unsigned x-amz headers", build: sign, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Extra", "1")
			r.Header.Set("X-Amz-Acl", "public-read")
		}, code: CodeAccessDenied, message: msgUnsigned, fields: []Field{{"HeadersNotSigned", "x-amz-acl, x-amz-meta-extra"}}},
		{name: "unsigned x-amzn header is fine", build: sign, mutate: setHeader("X-Amzn-Trace-Id", "Root=1")},
		{name: "unsigned host", build: sign, mutate: dropSignedHeader("host"),
			code: CodeAccessDenied, fields: []Field{{"HeadersNotSigned", "host"}}},
		{name: "wrong region", build: sign, mutate: replaceAuth("/us-east-1/", "/eu-west-1/"),
			code: CodeAuthorizationHeaderMalformed, message: "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'",
			fields: []Field{{"Region", "us-east-1"}}},
		{name: "wrong service", build: sign, mutate: replaceAuth("/s3/", "/ec2/"),
			code: CodeAuthorizationHeaderMalformed, message: `The authorization header is malformed; incorrect service "ec2". This endpoint belongs to "s3".`},
		{name: "wrong scope date", build: sign, mutate: replaceAuth("/20240517/", "/20240516/"),
			code: CodeAuthorizationHeaderMalformed, message: `The authorization header is malformed; Invalid credential date "20240516". This date is not the same as X-Amz-Date: "20240517".`},
		{name: "unknown access key", build: sign, mutate: replaceAuth("Credential="+testAccessKey, "Credential=NOPE"),
			code: CodeInvalidAccessKeyID, message: msgUnknownKey, fields: []Field{{"AWSAccessKeyId", "NOPE"}}},
		{name: "bad query encoding", build: sign, mutate: func(r *http.Request) { r.URL.RawQuery = "prefix=%zz" }, code: CodeInvalidArgument},
		{name: "anonymous with bad query encoding", build: raw("prefix=%zz", nil)},

		{name: "presigned expired", build: presign(time.Hour, signTime), now: signTime.Add(time.Hour + time.Second),
			code: CodeAccessDenied, message: msgExpired, fields: []Field{
				{"X-Amz-Expires", "3600"}, {"Expires", "2024-05-17T13:30:45Z"}, {"ServerTime", "2024-05-17T13:30:46Z"}}},
		{name: "presigned expiry edge", build: presign(time.Hour, signTime), now: signTime.Add(time.Hour)},
		{name: "presigned one week", build: presign(7*24*time.Hour, signTime), now: signTime.Add(7*24*time.Hour - time.Second)},
		{name: "presigned over a week", build: presign(7*24*time.Hour+time.Second, signTime),
			code: CodeAuthorizationQueryParametersError, message: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "presigned huge expires", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Expires", "99999999999999999999"),
			code: CodeAuthorizationQueryParametersError, message: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "presigned negative expires", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Expires", "-1"),
			code: CodeAuthorizationQueryParametersError, message: "X-Amz-Expires must be non-negative"},
		{name: "presigned non-numeric expires", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Expires", "1h"),
			code: CodeAuthorizationQueryParametersError, message: "X-Amz-Expires should be a number"},
		{name: "presigned zero expires", build: presign(0, signTime), now: signTime.Add(time.Second),
			code: CodeAccessDenied, message: msgExpired},
		{name: "presigned not yet valid", build: presign(time.Hour, signTime.Add(15*time.Minute+time.Second)), now: signTime,
			code: CodeAccessDenied, message: msgNotYetValid},
		{name: "presigned slightly early", build: presign(time.Hour, signTime.Add(15*time.Minute)), now: signTime},
		{name: "presigned wrong region", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Credential", testAccessKey+"/20240517/eu-west-1/s3/aws4_request"),
			code: CodeAuthorizationQueryParametersError, message: "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'",
			fields: []Field{{"Region", "us-east-1"}}},
		{name: "presigned wrong service", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Credential", testAccessKey+"/20240517/us-east-1/ec2/aws4_request"),
			code: CodeAuthorizationQueryParametersError, message: `Error parsing the X-Amz-Credential parameter; incorrect service "ec2". This endpoint belongs to "s3".`},
		{name: "presigned wrong terminator", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Credential", testAccessKey+"/20240517/us-east-1/s3/aws4"),
			code: CodeAuthorizationQueryParametersError, message: `Error parsing the X-Amz-Credential parameter; incorrect terminal "aws4". This endpoint uses "aws4_request".`},
		{name: "presigned malformed credential", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Credential", testAccessKey+"/20240517/us-east-1"),
			code: CodeAuthorizationQueryParametersError, message: `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`},
		{name: "presigned scope date", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Credential", testAccessKey+"/20240516/us-east-1/s3/aws4_request"),
			code: CodeAuthorizationQueryParametersError, message: `Invalid credential date "20240516". This date is not the same as X-Amz-Date: "20240517".`},
		{name: "presigned bad date", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Date", "20240517"),
			code: CodeAuthorizationQueryParametersError, message: `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`},
		{name: "presigned other algorithm", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
			code: CodeAuthorizationQueryParametersError, message: `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`},
		{name: "presigned repeated signature", build: presign(time.Hour, signTime), mutate: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" },
			code: CodeAuthorizationQueryParametersError, message: "X-Amz-Signature must be specified only once."},
		{name: "presigned unsigned x-amz header", build: presign(time.Hour, signTime), mutate: setHeader("X-Amz-Acl", "public-read"),
			code: CodeAccessDenied, fields: []Field{{"HeadersNotSigned", "x-amz-acl"}}},
		{name: "presigned unsigned security token header", build: presign(time.Hour, signTime), mutate: setHeader("X-Amz-Security-Token", "t"),
			code: CodeAccessDenied, fields: []Field{{"HeadersNotSigned", "x-amz-security-token"}}},
		{name: "presigned unsigned payload header", build: presign(time.Hour, signTime), mutate: setHeader("X-Amz-Content-Sha256", UnsignedPayload)},
		{name: "presigned bad payload query", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-Content-Sha256", "nope"),
			code: CodeInvalidArgument, message: msgBadSHA256},
		{name: "presigned unsigned host", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-SignedHeaders", "x-amz-meta-a"),
			code: CodeAccessDenied, fields: []Field{{"HeadersNotSigned", "host"}}},
		{name: "presigned bad signed headers", build: presign(time.Hour, signTime), mutate: setQuery("X-Amz-SignedHeaders", "host;;x"),
			code: CodeAuthorizationQueryParametersError},
	}
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"} {
		cases = append(cases, struct {
			name    string
			build   func(*testing.T, string) *http.Request
			mutate  func(*http.Request)
			now     time.Time
			skew    time.Duration
			code    string
			message string
			fields  []Field
		}{name: "presigned without " + name, build: presign(time.Hour, signTime), mutate: deleteQuery(name),
			code: CodeAuthorizationQueryParametersError, message: msgQueryParams})
		if name != "X-Amz-Algorithm" {
			cases = append(cases, struct {
				name    string
				build   func(*testing.T, string) *http.Request
				mutate  func(*http.Request)
				now     time.Time
				skew    time.Duration
				code    string
				message string
				fields  []Field
			}{name: "presigned with empty " + name, build: presign(time.Hour, signTime), mutate: setQuery(name, ""),
				code: CodeAuthorizationQueryParametersError, message: msgQueryParams})
		}
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := c.now
			if now.IsZero() {
				now = testNow
			}
			v := newVerifier(now)
			v.MaxSkew = c.skew
			s := newServer(t, v)
			req := c.build(t, s.URL)
			if c.mutate != nil {
				c.mutate(req)
			}
			o := s.do(t, req)
			switch {
			case c.code == "" && c.build != nil && strings.HasPrefix(c.name, "anonymous"):
				if !errors.Is(o.err, ErrNoAuth) {
					t.Fatalf("err = %v, want ErrNoAuth", o.err)
				}
				return
			case c.code == "":
				if o.err != nil {
					t.Fatalf("Verify: %v\n%s", o.err, fieldsOf(o.err))
				}
				return
			}
			e := s3Error(t, o.err, c.code)
			if c.message != "" && e.Message != c.message {
				t.Errorf("message = %q\nwant      %q", e.Message, c.message)
			}
			for _, f := range c.fields {
				wantField(t, e, f.Name, f.Value)
			}
			if errors.Is(o.err, ErrNoAuth) {
				t.Error("error is ErrNoAuth")
			}
		})
	}
}

func TestNoAuth(t *testing.T) {
	s := newServer(t, newVerifier(testNow))
	for _, q := range []string{"", "acl", "X-Amz-Date=20240517T123045Z&x-amz-algorithm=lowercase-is-not-auth"} {
		req := newRequest(t, s.URL, reqSpec{path: "/bucket/key", rawQuery: q, header: http.Header{"X-Amz-Date": {"20240517T123045Z"}}})
		o := s.do(t, req)
		if !errors.Is(o.err, ErrNoAuth) || o.res != nil {
			t.Errorf("query %q: Verify = %v, %v; want ErrNoAuth", q, o.res, o.err)
		}
		var e *Error
		if errors.As(o.err, &e) {
			t.Errorf("ErrNoAuth is an *Error")
		}
	}
}

func TestSecretLookupFailure(t *testing.T) {
	cause := errors.New("catalogue unreachable")
	v := newVerifier(testNow)
	v.Secret = func(ctx context.Context, ak string) (string, error) {
		if ak != testAccessKey || ctx == nil {
			t.Errorf("Secret(%v, %q)", ctx, ak)
		}
		return "", cause
	}
	s := newServer(t, v)
	o := s.do(t, headerSigned(t, s.URL, reqSpec{path: "/b/k"}))
	s3Error(t, o.err, CodeInternalError)
	if !errors.Is(o.err, cause) {
		t.Errorf("error %v does not wrap the cause", o.err)
	}

	v.Secret = nil
	o = s.do(t, headerSigned(t, s.URL, reqSpec{path: "/b/k"}))
	s3Error(t, o.err, CodeInternalError)
}

func TestDefaults(t *testing.T) {
	// Zero Region, Service, MaxSkew and Now mean us-east-1, s3, 15 minutes
	// and the real clock.
	v := &Verifier{Secret: secrets(map[string]string{testAccessKey: testSecret})}
	s := newServer(t, v)
	now := time.Now().UTC().Truncate(time.Second)
	req := newRequest(t, s.URL, reqSpec{path: "/b/k"})
	signHeader(t, req, emptySHA256, now.Add(-14*time.Minute))
	if o := s.do(t, req); o.err != nil {
		t.Fatalf("Verify: %v", o.err)
	}
	req = newRequest(t, s.URL, reqSpec{path: "/b/k"})
	signHeader(t, req, emptySHA256, now.Add(-16*time.Minute))
	s3Error(t, s.do(t, req).err, CodeRequestTimeTooSkewed)
}

func TestCustomRegionAndService(t *testing.T) {
	v := &Verifier{Region: "eu-central-1", Service: "s3-object-lambda", Now: func() time.Time { return testNow },
		Secret: secrets(map[string]string{testAccessKey: testSecret})}
	s := newServer(t, v)
	req := newRequest(t, s.URL, reqSpec{path: "/b/k"})
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	signer := func(region, service string) {
		req.Header.Del("Authorization")
		if err := sdkSign(req, emptySHA256, service, region); err != nil {
			t.Fatal(err)
		}
	}
	signer("eu-central-1", "s3-object-lambda")
	if o := s.do(t, req); o.err != nil {
		t.Fatalf("Verify: %v", o.err)
	}
	signer("us-east-1", "s3-object-lambda")
	e := s3Error(t, s.do(t, req).err, CodeAuthorizationHeaderMalformed)
	wantField(t, e, "Region", "eu-central-1")
	signer("eu-central-1", "s3")
	s3Error(t, s.do(t, req).err, CodeAuthorizationHeaderMalformed)
}
