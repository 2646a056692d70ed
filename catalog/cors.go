package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
)

// CORSRule is one rule of a bucket's CORS configuration. The JSON names are
// the stored format: change them only with a migration.
type CORSRule struct {
	ID             string   `json:"id,omitempty"`
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	AllowedMethods []string `json:"allowedMethods,omitempty"`
	AllowedHeaders []string `json:"allowedHeaders,omitempty"`
	ExposeHeaders  []string `json:"exposeHeaders,omitempty"`
	MaxAgeSeconds  int      `json:"maxAgeSeconds,omitempty"`
}

// PutBucketCORS replaces the bucket's CORS configuration; rule order is kept.
// No rules at all is the same as DeleteBucketCORS. Rule contents are the
// caller's to validate.
func (c *Catalog) PutBucketCORS(ctx context.Context, bucket string, rules []CORSRule) error {
	if len(rules) == 0 {
		return c.DeleteBucketCORS(ctx, bucket)
	}
	doc, err := json.Marshal(rules)
	if err != nil {
		return wrap(ctx, "put bucket CORS", err)
	}
	_, err = c.w.ExecContext(ctx,
		`INSERT INTO bucket_cors (bucket, rules) VALUES ($1, $2)
		ON CONFLICT (bucket) DO UPDATE SET rules = excluded.rules`,
		bucket, string(doc))
	if c.d.fkViolation(err) {
		return ErrNoSuchBucket
	}
	if err != nil {
		return wrap(ctx, "put bucket CORS", err)
	}
	return nil
}

// GetBucketCORS returns the bucket's CORS rules in order, ErrNoSuchBucket,
// or ErrNoSuchCORSConfiguration. Empty lists come back nil.
func (c *Catalog) GetBucketCORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	var doc sql.NullString
	err := c.r.QueryRowContext(ctx,
		`SELECT cors.rules FROM buckets b LEFT JOIN bucket_cors cors ON cors.bucket = b.name WHERE b.name = $1`,
		bucket).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSuchBucket
	}
	if err != nil {
		return nil, wrap(ctx, "get bucket CORS", err)
	}
	if !doc.Valid {
		return nil, ErrNoSuchCORSConfiguration
	}
	var rules []CORSRule
	if err := json.Unmarshal([]byte(doc.String), &rules); err != nil {
		return nil, wrap(ctx, "get bucket CORS: stored document", err)
	}
	return rules, nil
}

// DeleteBucketCORS removes the bucket's CORS configuration, if any; it
// returns ErrNoSuchBucket for a missing bucket.
func (c *Catalog) DeleteBucketCORS(ctx context.Context, bucket string) error {
	res, err := c.w.ExecContext(ctx, "DELETE FROM bucket_cors WHERE bucket = $1", bucket)
	if err != nil {
		return wrap(ctx, "delete bucket CORS", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	return c.bucketExists(ctx, "delete bucket CORS", bucket)
}

// bucketExists returns nil or ErrNoSuchBucket. It reads through the writer so
// that it sees the caller's own write.
func (c *Catalog) bucketExists(ctx context.Context, op, bucket string) error {
	var one int
	err := c.w.QueryRowContext(ctx, "SELECT 1 FROM buckets WHERE name = $1", bucket).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoSuchBucket
	}
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}
