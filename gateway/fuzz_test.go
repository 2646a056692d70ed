package gateway

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
)

// The XML fuzzers drive whole requests through Gateway.ServeHTTP (signed,
// with the body's Content-MD5) over a backend that only records what it is
// asked, so every decoding and validation step the handler takes is the
// one under test. Properties: no panic and no InternalError; a refusal is an
// S3 error document and touches nothing; an acceptance stays within S3's
// documented limits and acts on exactly the keys the document holds, which
// a re-encoded document reproduces.

// fuzzCreateBucketLimit is the size CreateBucket's configuration may have.
const fuzzCreateBucketLimit = 64 << 10

// fuzzBackend answers every bucket as existing and records deletes and
// creates. Any other method is the nil Backend's: a call panics, which the
// gateway turns into InternalError, which the fuzzers report.
type fuzzBackend struct {
	backends.Backend
	mu      sync.Mutex
	deleted []string
	created []string
}

func (b *fuzzBackend) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	return backends.BucketInfo{Name: bucket}, nil
}

func (b *fuzzBackend) DeleteObject(ctx context.Context, bucket, key string, _ backends.DeleteOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleted = append(b.deleted, key)
	return nil
}

func (b *fuzzBackend) CreateBucket(ctx context.Context, bucket string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.created = append(b.created, bucket)
	return nil
}

func (b *fuzzBackend) Capabilities(string) backends.Capabilities {
	return backends.Capabilities{ConditionalWrites: true, ConditionalDeletes: true}
}

// take returns what was recorded and forgets it.
func (b *fuzzBackend) take() (deleted, created []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	deleted, created = b.deleted, b.created
	b.deleted, b.created = nil, nil
	return deleted, created
}

func newFuzzGateway() (*Gateway, *fuzzBackend) {
	b := &fuzzBackend{}
	keys := identity.NewKeys(identity.AccessKey{ID: testAccessKey, Secret: testSecret, Principal: identity.RootPrincipal()})
	return New(b, nopCatalog{}, keys, Options{Region: testRegion}), b
}

// nopCatalog is a catalogue that accepts every bucket and knows no CORS
// rules or tags: the fuzzers look at what reaches the backend.
type nopCatalog struct{}

func (nopCatalog) CreateBucket(context.Context, catalog.Bucket) error { return nil }
func (nopCatalog) GetBucket(_ context.Context, name string) (catalog.Bucket, error) {
	return catalog.Bucket{Name: name}, nil
}
func (nopCatalog) ListBuckets(context.Context) ([]catalog.Bucket, error)           { return nil, nil }
func (nopCatalog) DeleteBucket(context.Context, string) error                      { return nil }
func (nopCatalog) PutBucketCORS(context.Context, string, []catalog.CORSRule) error { return nil }
func (nopCatalog) GetBucketCORS(context.Context, string) ([]catalog.CORSRule, error) {
	return nil, catalog.ErrNoSuchCORSConfiguration
}
func (nopCatalog) DeleteBucketCORS(context.Context, string) error                    { return nil }
func (nopCatalog) PutBucketTagging(context.Context, string, map[string]string) error { return nil }
func (nopCatalog) GetBucketTagging(context.Context, string) (map[string]string, error) {
	return nil, catalog.ErrNoSuchTagSet
}
func (nopCatalog) DeleteBucketTagging(context.Context, string) error { return nil }

// fuzzServe sends one signed request with body straight to the gateway.
func fuzzServe(t *testing.T, g *Gateway, method, target string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	hr := httptest.NewRequest(method, "http://s3.fuzz"+target, bytes.NewReader(body))
	hr.Header.Set("Content-MD5", hostileMD5(body))
	ph := hostileSHA256(body)
	hr.Header.Set("X-Amz-Content-Sha256", ph)
	signRaw(t, hr, ph)
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, hr)
	return rec
}

// fuzzCheckError fails unless rec is an S3 error document whose code is
// one of want.
func fuzzCheckError(t *testing.T, rec *httptest.ResponseRecorder, want ...string) {
	t.Helper()
	var e s3err
	if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("status %d with a body that is not an error document: %v: %q", rec.Code, err, rec.Body.Bytes())
	}
	if !slices.Contains(want, e.Code) {
		t.Fatalf("status %d code %q, want one of %q; body %s", rec.Code, e.Code, want, rec.Body.Bytes())
	}
	if e.RequestID == "" || e.RequestID != rec.Header().Get("x-amz-request-id") {
		t.Fatalf("RequestId %q does not match x-amz-request-id %q", e.RequestID, rec.Header().Get("x-amz-request-id"))
	}
}

// fuzzDelete is DeleteObjects' document as a client means it: what
// encoding/xml makes of the body, the oracle the gateway is held to.
type fuzzDelete struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       *string `xml:"Key"`
		VersionID string  `xml:"VersionId,omitempty"`
	} `xml:"Object"`
}

// fuzzDeleteBody builds the fuzzed body: doc itself, or doc repeated inside
// <Delete> when copies > 0 (so that documents of over 1000 objects are
// cheap to reach): at most 1100 times, and a little past the size limit.
func fuzzDeleteBody(doc []byte, copies uint16) []byte {
	if copies == 0 {
		return doc
	}
	n := int(copies-1)%1100 + 1
	if len(doc) > 0 && len(doc)*n > maxXMLBody+4096 {
		n = (maxXMLBody+4096)/len(doc) + 1
	}
	body := make([]byte, 0, len("<Delete></Delete>")+len(doc)*n)
	body = append(body, "<Delete>"...)
	for range n {
		body = append(body, doc...)
	}
	return append(body, "</Delete>"...)
}

func FuzzDeleteObjects(f *testing.F) {
	seeds := []struct {
		doc    string
		copies uint16
	}{
		{`<Delete><Object><Key>a</Key></Object></Delete>`, 0},
		{`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a/b c&amp;d</Key><VersionId>null</VersionId></Object><Object><Key>&#x10FFFF;&lt;&gt;</Key></Object></Delete>`, 0},
		{`<Object><Key>k</Key></Object>`, 1000},
		{`<Object><Key>k</Key></Object>`, 1001},
		{`<Object><Key><![CDATA[<cdata>]]></Key></Object>`, 3},
		{`<Quiet>1</Quiet><Object><Key>x</Key></Object>`, 2},
		{`<Delete><Object><Key>a</Key></Object></Delete><trailing/>`, 0},
		{`<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>`, 0},
		{`<Delete><Object><Key>&#xD800;</Key></Object></Delete>`, 0},
		{`<!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key></Object></Delete>`, 0},
		{"<Delete><Object><Key>\xff</Key></Object></Delete>", 0},
		{`<x>`, 60000},
		{`<Object/>`, 2000},
		{`<Object><Key>` + string(bytes.Repeat([]byte("k"), 1025)) + `</Key></Object>`, 1},
		{`<Object><Key></Key></Object>`, 1},
		{`<Object><Key>a&#13;&#10;b</Key></Object>`, 1},
		{``, 0},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), s.copies)
	}
	g, b := newFuzzGateway()
	f.Fuzz(func(t *testing.T, doc []byte, copies uint16) {
		body := fuzzDeleteBody(doc, copies)
		b.take()
		rec := fuzzServe(t, g, "POST", "/fuzz-bucket?delete", body)
		deleted, _ := b.take()
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			fuzzCheckError(t, rec, "MalformedXML", "MaxMessageLengthExceeded", "InvalidRequest")
			if len(deleted) > 0 {
				t.Fatalf("refused with %s, yet deleted %d keys", rec.Body.Bytes(), len(deleted))
			}
			return
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}

		// Accepted: within the limits, and acting on the document's keys.
		if len(body) > maxXMLBody {
			t.Fatalf("accepted a %d-byte document; the limit is %d", len(body), maxXMLBody)
		}
		var want fuzzDelete
		if err := xml.Unmarshal(body, &want); err != nil {
			t.Fatalf("accepted a document encoding/xml refuses (%v)", err)
		}
		keys := make([]string, 0, len(want.Objects))
		for _, o := range want.Objects {
			if o.Key == nil {
				t.Fatalf("accepted an Object without Key")
			}
			keys = append(keys, *o.Key)
		}
		if len(keys) == 0 || len(keys) > maxDeleteKeys {
			t.Fatalf("accepted a document of %d objects", len(keys))
		}
		if len(deleted) > len(keys) {
			t.Fatalf("%d deletes for %d keys", len(deleted), len(keys))
		}
		for _, k := range deleted {
			if len(k) > backends.MaxKeyLength || !utf8.ValidString(k) {
				t.Fatalf("backend asked to delete key %q (%d bytes)", k, len(k))
			}
			if !slices.Contains(keys, k) {
				t.Fatalf("backend asked to delete %q, which the document does not name", k)
			}
		}
		var res hostileDeleteResult
		if err := xml.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("DeleteResult is not XML: %v: %s", err, rec.Body.Bytes())
		}
		var answered []string
		for _, d := range res.Deleted {
			answered = append(answered, d.Key)
		}
		for _, e := range res.Errors {
			answered = append(answered, e.Key)
		}
		if want.Quiet {
			if len(res.Deleted) > 0 {
				t.Fatalf("quiet mode listed %d deletions", len(res.Deleted))
			}
		} else if !slices.Equal(fuzzSorted(answered), fuzzSorted(keys)) {
			t.Fatalf("DeleteResult names %q, the document %q", answered, keys)
		}

		// The keys, encoded afresh, make the same request.
		again, err := xml.Marshal(&want)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", want, err)
		}
		rec2 := fuzzServe(t, g, "POST", "/fuzz-bucket?delete", again)
		deleted2, _ := b.take()
		if rec2.Code != http.StatusOK {
			t.Fatalf("re-encoded document %s refused: %d %s", again, rec2.Code, rec2.Body.Bytes())
		}
		if !slices.Equal(deleted, deleted2) {
			t.Fatalf("re-encoded document deleted %q, the original %q", deleted2, deleted)
		}
	})
}

func fuzzSorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// fuzzCreateBucket is CreateBucketConfiguration as encoding/xml reads it.
type fuzzCreateBucket struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

func FuzzCreateBucketConfiguration(f *testing.F) {
	for _, s := range []string{
		`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`,
		`<CreateBucketConfiguration><LocationConstraint></LocationConstraint></CreateBucketConfiguration>`,
		`<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`,
		`<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`,
		`<CreateBucketConfiguration><Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>`,
		`<CreateBucketConfiguration/>trailing`,
		`<!DOCTYPE c [<!ENTITY r "us-east-1">]><CreateBucketConfiguration><LocationConstraint>&r;</LocationConstraint></CreateBucketConfiguration>`,
		"<CreateBucketConfiguration><LocationConstraint>\xfe</LocationConstraint></CreateBucketConfiguration>",
		`<CreateBucketConfiguration>` + string(bytes.Repeat([]byte("<x>"), 3000)),
		`not xml`,
		``,
	} {
		f.Add([]byte(s))
	}
	g, b := newFuzzGateway()
	f.Fuzz(func(t *testing.T, body []byte) {
		b.take()
		rec := fuzzServe(t, g, "PUT", "/fuzz-bucket", body)
		_, created := b.take()
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			fuzzCheckError(t, rec, "MalformedXML", "MaxMessageLengthExceeded", "IllegalLocationConstraintException", "InvalidLocationConstraint", "InvalidRequest")
			if len(created) > 0 {
				t.Fatalf("refused with %s, yet created %q", rec.Body.Bytes(), created)
			}
			return
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		if len(created) != 1 || created[0] != "fuzz-bucket" {
			t.Fatalf("answered 200 but created %q", created)
		}
		if len(body) == 0 {
			return
		}
		if len(body) > fuzzCreateBucketLimit {
			t.Fatalf("accepted a %d-byte configuration; the limit is %d", len(body), fuzzCreateBucketLimit)
		}
		var want fuzzCreateBucket
		if err := xml.Unmarshal(body, &want); err != nil {
			t.Fatalf("accepted a configuration encoding/xml refuses (%v)", err)
		}
		if lc := want.LocationConstraint; lc != "" && lc != testRegion {
			t.Fatalf("accepted LocationConstraint %q for region %s", lc, testRegion)
		}
		again, err := xml.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		rec2 := fuzzServe(t, g, "PUT", "/fuzz-bucket", again)
		_, created2 := b.take()
		if rec2.Code != http.StatusOK || len(created2) != 1 {
			t.Fatalf("re-encoded configuration %s: %d %s, created %q", again, rec2.Code, rec2.Body.Bytes(), created2)
		}
	})
}
