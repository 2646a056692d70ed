package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/processors/queue"
)

// sharedAddr is the Redis the suite runs against: S3GATE_TEST_REDIS_ADDR,
// by default the local one. It has no persistence; tests that stop Redis
// start their own server.
func sharedAddr() string {
	if a := os.Getenv("S3GATE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// missing skips t naming the service, or fails it under CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: required)", msg)
	}
	t.Skipf("skipping: %s (CI=true makes this a failure)", msg)
}

var (
	sharedOnce sync.Once
	shared     *redis.Client
	sharedErr  error
)

// needRedis returns a client of the shared Redis.
func needRedis(t testing.TB) *redis.Client {
	t.Helper()
	sharedOnce.Do(func() {
		c := redis.NewClient(&redis.Options{Addr: sharedAddr()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if sharedErr = c.Ping(ctx).Err(); sharedErr != nil {
			c.Close()
			return
		}
		shared = c
	})
	if sharedErr != nil {
		missing(t, "redis not reachable at %s (set S3GATE_TEST_REDIS_ADDR): %v", sharedAddr(), sharedErr)
	}
	return shared
}

// freshPrefix returns a key prefix of t's own; its keys are deleted when t
// ends.
func freshPrefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "s3gate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		if n := deleteKeys(t, c, prefix); n < 0 {
			t.Errorf("keys under %s not deleted", prefix)
		}
	})
	return prefix
}

// deleteKeys deletes every key under prefix (hex and ':' only, so no glob
// characters) and returns how many, or -1 on error.
func deleteKeys(t testing.TB, c redis.UniversalClient, prefix string) int {
	ctx := context.Background()
	var cursor uint64
	n := 0
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			t.Logf("scan %s*: %v", prefix, err)
			return -1
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Logf("del: %v", err)
				return -1
			}
			n += len(keys)
		}
		if cursor = next; cursor == 0 {
			return n
		}
	}
}

// keysUnder lists the keys under prefix.
func keysUnder(t testing.TB, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	var all []string
	var cursor uint64
	for {
		keys, next, err := c.Scan(context.Background(), cursor, prefix+"*", 1000).Result()
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		all = append(all, keys...)
		if cursor = next; cursor == 0 {
			return all
		}
	}
}

// server is a redis-server of a test's own, on a free port with its data
// in a temp dir, so stopping it disturbs nobody.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
	exit chan error
}

// startServer starts a redis-server with AOF (everysec) and no RDB, plus
// extra arguments.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr != nil {
			missing(t, "redis-server binary not found in PATH or /usr/bin: %v", err)
		}
		bin = "/usr/bin/redis-server"
	}
	s := &server{t: t, bin: bin, dir: t.TempDir()}
	s.args = append([]string{"--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "everysec",
		"--dir", s.dir, "--save", "", "--logfile", filepath.Join(s.dir, "redis.log")}, extra...)
	var lastErr error
	for range 5 { // another process may take the free port first
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redis-server did not start: %v", lastErr)
	}
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop(syscall.SIGKILL)
		}
	})
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server on its port and dir and waits until it answers.
func (s *server) start() error {
	cmd := exec.Command(s.bin, append([]string{"--port", strconv.Itoa(s.port)}, s.args...)...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exit:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v\n%s", err, log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd, s.exit = cmd, exit
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server on %s not answering: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart starts the stopped server again on the same port and dir.
func (s *server) restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// stop sends sig and waits for the server to exit.
func (s *server) stop(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
	select {
	case err := <-s.exit:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			s.t.Errorf("redis-server: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exit
		s.t.Errorf("redis-server ignored %v for 30s", sig)
	}
	s.cmd = nil
}

// client returns a client of the server, closed when t ends.
func (s *server) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func idsOf(ms []queue.Message) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}
