package embedded

import (
	"context"
	"fmt"
	"time"
)

// The queries of the stats API. Each takes a time range [from, to).

// Point is one value of a dimension in one interval.
type Point struct {
	Time     time.Time // the interval's start, UTC
	Value    string    // the bucket, operation or principal ("" when the request had none)
	Requests int64
	BytesIn  int64
	BytesOut int64
}

// ObjectCount is one object's GetObject requests.
type ObjectCount struct {
	Bucket   string
	Key      string
	Requests int64
	BytesOut int64
}

// OperationLatency sums up one operation's requests.
type OperationLatency struct {
	Operation string
	Requests  int64
	Errors    int64 // status 400 and above
	// Nearest-rank percentiles of Latency: the smallest latency that
	// p percent of the requests do not exceed.
	P50, P95, P99 time.Duration
}

// dimensions are RequestsBy's dimensions and their columns.
var dimensions = map[string]string{
	"bucket":    "bucket",
	"operation": "operation",
	"principal": "principal",
}

// RequestsBy counts the requests and their bytes per value of dimension
// ("bucket", "operation" or "principal") and per interval, the intervals
// aligned on multiples of interval since the Unix epoch; interval zero or
// less makes the whole range one interval, starting at from. Points come
// in order of time, then value.
func (s *Sink) RequestsBy(ctx context.Context, dimension string, from, to time.Time, interval time.Duration) ([]Point, error) {
	col, ok := dimensions[dimension]
	if !ok {
		return nil, fmt.Errorf("analytics: unknown dimension %q (bucket, operation or principal)", dimension)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	slot, args := "?", []any{from.UnixMilli()}
	if ms := interval.Milliseconds(); ms > 0 {
		slot, args = "time / ? * ?", []any{ms, ms}
	}
	args = append(args, from.UnixMilli(), to.UnixMilli())
	rows, err := s.r.QueryContext(ctx, `SELECT `+slot+` AS slot, `+col+`, COUNT(*), SUM(bytes_in), SUM(bytes_out)
		FROM requests WHERE time >= ? AND time < ?
		GROUP BY slot, `+col+` ORDER BY slot, `+col, args...)
	if err != nil {
		return nil, fmt.Errorf("analytics: requests by %s: %w", dimension, err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var slot int64
		if err := rows.Scan(&slot, &p.Value, &p.Requests, &p.BytesIn, &p.BytesOut); err != nil {
			return nil, fmt.Errorf("analytics: requests by %s: %w", dimension, err)
		}
		p.Time = time.UnixMilli(slot).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: requests by %s: %w", dimension, err)
	}
	return out, nil
}

// TopObjects returns the n objects with the most GetObject requests
// (whatever their status), most first, then by bucket and key.
func (s *Sink) TopObjects(ctx context.Context, from, to time.Time, n int) ([]ObjectCount, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT bucket, key, COUNT(*) AS n, SUM(bytes_out)
		FROM requests WHERE operation = 'GetObject' AND time >= ? AND time < ?
		GROUP BY bucket, key ORDER BY n DESC, bucket, key LIMIT ?`, from.UnixMilli(), to.UnixMilli(), n)
	if err != nil {
		return nil, fmt.Errorf("analytics: top objects: %w", err)
	}
	defer rows.Close()
	var out []ObjectCount
	for rows.Next() {
		var o ObjectCount
		if err := rows.Scan(&o.Bucket, &o.Key, &o.Requests, &o.BytesOut); err != nil {
			return nil, fmt.Errorf("analytics: top objects: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: top objects: %w", err)
	}
	return out, nil
}

// Latency sums up each operation's requests, in order of operation.
func (s *Sink) Latency(ctx context.Context, from, to time.Time) ([]OperationLatency, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	// The p-th percentile of n values is the one of rank ceil(p*n/100),
	// counting from 1 in ascending order.
	rows, err := s.r.QueryContext(ctx, `SELECT operation, COUNT(*), SUM(status >= 400),
			MIN(CASE WHEN rn >= (50 * n + 99) / 100 THEN latency_us END),
			MIN(CASE WHEN rn >= (95 * n + 99) / 100 THEN latency_us END),
			MIN(CASE WHEN rn >= (99 * n + 99) / 100 THEN latency_us END)
		FROM (SELECT operation, status, latency_us,
				ROW_NUMBER() OVER (PARTITION BY operation ORDER BY latency_us) AS rn,
				COUNT(*) OVER (PARTITION BY operation) AS n
			FROM requests WHERE time >= ? AND time < ?)
		GROUP BY operation ORDER BY operation`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("analytics: latency: %w", err)
	}
	defer rows.Close()
	var out []OperationLatency
	for rows.Next() {
		var o OperationLatency
		var p50, p95, p99 int64
		if err := rows.Scan(&o.Operation, &o.Requests, &o.Errors, &p50, &p95, &p99); err != nil {
			return nil, fmt.Errorf("analytics: latency: %w", err)
		}
		o.P50, o.P95, o.P99 = time.Duration(p50)*time.Microsecond, time.Duration(p95)*time.Microsecond, time.Duration(p99)*time.Microsecond
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: latency: %w", err)
	}
	return out, nil
}

// HookCounts counts the recorded hook attempts per processor.
func (s *Sink) HookCounts(ctx context.Context, from, to time.Time) (map[string]int64, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT processor, COUNT(*) FROM hook_outcomes
		WHERE time >= ? AND time < ? GROUP BY processor`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("analytics: hook counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("analytics: hook counts: %w", err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics: hook counts: %w", err)
	}
	return out, nil
}
