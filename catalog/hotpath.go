package catalog

import (
	"context"
	"database/sql"

	"github.com/s3gate/s3gate/internal/sqlstore"
)

// The per-event writes of the hooks (SyncObject, SetObjectFields) are the
// catalogue's hot path. On SQLite two things made it slow: every statement
// was parsed again on each call (the object upsert alone, a quarter of the
// metadata hook's CPU), and every event paid a commit, one fsync, on the
// single writer connection. sqlstore's Stmts keeps the statements prepared, and
// its Group commits the writes of concurrent events together. PostgreSQL
// needs neither: pgx caches prepared statements per connection, and
// concurrent commits there share WAL flushes already.

// execer is what the hot path writes through.
type execer = sqlstore.Execer

// cachedDB reads through the cache of the read pool.
type cachedDB struct{ cache *sqlstore.Stmts }

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.cache.Get(q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.cache.DB().QueryRowContext(ctx, q, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.cache.Get(q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.cache.DB().QueryContext(ctx, q, args...)
}
