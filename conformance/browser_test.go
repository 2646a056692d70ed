package conformance

// What a browser sends: an HTML form upload (POST Object) signed with a
// policy, and CORS preflights and cross-origin requests. The form is built
// the way a browser builds it (multipart/form-data, fields in page order,
// the file last, a submit button after it) and signed as AWS documents it:
// the hex HMAC-SHA256 of the base64 policy with the SigV4 signing key.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// --- POST Object ------------------------------------------------------------

// browserSigningKey derives the SigV4 signing key of a secret for a day,
// region and service.
func browserSigningKey(secret, day, region, service string) []byte {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), day)
	k = mac(k, region)
	k = mac(k, service)
	return mac(k, "aws4_request")
}

// browserFormField is one form field, in the order the page declares it.
type browserFormField struct{ name, value string }

// browserPost is a form upload as a page builds it: the fields, the policy
// they are signed with, and the file.
type browserPost struct {
	s      *server
	bucket string
	// Expiration and Conditions make the policy document.
	Expiration time.Time
	Conditions []any
	// Fields precede Policy and X-Amz-Signature, which send adds.
	Fields   []browserFormField
	FileName string
	FileType string
	File     []byte
	// Tamper, when set, changes the base64 policy after it was signed.
	Tamper func(string) string
}

// newBrowserPost returns a valid upload of a JPEG into uploads/ of bucket:
// the fields and policy conditions AWS's own example uses.
func newBrowserPost(s *server, bucket string, file []byte) *browserPost {
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	credential := s.AccessKey + "/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"
	return &browserPost{
		s:          s,
		bucket:     bucket,
		Expiration: now.Add(10 * time.Minute),
		Conditions: []any{
			map[string]string{"bucket": bucket},
			[]any{"starts-with", "$key", "uploads/"},
			[]any{"content-length-range", 1, 1 << 20},
			[]any{"eq", "$Content-Type", "image/jpeg"},
			map[string]string{"success_action_status": "201"},
			map[string]string{"x-amz-credential": credential},
			map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
			map[string]string{"x-amz-date": amzDate},
		},
		Fields: []browserFormField{
			{"key", "uploads/${filename}"},
			{"Content-Type", "image/jpeg"},
			{"success_action_status", "201"},
			{"X-Amz-Credential", credential},
			{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
			{"X-Amz-Date", amzDate},
		},
		FileName: "cat photo.jpg",
		FileType: "image/jpeg",
		File:     file,
	}
}

// set replaces the value of a field, or adds the field.
func (p *browserPost) set(name, value string) {
	for i, f := range p.Fields {
		if strings.EqualFold(f.name, name) {
			p.Fields[i].value = value
			return
		}
	}
	p.Fields = append(p.Fields, browserFormField{name, value})
}

// drop removes a field and the policy's simple condition on it.
func (p *browserPost) drop(name string) {
	p.Fields = slices.DeleteFunc(p.Fields, func(f browserFormField) bool { return strings.EqualFold(f.name, name) })
	p.Conditions = slices.DeleteFunc(p.Conditions, func(c any) bool {
		m, ok := c.(map[string]string)
		_, named := m[strings.ToLower(name)]
		return ok && named
	})
}

// body encodes the form as a browser does and returns it with its
// Content-Type.
func (p *browserPost) body(t *testing.T) ([]byte, string) {
	t.Helper()
	doc, err := json.Marshal(map[string]any{
		"expiration": p.Expiration.UTC().Format("2006-01-02T15:04:05.000Z"),
		"conditions": p.Conditions,
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	day := ""
	for _, f := range p.Fields {
		if strings.EqualFold(f.name, "X-Amz-Date") && len(f.value) >= 8 {
			day = f.value[:8]
		}
	}
	mac := hmac.New(sha256.New, browserSigningKey(p.s.SecretKey, day, "us-east-1", "s3"))
	mac.Write([]byte(policy))
	signature := hex.EncodeToString(mac.Sum(nil))
	if p.Tamper != nil {
		policy = p.Tamper(policy)
	}

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary("----WebKitFormBoundary" + randomHex(8)); err != nil {
		t.Fatal(err)
	}
	fields := append(slices.Clone(p.Fields), browserFormField{"Policy", policy}, browserFormField{"X-Amz-Signature", signature})
	for _, f := range fields {
		if err := w.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, p.FileName))
	h.Set("Content-Type", p.FileType)
	part, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(p.File)
	// The submit button comes after the file; S3 ignores fields there.
	if err := w.WriteField("submit", "Upload to Amazon S3"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// send posts the form to the bucket, anonymously as a browser does: the
// form's fields are its credentials.
func (p *browserPost) send(t *testing.T) (*http.Response, []byte) {
	t.Helper()
	body, contentType := p.body(t)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, p.s.S3URL+"/"+p.bucket, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) s3gate-conformance")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST form to %s: %v", p.bucket, err)
	}
	return resp, readBody(t, resp)
}

// formPostResponse is the document of a form upload with
// success_action_status 201.
type formPostResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// requireObjectAbsent fails unless bucket/key does not exist.
func requireObjectAbsent(t *testing.T, c *s3.Client, bucket, key, why string) {
	t.Helper()
	_, err := c.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	wantAPIError(t, "HeadObject "+key+" after "+why, err, "", http.StatusNotFound)
}

func TestBrowserPostPolicy(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	photo := testData("browser-post", 300<<10+17)
	const key = "uploads/cat photo.jpg"

	t.Run("Created", func(t *testing.T) {
		resp, body := newBrowserPost(s, bucket, photo).send(t)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST form: status %d, want 201: %s", resp.StatusCode, body)
		}
		var doc formPostResponse
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("POST form: the 201 body is not a PostResponse document: %v\n%s", err, body)
		}
		if doc.Bucket != bucket || doc.Key != key || doc.ETag != quotedMD5(photo) || resp.Header.Get("ETag") != quotedMD5(photo) {
			t.Errorf("POST form: PostResponse Bucket %q Key %q ETag %s (header %s), want %q %q %s", doc.Bucket, doc.Key, doc.ETag, resp.Header.Get("ETag"), bucket, key, quotedMD5(photo))
		}
		if u, err := url.Parse(doc.Location); err != nil || !strings.HasPrefix(doc.Location, s.S3URL+"/") || u.Path != "/"+bucket+"/"+key {
			t.Errorf("POST form: Location %q, want %s/%s/%s (the key URL-encoded)", doc.Location, s.S3URL, bucket, key)
		}
		got, out := getObject(t, c, bucket, key)
		if sha256Hex(got) != sha256Hex(photo) {
			t.Errorf("object stored by the form: %d bytes sha256 %s, want %d bytes sha256 %s", len(got), sha256Hex(got), len(photo), sha256Hex(photo))
		}
		if aws.ToString(out.ContentType) != "image/jpeg" {
			t.Errorf("object stored by the form: Content-Type %q, want image/jpeg", aws.ToString(out.ContentType))
		}
		rec := s.waitAccess(t, "the form upload", func(r accessRecord) bool { return r.Method == "POST" && r.Key == key })
		if rec.Op != "PostObject" || rec.Status != http.StatusCreated || rec.fields["auth"] == "" {
			t.Errorf("access log of the form upload: op %q status %d auth %v, want PostObject 201 authenticated by the policy: %s", rec.Op, rec.Status, rec.fields["auth"], rec.line)
		}
	})

	t.Run("NoContent", func(t *testing.T) {
		// Without success_action_status the answer is 204, no body.
		p := newBrowserPost(s, bucket, []byte("tiny"))
		p.drop("success_action_status")
		p.FileName = "tiny.jpg"
		resp, body := p.send(t)
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Errorf("POST form without success_action_status: status %d body %q, want 204 and no body", resp.StatusCode, body)
		}
		if got, _ := getObject(t, c, bucket, "uploads/tiny.jpg"); string(got) != "tiny" {
			t.Errorf("uploads/tiny.jpg holds %q, want %q", got, "tiny")
		}
	})

	// Refused forms: the signature is good every time (but in
	// TamperedPolicy); what the policy allows is not what the form does.
	for _, tc := range []struct {
		name       string
		edit       func(p *browserPost)
		storedKey  string // the key the form would have written
		wantStatus int
		wantCode   string
	}{
		{"KeyOutsidePrefix", func(p *browserPost) { p.set("key", "elsewhere/${filename}") }, "elsewhere/cat photo.jpg", http.StatusForbidden, "AccessDenied"},
		{"FileTooLarge", func(p *browserPost) { p.File = testData("too-large", 1<<20+1) }, key + ".large", http.StatusBadRequest, "EntityTooLarge"},
		{"FileEmpty", func(p *browserPost) { p.File = nil }, key + ".empty", http.StatusBadRequest, "EntityTooSmall"},
		{"Expired", func(p *browserPost) { p.Expiration = time.Now().Add(-time.Minute) }, key + ".expired", http.StatusForbidden, "AccessDenied"},
		{"WrongContentType", func(p *browserPost) { p.set("Content-Type", "text/html") }, key + ".html", http.StatusForbidden, "AccessDenied"},
		{"FieldNotInPolicy", func(p *browserPost) { p.set("x-amz-meta-owner", "mallory") }, key + ".meta", http.StatusForbidden, "AccessDenied"},
		{"TamperedPolicy", func(p *browserPost) {
			p.Tamper = func(string) string {
				doc, _ := json.Marshal(map[string]any{"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "conditions": []any{[]any{"starts-with", "$key", ""}}})
				return base64.StdEncoding.EncodeToString(doc)
			}
		}, key + ".tampered", http.StatusForbidden, "SignatureDoesNotMatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newBrowserPost(s, bucket, photo)
			if name, ok := strings.CutPrefix(tc.storedKey, "uploads/"); ok {
				p.FileName = name
			}
			tc.edit(p)
			resp, body := p.send(t)
			var e s3ErrorBody
			_ = xml.Unmarshal(body, &e)
			if resp.StatusCode != tc.wantStatus || e.Code != tc.wantCode {
				t.Errorf("POST form (%s): status %d code %q, want %d %s; body:\n%s", tc.name, resp.StatusCode, e.Code, tc.wantStatus, tc.wantCode, body)
			}
			requireObjectAbsent(t, c, bucket, tc.storedKey, "a refused form")
		})
	}

	// The first upload is still there, untouched by the refused ones.
	if got, _ := getObject(t, c, bucket, key); sha256Hex(got) != sha256Hex(photo) {
		t.Errorf("after the refused forms %s holds %d bytes sha256 %s, want the first upload", key, len(got), sha256Hex(got))
	}
}

// --- CORS -------------------------------------------------------------------

const (
	corsOrigin = "https://app.example"
	corsEvil   = "https://evil.example"
)

// preflight sends a CORS preflight as a browser does: OPTIONS, no
// credentials, Origin and Access-Control-Request-*.
func corsPreflight(t *testing.T, s *server, path, origin, method, headers string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodOptions, s.S3URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("OPTIONS %s: %v", path, err)
	}
	return resp, readBody(t, resp)
}

// headerList splits a comma-separated header into lower-case items.
func corsHeaderList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.ToLower(strings.TrimSpace(item)); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func TestBrowserCORS(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket, plain := newBucketName(t), newBucketName(t)
	createBucket(t, c, bucket)
	createBucket(t, c, plain)

	_, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: []string{corsOrigin},
			AllowedMethods: []string{"PUT", "POST"},
			AllowedHeaders: []string{"Content-Type", "x-amz-*"},
			ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
			MaxAgeSeconds:  aws.Int32(600),
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketCors: %v", err)
	}
	got, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil || len(got.CORSRules) != 1 || !slices.Equal(got.CORSRules[0].AllowedOrigins, []string{corsOrigin}) ||
		!slices.Equal(got.CORSRules[0].AllowedMethods, []string{"PUT", "POST"}) || aws.ToInt32(got.CORSRules[0].MaxAgeSeconds) != 600 {
		t.Errorf("GetBucketCors after PutBucketCors: %+v, %v", got, err)
	}

	t.Run("Allowed", func(t *testing.T) {
		for _, tc := range []struct{ path, method, headers string }{
			{"/" + bucket + "/uploads/photo.jpg", "PUT", "content-type,x-amz-meta-note"},
			{"/" + bucket + "/uploads/photo.jpg", "PUT", ""},
			{"/" + bucket, "POST", "Content-Type"},
		} {
			resp, body := corsPreflight(t, s, tc.path, corsOrigin, tc.method, tc.headers)
			h := resp.Header
			what := fmt.Sprintf("preflight %s %s (headers %q)", tc.method, tc.path, tc.headers)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d, want 200: %s", what, resp.StatusCode, body)
				continue
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != corsOrigin {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", what, got, corsOrigin)
			}
			if got := corsHeaderList(h.Get("Access-Control-Allow-Methods")); !slices.Contains(got, strings.ToLower(tc.method)) {
				t.Errorf("%s: Access-Control-Allow-Methods %q lacks %s", what, h.Get("Access-Control-Allow-Methods"), tc.method)
			}
			allowed := corsHeaderList(h.Get("Access-Control-Allow-Headers"))
			for _, want := range corsHeaderList(tc.headers) {
				if !slices.Contains(allowed, want) {
					t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", what, h.Get("Access-Control-Allow-Headers"), want)
				}
			}
			if got := h.Get("Access-Control-Max-Age"); got != "600" {
				t.Errorf("%s: Access-Control-Max-Age %q, want 600", what, got)
			}
			if got := corsHeaderList(h.Get("Access-Control-Expose-Headers")); !slices.Contains(got, "etag") {
				t.Errorf("%s: Access-Control-Expose-Headers %q lacks ETag", what, h.Get("Access-Control-Expose-Headers"))
			}
			if !slices.Contains(corsHeaderList(strings.Join(h.Values("Vary"), ",")), "origin") {
				t.Errorf("%s: Vary %q lacks Origin (caches would serve one origin's answer to another)", what, h.Values("Vary"))
			}
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct{ name, path, origin, method, headers string }{
			{"OtherOrigin", "/" + bucket + "/uploads/photo.jpg", corsEvil, "PUT", "content-type"},
			{"OriginPrefix", "/" + bucket + "/uploads/photo.jpg", corsOrigin + ".evil.example", "PUT", ""},
			{"MethodNotAllowed", "/" + bucket + "/uploads/photo.jpg", corsOrigin, "DELETE", ""},
			{"HeaderNotAllowed", "/" + bucket + "/uploads/photo.jpg", corsOrigin, "PUT", "content-type,x-custom-header"},
			{"NoCORSConfiguration", "/" + plain + "/uploads/photo.jpg", corsOrigin, "PUT", ""},
		} {
			resp, body := corsPreflight(t, s, tc.path, tc.origin, tc.method, tc.headers)
			var e s3ErrorBody
			_ = xml.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusForbidden || e.Code != "AccessForbidden" {
				t.Errorf("preflight %s: status %d code %q, want 403 AccessForbidden; body:\n%s", tc.name, resp.StatusCode, e.Code, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("preflight %s: refused, yet Access-Control-Allow-Origin %q", tc.name, got)
			}
		}
	})

	// The actual cross-origin request: a PUT to a presigned URL, as a page
	// uploads a file. It carries the CORS headers of the matching rule; from
	// another origin it succeeds (S3 does not block it) but without them,
	// so the browser withholds the answer from the page.
	t.Run("PresignedPut", func(t *testing.T) {
		presign := s3.NewPresignClient(c)
		for _, tc := range []struct {
			origin, key string
			wantACAO    string
		}{
			{corsOrigin, "uploads/from-app.txt", corsOrigin},
			{corsEvil, "uploads/from-evil.txt", ""},
		} {
			put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(tc.key), ContentType: aws.String("text/plain")})
			if err != nil {
				t.Fatalf("PresignPutObject: %v", err)
			}
			data := []byte("uploaded by a page at " + tc.origin + "\n")
			req, err := http.NewRequestWithContext(ctx, put.Method, put.URL, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range put.SignedHeader {
				if !strings.EqualFold(k, "Host") {
					req.Header[k] = vs
				}
			}
			req.Header.Set("Origin", tc.origin)
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatalf("presigned PUT with Origin %s: %v", tc.origin, err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("presigned PUT with Origin %s: status %d, want 200: %s", tc.origin, resp.StatusCode, body)
				continue
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("presigned PUT with Origin %s: Access-Control-Allow-Origin %q, want %q", tc.origin, got, tc.wantACAO)
			}
			if tc.wantACAO != "" && !slices.Contains(corsHeaderList(resp.Header.Get("Access-Control-Expose-Headers")), "etag") {
				t.Errorf("presigned PUT with Origin %s: Access-Control-Expose-Headers %q lacks ETag", tc.origin, resp.Header.Get("Access-Control-Expose-Headers"))
			}
			if got, out := getObject(t, c, bucket, tc.key); !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "text/plain" {
				t.Errorf("%s: %q (Content-Type %q), want %q text/plain", tc.key, got, aws.ToString(out.ContentType), data)
			}
		}

		// GET is not in the rule: no CORS headers on its answer.
		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/from-app.txt")})
		if err != nil {
			t.Fatalf("PresignGetObject: %v", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, get.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", corsOrigin)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("presigned GET with Origin %s (GET not allowed by the rule): status %d Access-Control-Allow-Origin %q, want 200 and none", corsOrigin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
}
