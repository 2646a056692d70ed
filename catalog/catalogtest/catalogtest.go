// Package catalogtest gives tests a database of their own for the
// catalogue: a fresh SQLite file, or a fresh PostgreSQL database created
// through the server's maintenance database and dropped when the test ends.
//
// The server is S3GATE_TEST_POSTGRES_URL, by default the local one. Without
// a reachable server PostgreSQL tests skip, naming it, except when CI is
// "true": then they fail.
package catalogtest

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

// DefaultPostgresURL is the maintenance database used unless
// S3GATE_TEST_POSTGRES_URL names another.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresURL is the maintenance database's URL.
func PostgresURL() string {
	if u := os.Getenv("S3GATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// RequirePostgres returns a connection to the maintenance database, or
// skips the test (fails it under CI=true) when PostgreSQL is not reachable.
func RequirePostgres(t testing.TB) *sql.DB {
	t.Helper()
	adminOnce.Do(func() {
		db, err := sql.Open("pgx", PostgresURL())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err = db.PingContext(ctx); err != nil {
				db.Close()
			}
		}
		admin, adminErr = db, err
	})
	if adminErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true but not reachable at S3GATE_TEST_POSTGRES_URL (%s): %v", Redacted(PostgresURL()), adminErr)
		}
		t.Skipf("PostgreSQL not reachable at %s (set S3GATE_TEST_POSTGRES_URL; CI=true makes this a failure): %v", Redacted(PostgresURL()), adminErr)
	}
	return admin
}

// Redacted is u without its password.
func Redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// FreshSQLite returns the DSN of a new SQLite catalogue in a temp dir.
func FreshSQLite(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "catalog.db")
}

// FreshPostgres creates a database with a random name and returns its DSN;
// it is dropped when t ends.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	return FreshPostgresWith(t, "")
}

// FreshPostgresWith is FreshPostgres with CREATE DATABASE options (the
// caller's constant text, never input).
func FreshPostgresWith(t testing.TB, options string) string {
	t.Helper()
	db := RequirePostgres(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "s3gate_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize() // identifiers cannot be parameters
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+ident+" "+options); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// DB is one of the databases the catalogue runs on.
type DB struct {
	Name string
	// Fresh returns the DSN of a new, empty database, removed when t ends.
	Fresh func(t testing.TB) string
}

// DBs are the catalogue's databases: SQLite (the embedded shape) and
// PostgreSQL (the scaled-out one).
var DBs = []DB{
	{"sqlite", FreshSQLite},
	{"postgres", FreshPostgres},
}

// EachDB runs f once per database, as a subtest named after it.
func EachDB(t *testing.T, f func(t *testing.T, db DB)) {
	for _, db := range DBs {
		t.Run(db.Name, func(t *testing.T) { f(t, db) })
	}
}
