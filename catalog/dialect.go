package catalog

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the two databases. The queries themselves
// are shared: both accept $N placeholders and ON CONFLICT.
type dialect struct {
	name  string // also the migrations directory
	title string // for error messages
	// lockSQL runs first in the migration transaction; "" when BEGIN itself
	// already excludes other migrators.
	lockSQL         string
	migrationsTable string
	// lockBucket ends a SELECT of a bucket row inside a transaction so that
	// writers of the bucket's configuration queue behind each other.
	lockBucket string
	// timeArg encodes a timestamp column value; scanTime decodes it.
	timeArg     func(time.Time) any
	fkViolation func(error) bool
	// unixMicros is the SQL for a timestamp column as Unix microseconds, a
	// BIGINT.
	unixMicros func(col string) string
}

// migrationLockKey is the advisory lock migrations hold on PostgreSQL: the
// ASCII bytes "s3gt" then the catalogue's number, 1. Advisory locks are scoped
// to one database, so catalogues in other databases do not contend.
const migrationLockKey int64 = 0x7333_6774_0000_0001

var postgresDialect = &dialect{
	name:    "postgres",
	title:   "PostgreSQL",
	lockSQL: "SELECT pg_advisory_xact_lock($1)",
	// Not FOR UPDATE: that would also block inserts whose foreign keys point
	// at the row.
	lockBucket: " FOR NO KEY UPDATE",
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`,
	timeArg: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond) },
	fkViolation: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23503" // foreign_key_violation
	},
	// EXTRACT gives exact numeric seconds (a double before PostgreSQL 14,
	// still exact to the microsecond once rounded).
	unixMicros: func(col string) string { return "CAST(EXTRACT(EPOCH FROM " + col + ") * 1000000 AS BIGINT)" },
}

var sqliteDialect = &dialect{
	name:  "sqlite",
	title: "SQLite",
	// The single writer connection already serialises writes.
	lockBucket: "",
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	// Unix microseconds: the precision PostgreSQL keeps, so both behave alike.
	timeArg: func(t time.Time) any { return t.UnixMicro() },
	fkViolation: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	},
	unixMicros: func(col string) string { return col },
}

// timeValue scans a timestamp column of either database into a UTC time.
type timeValue struct{ t *time.Time }

func (v timeValue) Scan(src any) error {
	switch x := src.(type) {
	case time.Time:
		*v.t = x.UTC()
	case int64:
		*v.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("catalog: cannot scan %T as a time", src)
	}
	return nil
}

var _ sql.Scanner = timeValue{}
