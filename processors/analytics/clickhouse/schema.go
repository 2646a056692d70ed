package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the version of the tables this package writes,
// recorded in the schema_migrations table. A server whose tables carry a
// higher version was set up by a newer s3gate: Open refuses it. A change
// of the tables adds a step to migrations and raises SchemaVersion.
const SchemaVersion = 1

// migrations[v] brings the tables from version v to v+1. Version 0 is a
// database without our tables: CREATE TABLE IF NOT EXISTS makes them, so
// there is no step yet.
var migrations = map[int][]string{}

// Table names.
const (
	RequestsTable   = "requests"
	HooksTable      = "hook_outcomes"
	MigrationsTable = "schema_migrations"
)

// Version is a ClickHouse server version.
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion parses "MAJOR.MINOR[.PATCH[.BUILD]]" (what version()
// returns, say 18.16.1 or 24.8.4.13).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("clickhouse version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	var v Version
	for i, dst := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if i >= len(parts) {
			break
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("clickhouse version %q: part %q is not a number", s, parts[i])
		}
		*dst = n
	}
	return v, nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

// Features are the parts of the schema that depend on the server version.
type Features struct {
	// LowCardinality(String) for the columns of few distinct values
	// (operation, bucket, principal, ...): 19.3 made the type production
	// ready (before, allow_experimental_low_cardinality_type; 18.16
	// refuses it without that setting).
	LowCardinality bool
	// DateTime64(3): since 20.1. Without it the time is a DateTime (whole
	// seconds) plus a time_ms column with the milliseconds.
	DateTime64 bool
	// Table TTL: since 19.6. Without it DropExpired removes old days.
	TTL bool
}

// FeaturesOf returns the features of a server version.
func FeaturesOf(v Version) Features {
	return Features{
		LowCardinality: v.AtLeast(19, 3),
		DateTime64:     v.AtLeast(20, 1),
		TTL:            v.AtLeast(19, 6),
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// quoteIdent quotes a database name checked by identRE.
func quoteIdent(s string) string { return "`" + s + "`" }

// ttlExpr is the table TTL for a retention, "" for none. The whole-second
// form is what servers print back in system.tables, so Open can tell
// whether a table's TTL matches the configured retention.
func ttlExpr(retention time.Duration) string {
	if retention <= 0 {
		return ""
	}
	secs := int64((retention + time.Second - 1) / time.Second)
	return fmt.Sprintf("toDateTime(time) + toIntervalSecond(%d)", secs)
}

// tableDDL returns the CREATE TABLE statements of the requests and
// hook_outcomes tables for a server with features f.
//
// Both tables are ReplacingMergeTree, partitioned by day, with the row id
// last in the sorting key: a replayed row (the same id, every other column
// equal) collapses into one when its parts merge. Queries must not wait
// for that: see the package documentation.
func tableDDL(db string, f Features, retention time.Duration) []string {
	lc := "String"
	if f.LowCardinality {
		lc = "LowCardinality(String)"
	}
	timeCols := "time DateTime('UTC'),\n  time_ms UInt16,"
	if f.DateTime64 {
		timeCols = "time DateTime64(3, 'UTC'),"
	}
	ttl := ""
	if e := ttlExpr(retention); e != "" && f.TTL {
		ttl = "\nTTL " + e
	}
	q := quoteIdent(db)
	requests := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s.%[2]s (
  id String,
  %[3]s
  operation %[4]s,
  bucket %[4]s,
  key String,
  principal %[4]s,
  auth_kind %[4]s,
  source_ip String,
  user_agent String,
  status UInt16,
  error_code %[4]s,
  bytes_in UInt64,
  bytes_out UInt64,
  latency_us UInt64,
  backend_latency_us UInt64,
  cache %[4]s
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
PRIMARY KEY (bucket, operation, time)
ORDER BY (bucket, operation, time, id)%[5]s`, q, RequestsTable, timeCols, lc, ttl)
	hooks := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s.%[2]s (
  id String,
  %[3]s
  processor %[4]s,
  bucket %[4]s,
  key String,
  attempt UInt32,
  result %[4]s,
  duration_us UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(time)
PRIMARY KEY (processor, time)
ORDER BY (processor, time, id)%[5]s`, q, HooksTable, timeCols, lc, ttl)
	return []string{requests, hooks}
}

// migrationsDDL is the table recording the schema version.
func migrationsDDL(db string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (version UInt32, applied DateTime('UTC')) "+
		"ENGINE = ReplacingMergeTree ORDER BY version", quoteIdent(db), MigrationsTable)
}

// layout is what the existing tables hold: a table made before a server
// upgrade keeps its column types, so the sink follows the tables, not the
// server version.
type layout struct {
	requestsTimeMs bool // requests has time_ms (time is whole seconds)
	hooksTimeMs    bool
}

// ensureSchema creates the database and tables if missing, runs pending
// migrations, records the schema version and reads the tables' layout.
func (s *Sink) ensureSchema(ctx context.Context) error {
	db := quoteIdent(s.db)
	if err := s.exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return err
	}
	if err := s.exec(ctx, migrationsDDL(s.db)); err != nil {
		return err
	}
	current, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > SchemaVersion {
		return fmt.Errorf("analytics/clickhouse: database %s has schema version %d, newer than this s3gate's %d", s.db, current, SchemaVersion)
	}
	for v := current; v > 0 && v < SchemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if err := s.exec(ctx, strings.ReplaceAll(stmt, "{db}", db)); err != nil {
				return fmt.Errorf("analytics/clickhouse: migrating schema %d to %d: %w", v, v+1, err)
			}
		}
	}
	for _, stmt := range tableDDL(s.db, s.features, s.opts.Retention) {
		if err := s.exec(ctx, stmt); err != nil {
			return err
		}
	}
	if current < SchemaVersion {
		if err := s.recordVersion(ctx, SchemaVersion); err != nil {
			return err
		}
	}
	if s.layout.requestsTimeMs, err = s.hasColumn(ctx, RequestsTable, "time_ms"); err != nil {
		return err
	}
	if s.layout.hooksTimeMs, err = s.hasColumn(ctx, HooksTable, "time_ms"); err != nil {
		return err
	}
	if s.features.TTL {
		for _, table := range []string{RequestsTable, HooksTable} {
			if err := s.ensureTTL(ctx, table); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Sink) schemaVersion(ctx context.Context) (int, error) {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	var v uint32
	q := fmt.Sprintf("SELECT max(version) FROM %s.%s", quoteIdent(s.db), MigrationsTable)
	if err := s.conn.QueryRow(ctx, q).Scan(&v); err != nil {
		return 0, fmt.Errorf("analytics/clickhouse: reading the schema version: %w", err)
	}
	return int(v), nil
}

// SchemaVersion returns the schema version recorded in the database.
func (s *Sink) SchemaVersion(ctx context.Context) (int, error) { return s.schemaVersion(ctx) }

func (s *Sink) recordVersion(ctx context.Context, v int) error {
	ctx, cancel := s.writeContext(ctx)
	defer cancel()
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (version, applied)", quoteIdent(s.db), MigrationsTable))
	if err != nil {
		return fmt.Errorf("analytics/clickhouse: recording schema version %d: %w", v, err)
	}
	defer b.Close()
	if err := b.Append(uint32(v), time.Now().UTC()); err != nil {
		return fmt.Errorf("analytics/clickhouse: recording schema version %d: %w", v, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("analytics/clickhouse: recording schema version %d: %w", v, err)
	}
	return nil
}

func (s *Sink) hasColumn(ctx context.Context, table, column string) (bool, error) {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		s.db, table, column).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("analytics/clickhouse: reading the columns of %s: %w", table, err)
	}
	return n > 0, nil
}

// ensureTTL brings a table's TTL in line with the retention: set or
// changed when Retention is set (existing parts follow at their next
// merge); a TTL left from an earlier retention is kept when Retention is
// 0, with a warning.
func (s *Sink) ensureTTL(ctx context.Context, table string) error {
	qctx, cancel := s.queryContext(ctx)
	var engine string
	err := s.conn.QueryRow(qctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", s.db, table).Scan(&engine)
	cancel()
	if err != nil {
		return fmt.Errorf("analytics/clickhouse: reading the definition of %s: %w", table, err)
	}
	want := ttlExpr(s.opts.Retention)
	switch {
	case want == "" && strings.Contains(engine, " TTL "):
		s.log.Warn("analytics table has a TTL but no retention is configured; rows still expire by it", "table", table, "engine", engine)
	case want != "" && !strings.Contains(engine, "TTL "+want):
		s.log.Info("changing the analytics table TTL", "table", table, "ttl", want)
		return s.exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s MODIFY TTL %s", quoteIdent(s.db), table, want))
	}
	return nil
}

// DropExpired drops the day partitions of both tables whose every row is
// older than Retention (a day goes once its end is Retention ago) and
// returns how many it dropped. It does nothing when Retention is 0.
//
// Servers with table TTL (19.6 and later) expire rows themselves;
// DropExpired is needed on older ones (run it periodically, say hourly)
// and harmless on newer.
func (s *Sink) DropExpired(ctx context.Context) (int, error) {
	if s.opts.Retention <= 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-s.opts.Retention)
	dropped := 0
	for _, table := range []string{RequestsTable, HooksTable} {
		parts, err := s.partitions(ctx, table)
		if err != nil {
			return dropped, err
		}
		for _, p := range parts {
			day, err := time.Parse("20060102", p)
			if err != nil || len(p) != 8 {
				s.log.Warn("analytics partition not a day; left alone", "table", table, "partition", p)
				continue
			}
			if day.Add(24 * time.Hour).After(cutoff) {
				continue
			}
			// p is eight digits: the partition literal needs no quoting.
			if err := s.exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION %s", quoteIdent(s.db), table, p)); err != nil {
				return dropped, fmt.Errorf("analytics/clickhouse: dropping %s partition %s: %w", table, p, err)
			}
			s.log.Info("dropped expired analytics partition", "table", table, "partition", p)
			dropped++
		}
	}
	return dropped, nil
}

// partitions lists the table's partitions that have active parts.
func (s *Sink) partitions(ctx context.Context, table string) ([]string, error) {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition",
		s.db, table)
	if err != nil {
		return nil, fmt.Errorf("analytics/clickhouse: listing the partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("analytics/clickhouse: listing the partitions of %s: %w", table, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics/clickhouse: listing the partitions of %s: %w", table, err)
	}
	return out, nil
}
