// Package sqlstore holds what s3gate's SQL stores share (the catalogue,
// on SQLite or PostgreSQL, and the embedded search index): the SQLite
// write path, opening SQLite files, and key-prefix ranges.
//
// SQLite has one writer connection: parsing every statement again on each
// call, and paying one commit (an fsync) per write, made the hooks'
// per-event writes slow. Stmts keeps the hot statements prepared, and
// Group commits the writes of concurrent callers together, each in its
// own savepoint.
package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// Execer is what the hot path writes through: a transaction, possibly with
// cached statements.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Stmts holds the hot path's statements, prepared once per *sql.DB
// (database/sql prepares them again on each pooled connection as needed).
// Other queries run unprepared.
type Stmts struct {
	db *sql.DB
	m  map[string]*sql.Stmt
}

// Prepare prepares queries on db. A query that fails to prepare is
// left out: run unprepared, it reports its own error where it is used.
// On SQLite's single writer connection this must happen outside any
// transaction, hence here and not on first use.
func Prepare(ctx context.Context, db *sql.DB, queries []string) *Stmts {
	s := &Stmts{db: db, m: map[string]*sql.Stmt{}}
	for _, q := range queries {
		if st, err := db.PrepareContext(ctx, q); err == nil {
			s.m[q] = st
		}
	}
	return s
}

// Get returns the prepared statement of q, or nil.
func (s *Stmts) Get(q string) *sql.Stmt {
	if s == nil {
		return nil
	}
	return s.m[q]
}

// DB is the database the statements are prepared on.
func (s *Stmts) DB() *sql.DB { return s.db }

// Close closes the statements.
func (s *Stmts) Close() {
	if s == nil {
		return
	}
	for _, st := range s.m {
		st.Close()
	}
}

// Tx runs statements in tx through the cache of tx's database.
type Tx struct {
	tx    *sql.Tx
	cache *Stmts
}

func (t Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.cache.Get(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.cache.Get(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// Group commits the writes of concurrent callers in one transaction
// on SQLite's single writer connection: one fsync for all of them. Each
// write runs inside its own savepoint, so one that fails is rolled back
// alone and the others still commit. A caller returns once the commit that
// holds its write is durable.
//
// The first caller to find no commit under way leads: it takes every
// write queued, runs them and commits. Callers that arrive meanwhile queue
// for the next round, which the first of them leads. Writes run with
// their callers' values but not their cancellation: interrupting a
// statement of a shared transaction would roll back the others' writes
// too. A caller whose context ended before its turn is skipped.
type Group struct {
	// DB is the writer; Stmts, if set, its prepared statements.
	DB    *sql.DB
	Stmts *Stmts

	mu      sync.Mutex
	queue   []*write
	leading bool
}

type write struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx Execer) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this write's caller is to lead
}

// Do runs fn in the next group commit and returns once that commit is
// durable, or fn's or the commit's error.
func (g *Group) Do(ctx context.Context, fn func(ctx context.Context, tx Execer) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-w.done:
			return w.err
		case <-w.lead:
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	g.commit(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead) // the next round is theirs
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return w.err
}

// commit runs batch in one transaction and settles every write in it.
func (g *Group) commit(batch []*write) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	tx, err := g.DB.BeginTx(context.Background(), nil)
	if err != nil {
		for _, w := range batch {
			w.err = err
		}
		return
	}
	defer tx.Rollback() // a no-op after Commit
	ctx := context.Background()
	ok := false
	for _, w := range batch {
		if w.err = w.ctx.Err(); w.err != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			w.err = err
			continue
		}
		if w.err = w.fn(context.WithoutCancel(w.ctx), Tx{tx, g.Stmts}); w.err != nil {
			_, err = tx.ExecContext(ctx, "ROLLBACK TO w")
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE w"); err == nil {
			err = rerr
		}
		if err != nil { // the transaction is in an unknown state: fail it all
			for _, o := range batch {
				if o.err == nil {
					o.err = err
				}
			}
			return
		}
		ok = ok || w.err == nil
	}
	if !ok {
		return
	}
	if err := tx.Commit(); err != nil {
		for _, w := range batch {
			if w.err == nil {
				w.err = err
			}
		}
	}
}
