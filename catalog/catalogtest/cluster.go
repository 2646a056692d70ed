package catalogtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server of a test's own, in a temp dir on a free
// loopback port, for tests that stop and start the database: the shared
// server stays up for every other test. It is removed when the test ends.
type Cluster struct {
	t    testing.TB
	bin  string // the directory of initdb and pg_ctl
	dir  string // the data directory, also the socket directory
	port int
	// asUser runs the server as this user (initdb refuses root); "" runs
	// it as the current one.
	asUser string
}

// StartCluster creates and starts a Cluster. Without PostgreSQL's server
// binaries (initdb, pg_ctl: on PATH, or under /usr/lib/postgresql) the
// test skips, naming them, except when CI is "true": then it fails.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := serverBinaries()
	if err != nil {
		missing(t, "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql: %v", err)
	}
	c := newCluster(t, bin)
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.startOnFreePort()
	return c
}

// newCluster makes the directory of a cluster, owned by the user the
// server will run as.
func newCluster(t testing.TB, bin string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			missing(t, "running as root, PostgreSQL needs a postgres user to run as: %v", err)
		}
		c.asUser = "postgres"
	}
	// Not t.TempDir: its parents are private to root, and the server must
	// reach its directory. The socket path must also stay short.
	dir, err := os.MkdirTemp("", "s3gate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(c.remove)
	if c.asUser != "" {
		if out, err := exec.Command("chown", c.asUser, dir).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v: %s", dir, err, out)
		}
	}
	return c
}

func (c *Cluster) startOnFreePort() {
	c.t.Helper()
	var lastErr error
	for range 5 { // another process may take the free port first
		var err error
		if c.port, err = freePort(); err != nil {
			c.t.Fatal(err)
		}
		if lastErr = c.start(); lastErr == nil {
			return
		}
	}
	c.t.Fatalf("PostgreSQL did not start: %v", lastErr)
}

// StartReplica starts a streaming replica of the cluster (pg_basebackup,
// then recovery following the primary): a read-only server whose data
// trails the primary's by the replication lag.
func (c *Cluster) StartReplica() *Cluster {
	c.t.Helper()
	r := newCluster(c.t, c.bin)
	if out, err := r.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres",
		"-D", filepath.Join(r.dir, "data"), "-R", "-X", "stream", "--no-sync"); err != nil {
		c.t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	r.startOnFreePort()
	return r
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (required under CI=true)", args...)
	}
	t.Skipf(format+" (CI=true makes this a failure)", args...)
}

// serverBinaries finds the directory holding initdb and pg_ctl: PATH first,
// then the newest /usr/lib/postgresql/N/bin.
func serverBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		// A link on PATH leads to the directory of every server program
		// (pg_basebackup too).
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl")
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run runs one of the server's programs as the cluster's user.
func (c *Cluster) run(program string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, program)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// DSN is the URL of the cluster's postgres database.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

func (c *Cluster) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", c.port, c.dir)
	out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-o", opts, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	// pg_ctl -w waits for the socket; check TCP answers too.
	db, err := sql.Open("pgx", c.DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "stop")
			return fmt.Errorf("PostgreSQL on port %d not answering: %w", c.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Start starts the stopped cluster again, on the same port and data.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop stops the cluster: a fast shutdown, which ends open connections.
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// remove stops the cluster if it runs and deletes its directory.
func (c *Cluster) remove() {
	if _, err := os.Stat(filepath.Join(c.dir, "data", "postmaster.pid")); err == nil {
		c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	}
	os.RemoveAll(c.dir)
}

// Log returns the server's log, for a failing test to show.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}
