package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/s3gate/s3gate/internal/sqlstore"
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

	base := "file:" + sqlstore.URIPath(path) + "?_busy_timeout=" + strconv.Itoa(sqliteBusyMS)
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
	if err := sqlstore.Ping(ctx, w, sqliteBusyMS*time.Millisecond); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("catalog: SQLite %s: %w", path, err)
	}
	r, err = sql.Open("sqlite", base+"&_query_only=on")
	if err == nil {
		r.SetMaxOpenConns(sqliteReadConns)
		r.SetMaxIdleConns(sqliteReadConns)
		err = sqlstore.Ping(ctx, r, sqliteBusyMS*time.Millisecond)
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
