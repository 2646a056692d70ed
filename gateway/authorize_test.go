package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/bearer"
	"github.com/s3gate/s3gate/policy"
	"github.com/s3gate/s3gate/sigv4/sigv4test"
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

allow if {
	"publisher" in input.principal.roles
	input.action == "s3:PutObjectTagging"
	input.resource.bucket == "public"
}

deny contains "no secret tags in public" if {
	input.resource.bucket == "public"
	input.request.tags.classification == "secret"
}

deny contains "classified" if {
	not "admin" in input.principal.roles
	input.request.existing_tags.classification == "secret"
}

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": "public", "prefix": ""} if "reader" in input.principal.roles
`

// testPolicy is a policy engine over one module, text; "" loads the
// built-in policy. It is closed when the test ends.
func testPolicy(t *testing.T, text string) *policy.Engine {
	t.Helper()
	dir := ""
	if text != "" {
		dir = t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	engine, err := policy.New(context.Background(), policy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	return engine
}

// authzEnv is a gateway judged by authzTestPolicy, with bearer tokens
// carrying roles.
func authzEnv(t *testing.T, mutate ...func(*Options)) (*env, func(roles ...string) string) {
	t.Helper()
	engine := testPolicy(t, authzTestPolicy)
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

// TestPutObjectTaggingJudgesTags: PutObjectTagging is judged with the tags
// of its document in input.request.tags.
func TestPutObjectTaggingJudgesTags(t *testing.T) {
	e, token := authzEnv(t)
	e.mkBucket("public")
	expectStatus(t, e.put("public", "doc.txt", []byte("d"), nil), 200)
	publisher := token("publisher")
	doc := func(v string) string {
		return `<Tagging><TagSet><Tag><Key>classification</Key><Value>` + v + `</Value></Tag></TagSet></Tagging>`
	}
	expectStatus(t, bearerRequest(t, "PUT", e.url+"/public/doc.txt?tagging", publisher, doc("open")), 200)
	ae := expectError(t, bearerRequest(t, "PUT", e.url+"/public/doc.txt?tagging", publisher, doc("secret")), 403, "AccessDenied")
	if !strings.Contains(ae.Message, "no secret tags in public") {
		t.Errorf("denial without the policy's reason: %q", ae.Message)
	}
	if b := expectStatus(t, e.do(req{path: "/public/doc.txt?tagging"}), 200); !strings.Contains(string(b), "<Value>open</Value>") {
		t.Errorf("tags after the denied PutObjectTagging: %s", b)
	}
	// Other principals are still judged by the action.
	expectError(t, bearerRequest(t, "PUT", e.url+"/public/doc.txt?tagging", token("reader"), doc("open")), 403, "AccessDenied")
}

// recordingAuthorizer allows everything and records what it was asked.
type recordingAuthorizer struct {
	mu     sync.Mutex
	inputs []policy.Input
}

func (a *recordingAuthorizer) Decide(_ context.Context, in policy.Input) (policy.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inputs = append(a.inputs, in)
	return policy.Decision{Allow: true}, nil
}

func (a *recordingAuthorizer) Readable(context.Context, policy.Principal) ([]policy.Grant, error) {
	return []policy.Grant{{Bucket: "*"}}, nil
}

// take returns the inputs recorded since the last take.
func (a *recordingAuthorizer) take() []policy.Input {
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.inputs
	a.inputs = nil
	return in
}

// TestPolicyInputFacts: the facts of a request reach the policy's input,
// and operations are judged as the IAM actions AWS names for them.
func TestPolicyInputFacts(t *testing.T) {
	rec := &recordingAuthorizer{}
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Authorizer = rec })
	e.mkBucket("facts")
	ctx := context.Background()
	// one runs a request and returns the single decision it asked for.
	one := func(what string, send func()) policy.Input {
		t.Helper()
		rec.take()
		send()
		in := rec.take()
		if len(in) != 1 {
			t.Fatalf("%s: %d decisions, want 1: %+v", what, len(in), in)
		}
		return in[0]
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, want %#v", what, got, want)
		}
	}

	// A PUT: content type, length, tags, source, principal.
	in := one("PutObject", func() {
		expectStatus(t, e.put("facts", "a/k.txt", []byte("hello"), map[string]string{
			"Content-Type": "text/plain", "x-amz-tagging": "project=x&team=a%20b"}), 200)
	})
	check("PutObject action", in.Action, "s3:PutObject")
	check("PutObject resource", in.Resource, policy.Resource{Bucket: "facts", Key: "a/k.txt", ARN: "arn:aws:s3:::facts/a/k.txt"})
	check("PutObject method", in.Request.Method, "PUT")
	check("PutObject content type", in.Request.ContentType, "text/plain")
	check("PutObject content length", in.Request.ContentLength, int64(5))
	check("PutObject tags", in.Request.Tags, map[string]string{"project": "x", "team": "a b"})
	check("source ip", in.Request.SourceIP, "127.0.0.1")
	check("principal", [2]string{in.Principal.ID, in.Principal.Auth}, [2]string{identity.RootPrincipal().ID, "sigv4"})
	if in.Version != policy.InputVersion || in.Request.Time.IsZero() {
		t.Errorf("input version %d, time %v", in.Version, in.Request.Time)
	}

	// An aws-chunked PUT: the decoded length, not the encoded body's.
	in = one("aws-chunked PutObject", func() {
		hr, _ := http.NewRequest("PUT", e.url+"/facts/chunked", nil)
		hr.Header.Set("Content-Type", "application/octet-stream")
		data := bytes.Repeat([]byte("c"), 20000)
		enc := sigv4test.Encoder{Mode: sigv4test.Signed, ChunkSize: 8 << 10}
		if err := sigv4test.Sign(hr, sigv4test.Credentials{AccessKey: testAccessKey, SecretKey: testSecret, Region: testRegion}, time.Now(), &enc, data); err != nil {
			t.Fatal(err)
		}
		if hr.ContentLength <= int64(len(data)) {
			t.Fatalf("encoded length %d is not more than the data's", hr.ContentLength)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		expectStatus(t, resp, 200)
	})
	check("aws-chunked content length", in.Request.ContentLength, int64(20000))
	check("aws-chunked content type", in.Request.ContentType, "application/octet-stream")

	// A listing: its prefix and delimiter.
	in = one("ListObjectsV2", func() { expectStatus(t, e.do(req{path: "/facts?list-type=2&prefix=a%2F&delimiter=%2F"}), 200) })
	check("ListObjectsV2 action", in.Action, "s3:ListBucket")
	check("ListObjectsV2 prefix, delimiter", [2]string{in.Request.Prefix, in.Request.Delimiter}, [2]string{"a/", "/"})
	check("ListObjectsV2 resource", in.Resource, policy.Resource{Bucket: "facts", ARN: "arn:aws:s3:::facts"})

	// A copy: the source's read, then the destination's write naming it.
	rec.take()
	expectStatus(t, e.do(req{method: "PUT", path: "/facts/copy", header: map[string]string{"X-Amz-Copy-Source": "/facts/a/k.txt"}}), 200)
	ins := rec.take()
	if len(ins) != 2 {
		t.Fatalf("CopyObject: %d decisions, want 2: %+v", len(ins), ins)
	}
	check("copy source read", [2]string{ins[0].Action, ins[0].Resource.ARN}, [2]string{"s3:GetObject", "arn:aws:s3:::facts/a/k.txt"})
	check("copy destination write", [3]string{ins[1].Action, ins[1].Resource.ARN, ins[1].Request.CopySource},
		[3]string{"s3:PutObject", "arn:aws:s3:::facts/copy", "facts/a/k.txt"})

	// An anonymous caller.
	in = one("anonymous GetObject", func() { expectStatus(t, e.do(req{path: "/facts/a/k.txt", anonymous: true}), 200) })
	check("anonymous principal", in.Principal, policy.Principal{ID: "anonymous", Auth: "anonymous", Roles: []string{}, Groups: []string{}})
	check("anonymous GetObject action", in.Action, "s3:GetObject")

	// PutObjectTagging: judged once, after its document is read, with its
	// tags.
	in = one("PutObjectTagging", func() {
		doc := `<Tagging><TagSet><Tag><Key>stage</Key><Value>final</Value></Tag></TagSet></Tagging>`
		expectStatus(t, e.do(req{method: "PUT", path: "/facts/a/k.txt?tagging", body: []byte(doc)}), 200)
	})
	check("PutObjectTagging action", in.Action, "s3:PutObjectTagging")
	check("PutObjectTagging tags", in.Request.Tags, map[string]string{"stage": "final"})

	// The action names the issue pins.
	action := func(what string, send func()) string {
		t.Helper()
		return one(what, send).Action
	}
	check("HeadObject", action("HeadObject", func() { expectStatus(t, e.do(req{method: "HEAD", path: "/facts/a/k.txt"}), 200) }), "s3:GetObject")
	check("HeadBucket", action("HeadBucket", func() { expectStatus(t, e.do(req{method: "HEAD", path: "/facts"}), 200) }), "s3:ListBucket")
	var uploadID string
	check("CreateMultipartUpload", action("CreateMultipartUpload", func() {
		out, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("facts"), Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		uploadID = aws.ToString(out.UploadId)
	}), "s3:PutObject")
	var etag *string
	check("UploadPart", action("UploadPart", func() {
		out, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("facts"), Key: aws.String("mp"),
			UploadId: aws.String(uploadID), PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
		if err != nil {
			t.Fatal(err)
		}
		etag = out.ETag
	}), "s3:PutObject")
	check("ListParts", action("ListParts", func() {
		if _, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("facts"), Key: aws.String("mp"), UploadId: aws.String(uploadID)}); err != nil {
			t.Fatal(err)
		}
	}), "s3:ListMultipartUploadParts")
	check("CompleteMultipartUpload", action("CompleteMultipartUpload", func() {
		if _, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("facts"), Key: aws.String("mp"),
			UploadId: aws.String(uploadID), MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: etag, PartNumber: aws.Int32(1)}}}}); err != nil {
			t.Fatal(err)
		}
	}), "s3:PutObject")
}
