package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/identity/keystore"
	"github.com/s3gate/s3gate/identity/seal"
)

// adminRoot is the root key of the admin tests' gateways.
var adminRoot = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}

const (
	adminTokenIssuer   = "https://idp.admin.s3gate.test/"
	adminTokenAudience = "s3gate-admin"
)

// adminLog is a log buffer written by the servers' goroutines and read by
// the test.
type adminLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *adminLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *adminLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the JSON log records whose msg is msg.
func (l *adminLog) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// adminEnv is a gateway over a real fs backend and a key store over a real
// SQLite catalogue, with the S3 API on one httptest server and the
// operations handler, admin API mounted, on another.
type adminEnv struct {
	t     *testing.T
	gw    *Gateway
	cat   *catalog.Catalog
	store *keystore.Store
	s3URL string
	ops   string
	log   *adminLog
}

func newAdminEnv(t *testing.T, mutate ...func(*Options)) *adminEnv {
	t.Helper()
	backend, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	cat, err := catalog.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	master := make([]byte, seal.KeySize)
	rand.Read(master)
	keyring, err := seal.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	// An hour: every change must take effect at once on this replica, not
	// when a cached answer expires.
	store, err := keystore.New(cat, keyring, keystore.Options{
		Static:          []identity.AccessKey{{ID: adminRoot.AccessKeyID, Secret: adminRoot.SecretAccessKey, Principal: identity.RootPrincipal()}},
		RefreshInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &adminLog{}
	reg := prometheus.NewRegistry()
	opts := Options{Region: testRegion, MaxRequests: 64, AccessLog: true, Registry: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	for _, m := range mutate {
		m(&opts)
	}
	gw := New(backend, cat, store, opts)
	s3srv := httptest.NewServer(gw)
	t.Cleanup(s3srv.Close)
	ops := httptest.NewServer(OpsHandler(reg, map[string]HealthCheck{"catalog": cat.Ping}, false, gw.AdminHandler(store)))
	t.Cleanup(ops.Close)
	return &adminEnv{t: t, gw: gw, cat: cat, store: store, s3URL: s3srv.URL, ops: ops.URL, log: logs}
}

// keyOf creates an access key for user with one role.
func (e *adminEnv) keyOf(user, role string) aws.Credentials {
	e.t.Helper()
	k := e.createKey(fmt.Sprintf(`{"user": %q, "roles": [%q]}`, user, role))
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

// call sends an admin request signed with creds as the AWS SDK signs S3
// requests (SigV4 header, payload hash in x-amz-content-sha256); an empty
// access key id sends it unsigned.
func (e *adminEnv) call(creds aws.Credentials, method, path string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	hr := adminRequest(e.t, method, e.ops+path, body)
	if creds.AccessKeyID != "" {
		adminSign(e.t, hr, creds, body, testRegion)
	}
	return adminDo(e.t, hr)
}

func adminRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	hr, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		hr.Body = http.NoBody
	} else {
		hr.Header.Set("Content-Type", "application/json")
	}
	return hr
}

func adminSign(t *testing.T, hr *http.Request, creds aws.Credentials, body []byte, region string) {
	t.Helper()
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	hr.Header.Set("X-Amz-Content-Sha256", ph)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), creds, hr, ph, "s3", region, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func adminDo(t *testing.T, hr *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// adminOK checks the status and decodes the JSON answer into v.
func adminOK(t *testing.T, resp *http.Response, body []byte, status int, v any) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if resp.Header.Get("x-amz-request-id") == "" {
		t.Errorf("%s %s: no x-amz-request-id", resp.Request.Method, resp.Request.URL.Path)
	}
	if v == nil {
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer %s does not decode into %T: %v", body, v, err)
	}
}

// adminFails checks a JSON error answer: status, code and a request_id
// that is the response's x-amz-request-id.
func adminFails(t *testing.T, resp *http.Response, body []byte, status int, code string) adminErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q, want application/json; body %s", ct, body)
	}
	var e adminErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if e.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Code, code, body)
	}
	if e.Message == "" {
		t.Errorf("error %s has no message", code)
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Errorf("request_id %q, x-amz-request-id %q", e.RequestID, resp.Header.Get("x-amz-request-id"))
	}
	return e
}

// listBuckets sends ListBuckets to the gateway with an SDK client using
// creds, and returns the S3 error code ("" on success).
func (e *adminEnv) listBuckets(creds aws.Credentials) string {
	e.t.Helper()
	client := s3.New(s3.Options{
		BaseEndpoint:     aws.String(e.s3URL),
		UsePathStyle:     true,
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
	_, err := client.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		e.t.Fatalf("ListBuckets: %v", err)
	}
	return ae.ErrorCode()
}

// createKey creates a key through the API as root.
func (e *adminEnv) createKey(body string) createdKey {
	e.t.Helper()
	resp, b := e.call(adminRoot, "POST", "/api/v1/keys", []byte(body))
	var k createdKey
	adminOK(e.t, resp, b, http.StatusCreated, &k)
	return k
}

func (e *adminEnv) listKeys(query string) []KeyInfo {
	e.t.Helper()
	resp, b := e.call(adminRoot, "GET", "/api/v1/keys"+query, nil)
	var out struct{ Keys []KeyInfo }
	adminOK(e.t, resp, b, http.StatusOK, &out)
	if out.Keys == nil {
		e.t.Fatalf("listing %s has no keys array: %s", query, b)
	}
	return out.Keys
}

func TestAdminKeyLifecycle(t *testing.T) {
	e := newAdminEnv(t)

	resp, b := e.call(adminRoot, "POST", "/api/v1/keys", []byte(`{"user": "alice", "display_name": "Alice A.", "roles": ["reader"], "groups": [], "description": "laptop"}`))
	var created createdKey
	adminOK(t, resp, b, http.StatusCreated, &created)
	var fields map[string]any
	json.Unmarshal(b, &fields)
	wantFields := []string{"access_key_id", "created", "description", "display_name", "groups", "roles", "secret_access_key", "status", "updated", "user"}
	if got := slices.Sorted(maps.Keys(fields)); !reflect.DeepEqual(got, wantFields) {
		t.Errorf("create answer fields %v, want %v", got, wantFields)
	}
	alice := aws.Credentials{AccessKeyID: created.AccessKeyID, SecretAccessKey: created.SecretAccessKey}
	if !strings.HasPrefix(alice.AccessKeyID, "AK") || len(alice.SecretAccessKey) != 40 {
		t.Fatalf("created key %q with a %d-character secret", alice.AccessKeyID, len(alice.SecretAccessKey))
	}
	if created.User != "alice" || created.DisplayName != "Alice A." || !reflect.DeepEqual(created.Roles, []string{"reader"}) ||
		created.Groups == nil || len(created.Groups) != 0 || created.Description != "laptop" || created.Status != "active" ||
		time.Since(created.Created) > time.Minute {
		t.Errorf("created key: %+v", created.KeyInfo)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/v1/keys/"+alice.AccessKeyID {
		t.Errorf("Location %q", loc)
	}

	// Listings and descriptions never carry the secret.
	resp, b = e.call(adminRoot, "GET", "/api/v1/keys", nil)
	if bytes.Contains(b, []byte(alice.SecretAccessKey)) || bytes.Contains(b, []byte("secret")) {
		t.Fatalf("the listing shows a secret: %s", b)
	}
	var listing struct{ Keys []KeyInfo }
	adminOK(t, resp, b, http.StatusOK, &listing)
	if len(listing.Keys) != 1 || !reflect.DeepEqual(listing.Keys[0], created.KeyInfo) {
		t.Fatalf("listing %+v, want just %+v", listing.Keys, created.KeyInfo)
	}
	if got := e.listKeys("?user=alice"); len(got) != 1 || got[0].AccessKeyID != alice.AccessKeyID {
		t.Errorf("?user=alice lists %+v", got)
	}
	resp, b = e.call(adminRoot, "GET", "/api/v1/keys?user=bob", nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"keys":[]}` {
		t.Errorf("?user=bob: %d %s, want an empty array", resp.StatusCode, b)
	}
	resp, b = e.call(adminRoot, "GET", "/api/v1/keys/"+alice.AccessKeyID, nil)
	var one KeyInfo
	adminOK(t, resp, b, http.StatusOK, &one)
	if !reflect.DeepEqual(one, created.KeyInfo) || bytes.Contains(b, []byte(alice.SecretAccessKey)) {
		t.Errorf("GET key: %s, want %+v without the secret", b, created.KeyInfo)
	}
	resp, b = e.call(adminRoot, "HEAD", "/api/v1/keys/"+alice.AccessKeyID, nil)
	if resp.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD key: %d %q", resp.StatusCode, b)
	}

	// The new key signs S3 requests at once; it does not open the admin API.
	if code := e.listBuckets(alice); code != "" {
		t.Fatalf("ListBuckets with the new key: %s", code)
	}
	resp, b = e.call(alice, "GET", "/api/v1/keys", nil)
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	resp, b = e.call(alice, "POST", "/api/v1/keys", []byte(`{"user": "alice", "roles": ["admin"]}`))
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	resp, b = e.call(alice, "POST", "/api/v1/keys/"+alice.AccessKeyID+"/disable", nil)
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	if got := e.listKeys(""); len(got) != 1 || got[0].Status != "active" {
		t.Fatalf("after refused calls the keys are %+v", got)
	}

	// Disabling takes effect on this replica at once; so do enabling and
	// deleting.
	resp, b = e.call(adminRoot, "POST", "/api/v1/keys/"+alice.AccessKeyID+"/disable", nil)
	adminOK(t, resp, b, http.StatusOK, &one)
	if one.Status != "disabled" || one.AccessKeyID != alice.AccessKeyID || one.User != "alice" {
		t.Errorf("disable answered %+v", one)
	}
	if code := e.listBuckets(alice); code != "InvalidAccessKeyId" {
		t.Fatalf("ListBuckets with the disabled key: %q, want InvalidAccessKeyId", code)
	}
	resp, b = e.call(adminRoot, "POST", "/api/v1/keys/"+alice.AccessKeyID+"/enable", nil)
	adminOK(t, resp, b, http.StatusOK, &one)
	if one.Status != "active" {
		t.Errorf("enable answered %+v", one)
	}
	if code := e.listBuckets(alice); code != "" {
		t.Fatalf("ListBuckets with the enabled key: %s", code)
	}
	resp, b = e.call(adminRoot, "DELETE", "/api/v1/keys/"+alice.AccessKeyID, nil)
	adminOK(t, resp, b, http.StatusNoContent, nil)
	if len(b) != 0 {
		t.Errorf("DELETE answered a body: %s", b)
	}
	if code := e.listBuckets(alice); code != "InvalidAccessKeyId" {
		t.Fatalf("ListBuckets with the deleted key: %q, want InvalidAccessKeyId", code)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", ""}, {"DELETE", ""}, {"POST", "/disable"}, {"POST", "/enable"},
	} {
		resp, b = e.call(adminRoot, c.method, "/api/v1/keys/"+alice.AccessKeyID+c.path, nil)
		adminFails(t, resp, b, http.StatusNotFound, "NoSuchAccessKey")
	}
	if got := e.listKeys(""); len(got) != 0 {
		t.Fatalf("after the delete the keys are %+v", got)
	}

	// One access log line per call, named by operation; the secret is in no
	// log line. Changes are audited with who made them.
	logs := e.log.String()
	if strings.Contains(logs, alice.SecretAccessKey) {
		t.Fatal("the log holds the secret")
	}
	ops, failures := map[string]int{}, map[string]int{}
	for _, rec := range e.log.records(t, "request") {
		if op, _ := rec["op"].(string); strings.HasPrefix(op, "Admin") {
			ops[op]++
			if rec["request_id"] == "" || rec["status"] == nil {
				t.Errorf("access log line without request id or status: %v", rec)
			}
			if code, _ := rec["error"].(string); code != "" {
				failures[fmt.Sprint(op, " ", rec["status"], " ", code, " ", rec["principal"])]++
			}
		}
	}
	wantFailures := map[string]int{
		"AdminListKeys 403 AccessDenied alice":     1,
		"AdminCreateKey 403 AccessDenied alice":    1,
		"AdminDisableKey 403 AccessDenied alice":   1,
		"AdminGetKey 404 NoSuchAccessKey root":     1,
		"AdminDisableKey 404 NoSuchAccessKey root": 1,
		"AdminEnableKey 404 NoSuchAccessKey root":  1,
		"AdminDeleteKey 404 NoSuchAccessKey root":  1,
	}
	if !reflect.DeepEqual(failures, wantFailures) {
		t.Errorf("access log failures %v, want %v", failures, wantFailures)
	}
	for op, n := range map[string]int{"AdminCreateKey": 2, "AdminListKeys": 6, "AdminGetKey": 3, "AdminDisableKey": 3, "AdminEnableKey": 2, "AdminDeleteKey": 2} {
		if ops[op] != n {
			t.Errorf("%d access log lines for %s, want %d (all: %v)", ops[op], op, n, ops)
		}
		if got := countOf(t, e.gw, op); got != n {
			t.Errorf("requests metric for %s is %d, want %d", op, got, n)
		}
	}
	for _, msg := range []string{"access key created", "access key disabled", "access key enabled", "access key deleted"} {
		recs := e.log.records(t, msg)
		if len(recs) != 1 || recs[0]["access_key"] != alice.AccessKeyID || recs[0]["by"] != "root" {
			t.Errorf("audit records %q: %v", msg, recs)
		}
	}
}

func TestAdminRootKeyIsStatic(t *testing.T) {
	e := newAdminEnv(t)
	for _, c := range []struct{ method, path string }{
		{"POST", "/disable"}, {"POST", "/enable"}, {"DELETE", ""}, {"GET", ""},
	} {
		resp, b := e.call(adminRoot, c.method, "/api/v1/keys/"+adminRoot.AccessKeyID+c.path, nil)
		adminFails(t, resp, b, http.StatusConflict, "StaticKey")
	}
	if code := e.listBuckets(adminRoot); code != "" {
		t.Fatalf("the root key stopped working: %s", code)
	}
	// "root" is the root key's principal: no stored key may claim it.
	resp, b := e.call(adminRoot, "POST", "/api/v1/keys", []byte(`{"user": "root", "roles": ["admin"]}`))
	adminFails(t, resp, b, http.StatusBadRequest, "InvalidRequest")
}

func TestAdminUnknownKey(t *testing.T) {
	e := newAdminEnv(t)
	for _, id := range []string{"AKAAAAAAAAAAAAAAAAAA", "nonsense", strings.Repeat("A", 300)} {
		for _, c := range []struct{ method, path string }{
			{"GET", ""}, {"POST", "/disable"}, {"POST", "/enable"}, {"DELETE", ""},
		} {
			resp, b := e.call(adminRoot, c.method, "/api/v1/keys/"+id+c.path, nil)
			adminFails(t, resp, b, http.StatusNotFound, "NoSuchAccessKey")
		}
	}
}

func TestAdminInvalidBodies(t *testing.T) {
	e := newAdminEnv(t)
	cases := []struct {
		name, body string
		status     int
		code, want string
	}{
		{"empty", ``, 400, "MalformedJSON", "EOF"},
		{"malformed", `{"user": "alice", "roles": [`, 400, "MalformedJSON", ""},
		{"not an object", `["alice"]`, 400, "MalformedJSON", ""},
		{"unknown field", `{"user": "alice", "roles": ["reader"], "role": "admin"}`, 400, "MalformedJSON", `"role"`},
		{"secret supplied", `{"user": "alice", "secret_access_key": "mine"}`, 400, "MalformedJSON", "secret_access_key"},
		{"wrong type", `{"user": 42}`, 400, "MalformedJSON", "user"},
		{"trailing data", `{"user": "alice"} {"user": "bob"}`, 400, "MalformedJSON", "after"},
		{"no user", `{"roles": ["reader"]}`, 400, "InvalidRequest", "user"},
		{"null", `null`, 400, "InvalidRequest", "user"},
		{"bad role", `{"user": "alice", "roles": ["read er"]}`, 400, "InvalidRequest", "role"},
		{"duplicate group", `{"user": "alice", "groups": ["eng", "eng"]}`, 400, "InvalidRequest", "twice"},
		{"control character", `{"user": "al\nice"}`, 400, "InvalidRequest", "control"},
		{"too large", `{"user": "alice", "description": "` + strings.Repeat("x", maxAdminBody) + `"}`, 413, "RequestTooLarge", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.call(adminRoot, "POST", "/api/v1/keys", []byte(c.body))
			got := adminFails(t, resp, b, c.status, c.code)
			if !strings.Contains(got.Message, c.want) {
				t.Errorf("message %q does not mention %s", got.Message, c.want)
			}
		})
	}
	// A body at the limit is read (and refused only for what it says).
	desc := strings.Repeat("x", 2000)
	body := `{"user": "alice", "description": "` + desc + `"}`
	body += strings.Repeat(" ", maxAdminBody-len(body))
	resp, b := e.call(adminRoot, "POST", "/api/v1/keys", []byte(body))
	if got := adminFails(t, resp, b, 400, "InvalidRequest"); !strings.Contains(got.Message, "description") {
		t.Errorf("a %d-byte body: %q, want the description refused", len(body), got.Message)
	}
	if got := e.listKeys(""); len(got) != 0 {
		t.Fatalf("refused requests created keys: %+v", got)
	}
}

func TestAdminAuthentication(t *testing.T) {
	e := newAdminEnv(t)
	created := e.createKey(`{"user": "alice", "roles": ["reader"]}`)

	// Anonymous requests are refused on every route, known or not.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/keys"}, {"POST", "/api/v1/keys"}, {"DELETE", "/api/v1/keys/" + created.AccessKeyID},
		{"GET", "/api/v2/nothing"}, {"PUT", "/api/v1/keys"},
	} {
		resp, b := e.call(aws.Credentials{}, c.method, c.path, []byte(`{"user": "mallory", "roles": ["admin"]}`))
		adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	}

	// Authentication failures keep the S3 error's code and status.
	resp, b := e.call(aws.Credentials{AccessKeyID: adminRoot.AccessKeyID, SecretAccessKey: "not-the-secret"}, "GET", "/api/v1/keys", nil)
	adminFails(t, resp, b, http.StatusForbidden, "SignatureDoesNotMatch")
	resp, b = e.call(aws.Credentials{AccessKeyID: "AKNOSUCHKEY000000000", SecretAccessKey: "whatever-secret"}, "GET", "/api/v1/keys", nil)
	adminFails(t, resp, b, http.StatusForbidden, "InvalidAccessKeyId")
	hr := adminRequest(t, "GET", e.ops+"/api/v1/keys", nil)
	adminSign(t, hr, adminRoot, nil, "eu-west-1")
	resp, b = adminDo(t, hr)
	adminFails(t, resp, b, http.StatusBadRequest, "AuthorizationHeaderMalformed")

	// The signed payload hash covers the body: a body swapped in transit is
	// refused and creates nothing.
	signed := []byte(`{"user": "bob", "roles": ["reader"]}`)
	hr = adminRequest(t, "POST", e.ops+"/api/v1/keys", signed)
	adminSign(t, hr, adminRoot, signed, testRegion)
	swapped := []byte(`{"user": "eve", "roles": ["admins"]}`) // same length: Content-Length is signed too
	hr.Body, hr.ContentLength = io.NopCloser(bytes.NewReader(swapped)), int64(len(swapped))
	resp, b = adminDo(t, hr)
	adminFails(t, resp, b, http.StatusBadRequest, "XAmzContentSHA256Mismatch")
	if got := e.listKeys(""); len(got) != 1 {
		t.Fatalf("keys after the swapped body: %+v", got)
	}

	// A presigned URL works like a signed request, until it expires.
	presign := func(creds aws.Credentials, expires string, at time.Time) string {
		hr := adminRequest(t, "GET", e.ops+"/api/v1/keys?X-Amz-Expires="+expires, nil)
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		u, _, err := signer.PresignHTTP(context.Background(), creds, hr, "UNSIGNED-PAYLOAD", "s3", testRegion, at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	resp, b = adminDo(t, adminRequest(t, "GET", presign(adminRoot, "300", time.Now()), nil))
	var listing struct{ Keys []KeyInfo }
	adminOK(t, resp, b, http.StatusOK, &listing)
	if len(listing.Keys) != 1 || listing.Keys[0].AccessKeyID != created.AccessKeyID {
		t.Fatalf("presigned listing: %s", b)
	}
	resp, b = adminDo(t, adminRequest(t, "GET", presign(adminRoot, "60", time.Now().Add(-time.Hour)), nil))
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	alice := aws.Credentials{AccessKeyID: created.AccessKeyID, SecretAccessKey: created.SecretAccessKey}
	resp, b = adminDo(t, adminRequest(t, "GET", presign(alice, "300", time.Now()), nil))
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")

	// Failures are logged and counted by code, naming the key id only.
	var failed []string
	for _, rec := range e.log.records(t, "authentication failed") {
		failed = append(failed, rec["code"].(string)+" "+rec["access_key"].(string))
	}
	for _, want := range []string{"SignatureDoesNotMatch " + adminRoot.AccessKeyID, "InvalidAccessKeyId AKNOSUCHKEY000000000"} {
		if !slices.Contains(failed, want) {
			t.Errorf("no authentication failure logged as %q: %v", want, failed)
		}
	}
	if strings.Contains(e.log.String(), created.SecretAccessKey) || strings.Contains(e.log.String(), adminRoot.SecretAccessKey) {
		t.Error("the log holds a secret")
	}
}

func TestAdminRoutes(t *testing.T) {
	e := newAdminEnv(t)
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/api/v1/keys", 405, "MethodNotAllowed", "GET, HEAD, POST"},
		{"DELETE", "/api/v1/keys", 405, "MethodNotAllowed", "GET, HEAD, POST"},
		{"PATCH", "/api/v1/keys/AKAAAAAAAAAAAAAAAAAA", 405, "MethodNotAllowed", "DELETE, GET, HEAD"},
		{"GET", "/api/v1/keys/AKAAAAAAAAAAAAAAAAAA/disable", 405, "MethodNotAllowed", "POST"},
		{"DELETE", "/api/v1/keys/AKAAAAAAAAAAAAAAAAAA/enable", 405, "MethodNotAllowed", "POST"},
		{"GET", "/api/v2/keys", 404, "NotFound", ""},
		{"GET", "/api/v1/keys/", 404, "NotFound", ""},
		{"POST", "/api/v1/keys/AKAAAAAAAAAAAAAAAAAA/rotate", 404, "NotFound", ""},
	}
	for _, c := range cases {
		resp, b := e.call(adminRoot, c.method, c.path, nil)
		adminFails(t, resp, b, c.status, c.code)
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}

	// The operations endpoints stay open beside the admin API, and the
	// metrics count admin operations.
	e.listKeys("")
	for path, want := range map[string]string{"/health": `"catalog":"ok"`, "/metrics": `s3gate_requests_total{op="AdminListKeys",status="200"} 1`} {
		resp, err := http.Get(e.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want 200 with %s:\n%s", path, resp.StatusCode, want, b)
		}
	}
	// Without an admin handler /api/ is not served.
	srv := httptest.NewServer(OpsHandler(prometheus.NewRegistry(), nil, false, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/keys without an admin handler: %d, want 404", resp.StatusCode)
	}
}

// Bearer tokens open the admin API when their roles claim holds admin.
func TestAdminBearerTokens(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	tokens, err := bearer.New(context.Background(), []bearer.Issuer{{
		Name: "corp", Issuer: adminTokenIssuer, Audiences: []string{adminTokenAudience}, HMACSecret: secret,
	}}, bearer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newAdminEnv(t, func(o *Options) { o.Tokens = tokens })
	token := func(sub string, roles []string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": adminTokenIssuer, "aud": adminTokenAudience, "sub": sub, "roles": roles,
			"iat": time.Now().Add(-time.Hour).Unix(), "exp": exp.Unix(),
		}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	send := func(tok, method, path, body string) (*http.Response, []byte) {
		hr := adminRequest(t, method, e.ops+path, []byte(body))
		hr.Header.Set("Authorization", "Bearer "+tok)
		return adminDo(t, hr)
	}

	resp, b := send(token("ops-team", []string{"admin"}, time.Now().Add(time.Hour)), "POST", "/api/v1/keys", `{"user": "carol", "roles": ["writer"]}`)
	var created createdKey
	adminOK(t, resp, b, http.StatusCreated, &created)
	if recs := e.log.records(t, "access key created"); len(recs) != 1 || recs[0]["by"] != "corp:ops-team" {
		t.Errorf("audit record of a token's creation: %v", recs)
	}
	resp, b = send(token("dave", []string{"writer"}, time.Now().Add(time.Hour)), "GET", "/api/v1/keys", "")
	adminFails(t, resp, b, http.StatusForbidden, "AccessDenied")
	resp, b = send(token("ops-team", []string{"admin"}, time.Now().Add(-10*time.Minute)), "GET", "/api/v1/keys", "")
	adminFails(t, resp, b, http.StatusBadRequest, "ExpiredToken")
	resp, b = send("not.a.token", "GET", "/api/v1/keys", "")
	adminFails(t, resp, b, http.StatusBadRequest, "InvalidToken")
	if code := e.listBuckets(aws.Credentials{AccessKeyID: created.AccessKeyID, SecretAccessKey: created.SecretAccessKey}); code != "" {
		t.Fatalf("ListBuckets with the key a token created: %s", code)
	}
}

// panickingKeys is a key store whose listing panics.
type panickingKeys struct{ KeyAdmin }

func (panickingKeys) List(context.Context, string) ([]keystore.Key, error) { panic("listing exploded") }

func TestAdminInternalErrors(t *testing.T) {
	e := newAdminEnv(t)
	srv := httptest.NewServer(e.gw.AdminHandler(panickingKeys{e.store}))
	defer srv.Close()
	hr := adminRequest(t, "GET", srv.URL+"/api/v1/keys", nil)
	adminSign(t, hr, adminRoot, nil, testRegion)
	resp, b := adminDo(t, hr)
	adminFails(t, resp, b, http.StatusInternalServerError, "InternalError")
	if recs := e.log.records(t, "panic serving request"); len(recs) != 1 || recs[0]["op"] != "AdminListKeys" {
		t.Errorf("panic log records: %v", recs)
	}

	// A catalogue that fails is an internal error: logged, not echoed.
	e.cat.Close()
	resp, b = e.call(adminRoot, "GET", "/api/v1/keys", nil)
	got := adminFails(t, resp, b, http.StatusInternalServerError, "InternalError")
	if strings.Contains(got.Message, "closed") {
		t.Errorf("the internal error is echoed: %q", got.Message)
	}
	recs := e.log.records(t, "internal error")
	if len(recs) != 1 || recs[0]["request_id"] != got.RequestID || !strings.Contains(recs[0]["err"].(string), "closed") {
		t.Errorf("internal error log records: %v", recs)
	}
}

// adminObjectsPolicy lets every caller query the catalogue and says where
// each may read: admin everywhere, role alpha-reader in bucket alpha, role
// user under home/ID/ in bucket homes.
const adminObjectsPolicy = `package s3gate.authz

import rego.v1

default allow := false

allow if "admin" in input.principal.roles

allow if input.action == "s3gate:ListObjects"

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": "alpha", "prefix": ""} if "alpha-reader" in input.principal.roles

readable contains {"bucket": "homes", "prefix": concat("", ["home/", input.principal.id, "/"])} if "user" in input.principal.roles
`

// TestAdminObjectsReadable: GET /api/v1/objects returns only the rows the
// caller may read by the policy's readable grants, whatever it asks for.
func TestAdminObjectsReadable(t *testing.T) {
	ctx := context.Background()
	objects, err := catalog.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "objects.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objects.Close() })
	all := []string{"alpha/a1", "alpha/a2", "beta/b1", "homes/home/alice/x", "homes/home/bob/y", "homes/shared"}
	for i, name := range all {
		bucket, key, _ := strings.Cut(name, "/")
		o := catalog.Object{Bucket: bucket, Key: key, Size: int64(i), ETag: fmt.Sprintf("%032x", i), Modified: time.Now().UTC()}
		if _, err := objects.SyncObject(ctx, "test", bucket, key, fmt.Sprintf("%028X", i+1), func(context.Context, *catalog.Object) (*catalog.Object, error) {
			return &o, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	engine := testPolicy(t, adminObjectsPolicy)
	e := newAdminEnv(t, func(o *Options) { o.Authorizer, o.Objects = engine, objects })
	keyOf := e.keyOf
	list := func(creds aws.Credentials, query string) []string {
		t.Helper()
		resp, b := e.call(creds, "GET", "/api/v1/objects"+query, nil)
		var out struct {
			Objects       []ObjectRow `json:"objects"`
			NextPageToken string      `json:"next_page_token"`
		}
		adminOK(t, resp, b, http.StatusOK, &out)
		names := []string{}
		for _, o := range out.Objects {
			names = append(names, o.Bucket+"/"+o.Key)
		}
		slices.Sort(names)
		return names
	}
	alpha, alice, nobody := keyOf("ann", "alpha-reader"), keyOf("alice", "user"), keyOf("nick", "guest")
	for _, c := range []struct {
		who   string
		creds aws.Credentials
		query string
		want  []string
	}{
		{"admin", adminRoot, "", all},
		{"alpha-reader", alpha, "", []string{"alpha/a1", "alpha/a2"}},
		{"alpha-reader asking for beta", alpha, "?bucket=beta", []string{}},
		{"alpha-reader asking for a prefix", alpha, "?bucket=alpha&prefix=a2", []string{"alpha/a2"}},
		{"home-prefix user", alice, "", []string{"homes/home/alice/x"}},
		{"home-prefix user asking for all homes", alice, "?bucket=homes&prefix=home%2F", []string{"homes/home/alice/x"}},
		{"home-prefix user asking for bob's", alice, "?bucket=homes&prefix=home%2Fbob%2F", []string{}},
		{"no grants", nobody, "", []string{}},
	} {
		if got := list(c.creds, c.query); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: GET /api/v1/objects%s = %v, want %v", c.who, c.query, got, c.want)
		}
	}
}
