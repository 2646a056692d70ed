// Package embedded is s3gate's analytics sink for the embedded shape: two
// tables in a SQLite file of the data directory, through the same pure-Go
// driver as the catalogue, so usage statistics need no other process.
//
// Tables: requests holds one row per S3 request and hook_outcomes one per
// hook attempt, each keyed by the row's ID: rows are inserted with INSERT
// OR IGNORE, so a batch sent again (from the recorder's spool) counts
// once. Times are unix milliseconds; durations are microseconds. Indexes
// serve the queries by time, and by bucket, operation or principal and
// time (processor and time for hooks). DropExpired removes rows older than
// the retention.
package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/internal/sqlstore"
	"github.com/s3gate/s3gate/processors/analytics"
)

// schemaVersion is the version of the tables below (PRAGMA user_version).
const schemaVersion = 1

var schema = []string{
	`CREATE TABLE requests (
		id TEXT NOT NULL PRIMARY KEY,
		time INTEGER NOT NULL,
		operation TEXT NOT NULL,
		bucket TEXT NOT NULL,
		key TEXT NOT NULL,
		principal TEXT NOT NULL,
		auth_kind TEXT NOT NULL,
		source_ip TEXT NOT NULL,
		user_agent TEXT NOT NULL,
		status INTEGER NOT NULL,
		error_code TEXT NOT NULL,
		bytes_in INTEGER NOT NULL,
		bytes_out INTEGER NOT NULL,
		latency_us INTEGER NOT NULL,
		backend_latency_us INTEGER NOT NULL,
		cache TEXT NOT NULL
	)`,
	`CREATE INDEX requests_time ON requests (time)`,
	`CREATE INDEX requests_bucket ON requests (bucket, time)`,
	`CREATE INDEX requests_operation ON requests (operation, time)`,
	`CREATE INDEX requests_principal ON requests (principal, time)`,
	`CREATE TABLE hook_outcomes (
		id TEXT NOT NULL PRIMARY KEY,
		time INTEGER NOT NULL,
		processor TEXT NOT NULL,
		bucket TEXT NOT NULL,
		key TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		result TEXT NOT NULL,
		duration_us INTEGER NOT NULL
	)`,
	`CREATE INDEX hook_outcomes_time ON hook_outcomes (time)`,
	`CREATE INDEX hook_outcomes_processor ON hook_outcomes (processor, time)`,
}

const (
	insertRequest = `INSERT OR IGNORE INTO requests (id, time, operation, bucket, key, principal, auth_kind, source_ip,
		user_agent, status, error_code, bytes_in, bytes_out, latency_us, backend_latency_us, cache)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertHook = `INSERT OR IGNORE INTO hook_outcomes (id, time, processor, bucket, key, attempt, result, duration_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

const (
	readConns = 4
	busyMS    = 5000
	// expireChunk bounds the rows one DropExpired transaction deletes, so
	// that writes are not held up for long.
	expireChunk = 10000
)

// Options tune a Sink; the zero value is fine.
type Options struct {
	// Retention is how long rows are kept: DropExpired deletes older
	// ones. Zero keeps them for ever.
	Retention time.Duration
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("analytics: embedded sink closed")

// Sink is the SQLite analytics sink. It implements analytics.Sink and is
// safe for concurrent use: writes go through one connection, queries
// through a small read pool.
type Sink struct {
	w, r   *sql.DB
	stmts  *sqlstore.Stmts
	opts   Options
	closed atomic.Bool
}

var _ analytics.Sink = (*Sink)(nil)

// Open opens the analytics file at path, creating it (mode 0600) and its
// tables when missing.
func Open(path string, opts Options) (*Sink, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A write the recorder was told succeeded leaves its spool, so commits
	// are durable (one fsync per batch).
	s := &Sink{opts: opts}
	w, r, err := sqlstore.OpenSQLite(ctx, path, readConns, busyMS*time.Millisecond, func(ctx context.Context, w *sql.DB) error {
		s.w = w
		return s.migrate(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("analytics %s: %w", path, err)
	}
	s.w = w
	s.r = r
	s.stmts = sqlstore.Prepare(ctx, w, []string{insertRequest, insertHook})
	return s, nil
}

// migrate creates the tables in a new file; a file of another version is
// refused rather than emptied (it holds history, not derived data).
func (s *Sink) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch v {
	case schemaVersion:
		return nil
	case 0:
	default:
		return fmt.Errorf("schema version %d, this s3gate knows %d", v, schemaVersion)
	}
	for _, q := range schema {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the sink.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stmts.Close()
	return errors.Join(s.w.Close(), s.r.Close())
}

// WriteRequests stores rows in one transaction; rows whose ID is stored
// already are skipped.
func (s *Sink) WriteRequests(ctx context.Context, rows []analytics.Request) error {
	return write(ctx, s, insertRequest, rows, func(st *sql.Stmt, r *analytics.Request) error {
		_, err := st.ExecContext(ctx, r.ID, r.Time.UnixMilli(), r.Operation, r.Bucket, r.Key, r.Principal, r.AuthKind,
			r.SourceIP, r.UserAgent, r.Status, r.ErrorCode, r.BytesIn, r.BytesOut,
			r.Latency.Microseconds(), r.BackendLatency.Microseconds(), r.Cache)
		return err
	})
}

// WriteHooks stores rows in one transaction; rows whose ID is stored
// already are skipped.
func (s *Sink) WriteHooks(ctx context.Context, rows []analytics.HookOutcome) error {
	return write(ctx, s, insertHook, rows, func(st *sql.Stmt, h *analytics.HookOutcome) error {
		_, err := st.ExecContext(ctx, h.ID, h.Time.UnixMilli(), h.Processor, h.Bucket, h.Key, h.Attempt, h.Result,
			h.Duration.Microseconds())
		return err
	})
}

func write[T any](ctx context.Context, s *Sink, query string, rows []T, insert func(*sql.Stmt, *T) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	var st *sql.Stmt
	if prepared := s.stmts.Get(query); prepared != nil {
		st = tx.StmtContext(ctx, prepared)
	} else if st, err = tx.PrepareContext(ctx, query); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	defer st.Close()
	for i := range rows {
		if err := insert(st, &rows[i]); err != nil {
			return fmt.Errorf("analytics: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	return nil
}

// DropExpired deletes the rows (of both tables) older than the retention
// and returns how many; without a retention it deletes nothing. Run it
// periodically, say hourly.
func (s *Sink) DropExpired(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if s.opts.Retention <= 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-s.opts.Retention).UnixMilli()
	total := 0
	for _, table := range []string{"requests", "hook_outcomes"} {
		q := "DELETE FROM " + table + " WHERE rowid IN (SELECT rowid FROM " + table + " WHERE time < ? LIMIT " + strconv.Itoa(expireChunk) + ")"
		for {
			res, err := s.w.ExecContext(ctx, q, cutoff)
			if err != nil {
				return total, fmt.Errorf("analytics: expiring %s: %w", table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("analytics: expiring %s: %w", table, err)
			}
			total += int(n)
			if n < expireChunk {
				break
			}
		}
	}
	return total, nil
}
