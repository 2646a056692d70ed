package sts

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/identity"
)

func TestServeHTTPIssuesSession(t *testing.T) {
	f := newFixture(t, nil)
	token := f.adaToken(t)
	fm := form(roleARN("web-reader"), "ada-laptop", token)
	fm.Set("DurationSeconds", "1800")
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fm.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "from-request"))
	w := httptest.NewRecorder()
	w.Header().Set("x-amz-request-id", "4442587FB7D0A2F9") // as the gateway sets it
	f.svc.ServeHTTP(w, r)

	resp := decodeOK(t, w)
	c := resp.Result.Credentials
	if !regexp.MustCompile(`^ASIA[A-Z0-9]{16}$`).MatchString(c.AccessKeyID) {
		t.Errorf("AccessKeyId %q", c.AccessKeyID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{40}$`).MatchString(c.SecretAccessKey) {
		t.Errorf("SecretAccessKey %q", c.SecretAccessKey)
	}
	if want := t0.Add(1800 * time.Second).Format(time.RFC3339); c.Expiration != want {
		t.Errorf("Expiration %q, want %q", c.Expiration, want)
	}
	if c.SessionToken == "" || len(c.SessionToken) >= 2048 {
		t.Errorf("SessionToken of %d characters", len(c.SessionToken))
	}
	if strings.Contains(c.SessionToken, "ada@example.com") || strings.Contains(c.SessionToken, c.SecretAccessKey) {
		t.Error("the session token shows what it seals")
	}
	res := resp.Result
	if res.SubjectFromWebIdentityToken != "8d5a0f3e-2b47-4c1e-9a61-0e2f7c4b9d13" {
		t.Errorf("SubjectFromWebIdentityToken %q", res.SubjectFromWebIdentityToken)
	}
	if !regexp.MustCompile(`^AROA[A-Z2-7]{17}:ada-laptop$`).MatchString(res.AssumedRoleUser.AssumedRoleID) {
		t.Errorf("AssumedRoleId %q", res.AssumedRoleUser.AssumedRoleID)
	}
	if res.AssumedRoleUser.ARN != "arn:aws:sts::000000000000:assumed-role/web-reader/ada-laptop" {
		t.Errorf("Arn %q", res.AssumedRoleUser.ARN)
	}
	if res.Provider != "https://idp.example.com/realms/corp" || res.Audience != "s3gate" {
		t.Errorf("Provider %q Audience %q", res.Provider, res.Audience)
	}
	if resp.RequestID != "4442587FB7D0A2F9" || w.Header().Get("x-amzn-RequestId") != "4442587FB7D0A2F9" {
		t.Errorf("RequestId %q, header %q: want the gateway's id", resp.RequestID, w.Header().Get("x-amzn-RequestId"))
	}
	h := w.Header()
	if h.Get("Content-Type") != "text/xml" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
		t.Errorf("headers %v (body %d bytes)", h, w.Body.Len())
	}
	if got := f.verifier.lastCtx; got != "from-request" {
		t.Errorf("the verifier got context value %v, not the request's", got)
	}

	// The session token opens to the key pair the client was given.
	k, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != c.AccessKeyID || k.Secret != c.SecretAccessKey {
		t.Errorf("SessionKey gave %q/%q", k.ID, k.Secret)
	}
	p := k.Principal
	if p.ID != "corp:8d5a0f3e-2b47-4c1e-9a61-0e2f7c4b9d13" || p.DisplayName != "ada" {
		t.Errorf("principal %q %q", p.ID, p.DisplayName)
	}
	if !slices.Equal(p.Roles, []string{"reader"}) || !slices.Equal(p.Groups, []string{"staff", "s3-readers"}) {
		t.Errorf("roles %v groups %v", p.Roles, p.Groups)
	}
	wantClaims := map[string]any{
		"iss": "https://idp.example.com/realms/corp", "sub": "8d5a0f3e-2b47-4c1e-9a61-0e2f7c4b9d13",
		"aud": "s3gate", "azp": "s3gate", "email": "ada@example.com", "email_verified": true,
		"preferred_username": "ada", "name": "Ada Lovelace",
	}
	if fmt.Sprint(p.Claims) != fmt.Sprint(wantClaims) {
		t.Errorf("claims %v\nwant   %v", p.Claims, wantClaims)
	}
	if log := f.log.String(); !strings.Contains(log, "session issued") || !strings.Contains(log, c.AccessKeyID) {
		t.Errorf("no audit line for the session:\n%s", log)
	}
	for _, secret := range []string{token, c.SecretAccessKey, c.SessionToken} {
		if strings.Contains(f.log.String(), secret) {
			t.Errorf("the log holds a secret: %.20s...", secret)
		}
	}
}

// The document has AWS's shape: root, namespace and element order.
func TestResponseShape(t *testing.T) {
	f := newFixture(t, nil)
	w := f.post(form(roleARN("web-reader"), "ada", f.adaToken(t)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, xml.Header+`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>`) {
		t.Fatalf("document starts %.200s", body)
	}
	var path []string
	var elems []string
	dec := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			elems = append(elems, strings.Join(path, "/"))
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	want := []string{
		"AssumeRoleWithWebIdentityResponse",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/AccessKeyId",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/SecretAccessKey",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/SessionToken",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/Expiration",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/SubjectFromWebIdentityToken",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/AssumedRoleUser",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/AssumedRoleUser/AssumedRoleId",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/AssumedRoleUser/Arn",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Provider",
		"AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Audience",
		"AssumeRoleWithWebIdentityResponse/ResponseMetadata",
		"AssumeRoleWithWebIdentityResponse/ResponseMetadata/RequestId",
	}
	if !slices.Equal(elems, want) {
		t.Errorf("elements\n%s\nwant\n%s", strings.Join(elems, "\n"), strings.Join(want, "\n"))
	}

	w = f.post(url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if !strings.HasPrefix(w.Body.String(), xml.Header+`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>`) ||
		!strings.Contains(w.Body.String(), `</Message></Error><RequestId>`) {
		t.Errorf("error document %s", w.Body)
	}
}

func TestRequestIDGenerated(t *testing.T) {
	f := newFixture(t, nil)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	for _, w := range []*httptest.ResponseRecorder{
		f.post(form(roleARN("web-reader"), "ada", f.adaToken(t))),
		f.post(form(roleARN("web-reader"), "ada", "not-a-token")),
	} {
		var doc struct {
			RequestID string `xml:"ResponseMetadata>RequestId"`
			ErrorID   string `xml:"RequestId"`
		}
		xml.Unmarshal(w.Body.Bytes(), &doc)
		id := doc.RequestID + doc.ErrorID
		if !uuid.MatchString(id) || w.Header().Get("x-amzn-RequestId") != id {
			t.Errorf("request id %q, header %q", id, w.Header().Get("x-amzn-RequestId"))
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Error("two requests got the same id")
	}
}

// AWS takes the parameters from the query string as well as from the body.
func TestParametersInQueryString(t *testing.T) {
	f := newFixture(t, nil)
	fm := form(roleARN("web-reader"), "ada", f.adaToken(t))
	w := f.serve(httptest.NewRequest(http.MethodGet, "/?"+fm.Encode(), nil))
	if resp := decodeOK(t, w); resp.Result.AssumedRoleUser.ARN == "" {
		t.Fatal("GET with a query string issued no session")
	}

	// Split between query string and body.
	q := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}}
	body := url.Values{"RoleArn": fm["RoleArn"], "RoleSessionName": fm["RoleSessionName"], "WebIdentityToken": fm["WebIdentityToken"]}
	r := httptest.NewRequest(http.MethodPost, "/?"+q.Encode(), strings.NewReader(body.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	decodeOK(t, f.serve(r))

	// All in the query string of a POST without a body.
	decodeOK(t, f.serve(httptest.NewRequest(http.MethodPost, "/?"+fm.Encode(), nil)))

	// A parameter in both places is given twice.
	r = httptest.NewRequest(http.MethodPost, "/?RoleSessionName=other", strings.NewReader(fm.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expectError(t, f.serve(r), 400, "ValidationError")
}

// SDKs send an empty PolicyArns= for an empty list: that asks for no
// session policy, and is no reason to refuse.
func TestEmptySessionPolicyParameters(t *testing.T) {
	f := newFixture(t, nil)
	fm := form(roleARN("web-reader"), "ada", f.adaToken(t))
	fm.Set("PolicyArns", "")
	fm.Set("Policy", "")
	decodeOK(t, f.post(fm))
}

// Every way a request fails, with AWS's code and status, and never the
// token in the answer or the log.
func TestErrors(t *testing.T) {
	type tc struct {
		name   string
		status int
		code   string
		// req builds the request from a fixture and a valid token.
		req func(f *fixture, token string) *http.Request
	}
	post := func(edit func(f *fixture, fm url.Values)) func(*fixture, string) *http.Request {
		return func(f *fixture, token string) *http.Request {
			fm := form(roleARN("web-reader"), "ada", token)
			edit(f, fm)
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fm.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}
	}
	claims := func(edit func(map[string]any)) func(f *fixture, fm url.Values) {
		return func(f *fixture, fm url.Values) {
			c := f.adaClaims()
			edit(c)
			fm.Set("WebIdentityToken", f.corp.sign(t, c))
		}
	}
	cases := []tc{
		{"no Action", 400, "MissingAction", post(func(_ *fixture, fm url.Values) { fm.Del("Action") })},
		{"unknown Action", 400, "InvalidAction", post(func(_ *fixture, fm url.Values) { fm.Set("Action", "AssumeRole") })},
		{"Action in lower case", 400, "InvalidAction", post(func(_ *fixture, fm url.Values) { fm.Set("Action", "assumerolewithwebidentity") })},
		{"other Version", 400, "InvalidAction", post(func(_ *fixture, fm url.Values) { fm.Set("Version", "2011-06-16") })},
		{"no Version", 400, "MissingParameter", post(func(_ *fixture, fm url.Values) { fm.Del("Version") })},
		{"no RoleArn", 400, "MissingParameter", post(func(_ *fixture, fm url.Values) { fm.Del("RoleArn") })},
		{"no RoleSessionName", 400, "MissingParameter", post(func(_ *fixture, fm url.Values) { fm.Del("RoleSessionName") })},
		{"no WebIdentityToken", 400, "MissingParameter", post(func(_ *fixture, fm url.Values) { fm.Del("WebIdentityToken") })},
		{"parameter twice", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Add("RoleSessionName", "eve") })},
		{"RoleArn too short", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleArn", "arn:aws:iam::0:r/x") })},
		{"RoleArn too long", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleArn", roleARN(strings.Repeat("r", 2049))) })},
		{"session name of 1", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleSessionName", "a") })},
		{"session name of 65", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleSessionName", strings.Repeat("a", 65)) })},
		{"session name with a space", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleSessionName", "ada lovelace") })},
		{"session name with a slash", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleSessionName", "ada/laptop") })},
		{"session name not ASCII", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("RoleSessionName", "adé") })},
		{"token of 3", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("WebIdentityToken", "abc") })},
		{"token of 20001", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("WebIdentityToken", strings.Repeat("a", 20001)) })},
		{"DurationSeconds not a number", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("DurationSeconds", "1h") })},
		{"DurationSeconds signed", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("DurationSeconds", "+900") })},
		{"DurationSeconds empty", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("DurationSeconds", "") })},
		{"session policy", 400, "ValidationError", post(func(_ *fixture, fm url.Values) {
			fm.Set("Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
		})},
		{"managed session policy", 400, "ValidationError", post(func(_ *fixture, fm url.Values) {
			fm.Set("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
		})},
		{"ProviderId", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("ProviderId", "www.amazon.com") })},
		{"garbage token", 400, "InvalidIdentityToken", post(func(_ *fixture, fm url.Values) { fm.Set("WebIdentityToken", "not-a-jwt-at-all") })},
		{"token from an unknown issuer", 400, "InvalidIdentityToken", post(func(f *fixture, fm url.Values) {
			stranger := newTestIssuer(t, "stranger", "https://evil.example", "s3gate")
			c := f.adaClaims()
			c["iss"] = stranger.iss
			fm.Set("WebIdentityToken", stranger.sign(t, c))
		})},
		{"token signed with another key", 400, "InvalidIdentityToken", post(func(f *fixture, fm url.Values) {
			fm.Set("WebIdentityToken", f.partner.sign(t, f.adaClaims()))
		})},
		{"token for another audience", 400, "InvalidIdentityToken", post(claims(func(c map[string]any) { c["aud"] = "grafana" }))},
		{"token with no subject", 400, "InvalidIdentityToken", post(func(f *fixture, fm url.Values) {
			c := f.adaClaims()
			delete(c, "sub")
			fm.Set("WebIdentityToken", f.corp.sign(t, c))
			// A verifier that maps no principal id.
			f.svc.opts.Verifier = noPrincipal{f.verifier}
		})},
		{"expired token", 400, "ExpiredTokenException", post(claims(func(c map[string]any) { c["exp"] = t0.Add(-time.Second).Unix() }))},
		{"issuer unreachable", 400, "IDPCommunicationError", post(func(f *fixture, _ url.Values) { f.verifier.setUnreachable(true) })},
		{"unknown role", 403, "AccessDenied", post(func(_ *fixture, fm url.Values) { fm.Set("RoleArn", roleARN("web-writer")) })},
		{"issuer may not assume the role", 403, "IDPRejectedClaim", post(func(_ *fixture, fm url.Values) { fm.Set("RoleArn", partnerARN) })},
		{"condition fails", 403, "IDPRejectedClaim", post(claims(func(c map[string]any) { c["groups"] = []string{"staff"} }))},
		{"duration over the role's cap", 400, "ValidationError", post(func(_ *fixture, fm url.Values) { fm.Set("DurationSeconds", "3601") })},
		{"groups too large for a session", 400, "PackedPolicyTooLarge", post(claims(func(c map[string]any) {
			groups := []string{"s3-readers"}
			for i := range 200 {
				groups = append(groups, fmt.Sprintf("team-%03d-with-a-long-descriptive-name", i))
			}
			c["groups"] = groups
		}))},
		{"claim that cannot be encoded", 500, "InternalFailure", post(func(f *fixture, _ url.Values) {
			f.svc.opts.Verifier = withClaim{f.verifier, "name", math.NaN()}
		})},
		{"PUT", 405, "MethodNotAllowed", func(f *fixture, token string) *http.Request {
			return httptest.NewRequest(http.MethodPut, "/?"+form(roleARN("web-reader"), "ada", token).Encode(), nil)
		}},
		{"GET without parameters", 400, "MissingAction", func(*fixture, string) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/", nil)
		}},
		{"malformed query string", 400, "ValidationError", func(*fixture, string) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/?Action=%zz", nil)
		}},
		{"body not a form", 400, "ValidationError", func(f *fixture, token string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form(roleARN("web-reader"), "ada", token).Encode()))
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"body without a content type", 400, "ValidationError", func(f *fixture, token string) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form(roleARN("web-reader"), "ada", token).Encode()))
		}},
		{"body in another charset", 400, "ValidationError", func(f *fixture, token string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form(roleARN("web-reader"), "ada", token).Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=latin1")
			return r
		}},
		{"malformed body", 400, "ValidationError", func(*fixture, string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=AssumeRoleWithWebIdentity&Version=%"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, nil)
			token := f.adaToken(t)
			r := c.req(f, token)
			// The token the request carries, whatever it is.
			raw := r.URL.Query().Get("WebIdentityToken")
			if body, err := io.ReadAll(r.Body); err == nil && len(body) > 0 {
				if v, err := url.ParseQuery(string(body)); err == nil {
					raw = v.Get("WebIdentityToken")
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			w := f.serve(r)
			e := expectError(t, w, c.status, c.code)
			for _, secret := range []string{token, raw} {
				if len(secret) >= 4 && (strings.Contains(w.Body.String(), secret) || strings.Contains(f.log.String(), secret)) {
					t.Errorf("the token shows in the answer or the log: %s\n%s", e.Error.Message, f.log)
				}
			}
			if c.status == 405 && w.Header().Get("Allow") != "GET, POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
		})
	}
}

// noPrincipal is a verifier that maps no principal id nor subject.
type noPrincipal struct{ TokenVerifier }

func (v noPrincipal) Verify(ctx context.Context, raw string) (tok identity.VerifiedToken, err error) {
	tok, err = v.TokenVerifier.Verify(ctx, raw)
	tok.Principal.ID, tok.Subject = "", ""
	return tok, err
}

// withClaim is a verifier that adds one claim to what it verifies.
type withClaim struct {
	TokenVerifier
	name  string
	value any
}

func (v withClaim) Verify(ctx context.Context, raw string) (identity.VerifiedToken, error) {
	tok, err := v.TokenVerifier.Verify(ctx, raw)
	if err == nil {
		tok.Principal.Claims[v.name] = v.value
	}
	return tok, err
}

func TestBodyTooLarge(t *testing.T) {
	f := newFixture(t, nil)
	fm := form(roleARN("web-reader"), "ada", f.adaToken(t))
	// An unknown parameter pads the body to exactly maxBody+1 bytes.
	fm.Set("Padding", strings.Repeat("x", maxBody+1-len(fm.Encode()+"&Padding=")))
	if n := len(fm.Encode()); n != maxBody+1 {
		t.Fatalf("body of %d bytes", n)
	}
	e := expectError(t, f.post(fm), 400, "ValidationError")
	if !strings.Contains(e.Error.Message, "65536") {
		t.Errorf("message %q", e.Error.Message)
	}
	// A Content-Length over the limit is refused before the body is read.
	r := httptest.NewRequest(http.MethodPost, "/", unreadable{t})
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.ContentLength = maxBody + 1
	expectError(t, f.serve(r), 400, "ValidationError")
	// Without a Content-Length, the limit holds while reading.
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(fm.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.ContentLength = -1
	expectError(t, f.serve(r), 400, "ValidationError")
	// At the limit, it is read (and the unknown parameter ignored).
	fm.Set("Padding", fm.Get("Padding")[1:])
	if n := len(fm.Encode()); n != maxBody {
		t.Fatalf("body of %d bytes", n)
	}
	decodeOK(t, f.post(fm))
}

// unreadable is a body that must not be read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

// DurationSeconds: AWS's bounds, then the role's cap and the config's.
func TestDurationBounds(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxDuration = 8 * time.Hour })
	cases := []struct {
		role     string
		duration string // "" : not given
		want     time.Duration
		err      string
	}{
		{"web-reader", "", time.Hour, ""},
		{"web-reader", "899", 0, "Member must have value greater than or equal to 900"},
		{"web-reader", "900", 900 * time.Second, ""},
		{"web-reader", "3600", time.Hour, ""},
		{"web-reader", "3601", 0, "exceeds the MaxSessionDuration set for this role (3600 seconds)"},
		{"web-admin", "28800", 8 * time.Hour, ""}, // the role allows 12 h, the config 8
		{"web-admin", "28801", 0, "(28800 seconds)"},
		{"web-admin", "43200", 0, "(28800 seconds)"},
		{"web-admin", "43201", 0, "Member must have value less than or equal to 43200"},
		{"web-admin", "999999999", 0, "less than or equal to 43200"},
		{"web-admin", "0000900", 900 * time.Second, ""},
		{"partner-upload", "", 30 * time.Minute, ""}, // the default, shortened to the role's cap
		{"partner-upload", "1801", 0, "(1800 seconds)"},
	}
	for _, c := range cases {
		t.Run(c.role+"/"+c.duration, func(t *testing.T) {
			token, arn := f.adaToken(t), roleARN(c.role)
			if c.role == "partner-upload" {
				cl := f.adaClaims()
				cl["iss"], cl["aud"] = f.partner.iss, f.partner.aud
				token, arn = f.partner.sign(t, cl), partnerARN
			}
			fm := form(arn, "ada", token)
			if c.duration != "" {
				fm.Set("DurationSeconds", c.duration)
			}
			w := f.post(fm)
			if c.err != "" {
				e := expectError(t, w, 400, "ValidationError")
				if !strings.Contains(e.Error.Message, c.err) {
					t.Errorf("message %q, want %q in it", e.Error.Message, c.err)
				}
				return
			}
			resp := decodeOK(t, w)
			if want := t0.Add(c.want).Format(time.RFC3339); resp.Result.Credentials.Expiration != want {
				t.Errorf("Expiration %s, want %s", resp.Result.Credentials.Expiration, want)
			}
		})
	}

	// With the full 12 hours allowed, 43200 is granted.
	f = newFixture(t, nil)
	fm := form(roleARN("web-admin"), "ada", f.adaToken(t))
	fm.Set("DurationSeconds", "43200")
	if got := decodeOK(t, f.post(fm)).Result.Credentials.Expiration; got != t0.Add(12*time.Hour).Format(time.RFC3339) {
		t.Errorf("Expiration %s", got)
	}
}

func TestRoleARNIsMatchedExactly(t *testing.T) {
	f := newFixture(t, nil)
	token := f.adaToken(t)
	for _, arn := range []string{
		roleARN("web-admin"),
	} {
		decodeOK(t, f.post(form(arn, "ada", token)))
	}
	for _, arn := range []string{
		"web-admin-padded-to-twenty",                           // a bare name (padded past the minimum length)
		"arn:aws:iam::123456789012:role/web-admin",             // another account
		"arn:aws:iam::000000000000:role/Web-Admin",             // another case
		"arn:aws:iam::000000000000:role/web-admin/",            // a trailing slash
		"arn:aws:iam::000000000000:role/x/web-admin",           // a path
		"arn:aws-cn:iam::000000000000:role/web-admin",          // another partition
		" arn:aws:iam::000000000000:role/web-admin",            // white space
		"arn:aws:sts::000000000000:assumed-role/web-admin/ada", // a session's ARN
		"arn:aws:iam::123456789012:role/upload",                // the last part of a configured ARN
	} {
		w := f.post(form(arn, "ada", token))
		expectError(t, w, 403, "AccessDenied")
	}
	// A configured ARN is the only way to a role that has one.
	cl := f.adaClaims()
	cl["iss"], cl["aud"] = f.partner.iss, f.partner.aud
	ptoken := f.partner.sign(t, cl)
	decodeOK(t, f.post(form(partnerARN, "ada", ptoken)))
	expectError(t, f.post(form(roleARN("partner-upload"), "ada", ptoken)), 403, "AccessDenied")
}

// Conditions, end to end: which tokens may assume web-admin and web-reader.
func TestConditions(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name string
		role string
		edit func(map[string]any)
		ok   bool
	}{
		{"array claim, one element allowed", "web-reader", nil, true},
		{"array claim, other element allowed", "web-reader", func(c map[string]any) { c["groups"] = []string{"s3-admins"} }, true},
		{"array claim, none allowed", "web-reader", func(c map[string]any) { c["groups"] = []string{"staff", "s3-writers"} }, false},
		{"array claim, empty", "web-reader", func(c map[string]any) { c["groups"] = []string{} }, false},
		{"string claim allowed", "web-reader", func(c map[string]any) { c["groups"] = "s3-readers" }, true},
		{"string claim not allowed", "web-reader", func(c map[string]any) { c["groups"] = "s3-readers,staff" }, false},
		{"claim missing", "web-reader", func(c map[string]any) { delete(c, "groups") }, false},
		{"claim an object", "web-reader", func(c map[string]any) { c["groups"] = map[string]any{"s3-readers": true} }, false},
		{"nested path and boolean", "web-admin", nil, true},
		{"nested path, value missing", "web-admin", func(c map[string]any) {
			c["realm_access"] = map[string]any{"roles": []string{"offline_access"}}
		}, false},
		{"nested path, parent not an object", "web-admin", func(c map[string]any) { c["realm_access"] = "s3-admin" }, false},
		{"nested path given as a flat claim name", "web-admin", func(c map[string]any) {
			delete(c, "realm_access")
			c["realm_access.roles"] = []string{"s3-admin"}
		}, true},
		{"second condition fails", "web-admin", func(c map[string]any) { c["email_verified"] = false }, false},
		{"boolean given as a string", "web-admin", func(c map[string]any) { c["email_verified"] = "true" }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := f.adaClaims()
			if c.edit != nil {
				c.edit(cl)
			}
			w := f.post(form(roleARN(c.role), "ada", f.corp.sign(t, cl)))
			if c.ok {
				decodeOK(t, w)
			} else {
				expectError(t, w, 403, "IDPRejectedClaim")
			}
		})
	}
}

func TestLookupClaim(t *testing.T) {
	claims := map[string]any{
		"a":                          map[string]any{"b": map[string]any{"c": "abc"}, "x": 1.0},
		"a.b":                        map[string]any{"c": "dotted"},
		"https://example.com":        map[string]any{"tenant": "acme"},
		"https://example.com/groups": []any{"g1", "g2"},
		"n":                          42.0,
		"big":                        1e21,
		"t":                          true,
		"list":                       []any{1.0, "two", map[string]any{"three": 3.0}},
	}
	for _, c := range []struct {
		path    string
		allowed []string
		want    bool
	}{
		{"a.b.c", []string{"dotted"}, true}, // the longest name wins
		{"a.b.c", []string{"abc"}, false},
		{"a.x", []string{"1"}, true},
		{"https://example.com.tenant", []string{"acme"}, true},
		{"https://example.com/groups", []string{"g2"}, true},
		{"n", []string{"42"}, true},
		{"n", []string{"42.0"}, false},
		{"big", []string{"1000000000000000000000"}, true},
		{"t", []string{"true"}, true},
		{"t", []string{"True"}, false},
		{"list", []string{"1"}, true},
		{"list", []string{"two"}, true},
		{"list", []string{"three"}, false},
		{"list.three", []string{"3"}, false}, // arrays are not walked into
		{"a", []string{"abc"}, false},
		{"a.b.c.d", []string{"dotted"}, false},
		{"missing", []string{""}, false},
		{"a.missing", []string{""}, false},
	} {
		if got := (condition{path: c.path, allowed: c.allowed}).holds(claims); got != c.want {
			t.Errorf("%s in %v: %v, want %v", c.path, c.allowed, got, c.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := map[string]func(*Options){
		"no verifier":              func(o *Options) { o.Verifier = nil },
		"no keyring":               func(o *Options) { o.Keyring = nil },
		"account not 12 digits":    func(o *Options) { o.Account = "12345" },
		"max duration too long":    func(o *Options) { o.MaxDuration = 13 * time.Hour },
		"max duration too short":   func(o *Options) { o.MaxDuration = time.Minute },
		"default not whole second": func(o *Options) { o.DefaultDuration = time.Hour + time.Millisecond },
		"role without a name":      func(o *Options) { o.Roles[0].Name = "" },
		"role name with a slash":   func(o *Options) { o.Roles[0].Name = "a/b" },
		"role name too long":       func(o *Options) { o.Roles[0].Name = strings.Repeat("r", 65) },
		"role twice":               func(o *Options) { o.Roles[1].Name = o.Roles[0].Name },
		"two roles, one ARN":       func(o *Options) { o.Roles[0].ARN = partnerARN },
		"ARN not an ARN":           func(o *Options) { o.Roles[0].ARN = "role/web-reader-and-more" },
		"role without issuers":     func(o *Options) { o.Roles[0].Issuers = nil },
		"empty issuer name":        func(o *Options) { o.Roles[0].Issuers = []string{"corp", ""} },
		"role max over 12 h":       func(o *Options) { o.Roles[0].MaxDuration = 12*time.Hour + time.Second },
		"role max under 15 m":      func(o *Options) { o.Roles[0].MaxDuration = 899 * time.Second },
		"condition with no values": func(o *Options) { o.Roles[0].Conditions["groups"] = nil },
		"condition on empty path":  func(o *Options) { o.Roles[0].Conditions[""] = []string{"x"} },
		"condition path a..b":      func(o *Options) { o.Roles[0].Conditions["a..b"] = []string{"x"} },
		"condition path ending .":  func(o *Options) { o.Roles[0].Conditions["a."] = []string{"x"} },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			opts := f.opts
			opts.Roles = testRoles()
			edit(&opts)
			if _, err := New(opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// The fixture's own options are accepted, as is a role with no
	// conditions and no roles.
	f := newFixture(t, nil)
	opts := f.opts
	opts.Roles = append(testRoles(), Role{Name: "bare", Issuers: []string{"corp"}})
	if _, err := New(opts); err != nil {
		t.Fatal(err)
	}
}

// Config the Service was built from is copied: editing it later changes
// nothing.
func TestConfigIsCopied(t *testing.T) {
	var roles []Role
	f := newFixture(t, func(o *Options) { roles = o.Roles })
	roles[0].Roles[0] = "admin"
	roles[0].Conditions["groups"][0] = "staff"
	roles[0].Issuers[0] = "partner"
	c, e := f.svc.AssumeRoleWithWebIdentity(context.Background(), form(roleARN("web-reader"), "ada", f.adaToken(t)))
	if e != nil {
		t.Fatal(e)
	}
	// "staff" is among ada's groups, "s3-readers" too: check the roles.
	k, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0)
	if err != nil || !slices.Equal(k.Principal.Roles, []string{"reader"}) {
		t.Fatalf("roles %v, %v", k.Principal.Roles, err)
	}
	k.Principal.Roles[0] = "admin"
	if k, _ := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0); k.Principal.Roles[0] != "reader" {
		t.Fatal("a principal's roles alias the configuration")
	}
	cl := f.adaClaims()
	cl["groups"] = []string{"staff"}
	if _, e := f.svc.AssumeRoleWithWebIdentity(context.Background(), form(roleARN("web-reader"), "ada", f.corp.sign(t, cl))); e == nil || e.Code != "IDPRejectedClaim" {
		t.Fatalf("a condition edited after New took effect: %v", e)
	}
}

func TestSessionClaimsOption(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SessionClaims = []string{"email", "https://example.com/tenant", "absent"} })
	c, e := f.svc.AssumeRoleWithWebIdentity(context.Background(), form(roleARN("web-reader"), "ada", f.adaToken(t)))
	if e != nil {
		t.Fatal(e)
	}
	k, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(k.Principal.Claims) != "map[email:ada@example.com https://example.com/tenant:acme]" {
		t.Errorf("claims %v", k.Principal.Claims)
	}
	f = newFixture(t, func(o *Options) { o.SessionClaims = []string{} })
	c, _ = f.svc.AssumeRoleWithWebIdentity(context.Background(), form(roleARN("web-reader"), "ada", f.adaToken(t)))
	if k, err := f.svc.SessionKey(c.AccessKeyID, c.SessionToken, t0); err != nil || k.Principal.Claims != nil {
		t.Errorf("claims %v, %v; want none", k.Principal.Claims, err)
	}
}

// A verifier that quotes the token in its error must not get it into the
// log.
func TestTokenRedactedFromLog(t *testing.T) {
	f := newFixture(t, nil)
	tok := "eyJhbGciOiJFUzI1NiJ9-no-dots-so-it-is-malformed"
	expectError(t, f.post(form(roleARN("web-reader"), "ada", tok)), 400, "InvalidIdentityToken")
	log := f.log.String()
	if strings.Contains(log, tok) || !strings.Contains(log, "malformed token") || !strings.Contains(log, "[token]") {
		t.Errorf("log:\n%s", log)
	}
	// Each part of a JWT is cut out too.
	if got := redact(`bad signature "c2lnbmF0dXJlLXBhcnQ" on x.y`, "aGVhZGVyLXBhcnQ.cGF5bG9hZC1wYXJ0.c2lnbmF0dXJlLXBhcnQ"); got != `bad signature "[token]" on x.y` {
		t.Errorf("redact: %s", got)
	}
}

// Issued credentials are unique.
func TestCredentialsAreFresh(t *testing.T) {
	f := newFixture(t, nil)
	token := f.adaToken(t)
	seen := map[string]bool{}
	for range 50 {
		c, e := f.svc.AssumeRoleWithWebIdentity(context.Background(), form(roleARN("web-reader"), "ada", token))
		if e != nil {
			t.Fatal(e)
		}
		for _, v := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if seen[v] {
				t.Fatalf("%q issued twice", v)
			}
			seen[v] = true
		}
	}
}

func TestIsRequest(t *testing.T) {
	form := func(method, target, ctype string) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader("Action=AssumeRoleWithWebIdentity"))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		return r
	}
	for _, c := range []struct {
		r    *http.Request
		want bool
	}{
		{form("POST", "/", "application/x-www-form-urlencoded"), true},
		{form("POST", "/", "application/x-www-form-urlencoded; charset=utf-8"), true},
		{form("POST", "/", "Application/X-WWW-Form-Urlencoded"), true},
		{form("GET", "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15", ""), true},
		{form("POST", "/?Action=AssumeRoleWithWebIdentity", ""), true},
		{form("GET", "/", ""), false},                                 // ListBuckets
		{form("POST", "/", "multipart/form-data; boundary=x"), false}, // a form upload
		{form("POST", "/bucket", "application/x-www-form-urlencoded"), false},
		{form("GET", "/bucket?Action=x", ""), false},
		{form("POST", "/?delete", "application/xml"), false},
		{form("POST", "/", ""), false},
	} {
		if got := IsRequest(c.r); got != c.want {
			t.Errorf("%s %s %q: %v, want %v", c.r.Method, c.r.URL, c.r.Header.Get("Content-Type"), got, c.want)
		}
	}
}

func TestErrorType(t *testing.T) {
	for code, status := range statuses {
		e := newError(code, "m")
		if e.Status != status || (e.Type() == "Receiver") != (status >= 500) || e.Error() != code+": m" {
			t.Errorf("%s: %+v %s", code, e, e.Type())
		}
	}
}
