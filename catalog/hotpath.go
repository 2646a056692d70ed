package catalog

import (
	"context"
	"database/sql"
	"sync"
)

// The per-event writes of the hooks (SyncObject, SetObjectFields) are the
// catalogue's hot path. On SQLite two things made it slow: every statement
// was parsed again on each call (the object upsert alone, a quarter of the
// metadata hook's CPU), and every event paid a commit, one fsync, on the
// single writer connection. stmtCache keeps the statements prepared, and
// writeGroup commits the writes of concurrent events together. PostgreSQL
// needs neither: pgx caches prepared statements per connection, and
// concurrent commits there share WAL flushes already.

// execer is what the hot path writes through: a transaction, possibly with
// cached statements.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtCache holds the hot path's statements, prepared once per *sql.DB
// (database/sql prepares them again on each pooled connection as needed).
// Other queries run unprepared.
type stmtCache struct {
	db *sql.DB
	m  map[string]*sql.Stmt
}

// newStmtCache prepares queries on db. A query that fails to prepare is
// left out: run unprepared, it reports its own error where it is used.
// On SQLite's single writer connection this must happen outside any
// transaction, hence here and not on first use.
func newStmtCache(ctx context.Context, db *sql.DB, queries []string) *stmtCache {
	s := &stmtCache{db: db, m: map[string]*sql.Stmt{}}
	for _, q := range queries {
		if st, err := db.PrepareContext(ctx, q); err == nil {
			s.m[q] = st
		}
	}
	return s
}

// get returns the prepared statement of q, or nil.
func (s *stmtCache) get(q string) *sql.Stmt { return s.m[q] }

func (s *stmtCache) close() {
	for _, st := range s.m {
		st.Close()
	}
}

// cachedTx runs statements in tx through the cache of tx's database.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.cache.get(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.cache.get(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// cachedDB reads through the cache of the read pool.
type cachedDB struct{ cache *stmtCache }

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.cache.get(q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.cache.db.QueryRowContext(ctx, q, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.cache.get(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.cache.db.QueryContext(ctx, q, args...)
}

// writeGroup commits the writes of concurrent callers in one transaction
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
type writeGroup struct {
	db    *sql.DB
	cache *stmtCache

	mu      sync.Mutex
	queue   []*groupWrite
	leading bool
}

type groupWrite struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx execer) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this write's caller is to lead
}

func (g *writeGroup) do(ctx context.Context, fn func(ctx context.Context, tx execer) error) error {
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
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
func (g *writeGroup) commit(batch []*groupWrite) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	tx, err := g.db.BeginTx(context.Background(), nil)
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
		if w.err = w.fn(context.WithoutCancel(w.ctx), cachedTx{tx, g.cache}); w.err != nil {
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
