package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts for the s3gate process and the client tools.
const (
	readyTimeout    = 60 * time.Second
	shutdownTimeout = 20 * time.Second
	toolTimeout     = 3 * time.Minute
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// s3gateBinary builds ./cmd/s3gate once per test binary and returns its
// path. The build is lazy so that `go test -run '^$'` builds nothing.
// S3GATE_TEST_BINARY names a prebuilt binary to test instead (a release
// build, say).
func s3gateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if bin := os.Getenv("S3GATE_TEST_BINARY"); bin != "" {
			if _, err := os.Stat(bin); err != nil {
				buildErr = fmt.Errorf("S3GATE_TEST_BINARY: %w", err)
				return
			}
			buildBin, buildErr = filepath.Abs(bin)
			return
		}
		if err := recordSourceInputs(); err != nil {
			buildErr = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("go toolchain not on PATH: %w", err)
			return
		}
		buildDir, err = os.MkdirTemp("", "s3gate-conformance-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "s3gate")
		cmd := exec.Command(goTool, "build", "-o", bin, "github.com/s3gate/s3gate/cmd/s3gate")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/s3gate: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatalf("cannot build s3gate: %v", buildErr)
	}
	return buildBin
}

// recordSourceInputs opens every directory of the module. This package's
// test binary imports no s3gate package, so by itself go test's result cache
// would replay a pass after the gateway changed; directories a test opens
// become part of the cache key (their listings, with each file's size and
// modification time), so any change to the sources reruns the suite.
func recordSourceInputs() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return errors.New("no go.mod above the test's directory")
		}
		root = parent
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin") {
			return filepath.SkipDir
		}
		return nil
	})
}

// server is one running s3gate process.
type server struct {
	S3URL     string // e.g. http://127.0.0.1:40123, or https://... with TLS
	OpsURL    string
	DataDir   string
	AccessKey string
	SecretKey string
	// TLS is the server's certificate setup; nil for plain http.
	TLS *testPKI
	// HTTP is the client for S3URL: httpClient, or one that trusts TLS's CA.
	HTTP *http.Client

	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed once the process has exited
	waited error         // cmd.Wait's result, valid after done

	stopOnce sync.Once
}

type serverOptions struct {
	// DataDir is reused when set (restart tests); a fresh t.TempDir otherwise.
	DataDir string
	// NoRootEnv starts s3gate without S3GATE_ROOT_* so that it generates
	// (or loads) its own root key pair.
	NoRootEnv bool
	// TLS serves https with the PKI's current server certificate.
	TLS *testPKI
	// Args are extra flags for `s3gate serve`.
	Args []string
}

// startServer starts s3gate with fresh root credentials and a fresh data
// directory, waits until it is ready, and stops it when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	return startServerOpts(t, serverOptions{})
}

func startServerOpts(t *testing.T, o serverOptions) *server {
	t.Helper()
	bin := s3gateBinary(t)
	s := &server{
		DataDir: o.DataDir,
		stdout:  &syncBuffer{},
		stderr:  &syncBuffer{},
		done:    make(chan struct{}),
		TLS:     o.TLS,
		HTTP:    httpClient,
	}
	if s.DataDir == "" {
		s.DataDir = filepath.Join(t.TempDir(), "data")
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if !o.NoRootEnv {
		s.AccessKey = "AKCONF" + strings.ToUpper(randomHex(7))
		s.SecretKey = randomHex(20)
		env = append(env, "S3GATE_ROOT_ACCESS_KEY="+s.AccessKey, "S3GATE_ROOT_SECRET_KEY="+s.SecretKey)
	}
	scheme := "http"
	if o.TLS != nil {
		env = append(env, "S3GATE_TLS_CERT_FILE="+o.TLS.CertFile, "S3GATE_TLS_KEY_FILE="+o.TLS.KeyFile)
		s.HTTP = o.TLS.client()
		scheme = "https"
	}

	ready := make(chan map[string]any, 1)
	lw := &lineWriter{buf: s.stderr, line: func(line []byte) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == "s3gate ready" {
			select {
			case ready <- rec:
			default:
			}
		}
	}}
	s.cmd = exec.Command(bin, append([]string{"serve",
		"--data-dir", s.DataDir,
		"--listen", "127.0.0.1:0",
		"--ops-listen", "127.0.0.1:0",
		"--log-format", "json"}, o.Args...)...)
	s.cmd.Env = env
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = lw
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting s3gate: %v", err)
	}
	go func() {
		s.waited = s.cmd.Wait()
		lw.flush()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("s3gate stderr (last lines):\n%s", tailLines(s.stderr.String(), 40))
		}
	})

	select {
	case rec := <-ready:
		s.S3URL, _ = rec["s3"].(string)
		s.OpsURL, _ = rec["ops"].(string)
		if !strings.HasPrefix(s.S3URL, scheme+"://127.0.0.1:") || !strings.HasPrefix(s.OpsURL, "http://127.0.0.1:") {
			t.Fatalf(`"s3gate ready" log line lacks "s3" (%s) and "ops" (http) URLs on 127.0.0.1: %v`, scheme, rec)
		}
	case <-s.done:
		s.stopOnce.Do(func() {}) // nothing left to stop; reported here
		t.Fatalf("s3gate exited before it was ready (%v); stderr:\n%s\nstdout:\n%s", s.waited, s.stderr, s.stdout)
	case <-time.After(readyTimeout):
		t.Fatalf(`no "s3gate ready" log line after %v; stderr:\n%s`, readyTimeout, s.stderr)
	}
	return s
}

// stop sends SIGTERM and requires a clean exit (status 0) within
// shutdownTimeout. It is safe to call more than once.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			t.Errorf("s3gate exited on its own before the test stopped it: %v; stderr:\n%s", s.waited, tailLines(s.stderr.String(), 40))
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("sending SIGTERM to s3gate: %v", err)
		}
		select {
		case <-s.done:
			if s.waited != nil {
				t.Errorf("s3gate did not exit cleanly after SIGTERM: %v; stderr:\n%s", s.waited, tailLines(s.stderr.String(), 40))
			}
		case <-time.After(shutdownTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Errorf("s3gate still running %v after SIGTERM; killed it", shutdownTimeout)
		}
	})
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func (s *server) peakRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading s3gate's /proc status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", s.cmd.Process.Pid)
	return 0
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lineWriter copies everything to buf and calls line for each complete line.
type lineWriter struct {
	buf     *syncBuffer
	line    func([]byte)
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// --- client tools -----------------------------------------------------------

// requireTool returns the path of a client tool. A missing tool fails the
// test under CI=true (CI must run every client) and skips it otherwise.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missingTool(t, name, err)
	}
	return p
}

// missingTool fails (CI=true) or skips the test, naming what is missing.
func missingTool(t *testing.T, tool string, why error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required when CI=true but is not available: %v (.ci/run installs it)", tool, why)
	}
	t.Skipf("skipping: %s is not available (%v); with CI=true this test fails instead", tool, why)
}

// clientEnv is the whole environment of a client subprocess: nothing is
// inherited but PATH, so no AWS_* variable or config file of this machine
// leaks in. HOME is a fresh temporary directory.
func clientEnv(t *testing.T, s *server, extra ...string) []string {
	t.Helper()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"LC_ALL=C.UTF-8",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if s != nil {
		env = append(env,
			"AWS_ACCESS_KEY_ID="+s.AccessKey,
			"AWS_SECRET_ACCESS_KEY="+s.SecretKey,
			"AWS_DEFAULT_REGION=us-east-1",
		)
	}
	return append(env, extra...)
}

// runTool runs a client command and returns its combined output; it fails
// the test, printing that output, if the command fails.
func runTool(t *testing.T, env []string, dir string, name string, args ...string) string {
	t.Helper()
	out, err := runToolErr(t, env, dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n--- output ---\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runToolErr runs a client command and returns its combined output and
// error, for commands that are expected to fail.
func runToolErr(t *testing.T, env []string, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %q: %v", filepath.Base(name), args, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", toolTimeout, err)
	}
	return out.String(), err
}

// --- data -------------------------------------------------------------------

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newBucketName returns a valid bucket name unique to this test run.
func newBucketName(t *testing.T) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
		if b.Len() >= 40 {
			break
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	name = strings.TrimPrefix(name, "test")
	name = strings.Trim(name, "-")
	return "c-" + name + "-" + randomHex(4)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// testData returns n deterministic, incompressible-looking bytes.
func testData(seed string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	block := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return out[:n]
}

// treeFile is one file of a local directory tree used by the sync tests.
type treeFile struct {
	path string // slash-separated, relative
	data []byte
}

// sampleTree is a nested directory tree with awkward names and sizes
// (including an empty file). Every file is below the multipart thresholds
// of the CLIs (8 MiB and more).
func sampleTree() []treeFile {
	return []treeFile{
		{"top.txt", []byte("top level file\n")},
		{"empty.txt", nil},
		{"nested/a.bin", testData("a.bin", 300<<10)},
		{"nested/deeper/b.txt", []byte("bravo\n")},
		{"nested/deeper/deepest/c.json", []byte(`{"c": true}` + "\n")},
		{"with space/d e.txt", []byte("spaces in names\n")},
		{"unicode-ü/ファイル.txt", []byte("unicode names\n")},
		{"plus+sign/x+y.txt", []byte("plus signs\n")},
		{"big/one-mib.bin", testData("one-mib", 1<<20+13)},
	}
}

// writeTree writes files under root, dated a minute ago: sync tools
// compare a file's modification time with the object's Last-Modified,
// which servers keep to the second, so a file written in the same second
// as its upload would look newer than its copy.
func writeTree(t *testing.T, root string, files []treeFile) {
	t.Helper()
	past := time.Now().Add(-time.Minute)
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.path))
		writeFile(t, p, f.data)
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hashTree maps every regular file under root (slash-separated relative
// path) to the SHA-256 of its content.
func hashTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = sha256Hex(data)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// requireSameTree fails unless both trees hold the same files with the
// same contents.
func requireSameTree(t *testing.T, wantRoot, gotRoot string) {
	t.Helper()
	want, got := hashTree(t, wantRoot), hashTree(t, gotRoot)
	var diffs []string
	for p, h := range want {
		switch g, ok := got[p]; {
		case !ok:
			diffs = append(diffs, "missing: "+p)
		case g != h:
			diffs = append(diffs, fmt.Sprintf("content differs: %s (sha256 want %s got %s)", p, h, g))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "unexpected: "+p)
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("tree %s does not match %s:\n%s", gotRoot, wantRoot, strings.Join(diffs, "\n"))
	}
}

// --- plain HTTP ---------------------------------------------------------------

// httpClient talks to s3gate directly: no proxy from the environment, no
// transparent decompression.
var httpClient = &http.Client{
	Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
	},
}

// s3ErrorBody is the XML error document S3 returns.
type s3ErrorBody struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
}

// readBody reads and closes a response body.
func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return b
}

// errorsAs is errors.As with the target's type given as a type parameter.
func errorsAs[T any](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
