package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// origin is a running versitygw: an S3 server nobody in this project
// wrote, which s3gate's s3 backend proxies to.
type origin struct {
	URL, AccessKey, SecretKey string
}

// versitygwBinary finds versitygw on PATH or in GOPATH/bin (.ci/run
// installs it there, pinned).
func versitygwBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(string(trimNL(out)), "bin", "versitygw")
		if _, serr := os.Stat(p); serr == nil {
			return p
		}
		err = errors.New("not in GOPATH/bin")
	}
	missingTool(t, "versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", err)
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// startOrigin starts versitygw with the posix backend in a temp dir on a
// free loopback port and waits until it answers.
func startOrigin(t *testing.T) origin {
	t.Helper()
	bin := versitygwBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o := origin{URL: "http://" + addr, AccessKey: "ORIGIN" + randomHex(6), SecretKey: randomHex(20)}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--access", o.AccessKey, "--secret", o.SecretKey, "--port", addr, "--keep-alive", "posix", dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting versitygw: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("versitygw output (last lines):\n%s", tailLines(logs.String(), 20))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(o.URL + "/")
		if err == nil {
			resp.Body.Close()
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proxyConfig writes an s3gate config file whose default backend is the
// origin, and returns its path.
func proxyConfig(t *testing.T, o origin) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s3gate.yaml")
	body := fmt.Sprintf(`default_backend: origin
backends:
  - name: origin
    type: s3
    endpoint: %s
    region: us-east-1
    path_style: true
    access_key: %s
    secret_key: %s
    capabilities: versitygw
`, o.URL, o.AccessKey, o.SecretKey)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// backendCase is one storage setup a client test runs on.
type backendCase struct {
	name string
	opts func(t *testing.T) serverOptions
}

// backendCases are s3gate on its own fs backend, and s3gate in front of a
// real, independent S3 server through its s3 backend.
var backendCases = []backendCase{
	{"fs", func(*testing.T) serverOptions { return serverOptions{} }},
	{"s3-proxy", func(t *testing.T) serverOptions {
		return serverOptions{Args: []string{"--config", proxyConfig(t, startOrigin(t))}}
	}},
}

// forEachBackend runs fn, in parallel, once per backend case.
func forEachBackend(t *testing.T, fn func(t *testing.T, opts serverOptions)) {
	for _, c := range backendCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fn(t, c.opts(t))
		})
	}
}

// TestProxyRoutedBuckets: with a buckets section, one bucket lives in the
// origin under another name and a key prefix, another stays on the local
// fs backend. Read directly from the origin, the objects are where the
// route says, and nothing of the local bucket is there.
func TestProxyRoutedBuckets(t *testing.T) {
	t.Parallel()
	o := startOrigin(t)
	ctx := testContext(t)
	direct := newS3Client(o.URL, o.AccessKey, o.SecretKey)
	if _, err := direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("backing")}); err != nil {
		t.Fatalf("CreateBucket on the origin: %v", err)
	}
	cfg := proxyConfig(t, o)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "buckets:\n  photos: {backend: origin, bucket: backing, prefix: gw/photos/}\n  scratch: {backend: fs}\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s := startServerOpts(t, serverOptions{Args: []string{"--config", cfg}})
	c := s.client()
	createBucket(t, c, "photos")
	createBucket(t, c, "scratch")

	small := []byte("routed to the origin\n")
	large := testData("routed-large", 300<<10+3) // streamed, not read whole
	local := []byte("stays on the local fs backend\n")
	for _, p := range []struct {
		bucket, key string
		data        []byte
	}{{"photos", "a/small.txt", small}, {"photos", "large.bin", large}, {"scratch", "local.txt", local}} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.key), Body: bytes.NewReader(p.data)}); err != nil {
			t.Fatalf("PutObject %s/%s: %v", p.bucket, p.key, err)
		}
	}

	// Through s3gate, the prefix is invisible.
	if got := listAllV2(t, c, "photos", ""); !slices.Equal(got, []string{"a/small.txt", "large.bin"}) {
		t.Errorf("ListObjectsV2 photos through s3gate: %q", got)
	}
	if got := listAllV2(t, c, "scratch", ""); !slices.Equal(got, []string{"local.txt"}) {
		t.Errorf("ListObjectsV2 scratch through s3gate: %q", got)
	}
	if got, _ := getObject(t, c, "scratch", "local.txt"); !bytes.Equal(got, local) {
		t.Errorf("scratch/local.txt through s3gate: %q", got)
	}

	// On the origin, the objects sit in the backing bucket under the
	// prefix (besides the prefixed bucket's empty marker, the prefix
	// itself).
	keys := listAllV2(t, direct, "backing", "")
	if !slices.Equal(keys, []string{"gw/photos/", "gw/photos/a/small.txt", "gw/photos/large.bin"}) {
		t.Errorf("origin bucket backing holds %q, want the objects under gw/photos/ and its marker", keys)
	}
	if got, _ := getObject(t, direct, "backing", "gw/photos/a/small.txt"); !bytes.Equal(got, small) {
		t.Errorf("origin backing/gw/photos/a/small.txt: %q", got)
	}
	if got, _ := getObject(t, direct, "backing", "gw/photos/large.bin"); sha256Hex(got) != sha256Hex(large) {
		t.Errorf("origin backing/gw/photos/large.bin: sha256 %s (%d bytes), want %s", sha256Hex(got), len(got), sha256Hex(large))
	}
	out, err := direct.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	if !slices.Equal(names, []string{"backing"}) {
		t.Errorf("origin buckets %q, want only backing (photos is a prefix there, scratch stays local)", names)
	}
}
