// Package embedded is s3gate's default search index: SQLite FTS5 in one
// file of the data directory, through the same pure-Go driver as the
// catalogue, so the embedded shape needs no other process.
//
// Tables: docs holds one row per bucket and key (the document's fields,
// its sequencer, and a deleted flag: a delete leaves a tombstone with its
// sequencer, so that a late Put of an older sequencer cannot bring the
// document back; PruneTombstones removes old ones); doc_tags holds the
// tags for tag filters; fts is an FTS5 table over the key's words, the
// extracted text, the metadata values (and the image's camera) and the
// tag values, tokenized by unicode61 without case or diacritics, with
// prefix indexes of two and three characters for prefix queries.
//
// Ranking. A query word matches a document word equal to it or starting
// with it. Hits are ordered by a score that depends on the document and
// the query alone: for each word, 6 when it is a word of the key, 4 when
// a word of the key starts with it, 2 when it matches a metadata or tag
// value, 1 when it matches only the text; then by bucket and key. BM25
// was not used because its scores move whenever any document is added or
// removed (document frequencies, average lengths), which would make a
// page token's position shift; with this score, a token's next page starts
// exactly after its last hit, however the index changes meanwhile.
//
// Page tokens hold the last hit's score, bucket and key, a hash of the
// query, and an HMAC made with a key kept in the index file: a forged
// token, or one of another query, is index.ErrInvalidQuery.
//
// Schema changes bump schemaVersion (PRAGMA user_version): Open then drops
// everything and starts empty, and Fresh reports it, so that the caller
// reindexes.
package embedded

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/internal/sqlstore"
	"github.com/s3gate/s3gate/processors/search/index"
)

// schemaVersion is the version of the tables below; Open rebuilds an
// index of any other version from nothing.
const schemaVersion = 1

var schema = []string{
	`CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE docs (
		n INTEGER PRIMARY KEY,
		id TEXT NOT NULL UNIQUE,
		bucket TEXT NOT NULL,
		key TEXT NOT NULL,
		sequencer TEXT NOT NULL,
		deleted INTEGER NOT NULL DEFAULT 0,
		updated INTEGER NOT NULL,
		size INTEGER NOT NULL DEFAULT 0,
		content_type TEXT NOT NULL DEFAULT '',
		modified INTEGER,
		created INTEGER,
		owner TEXT NOT NULL DEFAULT '',
		ext TEXT NOT NULL DEFAULT '',
		image TEXT,
		metadata TEXT,
		tags TEXT
	)`,
	`CREATE UNIQUE INDEX docs_bucket_key ON docs (bucket, key)`,
	`CREATE INDEX docs_tombstones ON docs (updated) WHERE deleted = 1`,
	`CREATE TABLE doc_tags (n INTEGER NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (n, k)) WITHOUT ROWID`,
	`CREATE INDEX doc_tags_kv ON doc_tags (k, v)`,
	`CREATE VIRTUAL TABLE fts USING fts5(words, text, meta, tags,
		tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')`,
}

const (
	defaultReadConns = 4
	busyMS           = 5000
)

// Options tune an Index; the zero value is fine.
type Options struct {
	// ReadConns is the size of the read pool (0 means 4). Writes go
	// through one connection.
	ReadConns int
}

// Index is the embedded index. It implements index.Index and is safe for
// concurrent use.
type Index struct {
	w, r     *sql.DB
	stmts    *sqlstore.Stmts
	group    *sqlstore.Group
	tokenKey []byte
	fresh    bool
	closed   atomic.Bool
}

var _ index.Index = (*Index)(nil)

// Open opens the index file at path, creating it (mode 0600) and its
// tables when missing. An index of another schema version is emptied.
func Open(path string, opts Options) (*Index, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := opts.ReadConns
	if n <= 0 {
		n = defaultReadConns
	}
	// The index is derived data, but a lost delete would show an object
	// that is gone, so commits are durable (group commit keeps them cheap).
	ix := &Index{}
	w, r, err := sqlstore.OpenSQLite(ctx, path, n, busyMS*time.Millisecond, func(ctx context.Context, w *sql.DB) error {
		ix.w = w
		return ix.migrate(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("search index %s: %w", path, err)
	}
	ix.w = w
	ix.r = r
	ix.stmts = sqlstore.Prepare(ctx, w, writeQueries)
	ix.group = &sqlstore.Group{DB: w, Stmts: ix.stmts}
	return ix, nil
}

// Fresh reports whether Open created the index from nothing (a new file,
// or one of another schema version): the caller should reindex.
func (ix *Index) Fresh() bool { return ix.fresh }

// Close closes the index; calls after it fail with index.ErrUnavailable.
func (ix *Index) Close() error {
	if ix.closed.Swap(true) {
		return nil
	}
	ix.stmts.Close()
	return errors.Join(ix.w.Close(), ix.r.Close())
}

// migrate creates the tables, or drops and creates them when the file
// holds another version, and loads the token key.
func (ix *Index) migrate(ctx context.Context) error {
	tx, err := ix.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v == schemaVersion {
		if err := tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'token_key'").Scan(&ix.tokenKey); err != nil {
			return fmt.Errorf("token key: %w", err)
		}
		return tx.Commit()
	}
	// Drop everything, virtual tables first (they take their shadow
	// tables with them).
	for {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
			ORDER BY sql LIKE 'CREATE VIRTUAL%' DESC LIMIT 1`).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return err
		}
	}
	for _, s := range schema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta (name, value) VALUES ('token_key', ?)", key); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	ix.tokenKey, ix.fresh = key, true
	if v != 0 { // give the old index's pages back
		if _, err := ix.w.ExecContext(ctx, "VACUUM"); err != nil {
			return err
		}
	}
	return nil
}

// fail wraps a database error: index.ErrUnavailable, unless the caller's
// context ended.
func fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("search index: %s: %w", op, err)
		}
		return fmt.Errorf("search index: %s: %w: %w", op, ctxErr, err)
	}
	return fmt.Errorf("search index: %s: %w: %w", op, index.ErrUnavailable, err)
}

// errClosed is returned by calls after Close.
var errClosed = fmt.Errorf("%w: closed", index.ErrUnavailable)
