package sts

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/identity/seal"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

const partnerARN = "arn:aws:iam::123456789012:role/partners/upload"

// fixture is a Service with three roles, two issuers and a movable clock.
type fixture struct {
	svc      *Service
	opts     Options
	corp     *testIssuer
	partner  *testIssuer
	verifier *testVerifier
	keyring  *seal.Keyring
	log      *syncBuffer

	mu  sync.Mutex
	now time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func testRoles() []Role {
	return []Role{
		{
			Name:       "web-reader",
			Issuers:    []string{"corp"},
			Conditions: map[string][]string{"groups": {"s3-readers", "s3-admins"}},
			Roles:      []string{"reader"},
		},
		{
			Name:    "web-admin",
			Issuers: []string{"corp"},
			Conditions: map[string][]string{
				"realm_access.roles": {"s3-admin"},
				"email_verified":     {"true"},
			},
			Roles:       []string{"admin", "reader"},
			MaxDuration: 12 * time.Hour,
		},
		{
			Name:        "partner-upload",
			ARN:         partnerARN,
			Issuers:     []string{"partner"},
			Roles:       []string{"uploader"},
			MaxDuration: 30 * time.Minute,
		},
	}
}

func newKeyring(t testing.TB) *seal.Keyring {
	t.Helper()
	key := make([]byte, seal.KeySize)
	rand.Read(key)
	k, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newFixture builds the fixture; edit, when given, changes the options
// before the Service is built.
func newFixture(t testing.TB, edit func(*Options)) *fixture {
	t.Helper()
	f := &fixture{now: t0, log: &syncBuffer{}, keyring: newKeyring(t)}
	f.corp = newTestIssuer(t, "corp", "https://idp.example.com/realms/corp", "s3gate")
	f.partner = newTestIssuer(t, "partner", "https://login.partner.example", "s3gate-partner")
	f.verifier = &testVerifier{issuers: []*testIssuer{f.corp, f.partner}, now: f.clock}
	f.opts = Options{
		Roles:          testRoles(),
		Verifier:       f.verifier,
		Keyring:        f.keyring,
		ExpiredErr:     errTestExpired,
		UnreachableErr: errTestUnreachable,
		Logger:         slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            f.clock,
	}
	if edit != nil {
		edit(&f.opts)
	}
	svc, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// adaClaims are the claims of a Keycloak-style ID token for a staff member.
func (f *fixture) adaClaims() map[string]any {
	now := f.clock()
	return map[string]any{
		"iss":                        f.corp.iss,
		"sub":                        "8d5a0f3e-2b47-4c1e-9a61-0e2f7c4b9d13",
		"aud":                        "s3gate",
		"azp":                        "s3gate",
		"iat":                        now.Add(-time.Minute).Unix(),
		"exp":                        now.Add(time.Hour).Unix(),
		"email":                      "ada@example.com",
		"email_verified":             true,
		"preferred_username":         "ada",
		"name":                       "Ada Lovelace",
		"groups":                     []string{"staff", "s3-readers"},
		"realm_access":               map[string]any{"roles": []string{"offline_access", "s3-admin"}},
		"https://example.com/tenant": "acme",
	}
}

func (f *fixture) adaToken(t testing.TB) string { return f.corp.sign(t, f.adaClaims()) }

// form is a complete AssumeRoleWithWebIdentity request.
func form(roleARN, sessionName, token string) url.Values {
	return url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {roleARN},
		"RoleSessionName":  {sessionName},
		"WebIdentityToken": {token},
	}
}

func roleARN(name string) string { return "arn:aws:iam::000000000000:role/" + name }

// post sends form as a form body, the way SDKs do.
func (f *fixture) post(form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return f.serve(r)
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	return w
}

// The documents as a client reads them.
type testResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
		SubjectFromWebIdentityToken string
		AssumedRoleUser             struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			ARN           string `xml:"Arn"`
		}
		Provider string
		Audience string
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type testError struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func decodeOK(t testing.TB, w *httptest.ResponseRecorder) testResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var resp testResponse
	if err := xml.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response does not parse: %v\n%s", err, w.Body)
	}
	return resp
}

func decodeError(t testing.TB, w *httptest.ResponseRecorder) testError {
	t.Helper()
	var e testError
	if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error document does not parse: %v\n%s", err, w.Body)
	}
	return e
}

// expectError checks an error answer's status, code, type and request id.
func expectError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) testError {
	t.Helper()
	e := decodeError(t, w)
	if w.Code != status || e.Error.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", w.Code, e.Error.Code, e.Error.Message, status, code)
	}
	wantType := "Sender"
	if status >= 500 {
		wantType = "Receiver"
	}
	if e.Error.Type != wantType {
		t.Errorf("Type %q, want %q", e.Error.Type, wantType)
	}
	if e.Error.Message == "" {
		t.Error("empty message")
	}
	if e.RequestID == "" || e.RequestID != w.Header().Get("x-amzn-RequestId") {
		t.Errorf("RequestId %q, header %q", e.RequestID, w.Header().Get("x-amzn-RequestId"))
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	return e
}
