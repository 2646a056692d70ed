package gateway

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// tgTagging is S3's Tagging document.
type tgTagging struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  *struct {
		Tags []struct{ Key, Value string } `xml:"Tag"`
	}
}

// String lists the tags as "k=v" pairs in key order, joined by "&".
func (d tgTagging) String() string {
	if d.TagSet == nil {
		return "<no TagSet>"
	}
	var pairs []string
	for _, t := range d.TagSet.Tags {
		pairs = append(pairs, t.Key+"="+t.Value)
	}
	return strings.Join(mpSorted(pairs), "&")
}

// tgDoc renders a Tagging request document of key, value pairs.
func tgDoc(kv ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>`)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<Tag><Key>")
		xml.EscapeText(&b, []byte(kv[i]))
		b.WriteString("</Key><Value>")
		xml.EscapeText(&b, []byte(kv[i+1]))
		b.WriteString("</Value></Tag>")
	}
	b.WriteString("</TagSet></Tagging>")
	return b.Bytes()
}

func (e *env) tgPut(bucket, key string, doc []byte) *http.Response {
	e.t.Helper()
	return e.do(req{method: "PUT", path: mpObjectPath(bucket, key) + "?tagging", body: doc})
}

// tgState is what tagging must not change, and the tag count GET and HEAD
// report.
type tgState struct {
	etag, lastModified, listed, getCount, headCount string
}

func (e *env) tgStateOf(bucket, key string) tgState {
	e.t.Helper()
	get := e.do(req{path: mpObjectPath(bucket, key)})
	expectStatus(e.t, get, 200)
	head := e.mpHead(bucket, key, nil)
	var listed string
	for _, c := range e.listPage(bucket, "list-type=2&prefix="+escapeKey(key)).Contents {
		if c.Key == key {
			listed = c.ETag
		}
	}
	return tgState{
		etag:         get.Header.Get("ETag"),
		lastModified: get.Header.Get("Last-Modified"),
		listed:       listed + " " + e.tgListedTime(bucket, key),
		getCount:     get.Header.Get("x-amz-tagging-count"),
		headCount:    head.Header.Get("x-amz-tagging-count"),
	}
}

// tgListedTime is the key's LastModified in a listing (milliseconds).
func (e *env) tgListedTime(bucket, key string) string {
	e.t.Helper()
	var r struct {
		Contents []struct{ Key, LastModified string }
	}
	b := expectStatus(e.t, e.do(req{path: "/" + bucket + "?list-type=2&prefix=" + escapeKey(key)}), 200)
	if err := xml.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.Contents {
		if c.Key == key {
			return c.LastModified
		}
	}
	return ""
}

// Put, Get and DeleteObjectTagging; the tag count on GET and HEAD; the
// object's ETag and LastModified never change.
func TestObjectTagging(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("tagging-ops")
	expectStatus(t, e.put("tagging-ops", "dir/obj", []byte("tagged body"), nil), 200)
	before := e.tgStateOf("tagging-ops", "dir/obj")
	if before.getCount != "" || before.headCount != "" {
		t.Errorf("untagged object reports x-amz-tagging-count %q/%q", before.getCount, before.headCount)
	}
	if got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-ops/dir/obj?tagging"}), 200); got.TagSet == nil || len(got.TagSet.Tags) != 0 {
		t.Errorf("untagged object: %s", got)
	}
	time.Sleep(20 * time.Millisecond) // so that a rewritten object would show a later time

	long128, long256 := strings.Repeat("é", 128), strings.Repeat("ü", 256)
	steps := []struct {
		name string
		doc  []byte
		want string
	}{
		{"three tags", tgDoc("project", "s3gate", "empty", "", "spaced key ж", "välue with spaces and signs +-=._:/@"),
			"empty=&project=s3gate&spaced key ж=välue with spaces and signs +-=._:/@"},
		{"replaced by one", tgDoc("only", "one"), "only=one"},
		{"the limits exactly", tgDoc(long128, long256, "k2", "v", "k3", "v", "k4", "v", "k5", "v", "k6", "v", "k7", "v", "k8", "v", "k9", "v", "k10", "v"),
			"k10=v&k2=v&k3=v&k4=v&k5=v&k6=v&k7=v&k8=v&k9=v&" + long128 + "=" + long256},
		{"no tags", tgDoc(), ""},
	}
	for _, s := range steps {
		expectStatus(t, e.tgPut("tagging-ops", "dir/obj", s.doc), 200)
		got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-ops/dir/obj?tagging"}), 200)
		if got.String() != s.want {
			t.Errorf("%s: tags %q, want %q", s.name, got, s.want)
		}
		after := e.tgStateOf("tagging-ops", "dir/obj")
		wantCount := ""
		if s.want != "" {
			wantCount = strconv.Itoa(len(got.TagSet.Tags))
		}
		if after.getCount != wantCount || after.headCount != wantCount {
			t.Errorf("%s: x-amz-tagging-count GET %q HEAD %q, want %q", s.name, after.getCount, after.headCount, wantCount)
		}
		if after.etag != before.etag || after.lastModified != before.lastModified || after.listed != before.listed {
			t.Errorf("%s: tagging changed the object: %+v, was %+v", s.name, after, before)
		}
	}

	expectStatus(t, e.tgPut("tagging-ops", "dir/obj", tgDoc("a", "1", "b", "2")), 200)
	expectStatus(t, e.do(req{method: "DELETE", path: "/tagging-ops/dir/obj?tagging"}), 204)
	if got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-ops/dir/obj?tagging"}), 200); got.String() != "" {
		t.Errorf("after DeleteObjectTagging: %q", got)
	}
	if after := e.tgStateOf("tagging-ops", "dir/obj"); after.getCount != "" || after.etag != before.etag || after.listed != before.listed {
		t.Errorf("after DeleteObjectTagging: %+v, was %+v", after, before)
	}
	if got := e.get("tagging-ops", "dir/obj"); string(got) != "tagged body" {
		t.Errorf("body now %q", got)
	}
}

// The same through the SDK.
func TestObjectTaggingSDK(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("tagging-sdk")
	ctx := context.Background()
	b, k := aws.String("tagging-sdk"), aws.String("photo.jpg")
	if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("jpeg"), Tagging: aws.String("kind=photo&year=2026")}); err != nil {
		t.Fatal(err)
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(head.TagCount) != 2 {
		t.Errorf("HeadObject TagCount %d", aws.ToInt32(head.TagCount))
	}
	if _, err := e.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: []types.Tag{
		{Key: aws.String("kind"), Value: aws.String("picture")}, {Key: aws.String("size"), Value: aws.String("large")}, {Key: aws.String("x"), Value: aws.String("")},
	}}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, tg := range out.TagSet {
		pairs = append(pairs, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if strings.Join(mpSorted(pairs), "&") != "kind=picture&size=large&x=" {
		t.Errorf("GetObjectTagging %v", pairs)
	}
	obj, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()
	if aws.ToInt32(obj.TagCount) != 3 {
		t.Errorf("GetObject TagCount %d", aws.ToInt32(obj.TagCount))
	}
	if _, err := e.client.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: k}); err != nil {
		t.Fatal(err)
	}
	out, err = e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if err != nil || len(out.TagSet) != 0 {
		t.Errorf("after DeleteObjectTagging: %v %v", out.TagSet, err)
	}
}

// S3's limits on object tags, through each way of setting them: the
// Tagging document, and x-amz-tagging on PutObject and
// CreateMultipartUpload. A refused request changes nothing.
func TestObjectTaggingLimits(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("tagging-limits")
	expectStatus(t, e.put("tagging-limits", "obj", []byte("original"), map[string]string{"x-amz-tagging": "keep=me"}), 200)
	eleven := []string{}
	for i := 0; i < 11; i++ {
		eleven = append(eleven, "k"+strconv.Itoa(i), "v")
	}
	cases := []struct {
		name string
		kv   []string
	}{
		{"eleven tags", eleven},
		{"key of 129 characters", []string{strings.Repeat("k", 129), "v"}},
		{"value of 257 characters", []string{"k", strings.Repeat("v", 257)}},
		{"key of 129 two-byte characters", []string{strings.Repeat("é", 129), "v"}},
		{"the same key twice", []string{"dup", "1", "dup", "2"}},
		{"aws: prefix", []string{"aws:cloudformation:stack-name", "v"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.mpFor(t)
			expectError(t, e.tgPut("tagging-limits", "obj", tgDoc(c.kv...)), 400, "InvalidTag")
			if got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-limits/obj?tagging"}), 200); got.String() != "keep=me" {
				t.Errorf("tags after a refused PutObjectTagging: %q", got)
			}

			var header []string
			for i := 0; i+1 < len(c.kv); i += 2 {
				header = append(header, tgQueryEscape(c.kv[i])+"="+tgQueryEscape(c.kv[i+1]))
			}
			hdr := map[string]string{"x-amz-tagging": strings.Join(header, "&")}
			expectError(t, e.put("tagging-limits", "obj", []byte("replacement"), hdr), 400, "InvalidTag")
			if got := e.get("tagging-limits", "obj"); string(got) != "original" {
				t.Errorf("object after a refused PutObject: %q", got)
			}
			expectError(t, e.do(req{method: "POST", path: "/tagging-limits/upload?uploads", header: hdr}), 400, "InvalidTag")
			if ups := e.mpListUploads("tagging-limits", ""); len(ups.Uploads) != 0 {
				t.Errorf("a refused CreateMultipartUpload created %+v", ups.Uploads)
			}
		})
	}
	for _, doc := range [][]byte{[]byte("not xml"), []byte("<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"), nil} {
		expectError(t, e.tgPut("tagging-limits", "obj", doc), 400, "MalformedXML")
	}
}

// tgQueryEscape percent-encodes s as SDKs encode x-amz-tagging.
func tgQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

// Tagging a key or bucket that does not exist.
func TestObjectTaggingMissing(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("tagging-missing")
	for _, r := range []req{
		{method: "PUT", path: "/tagging-missing/nothing?tagging", body: tgDoc("a", "b")},
		{path: "/tagging-missing/nothing?tagging"},
		{method: "DELETE", path: "/tagging-missing/nothing?tagging"},
	} {
		if doc := expectError(t, e.do(r), 404, "NoSuchKey"); doc.Key != "nothing" {
			t.Errorf("%s: NoSuchKey names %q", r.method, doc.Key)
		}
	}
	for _, r := range []req{
		{method: "PUT", path: "/no-such-bucket/k?tagging", body: tgDoc("a", "b")},
		{path: "/no-such-bucket/k?tagging"},
		{method: "DELETE", path: "/no-such-bucket/k?tagging"},
	} {
		expectError(t, e.do(r), 404, "NoSuchBucket")
	}
	if e.get("tagging-missing", "nothing") != nil {
		t.Error("tagging created the object")
	}
}

// x-amz-tagging is a URL-encoded query string, on PutObject and on
// CreateMultipartUpload (the tags reach the completed object).
func TestTaggingHeader(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("tagging-header")
	expectStatus(t, e.put("tagging-header", "put", []byte("x"), map[string]string{"x-amz-tagging": "a%20b=c%2Bd&e=&f=g%2Fh%3Di&%D0%B6=%C3%A9"}), 200)
	want := "a b=c+d&e=&f=g/h=i&ж=é"
	if got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-header/put?tagging"}), 200); got.String() != want {
		t.Errorf("tags %q, want %q", got, want)
	}
	if resp := e.mpHead("tagging-header", "put", nil); resp.Header.Get("x-amz-tagging-count") != "4" {
		t.Errorf("x-amz-tagging-count %q", resp.Header.Get("x-amz-tagging-count"))
	}

	id := e.mpCreate("tagging-header", "multi", map[string]string{"x-amz-tagging": "stage=upload&owner=team%2Fa"})
	part := []byte("the only part")
	e.mpPartOK("tagging-header", "multi", id, 1, part, nil)
	e.mpCompleteOK("tagging-header", "multi", id, mpQuoted(part), mpETag(part))
	if got := mpDecode[tgTagging](t, e.do(req{path: "/tagging-header/multi?tagging"}), 200); got.String() != "owner=team/a&stage=upload" {
		t.Errorf("multipart object tags %q", got)
	}
	if resp := e.mpHead("tagging-header", "multi", nil); resp.Header.Get("x-amz-tagging-count") != "2" {
		t.Errorf("multipart object x-amz-tagging-count %q", resp.Header.Get("x-amz-tagging-count"))
	}
}
