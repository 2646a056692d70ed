package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func TestPutGetMetadataRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("meta")
	ctx := context.Background()
	_, err := e.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String("meta"),
		Key:                aws.String("doc.txt"),
		Body:               strings.NewReader("hello"),
		ContentType:        aws.String("text/plain; charset=utf-8"),
		ContentEncoding:    aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="doc.txt"`),
		ContentLanguage:    aws.String("en"),
		CacheControl:       aws.String("max-age=60"),
		Expires:            aws.Time(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)),
		Metadata:           map[string]string{"color": "blue", "Owner-Name": "alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	checks := map[string][2]string{
		"body":                {string(body), "hello"},
		"ETag":                {aws.ToString(out.ETag), `"5d41402abc4b2a76b9719d911017c592"`},
		"Content-Type":        {aws.ToString(out.ContentType), "text/plain; charset=utf-8"},
		"Content-Encoding":    {aws.ToString(out.ContentEncoding), "identity"},
		"Content-Disposition": {aws.ToString(out.ContentDisposition), `attachment; filename="doc.txt"`},
		"Content-Language":    {aws.ToString(out.ContentLanguage), "en"},
		"Cache-Control":       {aws.ToString(out.CacheControl), "max-age=60"},
		"Expires":             {aws.ToString(out.ExpiresString), "Wed, 02 Jan 2030 03:04:05 GMT"},
		"meta color":          {out.Metadata["color"], "blue"},
		"meta owner-name":     {out.Metadata["owner-name"], "alice"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	// An object stored without a type reports S3's default.
	expectStatus(t, e.put("meta", "untyped", []byte("x"), nil), 200)
	resp := e.do(req{method: "HEAD", path: "/meta/untyped"})
	expectStatus(t, resp, 200)
	if ct := resp.Header.Get("Content-Type"); ct != defaultContentType {
		t.Errorf("default Content-Type %q", ct)
	}
}

func TestGetRanges(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("rng")
	expectStatus(t, e.put("rng", "digits", []byte("0123456789"), nil), 200)
	cases := []struct {
		rng, want, contentRange string
		status                  int
	}{
		{"bytes=0-4", "01234", "bytes 0-4/10", 206},
		{"bytes=5-", "56789", "bytes 5-9/10", 206},
		{"bytes=-3", "789", "bytes 7-9/10", 206},
		{"bytes=8-100", "89", "bytes 8-9/10", 206},
		{"bytes=-100", "0123456789", "bytes 0-9/10", 206},
		{"bytes=abc", "0123456789", "", 200},     // ignored, as S3 does
		{"bytes=0-1,3-4", "0123456789", "", 200}, // several ranges: whole object
	}
	for _, c := range cases {
		resp := e.do(req{path: "/rng/digits", header: map[string]string{"Range": c.rng}})
		body := expectStatus(t, resp, c.status)
		if string(body) != c.want || resp.Header.Get("Content-Range") != c.contentRange {
			t.Errorf("%s: %q %q, want %q %q", c.rng, body, resp.Header.Get("Content-Range"), c.want, c.contentRange)
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(c.want)) {
			t.Errorf("%s: Content-Length %s", c.rng, resp.Header.Get("Content-Length"))
		}
	}
	for _, rng := range []string{"bytes=10-", "bytes=100-200", "bytes=-0"} {
		expectError(t, e.do(req{path: "/rng/digits", header: map[string]string{"Range": rng}}), 416, "InvalidRange")
	}
}

func TestConditionalReads(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("cnd")
	expectStatus(t, e.put("cnd", "k", []byte("v1"), nil), 200)
	etag := `"` + md5hex("v1") + `"`
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"if-match hit", map[string]string{"If-Match": etag}, 200},
		{"if-match star", map[string]string{"If-Match": "*"}, 200},
		{"if-match miss", map[string]string{"If-Match": `"nope"`}, 412},
		{"if-none-match hit", map[string]string{"If-None-Match": etag}, 304},
		{"if-none-match miss", map[string]string{"If-None-Match": `"nope"`}, 200},
		{"if-modified-since future", map[string]string{"If-Modified-Since": future}, 304},
		{"if-modified-since past", map[string]string{"If-Modified-Since": past}, 200},
		{"if-unmodified-since past", map[string]string{"If-Unmodified-Since": past}, 412},
		{"if-unmodified-since future", map[string]string{"If-Unmodified-Since": future}, 200},
		// S3: If-Match true and If-Unmodified-Since false -> 200.
		{"if-match beats if-unmodified-since", map[string]string{"If-Match": etag, "If-Unmodified-Since": past}, 200},
		// S3: If-None-Match false and If-Modified-Since true -> 304.
		{"if-none-match beats if-modified-since", map[string]string{"If-None-Match": etag, "If-Modified-Since": past}, 304},
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, c := range cases {
			resp := e.do(req{method: method, path: "/cnd/k", header: c.header})
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: status %d, want %d", method, c.name, resp.StatusCode, c.status)
			}
			if c.status == 304 && resp.Header.Get("ETag") != etag {
				t.Errorf("%s %s: 304 without ETag (%q)", method, c.name, resp.Header.Get("ETag"))
			}
		}
	}
	e2 := expectError(t, e.do(req{path: "/cnd/k", header: map[string]string{"If-Match": `"nope"`}}), 412, "PreconditionFailed")
	if e2.Condition != "If-Match" {
		t.Errorf("Condition %q", e2.Condition)
	}
}

func TestConditionalWrites(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("wrt")
	expectStatus(t, e.put("wrt", "k", []byte("v1"), map[string]string{"If-None-Match": "*"}), 200)
	expectError(t, e.put("wrt", "k", []byte("v2"), map[string]string{"If-None-Match": "*"}), 412, "PreconditionFailed")
	expectError(t, e.put("wrt", "k", []byte("v2"), map[string]string{"If-Match": `"0123"`}), 412, "PreconditionFailed")
	expectError(t, e.put("wrt", "missing", []byte("v2"), map[string]string{"If-Match": `"0123"`}), 404, "NoSuchKey")
	expectStatus(t, e.put("wrt", "k", []byte("v2"), map[string]string{"If-Match": `"` + md5hex("v1") + `"`}), 200)
	if got := e.get("wrt", "k"); string(got) != "v2" {
		t.Fatalf("after conditional writes: %q", got)
	}
	expectError(t, e.put("wrt", "k", []byte("v3"), map[string]string{"If-None-Match": `"abc"`}), 501, "NotImplemented")
}

// Every declared digest is checked as the body streams; a mismatch stores
// nothing and leaves the previous version in place.
func TestUploadIntegrity(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("itg")
	expectStatus(t, e.put("itg", "k", []byte("original"), nil), 200)
	body := []byte("new content")
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum(body))
	crc := crc32.ChecksumIEEE(body)
	goodCRC := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"sha256 mismatch", req{payloadHash: strings.Repeat("ab", 32)}, 400, "XAmzContentSHA256Mismatch"},
		{"md5 mismatch", req{header: map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(md5sum([]byte("other")))}}, 400, "BadDigest"},
		{"md5 malformed", req{header: map[string]string{"Content-MD5": "not-base64!"}}, 400, "InvalidDigest"},
		{"crc32 mismatch", req{header: map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}}, 400, "BadDigest"},
		{"crc32 malformed", req{header: map[string]string{"x-amz-checksum-crc32": "AAAA"}}, 400, "InvalidRequest"},
		{"two checksums", req{header: map[string]string{"x-amz-checksum-crc32": goodCRC, "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}, 400, "InvalidRequest"},
		{"sdk algorithm without checksum", req{header: map[string]string{"x-amz-sdk-checksum-algorithm": "CRC32"}}, 400, "InvalidRequest"},
		{"unsupported encryption", req{header: map[string]string{"x-amz-server-side-encryption": "AES256"}}, 501, "NotImplemented"},
		{"metadata too large", req{header: map[string]string{"x-amz-meta-big": strings.Repeat("x", 2100)}}, 400, "MetadataTooLarge"},
	}
	for _, c := range cases {
		c.r.method, c.r.path, c.r.body = "PUT", "/itg/k", body
		expectError(t, e.do(c.r), c.status, c.code)
		if got := e.get("itg", "k"); string(got) != "original" {
			t.Fatalf("%s: object is now %q", c.name, got)
		}
	}
	// The same digests, right, store the object; the checksum is echoed.
	resp := e.do(req{method: "PUT", path: "/itg/k", body: body, header: map[string]string{"Content-MD5": goodMD5, "x-amz-checksum-crc32": goodCRC, "x-amz-sdk-checksum-algorithm": "CRC32"}})
	expectStatus(t, resp, 200)
	if resp.Header.Get("x-amz-checksum-crc32") != goodCRC {
		t.Errorf("checksum not echoed: %q", resp.Header.Get("x-amz-checksum-crc32"))
	}
	if got := e.get("itg", "k"); !bytes.Equal(got, body) {
		t.Fatalf("object is %q", got)
	}
}

// A client that sends part of its body and disconnects leaves nothing.
func TestClientDisconnectMidUpload(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("dsc")
	hr, _ := http.NewRequest("PUT", e.url+"/dsc/partial", nil)
	hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRaw(t, hr, "UNSIGNED-PAYLOAD")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	var head strings.Builder
	head.WriteString("PUT /dsc/partial HTTP/1.1\r\nHost: " + hr.Host + "\r\nContent-Length: 1000000\r\n")
	for k, v := range hr.Header {
		head.WriteString(k + ": " + v[0] + "\r\n")
	}
	head.WriteString("\r\n")
	conn.Write([]byte(head.String()))
	conn.Write(bytes.Repeat([]byte("x"), 4096))
	conn.Close()
	// The server notices the disconnect; poll until the request is done.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := e.get("dsc", "partial"); got != nil {
			t.Fatalf("partial object visible: %d bytes", len(got))
		}
		if countOf(t, e.gw, "PutObject") > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.get("dsc", "partial"); got != nil {
		t.Fatalf("partial object visible: %d bytes", len(got))
	}
}

func TestMissingContentLength(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("mcl")
	hr, _ := http.NewRequest("PUT", e.url+"/mcl/k", io.MultiReader(strings.NewReader("abc")))
	hr.ContentLength = -1 // chunked transfer encoding
	hr.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRaw(t, hr, "UNSIGNED-PAYLOAD")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 411, "MissingContentLength")
}

func TestResponseOverridesAndPartNumber(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("ovr")
	expectStatus(t, e.put("ovr", "k", []byte("abc"), map[string]string{"Content-Type": "text/plain"}), 200)
	resp := e.do(req{path: "/ovr/k?response-content-type=application%2Fjson&response-content-disposition=inline&response-cache-control=no-cache"})
	expectStatus(t, resp, 200)
	for h, want := range map[string]string{"Content-Type": "application/json", "Content-Disposition": "inline", "Cache-Control": "no-cache"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// Part 1 of an object written in one PUT is all of it, answered as a
	// range, as S3 does.
	resp = e.do(req{path: "/ovr/k?partNumber=1"})
	if body := expectStatus(t, resp, 206); string(body) != "abc" || resp.Header.Get("Content-Range") != "bytes 0-2/3" {
		t.Errorf("partNumber=1: %q Content-Range %q", body, resp.Header.Get("Content-Range"))
	}
	expectError(t, e.do(req{path: "/ovr/k?partNumber=2"}), 416, "InvalidPartNumber")
	expectError(t, e.do(req{path: "/ovr/k?partNumber=0"}), 400, "InvalidArgument")
}

func TestSpecialKeysThroughSDK(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("keys")
	ctx := context.Background()
	keys := []string{"with space", "plus+sign", "percent%20", "at@sign", "unicodé/ключ/鍵", "double//slash", "trailing/", "a-b", "a/b", "a0", "tilde~", "q?mark", "hash#", "amp&eq=", "semi;colon"}
	for _, k := range keys {
		if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(k), Body: strings.NewReader("v:" + k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for _, k := range keys {
		out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keys"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "v:"+k {
			t.Errorf("get %q = %q", k, b)
		}
	}
	out, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != len(keys) {
		t.Fatalf("listed %d keys, want %d", len(out.Contents), len(keys))
	}
	for i := 1; i < len(out.Contents); i++ {
		if aws.ToString(out.Contents[i-1].Key) >= aws.ToString(out.Contents[i].Key) {
			t.Errorf("listing out of order: %q before %q", *out.Contents[i-1].Key, *out.Contents[i].Key)
		}
	}
	for _, k := range keys {
		if _, err := e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("keys"), Key: aws.String(k)}); err != nil {
			t.Fatalf("delete %q: %v", k, err)
		}
	}
	_, err = e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("keys"), Key: aws.String("a/b")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotFound" {
		t.Fatalf("head after delete: %v", err)
	}
}

func TestKeyLimits(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("lim")
	long := strings.Repeat("k", 1025)
	expectError(t, e.put("lim", long, []byte("x"), nil), 400, "KeyTooLongError")
	expectStatus(t, e.put("lim", strings.Repeat("k", 1024), []byte("x"), nil), 200)
	// Dot segments are key bytes, not path navigation.
	expectStatus(t, e.do(req{method: "PUT", path: "/lim/../../etc/passwd", body: []byte("x")}), 200)
	if got := e.get("lim", "../../etc/passwd"); string(got) != "x" {
		t.Fatalf("dot-segment key: %q", got)
	}
}

func TestDeleteObjectIdempotent(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("del")
	expectStatus(t, e.put("del", "k", []byte("x"), nil), 200)
	for i := 0; i < 2; i++ {
		expectStatus(t, e.do(req{method: "DELETE", path: "/del/k"}), 204)
	}
	expectError(t, e.do(req{method: "DELETE", path: "/nobucket/k"}), 404, "NoSuchBucket")
	err := expectError(t, e.do(req{path: "/del/k"}), 404, "NoSuchKey")
	if err.Key != "k" || err.Resource != "/del/k" {
		t.Errorf("NoSuchKey document: %+v", err)
	}
}

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

func md5hex(s string) string {
	const digits = "0123456789abcdef"
	sum := md5sum([]byte(s))
	out := make([]byte, 0, 32)
	for _, c := range sum {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
