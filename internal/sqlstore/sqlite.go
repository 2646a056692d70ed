package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Ping opens db's first connection. When several processes open a new
// SQLite file at once, switching it to WAL can fail with SQLITE_BUSY at
// once instead of waiting, so that is retried until busy has passed.
func Ping(ctx context.Context, db *sql.DB, busy time.Duration) error {
	deadline := time.Now().Add(busy)
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

// URIPath escapes the characters a SQLite file: URI gives meaning to.
func URIPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// OpenSQLite opens the SQLite file at path, creating it (mode 0600) when
// missing: one writer connection in WAL mode whose commits are durable and
// whose transactions take the write lock up front (BEGIN IMMEDIATE), and a
// read-only pool of readConns. migrate runs on the writer before the read
// pool opens; busy is how long a locked database is waited for.
func OpenSQLite(ctx context.Context, path string, readConns int, busy time.Duration, migrate func(ctx context.Context, w *sql.DB) error) (w, r *sql.DB, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	f.Close()
	base := "file:" + URIPath(path) + "?_busy_timeout=" + strconv.FormatInt(busy.Milliseconds(), 10)
	if w, err = sql.Open("sqlite", base+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"); err != nil {
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err = Ping(ctx, w, busy); err == nil {
		err = migrate(ctx, w)
	}
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	r, err = sql.Open("sqlite", base+"&_query_only=on")
	if err == nil {
		r.SetMaxOpenConns(readConns)
		r.SetMaxIdleConns(readConns)
		if err = Ping(ctx, r, busy); err != nil {
			r.Close()
		}
	}
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, r, nil
}
