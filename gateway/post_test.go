package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postForm is a browser form upload: its fields in order, then the file.
type postForm struct {
	fields   [][2]string
	filename string
	file     []byte
}

// signedPostForm builds the fields a page would render for policy
// conditions, signed with the test key.
func signedPostForm(t *testing.T, expiration time.Time, conditions []any, extra ...[2]string) postForm {
	t.Helper()
	now := time.Now().UTC()
	date := now.Format("20060102")
	cred := testAccessKey + "/" + date + "/" + testRegion + "/s3/aws4_request"
	amzDate := now.Format("20060102T150405Z")
	conds := append([]any{
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": amzDate},
	}, conditions...)
	doc, _ := json.Marshal(map[string]any{"expiration": expiration.UTC().Format(time.RFC3339), "conditions": conds})
	policy := base64.StdEncoding.EncodeToString(doc)
	k := []byte("AWS4" + testSecret)
	for _, part := range []string{date, testRegion, "s3", "aws4_request"} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(part))
		k = m.Sum(nil)
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(policy))
	f := postForm{fields: append(extra,
		[2]string{"policy", policy},
		[2]string{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
		[2]string{"x-amz-credential", cred},
		[2]string{"x-amz-date", amzDate},
		[2]string{"x-amz-signature", hex.EncodeToString(m.Sum(nil))},
	)}
	return f
}

func (e *env) post(bucket string, f postForm) *http.Response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range f.fields {
		mw.WriteField(kv[0], kv[1])
	}
	fw, _ := mw.CreateFormFile("file", f.filename)
	fw.Write(f.file)
	mw.Close()
	hr, _ := http.NewRequest("POST", e.url+"/"+bucket, &body)
	hr.Header.Set("Content-Type", mw.FormDataContentType())
	// Never follow a redirect: it points away from loopback.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func TestPostObject(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("forms")
	later := time.Now().Add(time.Hour)
	conds := []any{
		map[string]string{"bucket": "forms"},
		[]any{"starts-with", "$key", "uploads/"},
		[]any{"content-length-range", 1, 1024},
		[]any{"eq", "$Content-Type", "image/png"},
		map[string]string{"success_action_status": "201"},
		[]any{"starts-with", "$x-amz-meta-owner", ""},
	}
	fields := [][2]string{{"key", "uploads/${filename}"}, {"Content-Type", "image/png"}, {"success_action_status", "201"}, {"x-amz-meta-owner", "alice"}}
	f := signedPostForm(t, later, conds, fields...)
	f.filename, f.file = "cat.png", []byte("not really a png")
	resp := e.post("forms", f)
	b := expectStatus(t, resp, 201)
	var pr struct {
		Bucket, Key, ETag string
	}
	if err := xml.Unmarshal(b, &pr); err != nil || pr.Key != "uploads/cat.png" || pr.Bucket != "forms" || pr.ETag != `"`+md5hex(string(f.file))+`"` {
		t.Fatalf("PostResponse %+v %v: %s", pr, err, b)
	}
	got := e.do(req{path: "/forms/uploads/cat.png"})
	if body := expectStatus(t, got, 200); string(body) != string(f.file) || got.Header.Get("Content-Type") != "image/png" || got.Header.Get("x-amz-meta-owner") != "alice" {
		t.Fatalf("stored object: %q %v", body, got.Header)
	}

	// Good signature, failing conditions: nothing stored.
	refuse := []struct {
		name   string
		form   postForm
		status int
		code   string
	}{
		{"key outside the prefix", withField(signedPostForm(t, later, conds, [2]string{"key", "elsewhere/x"}, fields[1], fields[2], fields[3]), "x"), 403, "AccessDenied"},
		{"file too large", withFile(signedPostForm(t, later, conds, fields...), bytes.Repeat([]byte("x"), 2048)), 400, "EntityTooLarge"},
		{"file empty", withFile(signedPostForm(t, later, conds, fields...), nil), 400, "EntityTooSmall"},
		{"field no condition covers", withField(signedPostForm(t, later, conds, append(fields, [2]string{"x-amz-meta-extra", "1"})...), "x"), 403, "AccessDenied"},
		{"expired policy", withField(signedPostForm(t, time.Now().Add(-time.Minute), conds, fields...), "x"), 403, "AccessDenied"},
		{"wrong bucket in policy", withField(signedPostForm(t, later, append([]any{map[string]string{"bucket": "other"}}, conds[1:]...), fields...), "x"), 403, "AccessDenied"},
	}
	for _, c := range refuse {
		expectError(t, e.post("forms", c.form), c.status, c.code)
	}
	tampered := signedPostForm(t, later, conds, fields...)
	for i := range tampered.fields {
		if tampered.fields[i][0] == "policy" {
			tampered.fields[i][1] = base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2099-01-01T00:00:00Z","conditions":[]}`))
		}
	}
	expectError(t, e.post("forms", withField(tampered, "x")), 403, "SignatureDoesNotMatch")
	r := e.listPage("forms", "list-type=2")
	if len(r.Contents) != 1 {
		t.Fatalf("refused forms stored objects: %+v", r.Contents)
	}

	// A redirect, and the default 204.
	redir := signedPostForm(t, later, []any{map[string]string{"bucket": "forms"}, []any{"starts-with", "$key", ""},
		map[string]string{"success_action_redirect": "https://app.example/done"}},
		[2]string{"key", "r.txt"}, [2]string{"success_action_redirect", "https://app.example/done"})
	redir.filename, redir.file = "r.txt", []byte("r")
	resp = e.post("forms", redir)
	expectStatus(t, resp, 303)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://app.example/done?") || !strings.Contains(loc, "key=r.txt") {
		t.Errorf("redirect Location %q", loc)
	}
	plain := signedPostForm(t, later, []any{map[string]string{"bucket": "forms"}, []any{"starts-with", "$key", ""}}, [2]string{"key", "p.txt"})
	plain.filename, plain.file = "p.txt", []byte("p")
	expectStatus(t, e.post("forms", plain), 204)

	// Not a form at all.
	expectError(t, e.do(req{method: "POST", path: "/forms", body: []byte("hello"), anonymous: true}), 400, "MalformedPOSTRequest")
}

func withField(f postForm, file string) postForm {
	f.filename, f.file = "f.bin", []byte(file)
	return f
}
func withFile(f postForm, file []byte) postForm { f.filename, f.file = "f.bin", file; return f }
