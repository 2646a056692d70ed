package conformance

// Hostile clients against the real process: slow and oversized headers
// (through the server's own limits), bodies cut short, malformed HTTP and
// keys that try to leave the bucket. After each case the data directory
// holds exactly what it held before (tmp/ must drain) and the server still
// answers a normal request.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startHostileServer starts s3gate with extra flags (small limits and
// timeouts the hostile cases probe).
func startHostileServer(t *testing.T, args ...string) *server {
	t.Helper()
	return startServerOpts(t, serverOptions{Args: args})
}

// hostileSite is a running server with a bucket holding one object, k.
type hostileSite struct {
	s      *server
	bucket string
	k      []byte // k's content, which no hostile request may change
	n      int    // canary counter
}

func newHostileSite(t *testing.T, args ...string) *hostileSite {
	t.Helper()
	s := startHostileServer(t, args...)
	h := &hostileSite{s: s, bucket: newBucketName(t), k: []byte("the previous version of k")}
	createBucket(t, s.client(), h.bucket)
	putObject(t, s.client(), h.bucket, "k", h.k)
	return h
}

func (h *hostileSite) host() string { return strings.TrimPrefix(h.s.S3URL, "http://") }

// snapshot maps every path under the data directory to "dir", a symlink's
// target or the SHA-256 of the file.
func (h *hostileSite) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(h.s.DataDir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(h.s.DataDir, p)
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
			out[rel] = sha256Hex(b)
		default:
			out[rel] = "special " + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", h.s.DataDir, err)
	}
	return out
}

// ownState is s3gate's own state in the data dir, which changes without
// any object changing: the hooks write catalogue rows and search
// documents for the site's legitimate writes in the background, every
// request leaves an analytics row, and the outbox records the intent
// of every write attempted, refused ones included (their intents are then
// aborted). Refused requests leaving no event is tested in the gateway
// (TestEventPerMutation); here the objects are what must not change.
func ownState(p string) bool {
	return strings.HasPrefix(p, "events/") || p == "events" || strings.HasPrefix(p, "catalog.db") ||
		strings.HasPrefix(p, "search/") || p == "search" || strings.HasPrefix(p, "analytics/") || p == "analytics"
}

// settled waits until tmp/ is empty (a refused write removes its temp file)
// and then fails unless everything else is as in before, apart from paths
// under allowed (a bucket's directory, for stored keys) and s3gate's own
// state (ownState).
func (h *hostileSite) settled(t *testing.T, before map[string]string, allowed string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(filepath.Join(h.s.DataDir, "tmp"))
		if err != nil {
			t.Fatalf("reading tmp/: %v", err)
		}
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("tmp/ still holds %d entries after 10s (%s ...)", len(entries), entries[0].Name())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := h.snapshot(t)
	var diffs []string
	for p, v := range after {
		if strings.HasPrefix(v, "symlink") || strings.HasPrefix(v, "special") {
			diffs = append(diffs, v+": "+p)
		}
		if strings.HasPrefix(p, "tmp/") || allowed != "" && strings.HasPrefix(p, allowed) || ownState(p) {
			continue
		}
		if w, ok := before[p]; !ok || w != v {
			diffs = append(diffs, "new or changed: "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok && !strings.HasPrefix(p, "tmp/") && (allowed == "" || !strings.HasPrefix(p, allowed)) && !ownState(p) {
			diffs = append(diffs, "gone: "+p)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Errorf("the data directory changed:\n%s", strings.Join(diffs, "\n"))
	}
}

// serving checks k is intact and a normal PUT, GET and DELETE work.
func (h *hostileSite) serving(t *testing.T) {
	t.Helper()
	c := h.s.client()
	if got, _ := getObject(t, c, h.bucket, "k"); !bytes.Equal(got, h.k) {
		t.Errorf("k holds %q, want %q", got, h.k)
	}
	h.n++
	key := "canary-" + strconv.Itoa(h.n)
	putObject(t, c, h.bucket, key, []byte(key))
	if got, _ := getObject(t, c, h.bucket, key); string(got) != key {
		t.Errorf("canary reads %q", got)
	}
	if _, err := c.DeleteObject(testContext(t), &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)}); err != nil {
		t.Errorf("DeleteObject %s: %v", key, err)
	}
}

// signedHead returns the request line and headers of a signed request
// (UNSIGNED-PAYLOAD unless payloadHash is given), with Content-Length
// length when length >= 0, plus the extra headers.
func (h *hostileSite) signedHead(t *testing.T, method, target string, length int64, payloadHash string, extra map[string]string) []byte {
	t.Helper()
	hr, err := http.NewRequest(method, h.s.S3URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if length > 0 {
		hr.ContentLength = length
	}
	for k, v := range extra {
		hr.Header.Set(k, v)
	}
	if payloadHash == "" {
		payloadHash = "UNSIGNED-PAYLOAD"
	}
	hr.Header.Set("X-Amz-Content-Sha256", payloadHash)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: h.s.AccessKey, SecretAccessKey: h.s.SecretKey}
	if err := signer.SignHTTP(context.Background(), creds, hr, payloadHash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, hr.Host)
	if length >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", length)
	}
	for k, vs := range hr.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// exchange writes the parts on a fresh connection, half-closes it when
// halfClose is set (closes it outright otherwise, returning nil), and reads
// the answer, if any.
func (h *hostileSite) exchange(t *testing.T, halfClose bool, parts ...[]byte) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", h.host())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	for _, p := range parts {
		if _, err := conn.Write(p); err != nil {
			t.Logf("write: %v (the server hung up first)", err)
			break
		}
	}
	if !halfClose {
		return nil
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Logf("no HTTP answer: %v", err)
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// hostileWantError checks an answer: an XML error with code and status whose
// RequestId matches x-amz-request-id. status 0 accepts any refusal, or no
// answer at all.
func hostileWantError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp == nil {
		if status != 0 {
			t.Errorf("no answer, want %d %s", status, code)
		}
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if status == 0 {
		if resp.StatusCode < 300 {
			t.Errorf("status %d, want a refusal; body %s", resp.StatusCode, body)
		}
		return
	}
	var e s3ErrorBody
	err := xml.Unmarshal(body, &e)
	if resp.StatusCode != status || err != nil || e.Code != code {
		t.Errorf("status %d body %q, want %d with <Code>%s</Code>", resp.StatusCode, body, status, code)
		return
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Errorf("RequestId %q does not match x-amz-request-id %q", e.RequestID, resp.Header.Get("x-amz-request-id"))
	}
}

// TestHostileSlowHeaders: with --http-read-header-timeout 1s, a client that
// sends its headers too slowly, or none at all, is disconnected after about
// a second, while other clients are served meanwhile. net/http closes the
// connection without an answer, or with a plain-text 400 when the deadline
// falls inside a header line; S3 answers 400 RequestTimeout in XML, which
// s3gate cannot, as the request never reaches it.
func TestHostileSlowHeaders(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t, "--http-read-header-timeout", "1s", "--http-idle-timeout", "2s")
	head := h.signedHead(t, "PUT", "/"+h.bucket+"/k", 5, "", nil)
	cases := []struct {
		name string
		// send writes to the connection until the server closes it or
		// the client gives up.
		send func(conn net.Conn)
		// min and max bound when the server may close the connection.
		min, max time.Duration
	}{
		{"nothing sent", func(net.Conn) {}, 800 * time.Millisecond, 4 * time.Second},
		{"request line only", func(c net.Conn) { c.Write(head[:bytes.IndexByte(head, '\n')+1]) }, 800 * time.Millisecond, 4 * time.Second},
		{"all but the final CRLF", func(c net.Conn) { c.Write(head[:len(head)-2]) }, 800 * time.Millisecond, 4 * time.Second},
		{"one byte every 100ms", func(c net.Conn) {
			for i := range head {
				if _, err := c.Write(head[i : i+1]); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}, 800 * time.Millisecond, 4 * time.Second},
		{"idle after a request", func(c net.Conn) {
			fmt.Fprintf(c, "GET /nonexistent-bucket-%s HTTP/1.1\r\nHost: %s\r\n\r\n", randomHex(4), h.host())
		}, 1500 * time.Millisecond, 6 * time.Second},
	}
	before := h.snapshot(t)
	var wg sync.WaitGroup
	for _, c := range cases {
		// Ten connections per case at once: they must not hold up others.
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := net.Dial("tcp", h.host())
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				start := time.Now()
				closed := make(chan []byte, 1)
				go func() {
					b, _ := io.ReadAll(conn)
					closed <- b
				}()
				c.send(conn)
				got := <-closed
				took := time.Since(start)
				if took < c.min || took > c.max {
					t.Errorf("%s: the server closed the connection after %v, want between %v and %v", c.name, took, c.min, c.max)
				}
				// net/http closes without a word, or answers a
				// plain-text 400 when the deadline cuts a header line.
				if c.name != "idle after a request" && len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 400 Bad Request\r\n")) {
					t.Errorf("%s: the server answered %q before closing", c.name, got)
				}
			}()
		}
	}
	// Meanwhile a normal client is served promptly.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	h.serving(t)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a normal client waited %v while slow clients were connected", took)
	}
	wg.Wait()
	h.settled(t, before, "buckets/"+h.bucket+"/")
	h.serving(t)
}

// TestHostileStalledBody: a client that sends its headers and part of its
// body, then stops sending but keeps the connection open. S3 answers 400
// RequestTimeout once the connection has been idle for a while (about 20
// seconds) and closes it; s3gate must give up too, rather than hold the
// connection and a request slot for ever, and store nothing.
func TestHostileStalledBody(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t, "--http-read-header-timeout", "1s", "--http-idle-timeout", "2s", "--http-body-idle-timeout", "2s")
	before := h.snapshot(t)
	conn, err := net.Dial("tcp", h.host())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(h.signedHead(t, "PUT", "/"+h.bucket+"/stalled", 1000, "", nil))
	conn.Write(bytes.Repeat([]byte("x"), 10))
	const patience = 15 * time.Second
	conn.SetReadDeadline(time.Now().Add(patience))
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Errorf("after %v of silence the server has neither answered nor closed the connection (%v); S3 answers 400 RequestTimeout", patience, err)
	} else {
		hostileWantError(t, resp, 400, "RequestTimeout")
		if waited := time.Since(start); waited < 2*time.Second || waited > 10*time.Second {
			t.Errorf("RequestTimeout after %v, want about the 2s body idle timeout", waited)
		}
	}
	conn.Close()
	h.settled(t, before, "")
	h.serving(t)
}

// TestHostileHeaderSize: with --http-max-header-bytes 8192 (S3's own
// limit), header sections over 8 KiB get S3's XML RequestHeaderSectionTooLarge
// from s3gate, up to twice the limit (plus net/http's 4 KiB of read slack);
// beyond that net/http itself answers a plain-text 431 before s3gate sees
// the request, where S3 would still answer its XML 400.
func TestHostileHeaderSize(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t, "--http-max-header-bytes", "8192")
	body := []byte("hostile")
	// pad returns headers of n bytes of values in all, each at most
	// per bytes long.
	pad := func(n, per int) map[string]string {
		m := map[string]string{}
		for i := 0; n > 0; i++ {
			v := min(n, per)
			m["X-Pad-"+strconv.Itoa(i)] = strings.Repeat("p", v)
			n -= v
		}
		return m
	}
	cases := []struct {
		name     string
		pad, per int
		status   int
		code     string // "" for a plain-text answer
	}{
		{"10 KB of headers", 10 << 10, 1000, 400, "RequestHeaderSectionTooLarge"},
		{"18 KB of headers", 18 << 10, 1000, 400, "RequestHeaderSectionTooLarge"},
		{"24 KB of headers", 24 << 10, 1000, 431, ""},
		{"1 MB of headers", 1 << 20, 1000, 431, ""},
		{"one 12 KB header", 12 << 10, 12 << 10, 400, "RequestHeaderSectionTooLarge"},
		// s3gate also bounds the number of header fields (256); S3 bounds
		// only their size, and would take these 300 (4 KB in all).
		{"300 small headers", 300, 1, 400, "RequestHeaderSectionTooLarge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.snapshot(t)
			head := h.signedHead(t, "PUT", "/"+h.bucket+"/k", int64(len(body)), "", pad(c.pad, c.per))
			resp := h.exchange(t, true, head, body)
			switch {
			case c.code != "":
				hostileWantError(t, resp, c.status, c.code)
			case resp == nil:
				t.Errorf("no answer, want net/http's %d", c.status)
			default:
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != c.status {
					t.Errorf("status %d body %q, want %d", resp.StatusCode, b, c.status)
				}
			}
			h.settled(t, before, "")
			h.serving(t)
		})
	}
	// Under the limit, the same request stores the object.
	head := h.signedHead(t, "PUT", "/"+h.bucket+"/padded", int64(len(body)), "", pad(6<<10, 1000))
	resp := h.exchange(t, true, head, body)
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("a request with 6 KB of headers was refused: %v", resp)
	}
}

// TestHostileTruncatedUploads cuts PUTs and DeleteObjects short on the real
// process: a half-close gets S3's IncompleteBody, a client that vanishes
// gets nothing, and neither leaves anything behind.
func TestHostileTruncatedUploads(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t)
	data := testData("truncated", 256<<10)
	doc := []byte(`<Delete><Object><Key>k</Key></Object></Delete>`)
	sum := md5.Sum(doc)
	docMD5 := map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}
	type upload struct {
		name, method, target string
		body                 []byte
		hash                 string
		header               map[string]string
	}
	uploads := []upload{
		{"PUT over k", "PUT", "/" + h.bucket + "/k", data, "", nil},
		{"PUT over k, signed", "PUT", "/" + h.bucket + "/k", data, sha256Hex(data), nil},
		{"PUT of a new key", "PUT", "/" + h.bucket + "/fresh", data, "", nil},
		{"DeleteObjects of k", "POST", "/" + h.bucket + "?delete", doc, sha256Hex(doc), docMD5},
	}
	for _, u := range uploads {
		for _, at := range []struct {
			name string
			n    int
		}{{"after the headers", 0}, {"mid-body", len(u.body) / 2}, {"last byte missing", len(u.body) - 1}} {
			for _, half := range []bool{true, false} {
				name := u.name + ", " + at.name
				if half {
					name += ", half-close"
				} else {
					name += ", close"
				}
				t.Run(name, func(t *testing.T) {
					before := h.snapshot(t)
					head := h.signedHead(t, u.method, u.target, int64(len(u.body)), u.hash, u.header)
					resp := h.exchange(t, half, head, u.body[:at.n])
					if half {
						hostileWantError(t, resp, 400, "IncompleteBody")
					}
					h.settled(t, before, "")
					if got := listAllV2(t, h.s.client(), h.bucket, ""); !slices.Equal(got, []string{"k"}) {
						t.Errorf("the bucket lists %q, want [k]", got)
					}
					h.serving(t)
				})
			}
		}
	}
}

// TestHostileHTTP sends requests that are not valid HTTP/1.1. net/http
// refuses them (plain-text 400 or 501) before s3gate sees them; what
// matters here is that nothing is stored and the server stays up.
func TestHostileHTTP(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t)
	target := "/" + h.bucket + "/k"
	host := h.host()
	cases := []struct {
		name string
		raw  string
	}{
		{"header without colon", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nNoColonHere\r\n\r\nabc"},
		{"NUL in a header value", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nX-Amz-Meta-A: a\x00b\r\n\r\nabc"},
		{"obsolete line folding", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nX-Amz-Meta-A: a\r\n b\r\n\r\nabc"},
		{"two different Content-Lengths", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"Content-Length and chunked", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"Transfer-Encoding gzip", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: gzip\r\n\r\nabc"},
		{"negative Content-Length", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: -3\r\n\r\nabc"},
		{"Content-Length overflowing", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 99999999999999999999999\r\n\r\nabc"},
		{"malformed chunked body", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"no Host", "PUT " + target + " HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"},
		{"two Hosts", "PUT " + target + " HTTP/1.1\r\nHost: " + host + "\r\nHost: evil.example\r\nContent-Length: 3\r\n\r\nabc"},
		{"absolute-form to another host", "PUT http://evil.example" + target + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\n\r\nabc"},
		{"space in the target", "PUT /" + h.bucket + "/a b HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 3\r\n\r\nabc"},
		{"HTTP/0.9", "GET " + target + "\r\n\r\n"},
		{"unknown version", "PUT " + target + " HTTP/7.0\r\nHost: " + host + "\r\nContent-Length: 3\r\n\r\nabc"},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.snapshot(t)
			resp := h.exchange(t, true, []byte(c.raw))
			if resp != nil {
				b, _ := io.ReadAll(resp.Body)
				t.Logf("answer: %d %q", resp.StatusCode, b)
			}
			hostileWantError(t, resp, 0, "")
			h.settled(t, before, "")
			h.serving(t)
		})
	}
}

// TestHostileKeysOnDisk stores keys that would leave the bucket if used as
// paths, on the real process, and walks the data directory: nothing may
// appear outside <data>/buckets/<bucket> and <data>/tmp, and deleting the
// keys restores the directory.
func TestHostileKeysOnDisk(t *testing.T) {
	t.Parallel()
	h := newHostileSite(t)
	c := h.s.client()
	keys := []string{
		"../../../../../../etc/passwd", "../../tmp/x", "/absolute", "//x", ".", "..", "../", "./..",
		`..\..\x`, "nul\x00byte", "\x00", "a/./b/../c", ".lock", "x.o/y.d", "~x",
		strings.Repeat("s", 300) + "/" + strings.Repeat("t", 700),
		strings.Repeat("%", 1024), strings.Repeat("/", 1024), strings.Repeat("../", 341),
	}
	before := h.snapshot(t)
	for i, k := range keys {
		putObject(t, c, h.bucket, k, []byte("value "+strconv.Itoa(i)))
	}
	h.settled(t, before, "buckets/"+h.bucket+"/")
	for i, k := range keys {
		if got, _ := getObject(t, c, h.bucket, k); string(got) != "value "+strconv.Itoa(i) {
			t.Errorf("key %q reads %q", k, got)
		}
	}
	for _, k := range keys {
		if _, err := c.DeleteObject(testContext(t), &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(k)}); err != nil {
			t.Errorf("DeleteObject %q: %v", k, err)
		}
	}
	h.settled(t, before, "")
	h.serving(t)
}
