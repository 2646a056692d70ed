package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ReadReplicas routes the catalogue's listings of object rows
// (ListObjects, CountObjects, BucketUsage) to PostgreSQL read replicas, in
// turn; every write, and every read that must see the latest write (bucket
// records, access keys, the hooks' own reads), stays on the primary. A
// listing may therefore trail the newest writes by the replicas' lag. A
// replica that fails a query is passed over for it: the primary answers.
// Open fails when a replica does not answer at start, as for the primary.
func ReadReplicas(dsns ...string) Option {
	return func(o *options) { o.replicas = append(o.replicas, dsns...) }
}

// openReplicas connects to the configured replicas.
func (c *Catalog) openReplicas(ctx context.Context, dsns []string) error {
	if len(dsns) == 0 {
		return nil
	}
	if c.d != postgresDialect {
		return errors.New("catalog: read replicas need a PostgreSQL catalogue")
	}
	for i, dsn := range dsns {
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			return fmt.Errorf("read replica %d: %w", i+1, err)
		}
		c.replicas = append(c.replicas, db)
	}
	return nil
}

// queryListing runs a listing's query on the next replica, or on the
// primary when there is none or the replica fails it.
func (c *Catalog) queryListing(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if n := len(c.replicas); n > 0 {
		db := c.replicas[c.nextReplica.Add(1)%uint64(n)]
		rows, err := db.QueryContext(ctx, q, args...)
		if err == nil || ctx.Err() != nil {
			return rows, err
		}
	}
	return c.r.QueryContext(ctx, q, args...)
}
