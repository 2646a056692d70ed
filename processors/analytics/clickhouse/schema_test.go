package clickhouse

import (
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
)

func TestParseVersionAndFeatures(t *testing.T) {
	cases := []struct {
		in   string
		want Version
		f    Features
	}{
		{"18.16.1", Version{18, 16, 1}, Features{}},
		{"19.2.0", Version{19, 2, 0}, Features{}},
		{"19.3.4", Version{19, 3, 4}, Features{LowCardinality: true}},
		{"19.5.9", Version{19, 5, 9}, Features{LowCardinality: true}},
		{"19.6.2", Version{19, 6, 2}, Features{LowCardinality: true, TTL: true}},
		{"19.17.6.36", Version{19, 17, 6}, Features{LowCardinality: true, TTL: true}},
		{"20.1.2.4", Version{20, 1, 2}, Features{LowCardinality: true, TTL: true, DateTime64: true}},
		{"24.8.4.13", Version{24, 8, 4}, Features{LowCardinality: true, TTL: true, DateTime64: true}},
		{"25.1", Version{25, 1, 0}, Features{LowCardinality: true, TTL: true, DateTime64: true}},
	}
	for _, c := range cases {
		v, err := ParseVersion(c.in)
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", c.in, err)
		}
		if v != c.want {
			t.Errorf("ParseVersion(%q) = %+v, want %+v", c.in, v, c.want)
		}
		if f := FeaturesOf(v); f != c.f {
			t.Errorf("FeaturesOf(%s) = %+v, want %+v", c.in, f, c.f)
		}
	}
	for _, bad := range []string{"", "18", "x.1.2", "18.-1.0"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

// The DDL on 18.16: plain String, DateTime plus time_ms, no TTL (even with
// a retention: DropExpired does that job).
func TestDDLForClickHouse18(t *testing.T) {
	v, _ := ParseVersion("18.16.1")
	got := tableDDL("s3gate", FeaturesOf(v), 30*24*time.Hour)
	want := []string{
		"CREATE TABLE IF NOT EXISTS `s3gate`.requests (\n" +
			"  id String,\n" +
			"  time DateTime('UTC'),\n" +
			"  time_ms UInt16,\n" +
			"  operation String,\n" +
			"  bucket String,\n" +
			"  key String,\n" +
			"  principal String,\n" +
			"  auth_kind String,\n" +
			"  source_ip String,\n" +
			"  user_agent String,\n" +
			"  status UInt16,\n" +
			"  error_code String,\n" +
			"  bytes_in UInt64,\n" +
			"  bytes_out UInt64,\n" +
			"  latency_us UInt64,\n" +
			"  backend_latency_us UInt64,\n" +
			"  cache String\n" +
			") ENGINE = ReplacingMergeTree\n" +
			"PARTITION BY toYYYYMMDD(time)\n" +
			"PRIMARY KEY (bucket, operation, time)\n" +
			"ORDER BY (bucket, operation, time, id)",
		"CREATE TABLE IF NOT EXISTS `s3gate`.hook_outcomes (\n" +
			"  id String,\n" +
			"  time DateTime('UTC'),\n" +
			"  time_ms UInt16,\n" +
			"  processor String,\n" +
			"  bucket String,\n" +
			"  key String,\n" +
			"  attempt UInt32,\n" +
			"  result String,\n" +
			"  duration_us UInt64\n" +
			") ENGINE = ReplacingMergeTree\n" +
			"PARTITION BY toYYYYMMDD(time)\n" +
			"PRIMARY KEY (processor, time)\n" +
			"ORDER BY (processor, time, id)",
	}
	compareDDL(t, got, want)
}

// The DDL on a current server: LowCardinality, DateTime64(3), table TTL.
func TestDDLForModernClickHouse(t *testing.T) {
	v, _ := ParseVersion("24.8.4.13")
	got := tableDDL("analytics", FeaturesOf(v), 90*24*time.Hour)
	want := []string{
		"CREATE TABLE IF NOT EXISTS `analytics`.requests (\n" +
			"  id String,\n" +
			"  time DateTime64(3, 'UTC'),\n" +
			"  operation LowCardinality(String),\n" +
			"  bucket LowCardinality(String),\n" +
			"  key String,\n" +
			"  principal LowCardinality(String),\n" +
			"  auth_kind LowCardinality(String),\n" +
			"  source_ip String,\n" +
			"  user_agent String,\n" +
			"  status UInt16,\n" +
			"  error_code LowCardinality(String),\n" +
			"  bytes_in UInt64,\n" +
			"  bytes_out UInt64,\n" +
			"  latency_us UInt64,\n" +
			"  backend_latency_us UInt64,\n" +
			"  cache LowCardinality(String)\n" +
			") ENGINE = ReplacingMergeTree\n" +
			"PARTITION BY toYYYYMMDD(time)\n" +
			"PRIMARY KEY (bucket, operation, time)\n" +
			"ORDER BY (bucket, operation, time, id)\n" +
			"TTL toDateTime(time) + toIntervalSecond(7776000)",
		"CREATE TABLE IF NOT EXISTS `analytics`.hook_outcomes (\n" +
			"  id String,\n" +
			"  time DateTime64(3, 'UTC'),\n" +
			"  processor LowCardinality(String),\n" +
			"  bucket LowCardinality(String),\n" +
			"  key String,\n" +
			"  attempt UInt32,\n" +
			"  result LowCardinality(String),\n" +
			"  duration_us UInt64\n" +
			") ENGINE = ReplacingMergeTree\n" +
			"PARTITION BY toYYYYMMDD(time)\n" +
			"PRIMARY KEY (processor, time)\n" +
			"ORDER BY (processor, time, id)\n" +
			"TTL toDateTime(time) + toIntervalSecond(7776000)",
	}
	compareDDL(t, got, want)

	// Without a retention there is no TTL clause.
	for _, stmt := range tableDDL("analytics", FeaturesOf(v), 0) {
		if strings.Contains(stmt, "TTL") {
			t.Errorf("TTL without retention:\n%s", stmt)
		}
	}
	// A retention that is not whole seconds rounds up.
	if got, want := ttlExpr(1500*time.Millisecond), "toDateTime(time) + toIntervalSecond(2)"; got != want {
		t.Errorf("ttlExpr(1.5s) = %q, want %q", got, want)
	}
}

func compareDDL(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d statements, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d:\n%s\n--- want ---\n%s", i, got[i], want[i])
		}
	}
}

func TestWhereConditions(t *testing.T) {
	s := &Sink{}
	from := time.Date(2025, 3, 10, 10, 0, 0, 500_000_000, time.UTC)
	to := time.Date(2025, 3, 10, 11, 0, 0, 0, time.UTC)
	legacy, err := s.where(analytics.Query{From: from, To: to, Buckets: []string{"a", "b"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := "time >= toDateTime(1741600800) AND (time > toDateTime(1741600800) OR time_ms >= 500) AND " +
		"time < toDateTime(1741604400) AND bucket IN (?, ?)"; legacy.sql != want {
		t.Errorf("legacy where:\n%s\nwant\n%s", legacy.sql, want)
	}
	if len(legacy.args) != 2 || legacy.args[0] != "a" || legacy.args[1] != "b" {
		t.Errorf("args %v", legacy.args)
	}
	modern, err := s.where(analytics.Query{From: from, To: to}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "time >= toDateTime64('2025-03-10 10:00:00.500', 3, 'UTC') AND time < toDateTime64('2025-03-10 11:00:00.000', 3, 'UTC')"; modern.sql != want {
		t.Errorf("modern where:\n%s\nwant\n%s", modern.sql, want)
	}
	for _, bad := range []analytics.Query{
		{From: to, To: from},
		{From: from, To: from},
		{To: to},
		{From: from, To: to, Interval: 1500 * time.Millisecond},
		{From: from, To: to, Interval: -time.Second},
	} {
		if _, err := s.where(bad, true); err == nil {
			t.Errorf("where(%+v) accepted", bad)
		}
	}
	if got, want := timeBucket(analytics.Query{Interval: time.Hour}), "toUInt64(intDiv(toUInt32(toDateTime(time)), 3600) * 3600)"; got != want {
		t.Errorf("timeBucket = %q, want %q", got, want)
	}
}
