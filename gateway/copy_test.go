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

	"github.com/s3gate/s3gate/checksum"
)

type cpResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	ETag         string
	LastModified string
	mpSums
	ChecksumType string
}

type cpPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	ETag         string
	LastModified string
	mpSums
}

// cpTagsOf returns an object's tags as "k=v" pairs in key order.
func (e *env) cpTagsOf(bucket, key string) string {
	e.t.Helper()
	doc := mpDecode[tgTagging](e.t, e.do(req{path: mpObjectPath(bucket, key) + "?tagging"}), 200)
	return doc.String()
}

// cpCopy sends CopyObject of source (already encoded) to bucket/key.
func (e *env) cpCopy(bucket, key, source string, hdr map[string]string) *http.Response {
	e.t.Helper()
	h := map[string]string{"x-amz-copy-source": source}
	for k, v := range hdr {
		h[k] = v
	}
	return e.do(req{method: "PUT", path: mpObjectPath(bucket, key), header: h})
}

// cpCopyOK copies and checks S3's CopyObjectResult.
func (e *env) cpCopyOK(bucket, key, source string, hdr map[string]string, wantETag string) cpResult {
	e.t.Helper()
	r := mpDecode[cpResult](e.t, e.cpCopy(bucket, key, source, hdr), 200)
	if r.ETag != `"`+wantETag+`"` {
		e.t.Errorf("copy to %s/%s: ETag %s, want %q", bucket, key, r.ETag, wantETag)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.LastModified); err != nil {
		e.t.Errorf("copy to %s/%s: LastModified %q: %v", bucket, key, r.LastModified, err)
	}
	return r
}

// CopyObject within and across buckets, with the metadata and tagging
// directives.
func TestCopyObjectDirectives(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("src-bucket")
	e.mkBucket("dst-bucket")
	body := []byte("copy me, please")
	expectStatus(t, e.put("src-bucket", "dir/a.txt", body, map[string]string{
		"Content-Type":      "text/plain",
		"Cache-Control":     "max-age=5",
		"Content-Language":  "en",
		"x-amz-meta-colour": "blue",
		"x-amz-tagging":     "t1=v1&t2=v2",
	}), 200)
	etag := mpMD5(body)

	cases := []struct {
		name   string
		bucket string
		hdr    map[string]string
		// what the copy must carry
		contentType, cacheControl, meta, tags string
	}{
		{name: "same bucket, defaults", bucket: "src-bucket",
			contentType: "text/plain", cacheControl: "max-age=5", meta: "colour=blue", tags: "t1=v1&t2=v2"},
		{name: "other bucket, defaults", bucket: "dst-bucket",
			contentType: "text/plain", cacheControl: "max-age=5", meta: "colour=blue", tags: "t1=v1&t2=v2"},
		{name: "COPY ignores the request's metadata and tags", bucket: "dst-bucket",
			hdr:         map[string]string{"x-amz-metadata-directive": "COPY", "Content-Type": "image/png", "x-amz-meta-shape": "round", "x-amz-tagging": "t3=v3"},
			contentType: "text/plain", cacheControl: "max-age=5", meta: "colour=blue", tags: "t1=v1&t2=v2"},
		{name: "REPLACE metadata", bucket: "dst-bucket",
			hdr:         map[string]string{"x-amz-metadata-directive": "REPLACE", "Content-Type": "application/json", "x-amz-meta-shape": "round"},
			contentType: "application/json", meta: "shape=round", tags: "t1=v1&t2=v2"},
		{name: "REPLACE metadata with none", bucket: "dst-bucket",
			hdr:         map[string]string{"x-amz-metadata-directive": "REPLACE"},
			contentType: "binary/octet-stream", tags: "t1=v1&t2=v2"},
		{name: "REPLACE tags", bucket: "dst-bucket",
			hdr:         map[string]string{"x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "t3=v3"},
			contentType: "text/plain", cacheControl: "max-age=5", meta: "colour=blue", tags: "t3=v3"},
		{name: "REPLACE tags with none", bucket: "dst-bucket",
			hdr:         map[string]string{"x-amz-tagging-directive": "REPLACE"},
			contentType: "text/plain", cacheControl: "max-age=5", meta: "colour=blue"},
		{name: "REPLACE both", bucket: "src-bucket",
			hdr:         map[string]string{"x-amz-metadata-directive": "REPLACE", "x-amz-tagging-directive": "REPLACE", "x-amz-tagging": "t4=v4", "Cache-Control": "no-store"},
			contentType: "binary/octet-stream", cacheControl: "no-store", tags: "t4=v4"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.mpFor(t)
			key := "copy-" + strconv.Itoa(i)
			e.cpCopyOK(c.bucket, key, "/src-bucket/dir/a.txt", c.hdr, etag)
			resp := e.do(req{path: mpObjectPath(c.bucket, key)})
			if got := expectStatus(t, resp, 200); !bytes.Equal(got, body) {
				t.Fatalf("copy holds %q", got)
			}
			var meta []string
			for name := range resp.Header {
				if k, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-"); ok {
					meta = append(meta, k+"="+resp.Header.Get(name))
				}
			}
			checks := map[string][2]string{
				"ETag":          {resp.Header.Get("ETag"), `"` + etag + `"`},
				"Content-Type":  {resp.Header.Get("Content-Type"), c.contentType},
				"Cache-Control": {resp.Header.Get("Cache-Control"), c.cacheControl},
				"metadata":      {strings.Join(mpSorted(meta), "&"), c.meta},
				"tags":          {e.cpTagsOf(c.bucket, key), c.tags},
			}
			for name, v := range checks {
				if v[0] != v[1] {
					t.Errorf("%s = %q, want %q", name, v[0], v[1])
				}
			}
			wantCount := ""
			if c.tags != "" {
				wantCount = strconv.Itoa(strings.Count(c.tags, "=")) // one "=" per tag
			}
			if got := resp.Header.Get("x-amz-tagging-count"); got != wantCount {
				t.Errorf("x-amz-tagging-count %q, want %q", got, wantCount)
			}
		})
	}
	// The source is untouched.
	resp := e.do(req{method: "HEAD", path: "/src-bucket/dir/a.txt"})
	expectStatus(t, resp, 200)
	if resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("x-amz-meta-colour") != "blue" || e.cpTagsOf("src-bucket", "dir/a.txt") != "t1=v1&t2=v2" {
		t.Errorf("source changed: %v", resp.Header)
	}
	for _, d := range []string{"x-amz-metadata-directive", "x-amz-tagging-directive"} {
		expectError(t, e.cpCopy("dst-bucket", "bad", "/src-bucket/dir/a.txt", map[string]string{d: "MOVE"}), 400, "InvalidArgument")
	}
	if e.get("dst-bucket", "bad") != nil {
		t.Error("a refused copy stored an object")
	}
}

// mpSorted returns a sorted copy of s.
func mpSorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// An object may be copied onto itself only to replace its metadata.
func TestCopyObjectOntoItself(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("self-copy")
	body := []byte("myself")
	expectStatus(t, e.put("self-copy", "k", body, map[string]string{"Content-Type": "text/plain", "x-amz-meta-v": "1"}), 200)
	for _, hdr := range []map[string]string{nil, {"x-amz-metadata-directive": "COPY"}} {
		expectError(t, e.cpCopy("self-copy", "k", "/self-copy/k", hdr), 400, "InvalidRequest")
	}
	e.cpCopyOK("self-copy", "k", "/self-copy/k", map[string]string{"x-amz-metadata-directive": "REPLACE", "Content-Type": "text/html", "x-amz-meta-v": "2"}, mpMD5(body))
	resp := e.do(req{path: "/self-copy/k"})
	if got := expectStatus(t, resp, 200); !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "text/html" || resp.Header.Get("x-amz-meta-v") != "2" {
		t.Errorf("after REPLACE onto itself: %q %v", got, resp.Header)
	}
}

// x-amz-copy-source-if-* decide whether the copy happens; a failed
// condition is 412, even those a GET answers with 304.
func TestCopyObjectConditions(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("copy-cond")
	body := []byte("conditional source")
	expectStatus(t, e.put("copy-cond", "src", body, nil), 200)
	etag := `"` + mpMD5(body) + `"`
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	const (
		ifMatch      = "x-amz-copy-source-if-match"
		ifNoneMatch  = "x-amz-copy-source-if-none-match"
		ifModified   = "x-amz-copy-source-if-modified-since"
		ifUnmodified = "x-amz-copy-source-if-unmodified-since"
	)
	cases := []struct {
		name string
		hdr  map[string]string
		ok   bool
	}{
		{"if-match hit", map[string]string{ifMatch: etag}, true},
		{"if-match unquoted", map[string]string{ifMatch: mpMD5(body)}, true},
		{"if-match miss", map[string]string{ifMatch: `"0123456789abcdef0123456789abcdef"`}, false},
		{"if-none-match hit", map[string]string{ifNoneMatch: etag}, false},
		{"if-none-match miss", map[string]string{ifNoneMatch: `"0123456789abcdef0123456789abcdef"`}, true},
		{"if-modified-since past", map[string]string{ifModified: past}, true},
		{"if-modified-since future", map[string]string{ifModified: future}, false},
		{"if-unmodified-since past", map[string]string{ifUnmodified: past}, false},
		{"if-unmodified-since future", map[string]string{ifUnmodified: future}, true},
		// S3: if-match true and if-unmodified-since false copies.
		{"if-match beats if-unmodified-since", map[string]string{ifMatch: etag, ifUnmodified: past}, true},
		// S3: if-none-match false and if-modified-since true fails.
		{"if-none-match beats if-modified-since", map[string]string{ifNoneMatch: etag, ifModified: past}, false},
	}
	id := e.mpCreate("copy-cond", "part-dest", nil)
	for i, c := range cases {
		key := "dst-" + strconv.Itoa(i)
		resp := e.cpCopy("copy-cond", key, "/copy-cond/src", c.hdr)
		h := map[string]string{"x-amz-copy-source": "/copy-cond/src"}
		for k, v := range c.hdr {
			h[k] = v
		}
		partResp := e.do(req{method: "PUT", path: "/copy-cond/part-dest?partNumber=1&" + mpUploadQuery(id), header: h})
		if c.ok {
			mpDecode[cpResult](t, resp, 200)
			mpDecode[cpPartResult](t, partResp, 200)
			if got := e.get("copy-cond", key); !bytes.Equal(got, body) {
				t.Errorf("%s: copy holds %q", c.name, got)
			}
			continue
		}
		expectError(t, resp, 412, "PreconditionFailed")
		expectError(t, partResp, 412, "PreconditionFailed")
		if e.get("copy-cond", key) != nil {
			t.Errorf("%s: failed condition still copied", c.name)
		}
	}
}

// x-amz-copy-source is URL-encoded "bucket/key" (a leading slash is
// optional); versionId=null names the only version, any other is
// NoSuchVersion.
func TestCopySourceNames(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("copy-names")
	keys := []string{"with space.txt", "unicode-✓-ключ-鍵", "plus+sign", "question?mark", "?versionId", "percent%41", "a/b//c", "amp&eq=semi;", "hash#tag"}
	for i, k := range keys {
		body := []byte("body of " + k)
		expectStatus(t, e.put("copy-names", k, body, nil), 200)
		for j, src := range []string{"/copy-names/" + escapeKey(k), "copy-names/" + escapeKey(k), "/copy-names/" + escapeKey(k) + "?versionId=null"} {
			dst := "dst/" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			e.cpCopyOK("copy-names", dst, src, nil, mpMD5(body))
			if got := e.get("copy-names", dst); !bytes.Equal(got, body) {
				t.Errorf("copy of %q via %q holds %q", k, src, got)
			}
		}
	}
	expectError(t, e.cpCopy("copy-names", "v", "/copy-names/"+escapeKey(keys[0])+"?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", nil), 404, "NoSuchVersion")
	expectError(t, e.cpCopy("copy-names", "v", "/copy-names/no-such-key", nil), 404, "NoSuchKey")
	expectError(t, e.cpCopy("copy-names", "v", "/no-such-bucket/k", nil), 404, "NoSuchBucket")
	expectError(t, e.cpCopy("no-such-bucket", "v", "/copy-names/"+escapeKey(keys[0]), nil), 404, "NoSuchBucket")
	for _, bad := range []string{"copy-names", "/copy-names/", "/copy-names"} {
		expectError(t, e.cpCopy("copy-names", "v", bad, nil), 400, "InvalidArgument")
	}
	if e.get("copy-names", "v") != nil {
		t.Error("a refused copy stored an object")
	}

	// The SDK's CopySource is sent as given: the caller encodes it.
	_, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String("copy-names"), Key: aws.String("sdk copy"),
		CopySource: aws.String("copy-names/" + escapeKey(keys[1]))})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get("copy-names", "sdk copy"); string(got) != "body of "+keys[1] {
		t.Errorf("SDK copy holds %q", got)
	}
}

// The copy's checksum: the source's algorithm, or the one the request
// names, computed over the copied bytes (FULL_OBJECT); CRC64NVME when the
// source has S3's default.
func TestCopyObjectChecksum(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("copy-sums")
	body := []byte(strings.Repeat("checksummed copy ", 100))
	expectStatus(t, e.put("copy-sums", "sha", body, map[string]string{mpHeader(checksum.SHA256): mpFull(t, checksum.SHA256, body)}), 200)
	expectStatus(t, e.put("copy-sums", "plain", body, nil), 200)
	cases := []struct {
		src  string
		hdr  map[string]string
		want checksum.Algorithm
	}{
		{"sha", nil, checksum.SHA256},
		{"plain", nil, checksum.CRC64NVME},
		{"sha", map[string]string{"x-amz-checksum-algorithm": "CRC32"}, checksum.CRC32},
		{"plain", map[string]string{"x-amz-checksum-algorithm": "SHA1"}, checksum.SHA1},
		{"plain", map[string]string{"x-amz-checksum-algorithm": "CRC32C"}, checksum.CRC32C},
	}
	for i, c := range cases {
		key := "copy-" + strconv.Itoa(i)
		r := e.cpCopyOK("copy-sums", key, "/copy-sums/"+c.src, c.hdr, mpMD5(body))
		want := mpFull(t, c.want, body)
		if r.of(c.want) != want || r.ChecksumType != "FULL_OBJECT" || len(r.present()) != 1 {
			t.Errorf("copy of %s %v: result checksums %v %s=%q type %q, want %q", c.src, c.hdr, r.present(), c.want, r.of(c.want), r.ChecksumType, want)
		}
		resp := e.mpHead("copy-sums", key, map[string]string{"x-amz-checksum-mode": "ENABLED"})
		if resp.Header.Get(mpHeader(c.want)) != want || resp.Header.Get("x-amz-checksum-type") != "FULL_OBJECT" {
			t.Errorf("HEAD of copy %d: %s=%q type %q", i, mpHeader(c.want), resp.Header.Get(mpHeader(c.want)), resp.Header.Get("x-amz-checksum-type"))
		}
	}

	// The SDK reads the result.
	out, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String("copy-sums"), Key: aws.String("sdk"),
		CopySource: aws.String("copy-sums/sha")})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.CopyObjectResult; r == nil || aws.ToString(r.ETag) != `"`+mpMD5(body)+`"` || aws.ToString(r.ChecksumSHA256) != mpFull(t, checksum.SHA256, body) || r.LastModified == nil {
		t.Errorf("SDK CopyObjectResult %+v", out.CopyObjectResult)
	}
}

// UploadPartCopy builds an object from ranges of others; the ranges S3
// refuses are InvalidArgument.
func TestUploadPartCopy(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("part-copy")
	big, tail := mpBig(), mpBytes(40, 2500)
	source := append(append([]byte(nil), big...), tail...)
	expectStatus(t, e.put("part-copy", "source", source, nil), 200)
	small := []byte("a small object copied whole")
	expectStatus(t, e.put("part-copy", "small", small, nil), 200)

	copyPart := func(key, id string, n int, src, rng string) *http.Response {
		h := map[string]string{"x-amz-copy-source": src}
		if rng != "" {
			h["x-amz-copy-source-range"] = rng
		}
		return e.do(req{method: "PUT", path: mpObjectPath("part-copy", key) + "?partNumber=" + strconv.Itoa(n) + "&" + mpUploadQuery(id), header: h})
	}

	// An object assembled from two ranges of another, with SHA256 parts.
	id := e.mpCreate("part-copy", "assembled", map[string]string{"x-amz-checksum-algorithm": "SHA256"})
	ranges := []string{"bytes=0-" + strconv.Itoa(len(big)-1), "bytes=" + strconv.Itoa(len(big)) + "-" + strconv.Itoa(len(source)-1)}
	for n, want := range [][]byte{big, tail} {
		r := mpDecode[cpPartResult](t, copyPart("assembled", id, n+1, "/part-copy/source", ranges[n]), 200)
		if r.ETag != `"`+mpMD5(want)+`"` || r.SHA256 != mpFull(t, checksum.SHA256, want) || r.LastModified == "" {
			t.Errorf("CopyPartResult %d: %+v", n+1, r)
		}
	}
	res := e.mpCompleteOK("part-copy", "assembled", id, mpWithSums(t, checksum.SHA256, big, tail), mpETag(big, tail))
	if res.SHA256 != mpComposite(t, checksum.SHA256, big, tail) || res.ChecksumType != "COMPOSITE" {
		t.Errorf("assembled checksum %q %q", res.SHA256, res.ChecksumType)
	}
	if got := e.get("part-copy", "assembled"); !bytes.Equal(got, source) {
		t.Fatalf("assembled object is %d bytes, not the source", len(got))
	}

	// A whole object, and a range, as the only part.
	for _, c := range []struct{ src, rng, want string }{
		{"/part-copy/small", "", string(small)},
		{"part-copy/small", "bytes=2-6", string(small[2:7])},
		{"/part-copy/source", "bytes=10-19", string(source[10:20])},
		{"/part-copy/small", "bytes=0-" + strconv.Itoa(len(small)-1), string(small)},
	} {
		id := e.mpCreate("part-copy", "single", nil)
		r := mpDecode[cpPartResult](t, copyPart("single", id, 1, c.src, c.rng), 200)
		if r.ETag != `"`+mpMD5([]byte(c.want))+`"` {
			t.Errorf("%s %s: ETag %s", c.src, c.rng, r.ETag)
		}
		e.mpCompleteOK("part-copy", "single", id, mpQuoted([]byte(c.want)), mpETag([]byte(c.want)))
		if got := e.get("part-copy", "single"); string(got) != c.want {
			t.Errorf("%s %s: object %q, want %q", c.src, c.rng, got, c.want)
		}
	}

	id = e.mpCreate("part-copy", "refused", nil)
	for _, rng := range []string{
		"0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5",
		"bytes=-5", "bytes=5-", "bytes=6-2", "items=0-2",
	} {
		doc := mpExpectError(t, copyPart("refused", id, 1, "/part-copy/small", rng), 400, "InvalidArgument")
		if doc.ArgumentName != "x-amz-copy-source-range" {
			t.Errorf("range %q: ArgumentName %q", rng, doc.ArgumentName)
		}
	}
	expectError(t, copyPart("refused", id, 1, "/part-copy/missing", "bytes=0-1"), 404, "NoSuchKey")
	expectError(t, copyPart("refused", "no-such-upload", 1, "/part-copy/small", "bytes=0-1"), 404, "NoSuchUpload")
	expectError(t, copyPart("refused", id, 0, "/part-copy/small", "bytes=0-1"), 400, "InvalidArgument")
	if page := e.mpListParts("part-copy", "refused", id, ""); len(page.Parts) != 0 {
		t.Errorf("refused copies left parts: %+v", page.Parts)
	}
}

// A range that runs past the source is InvalidArgument (400), naming the
// source's size, not the 416 InvalidRange of a GET.
func TestUploadPartCopyRangeOutsideSource(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("part-range")
	small := []byte("twenty-one bytes long")
	expectStatus(t, e.put("part-range", "small", small, nil), 200)
	id := e.mpCreate("part-range", "dst", nil)
	size := strconv.Itoa(len(small))
	for _, rng := range []string{"bytes=0-" + size, "bytes=5-100", "bytes=" + size + "-" + strconv.Itoa(len(small)+5), "bytes=100-200"} {
		h := map[string]string{"x-amz-copy-source": "/part-range/small", "x-amz-copy-source-range": rng}
		doc := mpExpectError(t, e.do(req{method: "PUT", path: "/part-range/dst?partNumber=1&" + mpUploadQuery(id), header: h}), 400, "InvalidArgument")
		if doc.ArgumentName != "x-amz-copy-source-range" || doc.ArgumentValue != rng || !strings.Contains(doc.Message, "size: "+size) {
			t.Errorf("range %q: ArgumentName %q ArgumentValue %q Message %q", rng, doc.ArgumentName, doc.ArgumentValue, doc.Message)
		}
	}
}

// The SDK's UploadPartCopy.
func TestUploadPartCopySDK(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sdk-part-copy")
	ctx := context.Background()
	body := []byte("0123456789abcdefghij")
	expectStatus(t, e.put("sdk-part-copy", "src key", body, nil), 200)
	created, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sdk-part-copy"), Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("sdk-part-copy"), Key: aws.String("dst"),
		UploadId: created.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("sdk-part-copy/src%20key"), CopySourceRange: aws.String("bytes=10-19")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CopyPartResult.ETag) != `"`+mpMD5(body[10:])+`"` {
		t.Errorf("CopyPartResult %+v", out.CopyPartResult)
	}
	_, err = e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("sdk-part-copy"), Key: aws.String("dst"), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: out.CopyPartResult.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get("sdk-part-copy", "dst"); string(got) != string(body[10:]) {
		t.Errorf("object %q", got)
	}
}
