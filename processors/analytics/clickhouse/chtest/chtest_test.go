package chtest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestStartStopStartKeepsPortAndData(t *testing.T) {
	s := StartServer(t)
	addr := s.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want a loopback address", addr)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE TABLE default.kept (n UInt32) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO default.kept (n)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Append(uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > 5*time.Second {
		// An idle client connection holds a server for its poll
		// interval; the configuration makes that short.
		t.Errorf("Stop took %s with an idle client connection", d)
	}
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}

	s.Start()
	if !s.Running() || s.Addr() != addr {
		t.Fatalf("after Start: running %v, addr %s (was %s)", s.Running(), s.Addr(), addr)
	}
	var n uint64
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The pooled connection died with the old process; a new one
		// follows.
		err = conn.QueryRow(ctx, "SELECT count() FROM default.kept").Scan(&n)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || n != 3 {
		t.Fatalf("after restart: count = %d, %v; want 3", n, err)
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers on one address %s", a)
	}
	for _, addr := range []string{a, b} {
		if err := ping(addr); err != nil {
			t.Errorf("ping %s: %v", addr, err)
		}
	}
}

// Without the server binary a test skips, naming ClickHouse, and fails
// under CI=true. Run in a child test process with the binary pointed
// elsewhere.
func TestMissingBinary(t *testing.T) {
	if os.Getenv("CHTEST_MISSING_CHILD") == "1" {
		Start(t)
		t.Fatal("Start returned without a server binary")
		return
	}
	for _, c := range []struct {
		ci   string
		want []string
	}{
		{"true", []string{"--- FAIL: TestMissingBinary", "ClickHouse (clickhouse-server) is not installed", "required under CI=true"}},
		{"", []string{"--- SKIP: TestMissingBinary", "ClickHouse (clickhouse-server) is not installed", "CI=true makes this a failure"}},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingBinary$", "-test.v")
		cmd.Env = append(os.Environ(), "CHTEST_MISSING_CHILD=1", "CI="+c.ci, BinaryEnv+"=/nonexistent/clickhouse-server")
		out, err := cmd.CombinedOutput()
		if c.ci == "true" && err == nil {
			t.Errorf("CI=true: child passed:\n%s", out)
		}
		if c.ci == "" && err != nil {
			t.Errorf("CI unset: child failed: %v\n%s", err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("CI=%q: output lacks %q:\n%s", c.ci, w, out)
			}
		}
	}
}
