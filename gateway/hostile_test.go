package gateway

// The hostile-input suite: requests no well-behaved client sends. Each case
// names the S3 answer it expects and then checks that the request left no
// trace: the objects it aimed at are byte for byte what they were, the data
// directory holds exactly the files it held before (tmp/ aside, which must
// drain), and the server still serves a normal request afterwards.

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/checksum"
	"github.com/s3gate/s3gate/sigv4"
)

// hostileEnv is an env over an fs backend whose data directory the test can
// inspect.
type hostileEnv struct {
	*env
	data    string
	canary  int
	buckets []string // buckets made by setup, which may hold files
}

const (
	hostileBucket = "victim" // the bucket hostile requests aim at
	canaryBucket  = "canary" // where serving() proves the server still works
	emptyBucket   = "empty"  // a bucket without objects (anonymous DeleteBucket)
)

// newHostileEnv starts a gateway over a fresh data directory with the
// victim, canary and empty buckets.
func newHostileEnv(t *testing.T, mutate ...func(*Options, *backends.Backend)) *hostileEnv {
	t.Helper()
	data := t.TempDir()
	store, err := fs.Open(data, fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	use := func(_ *Options, b *backends.Backend) { *b = store }
	e := newEnv(t, append([]func(*Options, *backends.Backend){use}, mutate...)...)
	h := &hostileEnv{env: e, data: data}
	for _, b := range []string{hostileBucket, canaryBucket, emptyBucket} {
		h.mkBucket(b)
		h.buckets = append(h.buckets, b)
	}
	return h
}

// with returns h reporting to t (a subtest): env's helpers fail the test
// they belong to.
func (h *hostileEnv) with(t *testing.T) *hostileEnv {
	e := *h.env
	e.t = t
	c := *h
	c.env = &e
	return &c
}

// snapshot maps every path under the data directory (slash-separated,
// relative) to "dir", "symlink -> target", or the SHA-256 of the file.
func (h *hostileEnv) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(h.data, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while walking (tmp files)
			}
			return err
		}
		rel, _ := filepath.Rel(h.data, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case d.Type()&iofs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "symlink -> " + target
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = hex.EncodeToString(sum[:])
		default:
			out[rel] = "special " + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the data directory: %v", err)
	}
	return out
}

// inTmp reports whether a snapshot path is inside tmp/.
func hostileInTmp(p string) bool { return strings.HasPrefix(p, "tmp/") }

// settle waits until no request is in flight and tmp/ is empty: a write
// that was refused or abandoned must remove its temporary file.
func (h *hostileEnv) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var m dto.Metric
		if err := h.gw.metrics.inflight.Write(&m); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(h.data, "tmp"))
		if err != nil {
			t.Fatalf("reading tmp/: %v", err)
		}
		if m.GetGauge().GetValue() == 0 && len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("after 5s: %v requests in flight, tmp/ holds %q", m.GetGauge().GetValue(), names)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unchanged fails unless the data directory, tmp/ aside, is exactly as in
// before: same paths, same bytes, no symlink.
func (h *hostileEnv) unchanged(t *testing.T, before map[string]string) {
	t.Helper()
	after := h.snapshot(t)
	var diffs []string
	for p, v := range after {
		if hostileInTmp(p) {
			continue
		}
		switch w, ok := before[p]; {
		case !ok:
			diffs = append(diffs, "new: "+p+" ("+v+")")
		case w != v:
			diffs = append(diffs, "changed: "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !hostileInTmp(p) {
			diffs = append(diffs, "gone: "+p)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Errorf("the data directory changed:\n%s", strings.Join(diffs, "\n"))
	}
}

// contained fails if anything outside <data>/buckets/<bucket> and
// <data>/tmp was added or changed since before, or if any symlink exists.
func (h *hostileEnv) contained(t *testing.T, before map[string]string, bucket string) {
	t.Helper()
	inside := "buckets/" + bucket + "/"
	for p, v := range h.snapshot(t) {
		if strings.HasPrefix(v, "symlink") || strings.HasPrefix(v, "special") {
			t.Errorf("%s in the data directory: %s", v, p)
		}
		if w, ok := before[p]; ok && w == v || hostileInTmp(p) || strings.HasPrefix(p, inside) {
			continue
		}
		t.Errorf("written outside %s and tmp/: %s", inside, p)
	}
}

// serving proves the server still works: a normal PUT, GET and DELETE.
func (h *hostileEnv) serving(t *testing.T) {
	t.Helper()
	h.canary++
	key := "canary-" + strconv.Itoa(h.canary)
	body := []byte("still serving " + key)
	expectStatus(t, h.put(canaryBucket, key, body, nil), 200)
	if got := h.get(canaryBucket, key); !bytes.Equal(got, body) {
		t.Fatalf("after the hostile request, a normal GET returns %q, want %q", got, body)
	}
	expectStatus(t, h.do(req{method: "DELETE", path: "/" + canaryBucket + "/" + key}), 204)
}

// hostileObject is an object that must outlive every hostile case: data nil
// means it must stay absent. An empty key stands for the bucket itself,
// which must stay absent.
type hostileObject struct {
	bucket, key string
	data        []byte
}

// seed stores the objects and returns them, for intact to check.
func (h *hostileEnv) seed(t *testing.T, objs ...hostileObject) []hostileObject {
	t.Helper()
	for _, o := range objs {
		if o.data != nil {
			expectStatus(t, h.put(o.bucket, o.key, o.data, nil), 200)
		}
	}
	return objs
}

// intact fails unless every object reads back as seeded (or is absent).
func (h *hostileEnv) intact(t *testing.T, objs []hostileObject) {
	t.Helper()
	for _, o := range objs {
		if o.key == "" {
			resp := h.do(req{method: "HEAD", path: "/" + o.bucket})
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD bucket %s: %d, want 404: it must not exist", o.bucket, resp.StatusCode)
			}
			continue
		}
		got := h.get(o.bucket, o.key)
		switch {
		case o.data == nil && got != nil:
			t.Errorf("%s/%q exists (%d bytes); it must not", o.bucket, o.key, len(got))
		case o.data != nil && !bytes.Equal(got, o.data):
			t.Errorf("%s/%q holds %d bytes %.40q, want its previous %d bytes %.40q", o.bucket, o.key, len(got), got, len(o.data), o.data)
		}
	}
}

// hostileCase is one request s3gate must refuse without changing anything.
type hostileCase struct {
	name string
	r    req
	// wire sends r with doWire: its path holds escapes S3 decodes.
	wire bool
	// send replaces r for requests env.do cannot make; it may return nil
	// when no answer can arrive (the client hung up).
	send func(t *testing.T, h *hostileEnv) *http.Response
	// status and code are S3's answer; status 0 accepts any answer
	// (or none) that is not a success.
	status int
	code   string
	// divergence, when set, says how s3gate's answer differs from S3's
	// today: the case keeps S3's answer and fails until the gateway is
	// fixed.
	divergence string
}

// refuseAll runs every case as a subtest, checking the answer, the objects
// in keep, the data directory and that the server still serves.
func (h *hostileEnv) refuseAll(t *testing.T, cases []hostileCase, keep []hostileObject) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.divergence != "" {
				defer func() {
					if t.Failed() {
						t.Logf("known difference from S3: %s", c.divergence)
					}
				}()
			}
			sh := h.with(t)
			before := sh.snapshot(t)
			var resp *http.Response
			switch {
			case c.send != nil:
				resp = c.send(t, sh)
			case c.wire:
				resp = sh.doWire(t, c.r)
			default:
				resp = sh.do(c.r)
			}
			hostileCheck(t, resp, c.status, c.code)
			sh.settle(t)
			sh.unchanged(t, before)
			sh.intact(t, keep)
			sh.serving(t)
			if t.Failed() {
				// Put things back, so the next case starts from the seed.
				sh.restore(t, keep)
			}
		})
	}
}

// restore puts every object back as seeded.
func (h *hostileEnv) restore(t *testing.T, objs []hostileObject) {
	t.Helper()
	for _, o := range objs {
		if o.data != nil {
			expectStatus(t, h.put(o.bucket, o.key, o.data, nil), 200)
			continue
		}
		path := "/" + o.bucket + "/" + escapeKey(o.key)
		if o.key == "" {
			path = "/" + o.bucket
		}
		resp := h.do(req{method: "DELETE", path: path})
		resp.Body.Close()
	}
}

// checkRefusal checks an error answer without stopping the test, so that
// the checks on storage still run. resp may be nil when status is 0.
func hostileCheck(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp == nil {
		if status != 0 {
			t.Errorf("no answer, want %d %s", status, code)
		}
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if status == 0 {
		t.Logf("answer: %d %.200q", resp.StatusCode, body)
		if resp.StatusCode < 300 {
			t.Errorf("status %d, want a refusal; body %s", resp.StatusCode, body)
		}
		return
	}
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d %s; body %s", resp.StatusCode, status, code, body)
		return
	}
	var e s3err
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Errorf("error body is not XML: %v: %q", err, body)
		return
	}
	if e.Code != code {
		t.Errorf("code %q, want %q; body %s", e.Code, code, body)
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Errorf("RequestId %q does not match x-amz-request-id %q", e.RequestID, resp.Header.Get("x-amz-request-id"))
	}
}

// doWire is env.do for request paths written with escapes S3 decodes
// before it computes the canonical URI (%2F, %2E, lower-case hex): it signs
// the canonical path and sends the path as written.
func (h *hostileEnv) doWire(t *testing.T, r req) *http.Response {
	t.Helper()
	wire, rawQuery, _ := strings.Cut(r.path, "?")
	decoded, err := url.PathUnescape(wire)
	if err != nil {
		t.Fatalf("%q: %v", wire, err)
	}
	target := h.url + sigv4.EncodePath(decoded)
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	hr := newSignedRequest(t, r, target)
	hr.URL.RawPath = wire
	if got := hr.URL.EscapedPath(); got != wire {
		t.Fatalf("net/http would send %q, not %q", got, wire)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// --- raw connections --------------------------------------------------------

// hostileRaw is a signed request written onto a TCP connection by hand, so a
// test can stop where no well-behaved client would.
type hostileRaw struct {
	method string
	target string // escaped path and query
	header map[string]string
	// length is the Content-Length sent (and signed); -1 sends none.
	length int64
	// payloadHash is the signed x-amz-content-sha256; UNSIGNED-PAYLOAD
	// when empty.
	payloadHash string
	anonymous   bool
}

// head returns the request line and headers, signed.
func (h *hostileEnv) rawHead(t *testing.T, r hostileRaw) []byte {
	t.Helper()
	hr, err := http.NewRequest(r.method, h.url+r.target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.length > 0 {
		hr.ContentLength = r.length
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if !r.anonymous {
		ph := r.payloadHash
		if ph == "" {
			ph = "UNSIGNED-PAYLOAD"
		}
		hr.Header.Set("X-Amz-Content-Sha256", ph)
		signRaw(t, hr, ph)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.method, r.target, hr.Host)
	if r.length >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", r.length)
	}
	for k, vs := range hr.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// hangup says how a raw client ends.
type hangup int

const (
	// hangHalf shuts the write side (FIN) and reads the answer.
	hangHalf hangup = iota
	// hangClose closes the connection: no answer can arrive.
	hangClose
	// hangOpen keeps the connection open and reads the answer.
	hangOpen
)

// sendRaw dials the server, writes the parts in order, ends as told and
// returns the answer (nil for hangClose, or when the server sent none).
func (h *hostileEnv) sendRaw(t *testing.T, end hangup, parts ...[]byte) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, p := range parts {
		if _, err := conn.Write(p); err != nil {
			t.Logf("write: %v (the server hung up first)", err)
			break
		}
	}
	switch end {
	case hangClose:
		return nil
	case hangHalf:
		conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Logf("no HTTP answer: %v", err)
		return nil
	}
	// Read the body now: the connection closes when this returns.
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// --- digests ----------------------------------------------------------------

func hostileMD5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func hostileSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hostileChecksum(alg checksum.Algorithm, b []byte) string {
	hh := alg.New()
	hh.Write(b)
	return base64.StdEncoding.EncodeToString(hh.Sum(nil))
}

// --- headers, checksums, metadata, anonymous writes --------------------------

// TestHostileHeaders sends PUTs whose headers lie about the body or ask for
// too much, and anonymous writes and deletes.
func TestHostileHeaders(t *testing.T) {
	h := newHostileEnv(t)
	original := []byte("original bytes of k")
	keep := h.seed(t,
		hostileObject{hostileBucket, "k", original},
		hostileObject{hostileBucket, "new", nil},
		hostileObject{emptyBucket, "x", nil},
	)
	body := []byte("replacement bytes")
	other := []byte("other bytes")
	put := func(hdr map[string]string) req {
		return req{method: "PUT", path: "/" + hostileBucket + "/k", body: body, header: hdr}
	}
	var cases []hostileCase
	for _, alg := range checksum.All {
		hn := alg.Header()
		right := hostileChecksum(alg, body)
		cases = append(cases,
			hostileCase{name: string(alg) + " of other bytes", r: put(map[string]string{hn: hostileChecksum(alg, other)}), status: 400, code: "BadDigest"},
			hostileCase{name: string(alg) + " not base64", r: put(map[string]string{hn: "!!not base64!!"}), status: 400, code: "InvalidRequest"},
			hostileCase{name: string(alg) + " wrong length", r: put(map[string]string{hn: base64.StdEncoding.EncodeToString([]byte{1, 2, 3})}), status: 400, code: "InvalidRequest"},
			hostileCase{name: string(alg) + " right but Content-MD5 wrong", r: put(map[string]string{hn: right, "Content-MD5": hostileMD5(other)}), status: 400, code: "BadDigest"},
			hostileCase{name: string(alg) + " wrong but Content-MD5 right", r: put(map[string]string{hn: hostileChecksum(alg, other), "Content-MD5": hostileMD5(body)}), status: 400, code: "BadDigest"},
			hostileCase{name: string(alg) + " empty value", r: put(map[string]string{hn: ""}), status: 400, code: "InvalidRequest"},
		)
	}
	cases = append(cases, []hostileCase{
		{name: "two checksums both right", r: put(map[string]string{"x-amz-checksum-crc32": hostileChecksum(checksum.CRC32, body), "x-amz-checksum-sha256": hostileChecksum(checksum.SHA256, body)}), status: 400, code: "InvalidRequest"},
		{name: "sdk algorithm names another checksum", r: put(map[string]string{"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-sha1": hostileChecksum(checksum.SHA1, body)}), status: 400, code: "InvalidRequest"},
		{name: "sdk algorithm unknown", r: put(map[string]string{"x-amz-sdk-checksum-algorithm": "MD5", "x-amz-checksum-crc32": hostileChecksum(checksum.CRC32, body)}), status: 400, code: "InvalidRequest"},
		{name: "Content-MD5 of other bytes", r: put(map[string]string{"Content-MD5": hostileMD5(other)}), status: 400, code: "BadDigest"},
		{name: "Content-MD5 not base64", r: put(map[string]string{"Content-MD5": "@@@"}), status: 400, code: "InvalidDigest"},
		{name: "Content-MD5 wrong length", r: put(map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 15))}), status: 400, code: "InvalidDigest"},
		{name: "Content-MD5 hex instead of base64", r: put(map[string]string{"Content-MD5": md5hex(string(body))}), status: 400, code: "InvalidDigest"},
		{name: "Content-MD5 empty", r: put(map[string]string{"Content-MD5": ""}), status: 400, code: "InvalidDigest"},
		{name: "signed payload hash of other bytes", r: req{method: "PUT", path: "/" + hostileBucket + "/k", body: body, payloadHash: hostileSHA256(other)}, status: 400, code: "XAmzContentSHA256Mismatch"},
		{name: "payload hash not a hash", r: req{method: "PUT", path: "/" + hostileBucket + "/k", body: body, payloadHash: "not-a-sha256"}, status: 400, code: "InvalidArgument"},
		{name: "metadata value over 2 KB", r: put(map[string]string{"x-amz-meta-big": strings.Repeat("m", 2100)}), status: 400, code: "MetadataTooLarge"},
		{name: "metadata over 2 KB in many headers", r: put(func() map[string]string {
			m := map[string]string{}
			for i := range 30 {
				m["x-amz-meta-part"+strconv.Itoa(i)] = strings.Repeat("v", 80)
			}
			return m
		}()), status: 400, code: "MetadataTooLarge"},
		{name: "unsigned x-amz-meta added after signing", send: func(t *testing.T, h *hostileEnv) *http.Response {
			hr, _ := http.NewRequest("PUT", h.url+"/"+hostileBucket+"/k", bytes.NewReader(body))
			hr.Header.Set("X-Amz-Content-Sha256", hostileSHA256(body))
			signRaw(t, hr, hostileSHA256(body))
			hr.Header.Set("X-Amz-Meta-Injected", "yes")
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, status: 403, code: "AccessDenied"},
		{name: "declared size over 5 GiB", send: func(t *testing.T, h *hostileEnv) *http.Response {
			head := h.rawHead(t, hostileRaw{method: "PUT", target: "/" + hostileBucket + "/k", length: 5<<30 + 1})
			return h.sendRaw(t, hangOpen, head, body)
		}, status: 400, code: "EntityTooLarge"},
		{name: "DELETE with If-Match of another ETag", r: req{method: "DELETE", path: "/" + hostileBucket + "/k", header: map[string]string{"If-Match": `"` + md5hex("something else") + `"`}},
			status: 412, code: "PreconditionFailed",
			divergence: "If-Match on DeleteObject is ignored and the object is deleted; S3 (conditional deletes) answers 412 PreconditionFailed and keeps it"},
		{name: "DELETE with If-Match * of an absent key", r: req{method: "DELETE", path: "/" + hostileBucket + "/new", header: map[string]string{"If-Match": "*"}},
			status: 404, code: "NoSuchKey",
			divergence: "If-Match on DeleteObject is ignored (204); S3 answers 404 NoSuchKey when If-Match is sent and the key does not exist"},
		{name: "anonymous PUT over an object", r: req{method: "PUT", path: "/" + hostileBucket + "/k", body: body, anonymous: true}, status: 403, code: "AccessDenied"},
		{name: "anonymous PUT of a new key", r: req{method: "PUT", path: "/" + hostileBucket + "/new", body: body, anonymous: true}, status: 403, code: "AccessDenied"},
		{name: "anonymous PUT with a payload hash", r: req{method: "PUT", path: "/" + hostileBucket + "/new", body: body, anonymous: true,
			header: map[string]string{"X-Amz-Content-Sha256": hostileSHA256(body), "X-Amz-Date": time.Now().UTC().Format("20060102T150405Z")}}, status: 403, code: "AccessDenied"},
		{name: "anonymous DELETE", r: req{method: "DELETE", path: "/" + hostileBucket + "/k", anonymous: true}, status: 403, code: "AccessDenied"},
		{name: "anonymous DeleteObjects", r: req{method: "POST", path: "/" + hostileBucket + "?delete", anonymous: true,
			body: []byte(`<Delete><Object><Key>k</Key></Object></Delete>`)}, status: 403, code: "AccessDenied"},
		{name: "anonymous CreateBucket", r: req{method: "PUT", path: "/anonymous-bucket", anonymous: true}, status: 403, code: "AccessDenied"},
		{name: "anonymous DeleteBucket", r: req{method: "DELETE", path: "/" + emptyBucket, anonymous: true}, status: 403, code: "AccessDenied"},
		{name: "anonymous presigned-looking PUT without signature", r: req{method: "PUT", anonymous: true, body: body,
			path: "/" + hostileBucket + "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + testAccessKey + "%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"}, status: 400, code: "AuthorizationQueryParametersError"},
	}...)
	h.refuseAll(t, cases, keep)

	// The empty bucket survived the anonymous DeleteBucket.
	expectStatus(t, h.do(req{method: "HEAD", path: "/" + emptyBucket}), 200)
	expectStatus(t, h.do(req{method: "HEAD", path: "/anonymous-bucket"}), 404)
}
