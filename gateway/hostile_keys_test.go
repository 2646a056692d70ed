package gateway

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// hostileTraversalKeys are keys that would leave the bucket directory if a store
// used them as paths. S3 allows every one of them (they are UTF-8 and at
// most 1024 bytes), so s3gate stores them, as keys, inside the bucket.
// Each has the request path that sends it: some only through an encoding.
var hostileTraversalKeys = []struct {
	key  string
	path string // escaped key as sent; escapeKey(key) when empty
}{
	{key: "../../../../../../etc/passwd"},
	{key: "../../escape-encoded", path: "..%2F..%2Fescape-encoded"},
	{key: "../../escape-dots", path: "%2E%2E/%2E%2E/escape-dots"},
	{key: "../../../tmp/x", path: "%2e%2e%2f%2e%2e%2f%2e%2e%2ftmp%2fx"},
	{key: "/absolute/path"},
	{key: "//double/leading"},
	{key: "a/./b/../c"},
	{key: "."},
	{key: ".."},
	{key: "./"},
	{key: "../"},
	{key: "..."},
	{key: "x/.."},
	{key: `..\..\windows\win.ini`},
	{key: `back\slash`},
	{key: "nul\x00byte"},
	{key: "nul-at-end\x00"},
	{key: "\x00"},
	{key: "\x00/../\x00"},
	{key: "lower/case/escapes", path: "lower%2fcase%2Fescapes"},
	{key: "a%2Fb literal percent"},
	{key: "%00"},
	{key: "~hashed-marker"},
	{key: "x.o/y.d"},
	{key: "x.d"},
	{key: "x.o"},
	{key: ".bucket"},
	{key: ".lock"},
	{key: "segment"},
	{key: "tmp/../../buckets/other/x.o"},
	{key: strings.Repeat("s", 300) + "/" + strings.Repeat("t", 700)},
	{key: strings.Repeat("%", 400) + "/end"},
	{key: strings.Repeat("/", 1024)},
	{key: strings.Repeat("../", 341)},
	{key: strings.Repeat("\u00e9", 512)},
	{key: strings.Repeat("%", 1024)},
	{key: "ctl\x01\x02\x1f\x7f"},
	{key: "line\r\nbreak"},
	{key: "\uFEFFbom"},
}

// TestHostileKeys stores every traversal key, checks each reads back with
// its own bytes (no two keys share a file) and lists as itself, and that
// nothing appeared in the data directory outside the bucket; deleting them
// all restores the directory as it was.
func TestHostileKeys(t *testing.T) {
	h := newHostileEnv(t)
	keep := h.seed(t, hostileObject{hostileBucket, "k", []byte("previous k")})
	before := h.snapshot(t)
	contents := map[string][]byte{}
	for i, c := range hostileTraversalKeys {
		path := c.path
		if path == "" {
			path = escapeKey(c.key)
		}
		body := []byte(fmt.Sprintf("body %d of %q", i, c.key))
		contents[c.key] = body
		expectStatus(t, h.doWire(t, req{method: "PUT", path: "/" + hostileBucket + "/" + path, body: body}), 200)
		h.contained(t, before, hostileBucket)
	}
	h.settle(t)
	h.contained(t, before, hostileBucket)
	for _, c := range hostileTraversalKeys {
		if got := h.get(hostileBucket, c.key); string(got) != string(contents[c.key]) {
			t.Errorf("key %q reads %q, want %q", c.key, got, contents[c.key])
		}
	}
	listed := h.listAllKeys(t, hostileBucket)
	want := []string{"k"}
	for k := range contents {
		want = append(want, k)
	}
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("listing holds %d keys, want %d:\n got  %q\n want %q", len(listed), len(want), listed, want)
	}
	for _, c := range hostileTraversalKeys {
		expectStatus(t, h.do(req{method: "DELETE", path: "/" + hostileBucket + "/" + escapeKey(c.key)}), 204)
	}
	h.settle(t)
	h.unchanged(t, before)
	h.intact(t, keep)
	h.serving(t)
}

// listAllKeys lists a bucket with encoding-type=url (keys may hold bytes XML
// cannot carry) and returns the decoded keys.
func (h *hostileEnv) listAllKeys(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	token := ""
	for {
		path := "/" + bucket + "?list-type=2&encoding-type=url"
		if token != "" {
			path += "&continuation-token=" + url.QueryEscape(token)
		}
		b := expectStatus(t, h.do(req{path: path}), 200)
		var page struct {
			Contents              []struct{ Key string }
			IsTruncated           bool
			NextContinuationToken string
		}
		if err := xml.Unmarshal(b, &page); err != nil {
			t.Fatalf("listing: %v: %s", err, b)
		}
		for _, c := range page.Contents {
			k, err := url.QueryUnescape(c.Key)
			if err != nil {
				t.Fatalf("listed key %q is not URL-encoded: %v", c.Key, err)
			}
			keys = append(keys, k)
		}
		if !page.IsTruncated {
			return keys
		}
		token = page.NextContinuationToken
	}
}

// TestHostileKeysRefused: keys S3 refuses, and bucket names that try to
// leave the buckets directory.
func TestHostileKeysRefused(t *testing.T) {
	h := newHostileEnv(t)
	long := strings.Repeat("k", 1024)
	keep := h.seed(t,
		hostileObject{hostileBucket, long, []byte("exactly 1024 bytes of key")},
		hostileObject{hostileBucket, "a", []byte("a")},
		hostileObject{bucket: "etc"},
	)
	put := func(path string) req {
		return req{method: "PUT", path: path, body: []byte("hostile")}
	}
	literal := func(target string) func(t *testing.T, h *hostileEnv) *http.Response {
		return func(t *testing.T, h *hostileEnv) *http.Response {
			host := strings.TrimPrefix(h.url, "http://")
			return h.sendRaw(t, hangOpen, []byte("PUT "+target+" HTTP/1.1\r\nHost: "+host+"\r\nContent-Length: 7\r\n\r\nhostile"))
		}
	}
	cases := []hostileCase{
		{name: "1025-byte key", r: put("/" + hostileBucket + "/" + long + "k"), status: 400, code: "KeyTooLongError"},
		{name: "1026-byte key of 2-byte characters", r: put("/" + hostileBucket + "/" + escapeKey(strings.Repeat("\u00e9", 513))), status: 400, code: "KeyTooLongError"},
		{name: "1025-byte key of slashes", r: put("/" + hostileBucket + "/" + strings.Repeat("/", 1025)), status: 400, code: "KeyTooLongError"},
		{name: "1025-byte key in escapes", wire: true, r: put("/" + hostileBucket + "/" + strings.Repeat("%2F", 1025)), status: 400, code: "KeyTooLongError"},
		{name: "1025-byte key, DELETE", r: req{method: "DELETE", path: "/" + hostileBucket + "/" + long + "k"}, status: 400, code: "KeyTooLongError"},
		{name: "invalid UTF-8 key", wire: true, r: put("/" + hostileBucket + "/a%FF"), status: 400, code: "InvalidURI"},
		{name: "overlong UTF-8 dot-dot", wire: true, r: put("/" + hostileBucket + "/%C0%AE%C0%AE/x"), status: 400, code: "InvalidURI"},
		// net/http refuses such a request line itself, with a plain-text
		// 400 Bad Request, before s3gate sees it; S3 answers XML 400
		// InvalidURI.
		{name: "broken percent-encoding", send: func(t *testing.T, h *hostileEnv) *http.Response {
			resp := literal("/"+hostileBucket+"/a%zz")(t, h)
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("answer %v, want net/http's plain-text 400", resp)
			}
			return resp
		}, status: 0},
		// The bucket is a path component: names that are not S3 bucket
		// names never reach the disk. (S3's answer to such names in a
		// path-style URL is not documented; any refusal will do.)
		{name: "bucket ../etc", wire: true, r: put("/..%2Fetc/passwd"), status: 0},
		{name: "bucket ..", r: put("/../etc/passwd"), status: 0},
		{name: "bucket .", r: put("/./x"), status: 0},
		{name: "bucket with backslash", wire: true, r: put(`/..%5C..%5Cetc/x`), status: 0},
		{name: "bucket with NUL", wire: true, r: put("/victim%00/x"), status: 0},
		{name: "bucket tmp", r: put("/tmp/x"), status: 404, code: "NoSuchBucket"},
		{name: "bucket buckets", r: put("/buckets/x"), status: 404, code: "NoSuchBucket"},
		{name: "virtual host ..", r: req{method: "PUT", path: "/x", host: "..." + testDomain, body: []byte("hostile")}, status: 0},
		{name: "CreateBucket ..%2Fetc", wire: true, r: req{method: "PUT", path: "/..%2Fetc"}, status: 400, code: "InvalidBucketName"},
		{name: "CreateBucket with NUL", wire: true, r: req{method: "PUT", path: "/etc%00"}, status: 400, code: "InvalidBucketName"},
		{name: "CreateBucket over 63 bytes", r: req{method: "PUT", path: "/" + strings.Repeat("b", 64)}, status: 400, code: "InvalidBucketName"},
		{name: "DeleteBucket ..", wire: true, r: req{method: "DELETE", path: "/..%2F" + hostileBucket}, status: 0},
	}
	h.refuseAll(t, cases, keep)
}
