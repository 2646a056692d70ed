package catalog

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// PutBucketTagging replaces the bucket's tag set. An empty set is the same as
// DeleteBucketTagging. Tag limits are the caller's to check.
func (c *Catalog) PutBucketTagging(ctx context.Context, bucket string, tags map[string]string) error {
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(ctx, "put bucket tagging", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := replaceTags(ctx, tx, c.d, bucket, tags); err != nil {
		if errors.Is(err, ErrNoSuchBucket) || c.d.fkViolation(err) {
			return ErrNoSuchBucket
		}
		return wrap(ctx, "put bucket tagging", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(ctx, "put bucket tagging", err)
	}
	return nil
}

func replaceTags(ctx context.Context, tx *sql.Tx, d *dialect, bucket string, tags map[string]string) error {
	// Locking the bucket row makes concurrent replacements queue, where they
	// would otherwise collide on the keys each inserts.
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM buckets WHERE name = $1"+d.lockBucket, bucket).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoSuchBucket
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM bucket_tags WHERE bucket = $1", bucket); err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	// One multi-row INSERT; only placeholders are built into the text.
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q strings.Builder
	q.WriteString("INSERT INTO bucket_tags (bucket, tag_key, tag_value) VALUES ")
	args := []any{bucket}
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("($1, $" + strconv.Itoa(len(args)+1) + ", $" + strconv.Itoa(len(args)+2) + ")")
		args = append(args, k, tags[k])
	}
	_, err = tx.ExecContext(ctx, q.String(), args...)
	return err
}

// GetBucketTagging returns the bucket's tags, ErrNoSuchBucket, or
// ErrNoSuchTagSet.
func (c *Catalog) GetBucketTagging(ctx context.Context, bucket string) (map[string]string, error) {
	rows, err := c.r.QueryContext(ctx,
		`SELECT t.tag_key, t.tag_value FROM buckets b LEFT JOIN bucket_tags t ON t.bucket = b.name WHERE b.name = $1`,
		bucket)
	if err != nil {
		return nil, wrap(ctx, "get bucket tagging", err)
	}
	defer rows.Close()
	found := false
	tags := make(map[string]string)
	for rows.Next() {
		found = true
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrap(ctx, "get bucket tagging", err)
		}
		if k.Valid {
			tags[k.String] = v.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, "get bucket tagging", err)
	}
	switch {
	case !found:
		return nil, ErrNoSuchBucket
	case len(tags) == 0:
		return nil, ErrNoSuchTagSet
	}
	return tags, nil
}

// DeleteBucketTagging removes the bucket's tags, if any; it returns
// ErrNoSuchBucket for a missing bucket.
func (c *Catalog) DeleteBucketTagging(ctx context.Context, bucket string) error {
	res, err := c.w.ExecContext(ctx, "DELETE FROM bucket_tags WHERE bucket = $1", bucket)
	if err != nil {
		return wrap(ctx, "delete bucket tagging", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return c.bucketExists(ctx, "delete bucket tagging", bucket)
}
