package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/internal/sqlstore"
)

// Errors a caller maps to S3 error codes.
var (
	ErrBucketExists            = errors.New("catalog: bucket already exists")
	ErrNoSuchBucket            = errors.New("catalog: no such bucket")
	ErrNoSuchCORSConfiguration = errors.New("catalog: bucket has no CORS configuration")
	ErrNoSuchTagSet            = errors.New("catalog: bucket has no tag set")
)

// Catalog is an open catalogue. It is safe for concurrent use.
type Catalog struct {
	d     *dialect
	w     *sql.DB // writes; on SQLite one connection, so writes serialise
	r     *sql.DB // reads; on SQLite a read-only pool, on PostgreSQL the same as w
	cache *bucketCache
	// On SQLite, the hot path's prepared statements and write group (see
	// hotpath.go); nil on PostgreSQL.
	readStmts *sqlstore.Stmts
	group     *sqlstore.Group
	// replicas serve listings of object rows (see ReadReplicas).
	replicas    []*sql.DB
	nextReplica atomic.Uint64
}

// Option changes how Open sets up a Catalog.
type Option func(*options)

type options struct {
	cacheTTL  time.Duration
	cacheSize int
	replicas  []string
}

// CacheTTL sets how long GetBucket may answer from memory; 0 turns the cache
// off. Writes made through this Catalog drop their entries at once; writes by
// other processes are seen after at most ttl.
func CacheTTL(ttl time.Duration) Option {
	return func(o *options) { o.cacheTTL = ttl }
}

// Open opens the catalogue named by dsn and applies pending migrations.
//
//   - postgres://... or postgresql://... : PostgreSQL through pgx
//   - sqlite:///abs/path, or a plain file path: a SQLite file, created with
//     mode 0600 if missing (it will hold secrets); its directory must exist.
func Open(ctx context.Context, dsn string, opts ...Option) (*Catalog, error) {
	o := options{cacheTTL: time.Second, cacheSize: 4096}
	for _, f := range opts {
		f(&o)
	}
	c := &Catalog{cache: newBucketCache(o.cacheTTL, o.cacheSize)}
	scheme, _, hasScheme := strings.Cut(dsn, "://")
	switch {
	case hasScheme && (scheme == "postgres" || scheme == "postgresql"):
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		c.d, c.w, c.r = postgresDialect, db, db
	case hasScheme && scheme == "sqlite", !hasScheme:
		path, err := sqlitePath(dsn, hasScheme)
		if err != nil {
			return nil, err
		}
		c.d = sqliteDialect
		if c.w, c.r, err = openSQLite(ctx, path); err != nil {
			return nil, err
		}
		c.group = &sqlstore.Group{DB: c.w}
	default:
		return nil, fmt.Errorf("catalog: unsupported DSN scheme %q (want postgres://, postgresql://, sqlite:///path or a file path)", scheme)
	}
	if err := migrate(ctx, c.w, c.d); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.openReplicas(ctx, o.replicas); err != nil {
		c.Close()
		return nil, err
	}
	if c.group != nil { // the tables exist now
		c.readStmts = sqlstore.Prepare(ctx, c.r, []string{selectObject, selectSequencer})
		c.group.Stmts = sqlstore.Prepare(ctx, c.w, hotStatements())
	}
	return c, nil
}

var pgKeywordDSN = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)

// sqlitePath returns the absolute file path a SQLite DSN names.
func sqlitePath(dsn string, hasScheme bool) (string, error) {
	path := dsn
	if hasScheme {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("catalog: bad SQLite DSN: %w", err)
		}
		if u.Host != "" || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
			return "", fmt.Errorf("catalog: bad SQLite DSN %q: want sqlite:///absolute/path", dsn)
		}
		path = u.Path
	}
	if path == "" {
		return "", errors.New("catalog: empty DSN")
	}
	// A PostgreSQL keyword/value string must not silently become a file name.
	if pgKeywordDSN.MatchString(path) {
		return "", fmt.Errorf("catalog: DSN looks like PostgreSQL key=value settings; use a postgres:// URL")
	}
	return filepath.Abs(path)
}

// Close closes the database connections.
func (c *Catalog) Close() error {
	if c.group != nil && c.group.Stmts != nil {
		c.readStmts.Close()
		c.group.Stmts.Close()
	}
	err := c.w.Close()
	if c.r != c.w {
		err = errors.Join(err, c.r.Close())
	}
	for _, db := range c.replicas {
		err = errors.Join(err, db.Close())
	}
	return err
}

// Ping checks that the database answers, for health checks.
func (c *Catalog) Ping(ctx context.Context) error {
	if err := c.w.PingContext(ctx); err != nil {
		return wrap(ctx, c.d.title, err)
	}
	return nil
}

// Dialect reports which database the catalogue lives in: "sqlite" or "postgres".
func (c *Catalog) Dialect() string { return c.d.name }

// wrap names the failed operation. When ctx has ended, the error also
// matches context.Canceled or context.DeadlineExceeded, whatever the driver
// reported (PostgreSQL answers a cancelled statement with its own error).
func wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("catalog: %s: %w: %w", op, ctxErr, err)
	}
	return fmt.Errorf("catalog: %s: %w", op, err)
}
