package gateway

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

func TestValidBucketName(t *testing.T) {
	good := []string{"abc", "my-bucket", "my.bucket.2", strings.Repeat("a", 63), "1bucket"}
	bad := []string{"ab", strings.Repeat("a", 64), "My-Bucket", "under_score", "-lead", "trail-", ".dot", "dot.",
		"a..b", "a.-b", "a-.b", "192.168.5.4", "xn--abc", "sthree-x", "bucket-s3alias", "b--ol-s3", "sp ace", "sl/ash"}
	for _, n := range good {
		if !validBucketName(n) {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range bad {
		if validBucketName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestBucketLifecycle(t *testing.T) {
	e := newEnv(t)
	expectError(t, e.do(req{method: "PUT", path: "/Bad_Name"}), 400, "InvalidBucketName")
	e.mkBucket("life")
	expectError(t, e.do(req{method: "PUT", path: "/life"}), 409, "BucketAlreadyOwnedByYou")
	resp := e.do(req{method: "HEAD", path: "/life"})
	expectStatus(t, resp, 200)
	if resp.Header.Get("x-amz-bucket-region") != testRegion {
		t.Errorf("x-amz-bucket-region %q", resp.Header.Get("x-amz-bucket-region"))
	}
	expectStatus(t, e.put("life", "k", []byte("x"), nil), 200)
	be := expectError(t, e.do(req{method: "DELETE", path: "/life"}), 409, "BucketNotEmpty")
	if be.BucketName != "life" {
		t.Errorf("BucketName %q", be.BucketName)
	}
	expectStatus(t, e.do(req{method: "DELETE", path: "/life/k"}), 204)
	expectStatus(t, e.do(req{method: "DELETE", path: "/life"}), 204)
	expectError(t, e.do(req{method: "DELETE", path: "/life"}), 404, "NoSuchBucket")
	// HEAD errors carry the status and no body.
	resp = e.do(req{method: "HEAD", path: "/life"})
	if b := expectStatus(t, resp, 404); len(b) != 0 {
		t.Errorf("HEAD error has a body: %q", b)
	}
}

func TestCreateBucketLocation(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Region = "eu-west-1" })
	body := []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`)
	expectStatus(t, e.do(req{method: "PUT", path: "/loc1", body: body, region: "eu-west-1"}), 200)
	other := []byte(`<CreateBucketConfiguration><LocationConstraint>ap-south-1</LocationConstraint></CreateBucketConfiguration>`)
	expectError(t, e.do(req{method: "PUT", path: "/loc2", body: other, region: "eu-west-1"}), 400, "IllegalLocationConstraintException")
	expectError(t, e.do(req{method: "PUT", path: "/loc3", body: []byte("<Create"), region: "eu-west-1"}), 400, "MalformedXML")
	b := expectStatus(t, e.do(req{path: "/loc1?location", region: "eu-west-1"}), 200)
	var lc struct {
		XMLName  xml.Name `xml:"LocationConstraint"`
		Location string   `xml:",chardata"`
	}
	if err := xml.Unmarshal(b, &lc); err != nil || lc.Location != "eu-west-1" {
		t.Fatalf("location %q %v: %s", lc.Location, err, b)
	}
	// A scope naming another region is refused with S3's message.
	err := expectError(t, e.do(req{path: "/loc1?location"}), 400, "AuthorizationHeaderMalformed")
	if err.Region != "eu-west-1" {
		t.Errorf("Region field %q", err.Region)
	}
}

func TestListBuckets(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"zeta", "alpha", "alpine", "beta"} {
		e.mkBucket(n)
	}
	type result struct {
		Buckets           []string `xml:"Buckets>Bucket>Name"`
		ContinuationToken string
		Owner             struct{ ID string }
	}
	list := func(q string) result {
		var r result
		if err := xml.Unmarshal(expectStatus(t, e.do(req{path: "/" + q}), 200), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := list(""); strings.Join(r.Buckets, ",") != "alpha,alpine,beta,zeta" || r.Owner.ID != "root" {
		t.Fatalf("list: %+v", r)
	}
	if r := list("?prefix=alp"); strings.Join(r.Buckets, ",") != "alpha,alpine" {
		t.Fatalf("prefix: %+v", r)
	}
	var all []string
	token := ""
	for i := 0; i < 10; i++ {
		q := "?max-buckets=3"
		if token != "" {
			q += "&continuation-token=" + token
		}
		r := list(q)
		all = append(all, r.Buckets...)
		if token = r.ContinuationToken; token == "" {
			break
		}
	}
	if strings.Join(all, ",") != "alpha,alpine,beta,zeta" {
		t.Fatalf("paged: %v", all)
	}
	expectError(t, e.do(req{path: "/?max-buckets=0"}), 400, "InvalidArgument")
}

// Read-only calls clients make at start-up answer what S3 answers for a
// bucket without the feature; everything not supported answers
// NotImplemented, never a bare 404 or 405.
func TestSubresourceAnswers(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sub")
	expectStatus(t, e.put("sub", "obj", []byte("x"), nil), 200)
	docs := []struct {
		path, root string
	}{
		{"/sub?versioning", "VersioningConfiguration"},
		{"/sub?acl", "AccessControlPolicy"},
		{"/sub?logging", "BucketLoggingStatus"},
		{"/sub?notification", "NotificationConfiguration"},
		{"/sub?requestPayment", "RequestPaymentConfiguration"},
		{"/sub?accelerate", "AccelerateConfiguration"},
		{"/sub/obj?acl", "AccessControlPolicy"},
		{"/sub/obj?tagging", "Tagging"},
	}
	for _, d := range docs {
		b := expectStatus(t, e.do(req{path: d.path}), 200)
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != d.root || root.XMLName.Space != s3NS {
			t.Errorf("%s: root %v (%v): %s", d.path, root.XMLName, err, b)
		}
	}
	errs := []struct {
		method, path, code string
		status             int
	}{
		{"GET", "/sub?cors", "NoSuchCORSConfiguration", 404},
		{"GET", "/sub?policy", "NoSuchBucketPolicy", 404},
		{"GET", "/sub?tagging", "NoSuchTagSet", 404},
		{"GET", "/sub?lifecycle", "NoSuchLifecycleConfiguration", 404},
		{"GET", "/sub?encryption", "ServerSideEncryptionConfigurationNotFoundError", 404},
		{"GET", "/sub?website", "NoSuchWebsiteConfiguration", 404},
		{"GET", "/sub?object-lock", "ObjectLockConfigurationNotFoundError", 404},
		{"GET", "/sub?replication", "ReplicationConfigurationNotFoundError", 404},
		{"GET", "/sub?ownershipControls", "OwnershipControlsNotFoundError", 404},
		{"GET", "/sub?publicAccessBlock", "NoSuchPublicAccessBlockConfiguration", 404},
		{"GET", "/nosuch?versioning", "NoSuchBucket", 404},
		{"GET", "/nosuch?cors", "NoSuchBucket", 404},
		{"GET", "/sub/missing?acl", "NoSuchKey", 404},
		{"GET", "/sub/obj?retention", "NoSuchObjectLockConfiguration", 404},

		{"GET", "/sub?versions", "NotImplemented", 501},

		{"PUT", "/sub?versioning", "NotImplemented", 501},
		{"PUT", "/sub?object-lock", "NotImplemented", 501},
		{"POST", "/sub", "MalformedPOSTRequest", 400},

		{"POST", "/sub/obj?uploadId=x", "NoSuchUpload", 404},
		{"PUT", "/sub/obj?uploadId=x&partNumber=1", "NoSuchUpload", 404},

		{"DELETE", "/sub/obj?uploadId=x", "NoSuchUpload", 404},

		{"OPTIONS", "/sub/obj", "BadRequest", 400},
		{"PATCH", "/sub/obj", "MethodNotAllowed", 405},
		{"PUT", "/", "MethodNotAllowed", 405},
	}
	for _, c := range errs {
		expectError(t, e.do(req{method: c.method, path: c.path}), c.status, c.code)
	}
	// CopyObject is recognised by its header, not taken for a PutObject
	// of an empty body.
	expectStatus(t, e.do(req{method: "PUT", path: "/sub/copy", header: map[string]string{"x-amz-copy-source": "/sub/obj"}}), 200)
	if got := e.get("sub", "copy"); string(got) != "x" {
		t.Fatalf("CopyObject stored %q", got)
	}
	expectStatus(t, e.do(req{method: "DELETE", path: "/sub?cors"}), 204)
}

func TestAnonymousDenied(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("anon")
	for _, p := range []string{"/", "/anon", "/anon/k", "/nosuch/k"} {
		expectError(t, e.do(req{path: p, anonymous: true}), 403, "AccessDenied")
	}
}

func TestClockSkew(t *testing.T) {
	e := newEnv(t)
	expectError(t, e.do(req{path: "/", signTime: time.Now().Add(-20 * time.Minute)}), 403, "RequestTimeTooSkewed")
	expectStatus(t, e.do(req{path: "/", signTime: time.Now().Add(-10 * time.Minute)}), 200)
}

func TestVirtualHostedStyle(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("vhost")
	host := "vhost." + testDomain
	expectStatus(t, e.do(req{method: "PUT", path: "/dir/k", host: host, body: []byte("hi")}), 200)
	if got := e.get("vhost", "dir/k"); string(got) != "hi" {
		t.Fatalf("path-style read of a virtual-hosted write: %q", got)
	}
	b := expectStatus(t, e.do(req{path: "/?list-type=2", host: host}), 200)
	if !strings.Contains(string(b), "<Key>dir/k</Key>") {
		t.Fatalf("virtual-hosted listing: %s", b)
	}
	// With a port in the Host header too.
	b = expectStatus(t, e.do(req{path: "/dir/k", host: host + ":9000"}), 200)
	if string(b) != "hi" {
		t.Fatalf("host with port: %q", b)
	}
	// Bucket names with dots.
	e.mkBucket("my.dotted.bucket")
	expectStatus(t, e.do(req{method: "PUT", path: "/k", host: "my.dotted.bucket." + testDomain, body: []byte("d")}), 200)
	if got := e.get("my.dotted.bucket", "k"); string(got) != "d" {
		t.Fatalf("dotted bucket: %q", got)
	}
}

// blockingBackend holds GetObject until released, to fill the request cap.
type blockingBackend struct {
	backends.Backend
	entered chan struct{}
	release chan struct{}
}

func (b *blockingBackend) GetObject(ctx context.Context, bucket, key string, o backends.GetOptions) (*backends.Object, error) {
	if key == "block" {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Backend.GetObject(ctx, bucket, key, o)
}

func TestSlowDownAtCap(t *testing.T) {
	bb := &blockingBackend{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, func(o *Options, b *backends.Backend) {
		o.MaxRequests = 1
		bb.Backend = *b
		*b = bb
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp := e.do(req{path: "/x/block"})
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	<-bb.entered
	resp := e.do(req{path: "/"})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("SlowDown without Retry-After")
	}
	expectError(t, resp, 503, "SlowDown")
	close(bb.release)
	wg.Wait()
	expectStatus(t, e.do(req{path: "/"}), 200)
}

// panicBackend panics on one key.
type panicBackend struct{ backends.Backend }

func (p panicBackend) HeadObject(ctx context.Context, bucket, key string, o backends.GetOptions) (backends.ObjectInfo, error) {
	panic("boom")
}

func TestPanicBecomesInternalError(t *testing.T) {
	e := newEnv(t, func(_ *Options, b *backends.Backend) { *b = panicBackend{*b} })
	e.mkBucket("pan")
	expectError(t, e.do(req{path: "/pan/k?acl"}), 500, "InternalError")
	// The server is still serving.
	expectStatus(t, e.do(req{path: "/"}), 200)
	_ = http.StatusOK
}
