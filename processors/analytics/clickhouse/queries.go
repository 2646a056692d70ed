package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The SQL of the statistics API, in one place. Every query reads its
// table with FINAL, so a row stored twice (a replayed batch) counts once
// even before the background merge removes the copy; see the package
// documentation.

// Query selects the rows a statistics helper aggregates.
type Query struct {
	// From and To bound the request time: [From, To), to the millisecond.
	From, To time.Time
	// Interval splits the range into buckets of time of this width,
	// aligned to the Unix epoch (so days start at 00:00 UTC): whole
	// seconds. 0 makes one bucket of the whole range.
	Interval time.Duration
	// Buckets keeps only these buckets; empty keeps all.
	Buckets []string
}

// Usage is the traffic of one group in one bucket of time.
type Usage struct {
	// Time is the start of the bucket of time (UTC); From when the
	// Query has no Interval.
	Time time.Time
	// Key is the bucket, operation or principal.
	Key      string
	Requests uint64
	// Errors are the requests answered with a status of 400 or more.
	Errors   uint64
	BytesIn  uint64
	BytesOut uint64
}

// ObjectDownloads is one object's successful GetObject requests.
type ObjectDownloads struct {
	Bucket, Key string
	Downloads   uint64
	BytesOut    uint64
}

// OperationStats are the error rate and latency of one operation in one
// bucket of time.
type OperationStats struct {
	Time      time.Time // as in Usage
	Operation string
	Requests  uint64
	// Errors have status >= 400, ServerErrors status >= 500.
	Errors       uint64
	ServerErrors uint64
	// ErrorRate is Errors / Requests.
	ErrorRate float64
	// Latency quantiles of the whole request, and of the part spent
	// waiting for the backend.
	P50, P95, P99                      time.Duration
	BackendP50, BackendP95, BackendP99 time.Duration
}

// HookStats count the outcomes of one processor with one result in one
// bucket of time.
type HookStats struct {
	Time          time.Time // as in Usage
	Processor     string
	Result        string // ok, retry, dead_letter, skipped
	Outcomes      uint64
	P50, P95, P99 time.Duration // attempt duration quantiles
}

// The quantile function: ClickHouse's reservoir sampler (bounded memory;
// exact, with linear interpolation between neighbours, up to 8192 values
// per group). 18.16 has it, as it has quantilesExact.
const latencyQuantiles = "quantiles(0.5, 0.95, 0.99)"

// RequestsByBucket sums requests per bucket.
func (s *Sink) RequestsByBucket(ctx context.Context, q Query) ([]Usage, error) {
	return s.usage(ctx, q, "bucket")
}

// RequestsByOperation sums requests per operation.
func (s *Sink) RequestsByOperation(ctx context.Context, q Query) ([]Usage, error) {
	return s.usage(ctx, q, "operation")
}

// RequestsByPrincipal sums requests per principal ("" for anonymous
// requests).
func (s *Sink) RequestsByPrincipal(ctx context.Context, q Query) ([]Usage, error) {
	return s.usage(ctx, q, "principal")
}

func (s *Sink) usage(ctx context.Context, q Query, dim string) ([]Usage, error) {
	w, err := s.where(q, s.layout.requestsTimeMs)
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`SELECT %s AS t, toString(%s) AS k,
  count() AS requests, countIf(status >= 400) AS errors, sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out
FROM %s.%s FINAL
WHERE %s
GROUP BY t, k
ORDER BY t, k`, timeBucket(q), dim, quoteIdent(s.db), RequestsTable, w.sql)
	var out []Usage
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var u Usage
		var t uint64
		if err := scan(&t, &u.Key, &u.Requests, &u.Errors, &u.BytesIn, &u.BytesOut); err != nil {
			return err
		}
		u.Time = bucketTime(q, t)
		out = append(out, u)
		return nil
	})
	return out, err
}

// TopObjects returns the limit objects (10 when limit <= 0) most
// downloaded in the range: successful (2xx) GetObject requests, most
// first, then by bytes sent, bucket and key. Interval is ignored.
func (s *Sink) TopObjects(ctx context.Context, q Query, limit int) ([]ObjectDownloads, error) {
	if limit <= 0 {
		limit = 10
	}
	q.Interval = 0
	w, err := s.where(q, s.layout.requestsTimeMs)
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`SELECT toString(bucket) AS b, key, count() AS downloads, sum(bytes_out) AS bytes
FROM %s.%s FINAL
WHERE operation = 'GetObject' AND status >= 200 AND status < 300 AND %s
GROUP BY b, key
ORDER BY downloads DESC, bytes DESC, b, key
LIMIT %d`, quoteIdent(s.db), RequestsTable, w.sql, limit)
	var out []ObjectDownloads
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var o ObjectDownloads
		if err := scan(&o.Bucket, &o.Key, &o.Downloads, &o.BytesOut); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// ErrorRateAndLatency returns per operation the error counts and rate and
// the p50/p95/p99 latencies.
func (s *Sink) ErrorRateAndLatency(ctx context.Context, q Query) ([]OperationStats, error) {
	w, err := s.where(q, s.layout.requestsTimeMs)
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`SELECT %[1]s AS t, toString(operation) AS op,
  count() AS requests, countIf(status >= 400) AS errors, countIf(status >= 500) AS server_errors,
  %[2]s(latency_us) AS lat, %[2]s(backend_latency_us) AS backend
FROM %[3]s.%[4]s FINAL
WHERE %[5]s
GROUP BY t, op
ORDER BY t, op`, timeBucket(q), latencyQuantiles, quoteIdent(s.db), RequestsTable, w.sql)
	var out []OperationStats
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var o OperationStats
		var t uint64
		var lat, backend []float64
		if err := scan(&t, &o.Operation, &o.Requests, &o.Errors, &o.ServerErrors, &lat, &backend); err != nil {
			return err
		}
		o.Time = bucketTime(q, t)
		if o.Requests > 0 {
			o.ErrorRate = float64(o.Errors) / float64(o.Requests)
		}
		o.P50, o.P95, o.P99 = microsQuantiles(lat)
		o.BackendP50, o.BackendP95, o.BackendP99 = microsQuantiles(backend)
		out = append(out, o)
		return nil
	})
	return out, err
}

// HookOutcomes counts hook outcomes per processor and result, with the
// attempt duration quantiles. Buckets filters the objects' buckets.
func (s *Sink) HookOutcomes(ctx context.Context, q Query) ([]HookStats, error) {
	w, err := s.where(q, s.layout.hooksTimeMs)
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`SELECT %s AS t, toString(processor) AS p, toString(result) AS r,
  count() AS outcomes, %s(duration_us) AS d
FROM %s.%s FINAL
WHERE %s
GROUP BY t, p, r
ORDER BY t, p, r`, timeBucket(q), latencyQuantiles, quoteIdent(s.db), HooksTable, w.sql)
	var out []HookStats
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var h HookStats
		var t uint64
		var d []float64
		if err := scan(&t, &h.Processor, &h.Result, &h.Outcomes, &d); err != nil {
			return err
		}
		h.Time = bucketTime(q, t)
		h.P50, h.P95, h.P99 = microsQuantiles(d)
		out = append(out, h)
		return nil
	})
	return out, err
}

// query runs sql under QueryTimeout and calls row for each result row.
func (s *Sink) query(ctx context.Context, sql string, args []any, row func(scan func(...any) error) error) error {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("analytics/clickhouse: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return fmt.Errorf("analytics/clickhouse: query: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("analytics/clickhouse: query: %w", err)
	}
	return nil
}

// where is a WHERE condition and its bound arguments.
type where struct {
	sql  string
	args []any
}

// where builds the condition of q: the time range (usable by the
// partition and primary-key pruning), then the buckets. timeMs tells the
// table stores whole seconds in time and the milliseconds in time_ms.
func (s *Sink) where(q Query, timeMs bool) (where, error) {
	if q.From.IsZero() || q.To.IsZero() {
		return where{}, errors.New("analytics/clickhouse: query needs From and To")
	}
	from, to := rowTime(q.From), rowTime(q.To)
	if !to.After(from) {
		return where{}, fmt.Errorf("analytics/clickhouse: empty range [%s, %s)", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	}
	if q.Interval < 0 || q.Interval%time.Second != 0 {
		return where{}, fmt.Errorf("analytics/clickhouse: interval %s: want whole seconds", q.Interval)
	}
	var conds []string
	if timeMs {
		fs, fms := from.Unix(), from.Nanosecond()/int(time.Millisecond)
		ts, tms := to.Unix(), to.Nanosecond()/int(time.Millisecond)
		conds = append(conds, fmt.Sprintf("time >= toDateTime(%d)", fs))
		if fms > 0 {
			conds = append(conds, fmt.Sprintf("(time > toDateTime(%d) OR time_ms >= %d)", fs, fms))
		}
		if tms == 0 {
			conds = append(conds, fmt.Sprintf("time < toDateTime(%d)", ts))
		} else {
			conds = append(conds, fmt.Sprintf("time <= toDateTime(%d)", ts),
				fmt.Sprintf("(time < toDateTime(%d) OR time_ms < %d)", ts, tms))
		}
	} else {
		const layout = "2006-01-02 15:04:05.000"
		conds = append(conds,
			fmt.Sprintf("time >= toDateTime64('%s', 3, 'UTC')", from.Format(layout)),
			fmt.Sprintf("time < toDateTime64('%s', 3, 'UTC')", to.Format(layout)))
	}
	var args []any
	if len(q.Buckets) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(q.Buckets)), ", ")
		conds = append(conds, "bucket IN ("+marks+")")
		for _, b := range q.Buckets {
			args = append(args, b)
		}
	}
	return where{sql: strings.Join(conds, " AND "), args: args}, nil
}

// timeBucket is the SQL of the start of a row's bucket of time, in Unix
// seconds (a constant 0 without Interval).
func timeBucket(q Query) string {
	if q.Interval <= 0 {
		return "toUInt64(0)"
	}
	n := int64(q.Interval / time.Second)
	return fmt.Sprintf("toUInt64(intDiv(toUInt32(toDateTime(time)), %d) * %d)", n, n)
}

func bucketTime(q Query, unix uint64) time.Time {
	if q.Interval <= 0 {
		return q.From.UTC()
	}
	return time.Unix(int64(unix), 0).UTC()
}

// microsQuantiles turns quantiles of microseconds into durations.
func microsQuantiles(q []float64) (p50, p95, p99 time.Duration) {
	d := func(i int) time.Duration {
		if i >= len(q) || math.IsNaN(q[i]) {
			return 0
		}
		return time.Duration(math.Round(q[i] * float64(time.Microsecond)))
	}
	return d(0), d(1), d(2)
}
