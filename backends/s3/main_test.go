package s3

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run against a real S3 server: versitygw (posix backend),
// started once for the package on its own port and directory. Without the
// binary they skip, saying so; with CI=true they fail instead.

const (
	testAccess = "s3gate-test-access"
	testSecret = "s3gate-test-secret-key"
)

var vgw struct {
	endpoint string // http://127.0.0.1:PORT
	missing  string // why versitygw is not running
	cmd      *exec.Cmd
	dir      string
}

// versitygwBinary finds versitygw: $VERSITYGW, PATH, then ~/go/bin.
func versitygwBinary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found (set VERSITYGW, or: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startVersitygw starts a versitygw on a free port serving dir, and waits
// until it answers.
func startVersitygw(bin, dir string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--access", testAccess, "--secret", testSecret, "--port", addr, "--keep-alive", "--quiet", "posix", dir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	log, err := os.Create(filepath.Join(filepath.Dir(dir), "versitygw.log"))
	if err != nil {
		return nil, "", err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	endpoint := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return cmd, endpoint, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", fmt.Errorf("versitygw on %s did not answer", addr)
}

func TestMain(m *testing.M) {
	// The tests wait on a server far more than they compute: unless told
	// otherwise, run more of them at once than there are CPUs.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "s3gate-s3-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin, err := versitygwBinary()
	if err == nil {
		vgw.dir = filepath.Join(tmp, "data")
		if err = os.Mkdir(vgw.dir, 0o700); err == nil {
			vgw.cmd, vgw.endpoint, err = startVersitygw(bin, vgw.dir)
		}
		if err != nil {
			err = fmt.Errorf("versitygw (%s) did not start: %w", bin, err)
		}
	}
	if err != nil {
		vgw.missing = err.Error()
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "backends/s3: %s (CI=true: versitygw is required)\n", vgw.missing)
			return 1
		}
	}
	code := m.Run()
	if vgw.cmd != nil {
		vgw.cmd.Process.Kill()
		vgw.cmd.Wait()
	}
	return code
}

// needVersitygw skips (or, with CI=true, fails) a test when versitygw is
// not running.
func needVersitygw(t testing.TB) {
	t.Helper()
	if vgw.missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: versitygw is required)", vgw.missing)
	}
	t.Skipf("skipping: %s", vgw.missing)
}

var nsCounter atomic.Int64

// namespace returns a fresh name fragment, so tests never share backend
// buckets.
func namespace() string { return fmt.Sprintf("n%d", nsCounter.Add(1)) }

// testOptions are Options for the test versitygw, declaring its limits.
func testOptions(buckets map[string]Mapping) Options {
	caps := VersitygwCapabilities
	return Options{Endpoint: vgw.endpoint, Region: "us-east-1", AccessKey: testAccess, SecretKey: testSecret,
		PathStyle: true, Timeout: 10 * time.Second, Buckets: buckets, Capabilities: &caps}
}

func newTestStore(t testing.TB, buckets map[string]Mapping) *Store {
	t.Helper()
	needVersitygw(t)
	s, err := New(context.Background(), testOptions(buckets))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
