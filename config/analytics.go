package config

import (
	"net"
	"time"
)

// Analytics configures the record of every S3 request and hook outcome
// (GET /api/v1/stats): a SQLite table in the data dir, or ClickHouse.
type Analytics struct {
	Enabled       bool          `default:"true" negatable:"" help:"Record every S3 request and hook outcome for usage statistics (GET /api/v1/stats)."`
	Store         string        `default:"embedded" enum:"embedded,clickhouse" help:"Where rows are kept: embedded (SQLite in the data dir) or clickhouse (set analytics-clickhouse-addr)."`
	Retention     time.Duration `default:"2160h" help:"How long rows are kept (default 90 days)."`
	BatchRows     int           `name:"batch-rows" default:"1000" help:"Rows written at once; a batch is also written after analytics-flush-interval."`
	FlushInterval time.Duration `name:"flush-interval" default:"1s" help:"Longest a row waits before it is written."`
	SpoolBytes    int64         `name:"spool-bytes" default:"268435456" help:"Bytes of rows kept in the data dir while the store is unreachable; beyond it the oldest are dropped (and counted)."`

	ClickHouseAddr     []string `name:"clickhouse-addr" placeholder:"HOST:PORT" help:"ClickHouse native-protocol addresses (port 9000 by default on a ClickHouse server)."`
	ClickHouseDatabase string   `name:"clickhouse-database" default:"s3gate" help:"ClickHouse database of the tables (created if missing)."`
	ClickHouseUsername string   `name:"clickhouse-username" default:"default" help:"ClickHouse user."`
	ClickHousePassword string   `name:"clickhouse-password" help:"Password of analytics-clickhouse-username (prefer the environment variable to the flag)."`
}

func (a Analytics) validate() error {
	if !a.Enabled {
		return nil
	}
	if a.Retention < time.Hour {
		return settingError("analytics-retention", "must be at least 1h")
	}
	if a.BatchRows < 1 || a.BatchRows > 1_000_000 {
		return settingError("analytics-batch-rows", "must be between 1 and 1000000")
	}
	if a.FlushInterval <= 0 {
		return settingError("analytics-flush-interval", "must be a positive duration (like 1s)")
	}
	if a.SpoolBytes < 1<<20 {
		return settingError("analytics-spool-bytes", "must be at least 1048576")
	}
	if a.Store != "clickhouse" {
		return nil
	}
	if len(a.ClickHouseAddr) == 0 {
		return settingError("analytics-clickhouse-addr", "must be set when analytics-store is clickhouse")
	}
	for _, addr := range a.ClickHouseAddr {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return settingError("analytics-clickhouse-addr", "want host:port, got "+addr)
		}
	}
	return nil
}
