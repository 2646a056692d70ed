package catalog

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every method gives up on a cancelled context.
func TestCancelledContext(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t), CacheTTL(time.Minute))
		if err := c.CreateBucket(testCtx(t), Bucket{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetBucket(testCtx(t), "b"); err != nil { // now cached
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := map[string]func() error{
			"CreateBucket":        func() error { return c.CreateBucket(ctx, Bucket{Name: "c"}) },
			"GetBucket (cached)":  func() error { _, err := c.GetBucket(ctx, "b"); return err },
			"ListBuckets":         func() error { _, err := c.ListBuckets(ctx); return err },
			"DeleteBucket":        func() error { return c.DeleteBucket(ctx, "b") },
			"PutBucketCORS":       func() error { return c.PutBucketCORS(ctx, "b", []CORSRule{{AllowedOrigins: []string{"*"}}}) },
			"GetBucketCORS":       func() error { _, err := c.GetBucketCORS(ctx, "b"); return err },
			"DeleteBucketCORS":    func() error { return c.DeleteBucketCORS(ctx, "b") },
			"PutBucketTagging":    func() error { return c.PutBucketTagging(ctx, "b", map[string]string{"a": "b"}) },
			"GetBucketTagging":    func() error { _, err := c.GetBucketTagging(ctx, "b"); return err },
			"DeleteBucketTagging": func() error { return c.DeleteBucketTagging(ctx, "b") },
			"Ping":                func() error { return c.Ping(ctx) },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
		}
		if _, err := Open(ctx, db.Fresh(t)); !errors.Is(err, context.Canceled) {
			t.Errorf("Open: err = %v, want context.Canceled", err)
		}
		// Nothing was written.
		if _, err := c.GetBucket(testCtx(t), "c"); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("bucket c: %v", err)
		}
	})
}

// A write stuck behind another writer returns when its deadline passes.
func TestDeadlineWhileBlocked(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		blocker, c := openT(t, dsn), openT(t, dsn)
		ctx := testCtx(t)
		// An uncommitted insert of the same name: PostgreSQL makes the second
		// insert wait on it, SQLite on the file's write lock.
		tx, err := blocker.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "INSERT INTO buckets (name, owner_id, owner_name, created_at) VALUES ($1, '', '', $2)",
			"held", blocker.d.timeArg(time.Now())); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = c.CreateBucket(short, Bucket{Name: "held"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v, want soon after the 200ms deadline", d)
		}
		// The abandoned insert was stopped, not left waiting to commit once
		// the blocker is gone.
		tx.Rollback()
		time.Sleep(100 * time.Millisecond)
		if _, err := c.GetBucket(ctx, "held"); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("the cancelled create took effect later: GetBucket = %v", err)
		}
		if err := c.CreateBucket(ctx, Bucket{Name: "held"}); err != nil {
			t.Errorf("after the blocker left: %v", err)
		}
	})
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dsn string
		wantIn    string // the error must say this
	}{
		{"unknown scheme", "mysql://localhost/db", "unsupported DSN scheme"},
		{"sqlite with host", "sqlite://host/x.db", "sqlite:///absolute/path"},
		{"sqlite with query", "sqlite://" + filepath.Join(dir, "x.db") + "?mode=ro", "sqlite:///absolute/path"},
		{"postgres key=value", "host=localhost dbname=s3gate", "postgres:// URL"},
		{"empty", "", "empty DSN"},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "c.db"), "no such file"},
		{"a directory", dir, "SQLite"},
		{"not a database", garbage, "not a database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(testCtx(t), tc.dsn)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("Open: %v", err)
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not contain %q", err, tc.wantIn)
			}
		})
	}
}

// A configured PostgreSQL that is not there fails Open, quickly and clearly,
// without echoing the password.
func TestOpenUnreachablePostgres(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	c, err := Open(testCtx(t), "postgres://s3gate:sekrit-pw@"+addr+"/catalog?sslmode=disable")
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded with no server")
	}
	msg := err.Error()
	t.Logf("Open: %v", err)
	for _, want := range []string{"PostgreSQL", addr, "catalog"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "sekrit-pw") {
		t.Errorf("error leaks the password: %q", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// The database disappears under a running Catalog: calls fail with an error
// that is not ErrNoSuchBucket (an outage must not read as a missing bucket),
// and a new Open fails.
func TestPostgresGoesAway(t *testing.T) {
	admin := requirePostgres(t)
	dsn := freshPostgres(t)
	c := openT(t, dsn, CacheTTL(0))
	ctx := testCtx(t)
	if err := c.CreateBucket(ctx, Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.ExecContext(ctx, `DROP DATABASE "`+name+`" WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucket(ctx, "b"); err == nil || errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("GetBucket after the database went: err = %v, want a database error", err)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping succeeded after the database went")
	}
	c2, err := Open(ctx, dsn)
	if err == nil {
		c2.Close()
		t.Fatal("Open succeeded on a dropped database")
	}
	t.Logf("Open: %v", err)
	if !strings.Contains(err.Error(), name) {
		t.Errorf("error does not name the database: %v", err)
	}
}

// The file will hold secrets: it is created private.
func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	c := openT(t, path)
	if err := c.CreateBucket(testCtx(t), Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), m)
		}
	}
	if c.Dialect() != "sqlite" {
		t.Errorf("Dialect() = %q", c.Dialect())
	}
}

// Paths with characters that mean something in a SQLite URI still work.
func TestSQLiteOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.db")
	c := openT(t, path)
	if err := c.CreateBucket(testCtx(t), Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("catalogue not at the path given: %v", err)
	}
	// The URL form names the same file.
	c2 := openT(t, "sqlite://"+(&url.URL{Path: path}).EscapedPath())
	if _, err := c2.GetBucket(testCtx(t), "b"); err != nil {
		t.Errorf("sqlite:// form: %v", err)
	}
}
