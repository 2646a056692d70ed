package clickhouse

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
)

// The SQL of the statistics API, in one place. Every query reads its
// table with FINAL, so a row stored twice (a replayed batch) counts once
// even before the background merge removes the copy; see the package
// documentation.

// The quantile function: ClickHouse's reservoir sampler (bounded memory;
// exact, with linear interpolation between neighbours, up to 8192 values
// per group). 18.16 has it, as it has quantilesExact.
var latencyQuantiles = fmt.Sprintf("quantiles(%v, %v, %v)", analytics.Levels[0], analytics.Levels[1], analytics.Levels[2])

var _ analytics.Stats = (*Sink)(nil)

// Requests implements analytics.Stats.
func (s *Sink) Requests(ctx context.Context, q analytics.Query, by analytics.Dimension) ([]analytics.Usage, error) {
	if err := by.Check(); err != nil {
		return nil, err
	}
	w, err := s.where(q, s.layout.requestsTimeMs)
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`SELECT %s AS t, toString(%s) AS k,
  count() AS requests, countIf(status >= 400) AS errors, sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out
FROM %s.%s FINAL
WHERE %s
GROUP BY t, k
ORDER BY t, k`, timeBucket(q), by, quoteIdent(s.db), RequestsTable, w.sql)
	var out []analytics.Usage
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var u analytics.Usage
		var t uint64
		if err := scan(&t, &u.Key, &u.Requests, &u.Errors, &u.BytesIn, &u.BytesOut); err != nil {
			return err
		}
		u.Time = q.IntervalStart(int64(t))
		out = append(out, u)
		return nil
	})
	return out, err
}

// TopObjects implements analytics.Stats.
func (s *Sink) TopObjects(ctx context.Context, q analytics.Query, limit int) ([]analytics.ObjectDownloads, error) {
	limit = analytics.TopLimit(limit)
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
	var out []analytics.ObjectDownloads
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var o analytics.ObjectDownloads
		if err := scan(&o.Bucket, &o.Key, &o.Downloads, &o.BytesOut); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// Operations implements analytics.Stats.
func (s *Sink) Operations(ctx context.Context, q analytics.Query) ([]analytics.OperationStats, error) {
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
	var out []analytics.OperationStats
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var o analytics.OperationStats
		var t uint64
		var lat, backend []float64
		if err := scan(&t, &o.Operation, &o.Requests, &o.Errors, &o.ServerErrors, &lat, &backend); err != nil {
			return err
		}
		o.Time = q.IntervalStart(int64(t))
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

// Hooks implements analytics.Stats.
func (s *Sink) Hooks(ctx context.Context, q analytics.Query) ([]analytics.HookStats, error) {
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
	var out []analytics.HookStats
	err = s.query(ctx, sql, w.args, func(scan func(...any) error) error {
		var h analytics.HookStats
		var t uint64
		var d []float64
		if err := scan(&t, &h.Processor, &h.Result, &h.Outcomes, &d); err != nil {
			return err
		}
		h.Time = q.IntervalStart(int64(t))
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
func (s *Sink) where(q analytics.Query, timeMs bool) (where, error) {
	if err := q.Check(); err != nil {
		return where{}, err
	}
	from, to := rowTime(q.From), rowTime(q.To)
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
func timeBucket(q analytics.Query) string {
	if q.Interval <= 0 {
		return "toUInt64(0)"
	}
	n := int64(q.Interval / time.Second)
	return fmt.Sprintf("toUInt64(intDiv(toUInt32(toDateTime(time)), %d) * %d)", n, n)
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
