// Package clickhouse is the analytics sink of the scaled-out shape: S3
// requests and hook outcomes in ClickHouse, over the native protocol.
//
// # Tables
//
// Open creates the database and two tables if missing: requests and
// hook_outcomes, ReplacingMergeTree partitioned by day
// (toYYYYMMDD(time), UTC), sorted for the statistics queries (requests by
// bucket, operation, time; hook outcomes by processor, time) with the row
// id last in the sorting key. The column types follow the server version
// (see Features): LowCardinality(String) and DateTime64(3) where the
// server has them, String and DateTime plus a time_ms column (the
// milliseconds) on older servers such as 18.16. The schema version is
// recorded in schema_migrations.
//
// # De-duplication rule
//
// The Recorder may write a batch again after an outage (a replay), so one
// row can be stored twice. A replayed row is identical to the first, id
// included, so it lands in the same partition with the same sorting key,
// and ReplacingMergeTree keeps one of them when the parts merge. Merges
// run in the background, at no set time, and may never come for a part:
// queries must count correctly before them. Hence the rule:
//
//	Every query of these tables reads them with FINAL
//	(SELECT ... FROM requests FINAL WHERE ...), which merges the rows
//	of equal sorting key at read time. Never count or sum over the bare
//	table.
//
// The helpers in queries.go follow it and are the SQL the stats API uses.
// Ad-hoc queries that cannot use FINAL count uniqExact(id) rather than
// count(), or aggregate over a subquery grouped by id
// (SELECT ... FROM (SELECT any(bytes_out) AS b ... GROUP BY id)).
// On a sharded cluster, shard the Distributed tables by the id
// (cityHash64(id)) so a replay reaches the shard of its first copy.
//
// # Retention
//
// Servers from 19.6 expire rows by a table TTL of Retention. Older ones
// (18.16) cannot: DropExpired drops the day partitions older than
// Retention and must be run periodically.
//
// # ClickHouse 18.16
//
// Debian's ClickHouse is 18.16. Its native protocol works; inserts go
// through PrepareBatch with an explicit column list (an
// INSERT ... VALUES through Exec hangs with this driver), and every call
// runs under a timeout.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/s3gate/s3gate/processors/analytics"
)

// Options configure a Sink.
type Options struct {
	// Addr are the servers' native-protocol addresses (host:9000).
	Addr []string
	// Database holds the tables; created if missing. Default "s3gate".
	Database string
	// Username and Password authenticate; Username defaults to "default".
	Username string
	Password string
	// Retention is how long rows are kept; 0 keeps them forever.
	Retention time.Duration
	// Logger receives schema changes and warnings; nil discards.
	Logger *slog.Logger

	// DialTimeout bounds connecting to a server (default 5 s).
	DialTimeout time.Duration
	// WriteTimeout bounds one batch write (default 30 s).
	WriteTimeout time.Duration
	// QueryTimeout bounds one query or schema statement (default 60 s).
	QueryTimeout time.Duration
}

// Sink stores analytics rows in ClickHouse. It is safe for concurrent
// use.
type Sink struct {
	conn     driver.Conn
	db       string
	opts     Options
	log      *slog.Logger
	version  Version
	features Features
	layout   layout
}

var _ analytics.Sink = (*Sink)(nil)

// Open connects, checks the server answers, and creates or migrates the
// schema. It fails when the server cannot be reached within ctx.
func Open(ctx context.Context, o Options) (*Sink, error) {
	if len(o.Addr) == 0 {
		return nil, errors.New("analytics/clickhouse: no server address")
	}
	if o.Database == "" {
		o.Database = "s3gate"
	}
	if !identRE.MatchString(o.Database) {
		return nil, fmt.Errorf("analytics/clickhouse: database name %q: want letters, digits and _", o.Database)
	}
	if o.Username == "" {
		o.Username = "default"
	}
	if o.Retention < 0 {
		return nil, fmt.Errorf("analytics/clickhouse: negative retention %s", o.Retention)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 60 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := ch.Open(&ch.Options{
		Addr:     o.Addr,
		Protocol: ch.Native,
		// No database here: it may not exist yet. Every statement names it.
		Auth:        ch.Auth{Username: o.Username, Password: o.Password},
		DialTimeout: o.DialTimeout,
		ReadTimeout: max(o.WriteTimeout, o.QueryTimeout),
		Compression: &ch.Compression{Method: ch.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("analytics/clickhouse: %w", err)
	}
	s := &Sink{conn: conn, db: o.Database, opts: o, log: log}
	if err := s.open(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	log.Info("analytics sink ready", "server", s.version.String(), "database", s.db,
		"low_cardinality", s.features.LowCardinality, "datetime64", s.features.DateTime64, "ttl", s.features.TTL)
	return s, nil
}

func (s *Sink) open(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout+5*time.Second)
	err := s.conn.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("analytics/clickhouse: ping %v: %w", s.opts.Addr, err)
	}
	v, err := s.serverVersion()
	if err != nil {
		return err
	}
	s.version, s.features = v, FeaturesOf(v)
	return s.ensureSchema(ctx)
}

// serverVersion is the version the server announced in its handshake.
func (s *Sink) serverVersion() (Version, error) {
	hs, err := s.conn.ServerVersion()
	if err != nil {
		return Version{}, fmt.Errorf("analytics/clickhouse: server version: %w", err)
	}
	return Version{Major: int(hs.Version.Major), Minor: int(hs.Version.Minor), Patch: int(hs.Version.Patch)}, nil
}

// ServerVersion is the version of the server Open talked to.
func (s *Sink) ServerVersion() Version { return s.version }

// Features are the schema features chosen for the server.
func (s *Sink) Features() Features { return s.features }

// Database is the database holding the tables.
func (s *Sink) Database() string { return s.db }

// Close closes the connections.
func (s *Sink) Close() error { return s.conn.Close() }

func (s *Sink) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.WriteTimeout)
}

func (s *Sink) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.QueryTimeout)
}

// exec runs a statement that returns no rows (DDL), under QueryTimeout.
func (s *Sink) exec(ctx context.Context, stmt string) error {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	if err := s.conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("analytics/clickhouse: %s: %w", firstLine(stmt), err)
	}
	return nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}

// maxDateTime is the last second a DateTime holds.
var maxDateTime = time.Unix(math.MaxUint32, 0)

// rowTime is t as stored: UTC, whole milliseconds, within the range of a
// DateTime (1970 to 2106), so a replay stores exactly the same value.
func rowTime(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Millisecond)
	if t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0).UTC()
	}
	if t.After(maxDateTime) {
		return maxDateTime.UTC()
	}
	return t
}

func uint64Of(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func micros(d time.Duration) uint64 { return uint64Of(d.Microseconds()) }

func uint16Of(n int) uint16 {
	return uint16(min(max(n, 0), math.MaxUint16))
}

func uint32Of(n int) uint32 {
	return uint32(min(max(int64(n), 0), math.MaxUint32))
}

// WriteRequests stores rows in one INSERT. A row whose id is stored
// already counts once (see the package documentation).
func (s *Sink) WriteRequests(ctx context.Context, rows []analytics.Request) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	strs := func() []string { return make([]string, n) }
	nums := func() []uint64 { return make([]uint64, n) }
	ids, ops, buckets, keys, principals := strs(), strs(), strs(), strs(), strs()
	auths, ips, uas, errCodes, caches := strs(), strs(), strs(), strs(), strs()
	in, out, lat, backend := nums(), nums(), nums(), nums()
	times, ms, statuses := make([]time.Time, n), make([]uint16, n), make([]uint16, n)
	for i, r := range rows {
		t := rowTime(r.Time)
		ids[i], times[i], ms[i] = r.ID, t, uint16(t.Nanosecond()/int(time.Millisecond))
		ops[i], buckets[i], keys[i], principals[i], auths[i] = r.Operation, r.Bucket, r.Key, r.Principal, r.AuthKind
		ips[i], uas[i], statuses[i], errCodes[i] = r.SourceIP, r.UserAgent, uint16Of(r.Status), r.ErrorCode
		in[i], out[i], lat[i], backend[i] = uint64Of(r.BytesIn), uint64Of(r.BytesOut), micros(r.Latency), micros(r.BackendLatency)
		caches[i] = r.Cache
	}
	cols := []column{{"id", ids}, {"time", times}}
	if s.layout.requestsTimeMs {
		cols = append(cols, column{"time_ms", ms})
	}
	cols = append(cols,
		column{"operation", ops}, column{"bucket", buckets}, column{"key", keys},
		column{"principal", principals}, column{"auth_kind", auths}, column{"source_ip", ips},
		column{"user_agent", uas}, column{"status", statuses}, column{"error_code", errCodes},
		column{"bytes_in", in}, column{"bytes_out", out}, column{"latency_us", lat},
		column{"backend_latency_us", backend}, column{"cache", caches},
	)
	if err := s.insert(ctx, RequestsTable, cols); err != nil {
		return fmt.Errorf("analytics/clickhouse: writing %d requests: %w", n, err)
	}
	return nil
}

// WriteHooks stores rows in one INSERT. A row whose id is stored already
// counts once (see the package documentation).
func (s *Sink) WriteHooks(ctx context.Context, rows []analytics.HookOutcome) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	strs := func() []string { return make([]string, n) }
	ids, procs, buckets, keys, results := strs(), strs(), strs(), strs(), strs()
	times, ms := make([]time.Time, n), make([]uint16, n)
	attempts, durations := make([]uint32, n), make([]uint64, n)
	for i, r := range rows {
		t := rowTime(r.Time)
		ids[i], times[i], ms[i] = r.ID, t, uint16(t.Nanosecond()/int(time.Millisecond))
		procs[i], buckets[i], keys[i], attempts[i], results[i] = r.Processor, r.Bucket, r.Key, uint32Of(r.Attempt), r.Result
		durations[i] = micros(r.Duration)
	}
	cols := []column{{"id", ids}, {"time", times}}
	if s.layout.hooksTimeMs {
		cols = append(cols, column{"time_ms", ms})
	}
	cols = append(cols,
		column{"processor", procs}, column{"bucket", buckets}, column{"key", keys},
		column{"attempt", attempts}, column{"result", results}, column{"duration_us", durations},
	)
	if err := s.insert(ctx, HooksTable, cols); err != nil {
		return fmt.Errorf("analytics/clickhouse: writing %d hook outcomes: %w", n, err)
	}
	return nil
}

// column is one column of an INSERT: its name and a slice of values.
type column struct {
	name   string
	values any
}

// insert sends one block: PrepareBatch with the explicit column list,
// the values column by column, Send; all under WriteTimeout.
func (s *Sink) insert(ctx context.Context, table string, cols []column) error {
	ctx, cancel := s.writeContext(ctx)
	defer cancel()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (%s)", quoteIdent(s.db), table, strings.Join(names, ", ")))
	if err != nil {
		return err
	}
	defer b.Close()
	for i, c := range cols {
		if err := b.Column(i).Append(c.values); err != nil {
			return fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return b.Send()
}
