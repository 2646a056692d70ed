package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Bucket is a bucket's record: who owns it and where its objects live.
type Bucket struct {
	Name      string
	OwnerID   string
	OwnerName string
	// Created is kept to the microsecond and returned in UTC. CreateBucket
	// sets it to now when zero.
	Created time.Time
	// Backend names the configured backend that holds the bucket; "" is the
	// default one.
	Backend string
	// BackendBucket is the bucket's name in that backend, and Prefix the key
	// prefix there.
	BackendBucket string
	Prefix        string
}

const bucketColumns = "name, owner_id, owner_name, created_at, backend, backend_bucket, prefix"

func scanBucket(row interface{ Scan(...any) error }) (Bucket, error) {
	var b Bucket
	err := row.Scan(&b.Name, &b.OwnerID, &b.OwnerName, timeValue{&b.Created}, &b.Backend, &b.BackendBucket, &b.Prefix)
	return b, err
}

// CreateBucket records a new bucket. Of concurrent calls for one name, across
// any number of processes, exactly one succeeds; the others get
// ErrBucketExists. Name rules are the caller's to check.
func (c *Catalog) CreateBucket(ctx context.Context, b Bucket) error {
	if b.Name == "" {
		return errors.New("catalog: empty bucket name")
	}
	if b.Created.IsZero() {
		b.Created = time.Now()
	}
	res, err := c.w.ExecContext(ctx,
		"INSERT INTO buckets ("+bucketColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING",
		b.Name, b.OwnerID, b.OwnerName, c.d.timeArg(b.Created), b.Backend, b.BackendBucket, b.Prefix)
	if err != nil {
		return wrap(ctx, "create bucket", err)
	}
	// Another process may have deleted and re-created the name since we cached it.
	c.cache.invalidate(b.Name)
	if n, err := res.RowsAffected(); err != nil {
		return wrap(ctx, "create bucket", err)
	} else if n == 0 {
		return ErrBucketExists
	}
	return nil
}

// GetBucket returns the named bucket, or ErrNoSuchBucket. It may answer from
// the cache (see CacheTTL).
func (c *Catalog) GetBucket(ctx context.Context, name string) (Bucket, error) {
	if err := ctx.Err(); err != nil {
		return Bucket{}, err
	}
	if b, ok := c.cache.get(name); ok {
		return b, nil
	}
	gen := c.cache.generation()
	b, err := scanBucket(c.r.QueryRowContext(ctx, "SELECT "+bucketColumns+" FROM buckets WHERE name = $1", name))
	if errors.Is(err, sql.ErrNoRows) {
		return Bucket{}, ErrNoSuchBucket // not cached: a create elsewhere must show at once
	}
	if err != nil {
		return Bucket{}, wrap(ctx, "get bucket", err)
	}
	c.cache.put(b, gen)
	return b, nil
}

// ListBuckets returns every bucket, sorted by name (byte order).
func (c *Catalog) ListBuckets(ctx context.Context) ([]Bucket, error) {
	rows, err := c.r.QueryContext(ctx, "SELECT "+bucketColumns+" FROM buckets ORDER BY name")
	if err != nil {
		return nil, wrap(ctx, "list buckets", err)
	}
	defer rows.Close()
	var bs []Bucket
	for rows.Next() {
		b, err := scanBucket(rows)
		if err != nil {
			return nil, wrap(ctx, "list buckets", err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, "list buckets", err)
	}
	return bs, nil
}

// DeleteBucket removes the bucket's record with its CORS configuration and
// tags, and the object rows and recorded sequencers of its keys, or returns
// ErrNoSuchBucket. Whether the bucket still holds objects is the caller's
// to check first.
func (c *Catalog) DeleteBucket(ctx context.Context, name string) error {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(ctx, "delete bucket", err)
	}
	defer tx.Rollback() // a no-op after Commit
	res, err := tx.ExecContext(ctx, "DELETE FROM buckets WHERE name = $1", name)
	if err != nil {
		return wrap(ctx, "delete bucket", err)
	}
	if err := requireRow(ctx, res, "delete bucket"); err != nil {
		c.cache.invalidate(name) // another process may have deleted it
		return err
	}
	if err := deleteBucketObjects(ctx, tx, name); err != nil {
		return wrap(ctx, "delete bucket", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(ctx, "delete bucket", err)
	}
	c.cache.invalidate(name)
	return nil
}

// requireRow turns "no row changed" into ErrNoSuchBucket.
func requireRow(ctx context.Context, res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(ctx, op, err)
	}
	if n == 0 {
		return ErrNoSuchBucket
	}
	return nil
}
