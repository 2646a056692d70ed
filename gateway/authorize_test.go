package gateway

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/policy"
)

const authzTestPolicy = `package s3gate.authz

import rego.v1

default allow := false

allow if "admin" in input.principal.roles

allow if {
	input.principal.auth == "anonymous"
	input.resource.bucket == "public"
	input.action == "s3:GetObject"
}

allow if {
	"reader" in input.principal.roles
	input.action in {"s3:GetObject", "s3:ListAllMyBuckets"}
}

allow if {
	"reader" in input.principal.roles
	input.action == "s3:ListBucket"
	input.resource.bucket == "public"
}

allow if {
	"publisher" in input.principal.roles
	input.action in {"s3:GetObject", "s3:PutObject"}
	input.resource.bucket == "public"
}

deny contains "readers may not write" if {
	"reader" in input.principal.roles
	input.action == "s3:PutObject"
}

allow if {
	"cleaner" in input.principal.roles
	input.action == "s3:DeleteObject"
	startswith(input.resource.key, "tmp/")
}

deny contains "classified" if {
	not "admin" in input.principal.roles
	input.request.existing_tags.classification == "secret"
}

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": "public", "prefix": ""} if "reader" in input.principal.roles
`

// authzEnv is a gateway judged by authzTestPolicy, with bearer tokens
// carrying roles.
func authzEnv(t *testing.T, mutate ...func(*Options)) (*env, func(roles ...string) string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(authzTestPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	secret := []byte(strings.Repeat("k", 32))
	tokens, err := bearer.New(context.Background(), []bearer.Issuer{{Name: "corp", Issuer: jwtIssuer, Audiences: []string{jwtAudience}, HMACSecret: secret}}, bearer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options, _ *backends.Backend) {
		o.Authorizer, o.Tokens = engine, tokens
		for _, m := range mutate {
			m(o)
		}
	})
	token := func(roles ...string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": jwtIssuer, "aud": jwtAudience, "sub": "u-" + strings.Join(roles, "-"), "roles": roles,
			"exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return e, token
}

func bearerRequest(t *testing.T, method, url, token string, body string) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/xml")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestAuthorize(t *testing.T) {
	e, token := authzEnv(t)
	for _, b := range []string{"public", "private"} {
		e.mkBucket(b)
		expectStatus(t, e.put(b, "doc.txt", []byte("hello "+b), nil), 200)
		expectStatus(t, e.put(b, "tmp/a", []byte("a"), nil), 200)
	}

	// Anonymous callers get what the policy grants them, and a bare
	// AccessDenied otherwise: no reasons for strangers.
	if b := expectStatus(t, bearerRequest(t, "GET", e.url+"/public/doc.txt", "", ""), 200); string(b) != "hello public" {
		t.Fatalf("anonymous GET of a public object: %q", b)
	}
	ae := expectError(t, bearerRequest(t, "GET", e.url+"/private/doc.txt", "", ""), 403, "AccessDenied")
	if ae.Message != "Access Denied" {
		t.Errorf("anonymous denial message %q leaks policy details", ae.Message)
	}
	expectError(t, bearerRequest(t, "PUT", e.url+"/public/new", "", "x"), 403, "AccessDenied")

	// A reader reads, and is told why a write is refused.
	reader := token("reader")
	expectStatus(t, bearerRequest(t, "GET", e.url+"/private/doc.txt", reader, ""), 200)
	ae = expectError(t, bearerRequest(t, "PUT", e.url+"/private/doc.txt", reader, "overwrite"), 403, "AccessDenied")
	if !strings.Contains(ae.Message, "readers may not write") {
		t.Errorf("reader's denial message %q does not give the policy's reason", ae.Message)
	}
	if b := expectStatus(t, e.do(req{path: "/private/doc.txt"}), 200); string(b) != "hello private" {
		t.Fatalf("the object changed: %q", b)
	}

	// ListBuckets shows where the reader may read.
	b := expectStatus(t, bearerRequest(t, "GET", e.url+"/", reader, ""), 200)
	if !strings.Contains(string(b), "<Name>public</Name>") || strings.Contains(string(b), "<Name>private</Name>") {
		t.Errorf("reader's ListBuckets: %s", b)
	}

	// DeleteObjects is judged key by key.
	doc := `<Delete><Object><Key>tmp/a</Key></Object><Object><Key>doc.txt</Key></Object></Delete>`
	resp := bearerRequest(t, "POST", e.url+"/private?delete", token("cleaner"), doc)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<Deleted><Key>tmp/a</Key></Deleted>") ||
		!strings.Contains(string(body), "<Key>doc.txt</Key><Code>AccessDenied</Code>") {
		t.Fatalf("DeleteObjects: %d %s", resp.StatusCode, body)
	}
	expectStatus(t, e.do(req{path: "/private/doc.txt"}), 200)
	expectError(t, e.do(req{path: "/private/tmp/a"}), 404, "NoSuchKey")

	// A copy needs the source's read as well as the destination's write.
	copyTo := func(src, dst string) *http.Response {
		r, _ := http.NewRequest("PUT", e.url+dst, nil)
		r.Header.Set("Authorization", "Bearer "+token("publisher"))
		r.Header.Set("X-Amz-Copy-Source", src)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	expectError(t, copyTo("/private/doc.txt", "/public/copied"), 403, "AccessDenied")
	expectError(t, e.do(req{path: "/public/copied"}), 404, "NoSuchKey")
	expectStatus(t, copyTo("/public/doc.txt", "/public/copied"), 200)
}

// TestExistingTags: a policy sees the object's current tags only when the
// configuration asks for them.
func TestExistingTags(t *testing.T) {
	for _, on := range []bool{false, true} {
		e, token := authzEnv(t, func(o *Options) { o.PolicyExistingTags = on })
		e.mkBucket("tags")
		expectStatus(t, e.put("tags", "plain", []byte("p"), nil), 200)
		expectStatus(t, e.put("tags", "secret", []byte("s"), map[string]string{"x-amz-tagging": "classification=secret"}), 200)
		reader := token("reader")
		expectStatus(t, bearerRequest(t, "GET", e.url+"/tags/plain", reader, ""), 200)
		expectStatus(t, bearerRequest(t, "GET", e.url+"/tags/missing", reader, ""), 404)
		resp := bearerRequest(t, "GET", e.url+"/tags/secret", reader, "")
		if on {
			if ae := expectError(t, resp, 403, "AccessDenied"); !strings.Contains(ae.Message, "classified") {
				t.Errorf("denial without the policy's reason: %q", ae.Message)
			}
		} else {
			expectStatus(t, resp, 200)
		}
	}
}
