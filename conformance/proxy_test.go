package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
