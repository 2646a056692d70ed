package gateway

import (
	"net/http"
	"strings"
	"testing"
)

const corsDoc = `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <ID>app</ID>
    <AllowedOrigin>https://app.example</AllowedOrigin>
    <AllowedOrigin>https://*.cdn.example</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>POST</AllowedMethod>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedHeader>content-type</AllowedHeader>
    <AllowedHeader>x-amz-*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>600</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
  </CORSRule>
</CORSConfiguration>`

func TestBucketCORS(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("web")
	expectError(t, e.do(req{path: "/web?cors"}), 404, "NoSuchCORSConfiguration")
	expectStatus(t, e.do(req{method: "PUT", path: "/web?cors", body: []byte(corsDoc)}), 200)
	b := expectStatus(t, e.do(req{path: "/web?cors"}), 200)
	for _, want := range []string{"<ID>app</ID>", "<AllowedOrigin>https://*.cdn.example</AllowedOrigin>", "<MaxAgeSeconds>600</MaxAgeSeconds>", "<AllowedHeader>x-amz-*</AllowedHeader>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("GetBucketCors lacks %s: %s", want, b)
		}
	}
	bad := []string{
		`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>`,
		`<CORSConfiguration><CORSRule><AllowedOrigin>*.*.x</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`,
	}
	for _, doc := range bad {
		expectError(t, e.do(req{method: "PUT", path: "/web?cors", body: []byte(doc)}), 400, "InvalidRequest")
	}
	expectError(t, e.do(req{method: "PUT", path: "/web?cors", body: []byte(`<CORSConfiguration></CORSConfiguration>`)}), 400, "MalformedXML")
	expectError(t, e.do(req{method: "PUT", path: "/nosuch?cors", body: []byte(corsDoc)}), 404, "NoSuchBucket")

	preflight := func(path, origin, method, headers string) *http.Response {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return e.do(req{method: "OPTIONS", path: path, header: h, anonymous: true})
	}
	resp := preflight("/web/upload.bin", "https://app.example", "PUT", "Content-Type, X-Amz-Meta-Owner")
	expectStatus(t, resp, 200)
	checks := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example",
		"Access-Control-Allow-Methods":     "PUT, POST, GET",
		"Access-Control-Allow-Headers":     "content-type, x-amz-meta-owner",
		"Access-Control-Max-Age":           "600",
		"Access-Control-Expose-Headers":    "ETag",
		"Access-Control-Allow-Credentials": "true",
	}
	for h, want := range checks {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("preflight %s = %q, want %q", h, got, want)
		}
	}
	resp = preflight("/web/x", "https://img.cdn.example", "POST", "")
	expectStatus(t, resp, 200)
	resp = preflight("/web/x", "https://evil.example", "GET", "")
	expectStatus(t, resp, 200)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("wildcard rule: %v", resp.Header)
	}
	expectError(t, preflight("/web/x", "https://evil.example", "PUT", ""), 403, "AccessForbidden")
	expectError(t, preflight("/web/x", "https://app.example", "DELETE", ""), 403, "AccessForbidden")
	expectError(t, preflight("/web/x", "https://app.example", "PUT", "authorization"), 403, "AccessForbidden")
	expectError(t, e.do(req{method: "OPTIONS", path: "/web/x", anonymous: true}), 400, "BadRequest")
	expectError(t, preflight("/nosuch/x", "https://app.example", "PUT", ""), 404, "NoSuchBucket")

	// An actual request from an allowed origin carries the headers, also
	// when it fails.
	resp = e.do(req{method: "PUT", path: "/web/k", body: []byte("v"), header: map[string]string{"Origin": "https://app.example"}})
	expectStatus(t, resp, 200)
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("PUT from an allowed origin: %v", resp.Header)
	}
	resp = e.do(req{path: "/web/missing", header: map[string]string{"Origin": "https://app.example"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("error answer without CORS headers: %v", resp.Header)
	}
	expectError(t, resp, 404, "NoSuchKey")
	resp = e.do(req{method: "PUT", path: "/web/k", body: []byte("v"), header: map[string]string{"Origin": "https://evil.example"}})
	expectStatus(t, resp, 200)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("PUT from a disallowed origin got CORS headers: %v", resp.Header)
	}

	expectStatus(t, e.do(req{method: "DELETE", path: "/web?cors"}), 204)
	expectError(t, e.do(req{path: "/web?cors"}), 404, "NoSuchCORSConfiguration")
	expectError(t, preflight("/web/x", "https://app.example", "PUT", ""), 403, "AccessForbidden")
}

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"https://app.example", "https://app.example", true},
		{"https://app.example", "https://app.example.evil", false},
		{"https://*.cdn.example", "https://a.cdn.example", true},
		{"https://*.cdn.example", "https://cdn.example", false},
		{"x-amz-*", "x-amz-meta-a", true},
		{"x-amz-*", "x-am", false},
		{"ab*ba", "aba", false},
	}
	for _, c := range cases {
		if got := wildcardMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestBucketTagging(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("btags")
	expectError(t, e.do(req{path: "/btags?tagging"}), 404, "NoSuchTagSet")
	doc := `<Tagging><TagSet><Tag><Key>team</Key><Value>storage</Value></Tag><Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tagging>`
	expectStatus(t, e.do(req{method: "PUT", path: "/btags?tagging", body: []byte(doc)}), 204)
	b := expectStatus(t, e.do(req{path: "/btags?tagging"}), 200)
	if !strings.Contains(string(b), "<Key>env</Key><Value>prod</Value>") || !strings.Contains(string(b), "<Key>team</Key>") {
		t.Fatalf("GetBucketTagging: %s", b)
	}
	dup := `<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>`
	expectError(t, e.do(req{method: "PUT", path: "/btags?tagging", body: []byte(dup)}), 400, "InvalidTag")
	expectStatus(t, e.do(req{method: "DELETE", path: "/btags?tagging"}), 204)
	expectError(t, e.do(req{path: "/btags?tagging"}), 404, "NoSuchTagSet")
}

// Bucket records live in the catalogue: the name is taken once, the
// listing comes from it, and a deleted bucket takes its CORS rules along.
func TestBucketRecords(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("rec-one")
	expectStatus(t, e.do(req{method: "PUT", path: "/rec-one?cors", body: []byte(corsDoc)}), 200)
	expectStatus(t, e.do(req{method: "DELETE", path: "/rec-one"}), 204)
	e.mkBucket("rec-one")
	expectError(t, e.do(req{path: "/rec-one?cors"}), 404, "NoSuchCORSConfiguration")
	r, err := e.gw.catalog.GetBucket(t.Context(), "rec-one")
	if err != nil || r.OwnerID != "root" {
		t.Fatalf("catalogue record %+v %v", r, err)
	}
}
