package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the admin connection
)

// The PostgreSQL tests create a database of their own through this server's
// maintenance database and drop it at the end. Without a reachable server
// they skip, except when CI is "true", where they fail.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func postgresURL() string {
	if u := os.Getenv("S3GATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultPostgresURL
}

// testDB is one of the databases the shared suite runs against.
type testDB struct {
	name string
	// fresh returns the DSN of a new, empty database, removed when t ends.
	fresh func(t testing.TB) string
}

var testDBs = []testDB{
	{"sqlite", freshSQLite},
	{"postgres", freshPostgres},
}

// eachDB runs f once per database as a subtest.
func eachDB(t *testing.T, f func(t *testing.T, db testDB)) {
	for _, db := range testDBs {
		t.Run(db.name, func(t *testing.T) { f(t, db) })
	}
}

func freshSQLite(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "catalog.db")
}

var (
	pgAdminOnce sync.Once
	pgAdmin     *sql.DB
	pgAdminErr  error
)

// requirePostgres returns a connection to the maintenance database, or skips
// (fails under CI=true) when PostgreSQL is not reachable.
func requirePostgres(t testing.TB) *sql.DB {
	t.Helper()
	pgAdminOnce.Do(func() {
		db, err := sql.Open("pgx", postgresURL())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err = db.PingContext(ctx); err != nil {
				db.Close()
			}
		}
		pgAdmin, pgAdminErr = db, err
	})
	if pgAdminErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true but not reachable at S3GATE_TEST_POSTGRES_URL (%s): %v", redacted(postgresURL()), pgAdminErr)
		}
		t.Skipf("PostgreSQL not reachable at %s (set S3GATE_TEST_POSTGRES_URL; CI=true makes this a failure): %v", redacted(postgresURL()), pgAdminErr)
	}
	return pgAdmin
}

func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// freshPostgres creates a database with a random name and returns its DSN.
func freshPostgres(t testing.TB) string {
	t.Helper()
	return freshPostgresWith(t, "")
}

// freshPostgresWith is freshPostgres with CREATE DATABASE options (our own
// constant text, never input).
func freshPostgresWith(t testing.TB, options string) string {
	t.Helper()
	admin := requirePostgres(t)
	name := "s3gate_catalog_test_" + randomHex(t, 6)
	ident := pgx.Identifier{name}.Sanitize() // identifiers cannot be parameters
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+ident+" "+options); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// openT opens dsn and closes it when t ends.
func openT(t testing.TB, dsn string, opts ...Option) *Catalog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
