package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// presigned describes a presigned URL to make.
type hostilePresign struct {
	method  string
	path    string // escaped path
	expires string // X-Amz-Expires as sent
	when    time.Time
	region  string
	secret  string
}

// presign returns the URL, signed with the AWS SDK's presigner.
func (h *hostileEnv) presign(t *testing.T, p hostilePresign) string {
	t.Helper()
	if p.when.IsZero() {
		p.when = time.Now()
	}
	if p.region == "" {
		p.region = testRegion
	}
	if p.secret == "" {
		p.secret = testSecret
	}
	if p.expires == "" {
		p.expires = "900"
	}
	hr, err := http.NewRequest(p.method, h.url+p.path+"?X-Amz-Expires="+p.expires, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: p.secret}
	u, _, err := signer.PresignHTTP(context.Background(), creds, hr, "UNSIGNED-PAYLOAD", "s3", p.region, p.when)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// editQuery rewrites the query of a URL parameter by parameter: edit
// returns the replacement of one "name=value" (several, or none).
func hostileEditQuery(u string, edit func(param string) []string) string {
	base, q, _ := strings.Cut(u, "?")
	var out []string
	for _, p := range strings.Split(q, "&") {
		out = append(out, edit(p)...)
	}
	return base + "?" + strings.Join(out, "&")
}

// setParam replaces the value of one query parameter.
func hostileSetParam(name, value string) func(string) []string {
	return func(p string) []string {
		if strings.HasPrefix(p, name+"=") {
			return []string{name + "=" + value}
		}
		return []string{p}
	}
}

// dropParam removes one query parameter.
func hostileDropParam(name string) func(string) []string {
	return func(p string) []string {
		if strings.HasPrefix(p, name+"=") {
			return nil
		}
		return []string{p}
	}
}

// paramValue returns a query parameter's raw value.
func hostileParamValue(u, name string) string {
	_, q, _ := strings.Cut(u, "?")
	for _, p := range strings.Split(q, "&") {
		if v, ok := strings.CutPrefix(p, name+"="); ok {
			return v
		}
	}
	return ""
}

// flipHex changes the last hex digit of s.
func hostileFlipHex(s string) string {
	if s == "" {
		return "0"
	}
	last := s[len(s)-1]
	if last == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

// sendURL sends method to a full URL with body, adding the headers.
func hostileSendURL(t *testing.T, method, u string, body []byte, hdr http.Header) *http.Response {
	t.Helper()
	hr, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		hr.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestHostileAuth: presigned URLs that are expired, early, too long-lived or
// edited; two kinds of authentication at once; SigV2; wrong region, service
// or clock. Every one aims at overwriting or deleting k, or creating k2.
func TestHostileAuth(t *testing.T) {
	h := newHostileEnv(t)
	keep := h.seed(t,
		hostileObject{hostileBucket, "k", []byte("original k")},
		hostileObject{hostileBucket, "k2", nil},
	)
	body := []byte("hostile body")
	objPath := "/" + hostileBucket + "/k"
	// viaURL sends body to a presigned URL that edit (if any) rewrites.
	viaURL := func(p hostilePresign, method string, edit ...func(string) []string) func(t *testing.T, h *hostileEnv) *http.Response {
		return func(t *testing.T, h *hostileEnv) *http.Response {
			if p.method == "" {
				p.method = "PUT"
			}
			if p.path == "" {
				p.path = objPath
			}
			u := h.presign(t, p)
			for _, e := range edit {
				u = hostileEditQuery(u, e)
			}
			if method == "" {
				method = p.method
			}
			return hostileSendURL(t, method, u, body, nil)
		}
	}
	now := time.Now()
	cases := []hostileCase{
		{name: "presigned expired an hour ago", send: viaURL(hostilePresign{when: now.Add(-2 * time.Hour), expires: "3600"}, ""), status: 403, code: "AccessDenied"},
		{name: "presigned expired a second ago", send: viaURL(hostilePresign{when: now.Add(-62 * time.Second), expires: "60"}, ""), status: 403, code: "AccessDenied"},
		{name: "presigned with X-Amz-Expires 0", send: viaURL(hostilePresign{when: now.Add(-2 * time.Second), expires: "0"}, ""), status: 403, code: "AccessDenied"},
		{name: "presigned DELETE expired", send: viaURL(hostilePresign{method: "DELETE", when: now.Add(-2 * time.Hour), expires: "3600"}, ""), status: 403, code: "AccessDenied"},
		{name: "presigned not yet valid", send: viaURL(hostilePresign{when: now.Add(time.Hour), expires: "7200"}, ""), status: 403, code: "AccessDenied"},
		{name: "presigned X-Amz-Expires over a week", send: viaURL(hostilePresign{expires: "604801"}, ""), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires negative", send: viaURL(hostilePresign{expires: "-1"}, ""), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires not a number", send: viaURL(hostilePresign{expires: "soon"}, ""), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires overflowing", send: viaURL(hostilePresign{expires: "99999999999999999999"}, ""), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned wrong region", send: viaURL(hostilePresign{region: "eu-west-1"}, ""), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned wrong secret", send: viaURL(hostilePresign{secret: "not-the-secret"}, ""), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned X-Amz-Expires edited", send: viaURL(hostilePresign{expires: "900"}, "", hostileSetParam("X-Amz-Expires", "901")), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned expired, X-Amz-Expires raised", send: viaURL(hostilePresign{when: now.Add(-2 * time.Hour), expires: "60"}, "", hostileSetParam("X-Amz-Expires", "604800")), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned X-Amz-Date edited", send: func(t *testing.T, h *hostileEnv) *http.Response {
			// Signed two hours ago, valid for two hours and a minute (so
			// expiry cannot answer first); the date moved one second
			// (within the scope's day) breaks the signature.
			when := now.Add(-2 * time.Hour).UTC().Truncate(time.Second)
			if when.Hour() == 23 && when.Minute() == 59 && when.Second() == 59 {
				when = when.Add(-time.Second)
			}
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath, when: when, expires: "7260"})
			u = hostileEditQuery(u, hostileSetParam("X-Amz-Date", when.Add(time.Second).Format("20060102T150405Z")))
			return hostileSendURL(t, "PUT", u, body, nil)
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned X-Amz-Credential names another key", send: viaURL(hostilePresign{}, "", func(p string) []string {
			if v, ok := strings.CutPrefix(p, "X-Amz-Credential="); ok {
				return []string{"X-Amz-Credential=AKIDSOMEONEELSE" + v[len(testAccessKey):]}
			}
			return []string{p}
		}), status: 403, code: "InvalidAccessKeyId"},
		{name: "presigned signature edited", send: func(t *testing.T, h *hostileEnv) *http.Response {
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath})
			u = hostileEditQuery(u, hostileSetParam("X-Amz-Signature", hostileFlipHex(hostileParamValue(u, "X-Amz-Signature"))))
			return hostileSendURL(t, "PUT", u, body, nil)
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned signature in upper case", send: func(t *testing.T, h *hostileEnv) *http.Response {
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath})
			u = hostileEditQuery(u, hostileSetParam("X-Amz-Signature", strings.ToUpper(hostileParamValue(u, "X-Amz-Signature"))))
			return hostileSendURL(t, "PUT", u, body, nil)
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned parameter added", send: viaURL(hostilePresign{}, "", func(p string) []string {
			if strings.HasPrefix(p, "X-Amz-Signature=") {
				return []string{"x-id=PutObject", p}
			}
			return []string{p}
		}), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned response override added", send: viaURL(hostilePresign{}, "", func(p string) []string {
			if strings.HasPrefix(p, "X-Amz-Signature=") {
				return []string{p, "response-content-type=text%2Fhtml"}
			}
			return []string{p}
		}), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned X-Amz-Signature removed", send: viaURL(hostilePresign{}, "", hostileDropParam("X-Amz-Signature")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Date removed", send: viaURL(hostilePresign{}, "", hostileDropParam("X-Amz-Date")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Expires removed", send: viaURL(hostilePresign{}, "", hostileDropParam("X-Amz-Expires")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Credential removed", send: viaURL(hostilePresign{}, "", hostileDropParam("X-Amz-Credential")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-SignedHeaders removed", send: viaURL(hostilePresign{}, "", hostileDropParam("X-Amz-SignedHeaders")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned X-Amz-Signature twice", send: viaURL(hostilePresign{}, "", func(p string) []string {
			if strings.HasPrefix(p, "X-Amz-Signature=") {
				return []string{p, "X-Amz-Signature=" + strings.Repeat("0", 64)}
			}
			return []string{p}
		}), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned algorithm HMAC-SHA1", send: viaURL(hostilePresign{}, "", hostileSetParam("X-Amz-Algorithm", "AWS4-HMAC-SHA1")), status: 400, code: "AuthorizationQueryParametersError"},
		{name: "presigned GET used to PUT", send: viaURL(hostilePresign{method: "GET"}, "PUT"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned GET used to DELETE", send: viaURL(hostilePresign{method: "GET"}, "DELETE"), status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned PUT used on another key", send: func(t *testing.T, h *hostileEnv) *http.Response {
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath})
			return hostileSendURL(t, "PUT", strings.Replace(u, objPath+"?", objPath+"2?", 1), body, nil)
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "presigned URL and Authorization header", send: func(t *testing.T, h *hostileEnv) *http.Response {
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath})
			hr, _ := http.NewRequest("PUT", u, bytes.NewReader(body))
			hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signRaw(t, hr, "UNSIGNED-PAYLOAD")
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 400, code: "InvalidArgument"},
		{name: "two Authorization headers", send: func(t *testing.T, h *hostileEnv) *http.Response {
			hr, _ := http.NewRequest("PUT", h.url+objPath, bytes.NewReader(body))
			hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signRaw(t, hr, "UNSIGNED-PAYLOAD")
			hr.Header.Add("Authorization", hr.Header.Get("Authorization"))
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 400, code: "InvalidArgument"},
		{name: "SigV2 header", r: req{method: "PUT", path: objPath, body: body, anonymous: true, header: map[string]string{
			"Authorization": "AWS " + testAccessKey + ":frJIUN8DYpKDtOLCwo//yllqDzg=", "Date": time.Now().UTC().Format(http.TimeFormat)}}, status: 400, code: "InvalidRequest"},
		{name: "SigV2 query", r: req{method: "PUT", body: body, anonymous: true,
			path: objPath + "?AWSAccessKeyId=" + testAccessKey + "&Expires=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + "&Signature=frJIUN8DYpKDtOLCwo%2F%2FyllqDzg%3D"}, status: 400, code: "InvalidRequest"},
		{name: "SigV2 query and SigV4 presigned", send: func(t *testing.T, h *hostileEnv) *http.Response {
			u := h.presign(t, hostilePresign{method: "PUT", path: objPath})
			return hostileSendURL(t, "PUT", u+"&AWSAccessKeyId="+testAccessKey+"&Signature=x", body, nil)
		}, status: 400, code: "InvalidArgument"},
		{name: "header-signed for another region", r: req{method: "PUT", path: objPath, body: body, region: "eu-west-1"}, status: 400, code: "AuthorizationHeaderMalformed"},
		{name: "header-signed 20 minutes ago", r: req{method: "PUT", path: objPath, body: body, signTime: now.Add(-20 * time.Minute)}, status: 403, code: "RequestTimeTooSkewed"},
		{name: "header-signed 20 minutes ahead", r: req{method: "PUT", path: objPath, body: body, signTime: now.Add(20 * time.Minute)}, status: 403, code: "RequestTimeTooSkewed"},
		{name: "header-signed a year ago", r: req{method: "DELETE", path: objPath, signTime: now.AddDate(-1, 0, 0)}, status: 403, code: "RequestTimeTooSkewed"},
		{name: "header-signed for another service", send: func(t *testing.T, h *hostileEnv) *http.Response {
			hr, _ := http.NewRequest("PUT", h.url+objPath, bytes.NewReader(body))
			hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}, hr, "UNSIGNED-PAYLOAD", "ec2", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 400, code: "AuthorizationHeaderMalformed"},
		{name: "Authorization scheme unknown", r: req{method: "PUT", path: objPath, body: body, anonymous: true, header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}, status: 400, code: "InvalidRequest"},
		{name: "bearer token without issuers", r: req{method: "PUT", path: objPath, body: body, anonymous: true, header: map[string]string{"Authorization": "Bearer not-a-token"}}, status: 400, code: "InvalidToken"},
		{name: "Authorization without components", r: req{method: "PUT", path: objPath, body: body, anonymous: true, header: map[string]string{"Authorization": "AWS4-HMAC-SHA256"}}, status: 400, code: "AuthorizationHeaderMalformed"},
		{name: "Authorization signature edited", send: func(t *testing.T, h *hostileEnv) *http.Response {
			hr, _ := http.NewRequest("DELETE", h.url+objPath, nil)
			hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signRaw(t, hr, "UNSIGNED-PAYLOAD")
			hr.Header.Set("Authorization", hostileFlipHex(hr.Header.Get("Authorization")))
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "signed request replayed on another key", send: func(t *testing.T, h *hostileEnv) *http.Response {
			hr, _ := http.NewRequest("PUT", h.url+objPath, bytes.NewReader(body))
			hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			signRaw(t, hr, "UNSIGNED-PAYLOAD")
			hr.URL.Path += "2"
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 403, code: "SignatureDoesNotMatch"},
	}
	h.refuseAll(t, cases, keep)

	// A fresh presigned PUT, unedited, does work: the cases above fail
	// for what was done to them.
	resp := hostileSendURL(t, "PUT", h.presign(t, hostilePresign{method: "PUT", path: "/" + hostileBucket + "/k2"}), body, nil)
	expectStatus(t, resp, 200)
	if got := h.get(hostileBucket, "k2"); !bytes.Equal(got, body) {
		t.Fatalf("presigned PUT stored %q", got)
	}
}
