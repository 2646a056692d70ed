// Package chtest starts ClickHouse servers of a test's own: the
// clickhouse-server binary with a minimal configuration in a temp dir,
// listening on free loopback ports only, stopped when the test ends.
//
// Without the binary (on PATH, or /usr/sbin/clickhouse-server; or the one
// S3GATE_TEST_CLICKHOUSE_SERVER names) a test skips, naming ClickHouse,
// except when CI is "true": then it fails (.ci/run installs the
// clickhouse-server package).
package chtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// StartTimeout bounds how long a server may take to answer a ping after it
// is started; StopTimeout how long it may take to exit after SIGTERM
// before it is killed.
const (
	StartTimeout = 60 * time.Second
	StopTimeout  = 30 * time.Second
)

// Server is a running (or stopped) ClickHouse server of one test.
type Server struct {
	t          testing.TB
	bin        string
	dir        string // config, data, logs
	nativePort int
	httpPort   int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit status, once done
}

// Start starts a server for t and returns its native-protocol address
// (127.0.0.1:PORT). The server is stopped, and its directory removed, when
// t ends.
func Start(t testing.TB) (addr string) {
	t.Helper()
	return StartServer(t).Addr()
}

// StartServer is Start returning the Server, for tests that stop it and
// start it again (Stop, Start) on the same port and data.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		missing(t, "ClickHouse (clickhouse-server) is not installed: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	// Registered after TempDir, so it runs before the directory goes.
	t.Cleanup(s.cleanup)
	for _, d := range []string{"data", "tmp", "user_files", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for range 5 { // another process may take a free port before the server does
		if s.nativePort, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if s.httpPort, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if s.httpPort == s.nativePort {
			continue
		}
		if err := s.writeConfig(); err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("ClickHouse did not start: %v", lastErr)
	return nil
}

// BinaryEnv names a clickhouse-server binary to use instead of the one
// installed, say a newer release to run the tests against.
const BinaryEnv = "S3GATE_TEST_CLICKHOUSE_SERVER"

// Binary returns the path of clickhouse-server: $S3GATE_TEST_CLICKHOUSE_SERVER
// if set, else PATH, then /usr/sbin (not on the PATH of every user).
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s: not an executable file", BinaryEnv, p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/clickhouse-server"
	if fi, err := os.Stat(sbin); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return sbin, nil
	}
	return "", errors.New("clickhouse-server not found on PATH or in /usr/sbin")
}

// missing skips t naming the service, or fails it under CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (required under CI=true)", args...)
	}
	t.Skipf(format+" (skipping; CI=true makes this a failure)", args...)
}

// Addr is the server's native-protocol address.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.nativePort))
}

// Dir is the server's directory (configuration, data under data/, logs
// under log/).
func (s *Server) Dir() string { return s.dir }

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Start starts the stopped server again, on the same ports and data, and
// waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatal("chtest: Start of a running ClickHouse server")
	}
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Stop stops the server (SIGTERM, SIGKILL after StopTimeout) and waits
// until its process has exited and its port is free.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Fatal(err)
	}
}

// Log returns the end of the server's logs, for a failing test to show.
func (s *Server) Log() string {
	var b strings.Builder
	for _, name := range []string{"stderr.log", "log/err.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > 8192 {
			data = data[len(data)-8192:]
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", name, data)
	}
	return b.String()
}

func (s *Server) writeConfig() error {
	d := s.dir
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/err.log</errorlog><size>100M</size><count>1</count></logger>
  <http_port>%[2]d</http_port>
  <tcp_port>%[3]d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>100</max_connections>
  <max_concurrent_queries>50</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
`, d, s.httpPort, s.nativePort)
	const users = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><poll_interval>1</poll_interval></default></profiles>
  <users><default><password></password><networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(d, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "users.xml"), []byte(users), 0o644)
}

// start runs the server and waits until it answers a native ping.
func (s *Server) start() error {
	stderr, err := os.OpenFile(filepath.Join(s.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	// Its own process group, and killed with the test binary should that
	// die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}()

	if err := s.waitReady(done); err != nil {
		s.stop()
		return fmt.Errorf("%w\n%s", err, s.Log())
	}
	return nil
}

// waitReady pings the server until it answers, it exits, or StartTimeout
// passes.
func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(StartTimeout)
	var lastErr error
	for {
		select {
		case <-done:
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			return fmt.Errorf("clickhouse-server on port %d exited while starting: %v", s.nativePort, err)
		default:
		}
		if lastErr = ping(s.Addr()); lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse-server on port %d not answering after %s: %v", s.nativePort, StartTimeout, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ping(addr string) error {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return conn.Ping(ctx)
}

// stop ends the process: SIGTERM, SIGKILL after StopTimeout; then waits
// for the native port to be free again.
func (s *Server) stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
	default:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(StopTimeout):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				return fmt.Errorf("clickhouse-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
			}
		}
	}
	// Exited: the listening sockets are closed with the process, but give
	// the kernel a moment should a restart come at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", s.Addr())
		if err == nil {
			l.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d still taken after clickhouse-server exited: %v", s.nativePort, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) cleanup() {
	if err := s.stop(); err != nil {
		s.t.Error(err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
