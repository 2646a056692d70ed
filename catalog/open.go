package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Pool sizes. PostgreSQL: enough for a busy replica without exhausting the
// server's max_connections when many replicas share it. SQLite: WAL readers
// do not block each other or the writer.
const (
	postgresConns   = 16
	sqliteReadConns = 4
	sqliteBusyMS    = 5000
	// connectTimeout applies when the DSN sets no connect_timeout, so a
	// black-holed address fails Open instead of hanging it.
	connectTimeout = 10 * time.Second
	// cancelGrace is how long a cancelled statement's connection waits for
	// the server to confirm the cancel before it is dropped.
	cancelGrace = 2 * time.Second
)

// openPostgres connects through pgx's database/sql adapter: one query layer
// serves both databases, and pgx still prepares and caches each statement per
// connection.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn) // its errors redact the password
	if err != nil {
		return nil, fmt.Errorf("catalog: PostgreSQL DSN: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "s3gate" // names us in pg_stat_activity
	}
	// On a cancelled context, ask the server to stop the statement too. By
	// default pgx only drops the socket, and a statement waiting on a lock
	// then runs, and commits, after its caller has given up.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: cancelGrace}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresConns)
	db.SetMaxIdleConns(postgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		// Name where, never the DSN itself: it may carry a password.
		where := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		return nil, fmt.Errorf("catalog: cannot connect to PostgreSQL at %s (database %q): %w", where, cfg.Database, err)
	}
	return db, nil
}

// openSQLite opens the file's one writer connection and its read-only pool.
func openSQLite(ctx context.Context, path string) (w, r *sql.DB, err error) {
	// Create the file ourselves so it is private; SQLite gives its -wal and
	// -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: SQLite: %w", err)
	}
	f.Close()

	base := "file:" + sqliteURIPath(path) + "?_busy_timeout=" + strconv.Itoa(sqliteBusyMS)
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails late trying to upgrade a read lock. WAL mode persists in the
	// file, so only the writer sets it.
	w, err = sql.Open("sqlite", base+"&_foreign_keys=on&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: SQLite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The writer goes first: it switches a new file to WAL before readers open.
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("catalog: SQLite %s: %w", path, err)
	}
	r, err = sql.Open("sqlite", base+"&_query_only=on")
	if err == nil {
		r.SetMaxOpenConns(sqliteReadConns)
		r.SetMaxIdleConns(sqliteReadConns)
		err = pingSQLite(ctx, r)
	}
	if err != nil {
		w.Close()
		if r != nil {
			r.Close()
		}
		return nil, nil, fmt.Errorf("catalog: SQLite %s: %w", path, err)
	}
	return w, r, nil
}

// pingSQLite opens db's first connection. When several processes open a new
// file at once, switching it to WAL can fail with SQLITE_BUSY at once instead
// of waiting, so that is retried for as long as the busy timeout.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyMS * time.Millisecond)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sqliteURIPath escapes the characters a SQLite file: URI gives meaning to.
func sqliteURIPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
