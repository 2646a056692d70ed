package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/processors/analytics"
)

// The SQL of the statistics API, in one place. Times are Unix
// milliseconds, durations microseconds; rows are unique by ID already, so
// nothing needs de-duplicating here.

var _ analytics.Stats = (*Sink)(nil)

// Requests implements analytics.Stats.
func (s *Sink) Requests(ctx context.Context, q analytics.Query, by analytics.Dimension) ([]analytics.Usage, error) {
	if err := by.Check(); err != nil {
		return nil, err
	}
	w, err := where(q)
	if err != nil {
		return nil, err
	}
	col := string(by) // a column of the requests table, by Valid
	var out []analytics.Usage
	err = s.query(ctx, `SELECT `+slot(q)+` AS slot, `+col+`, COUNT(*), SUM(status >= 400), SUM(bytes_in), SUM(bytes_out)
		FROM requests WHERE `+w.sql+`
		GROUP BY slot, `+col+` ORDER BY slot, `+col, w.args, func(rows *sql.Rows) error {
		var u analytics.Usage
		var t int64
		if err := rows.Scan(&t, &u.Key, &u.Requests, &u.Errors, &u.BytesIn, &u.BytesOut); err != nil {
			return err
		}
		u.Time = q.IntervalStart(t)
		out = append(out, u)
		return nil
	})
	return out, err
}

// TopObjects implements analytics.Stats.
func (s *Sink) TopObjects(ctx context.Context, q analytics.Query, limit int) ([]analytics.ObjectDownloads, error) {
	limit = analytics.TopLimit(limit)
	w, err := where(q)
	if err != nil {
		return nil, err
	}
	var out []analytics.ObjectDownloads
	err = s.query(ctx, `SELECT bucket, key, COUNT(*) AS n, SUM(bytes_out) AS bytes
		FROM requests WHERE operation = 'GetObject' AND status >= 200 AND status < 300 AND `+w.sql+`
		GROUP BY bucket, key ORDER BY n DESC, bytes DESC, bucket, key LIMIT `+strconv.Itoa(limit), w.args, func(rows *sql.Rows) error {
		var o analytics.ObjectDownloads
		if err := rows.Scan(&o.Bucket, &o.Key, &o.Downloads, &o.BytesOut); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// Operations implements analytics.Stats.
func (s *Sink) Operations(ctx context.Context, q analytics.Query) ([]analytics.OperationStats, error) {
	w, err := where(q)
	if err != nil {
		return nil, err
	}
	sl := slot(q)
	var out []analytics.OperationStats
	err = s.query(ctx, `SELECT slot, operation, n, SUM(status >= 400), SUM(status >= 500), `+
		quantileColumns("rl", "latency_us")+`, `+quantileColumns("rb", "backend_latency_us")+`
		FROM (SELECT `+sl+` AS slot, operation, status, latency_us, backend_latency_us,
				ROW_NUMBER() OVER (PARTITION BY `+sl+`, operation ORDER BY latency_us) - 1 AS rl,
				ROW_NUMBER() OVER (PARTITION BY `+sl+`, operation ORDER BY backend_latency_us) - 1 AS rb,
				COUNT(*) OVER (PARTITION BY `+sl+`, operation) AS n
			FROM requests WHERE `+w.sql+`)
		GROUP BY slot, operation ORDER BY slot, operation`, w.args, func(rows *sql.Rows) error {
		var o analytics.OperationStats
		var t int64
		var lat, backend quantileValues
		dst := append([]any{&t, &o.Operation, &o.Requests, &o.Errors, &o.ServerErrors}, lat.dst()...)
		if err := rows.Scan(append(dst, backend.dst()...)...); err != nil {
			return err
		}
		o.Time = q.IntervalStart(t)
		o.ErrorRate = float64(o.Errors) / float64(o.Requests)
		o.P50, o.P95, o.P99 = lat.quantiles(int64(o.Requests))
		o.BackendP50, o.BackendP95, o.BackendP99 = backend.quantiles(int64(o.Requests))
		out = append(out, o)
		return nil
	})
	return out, err
}

// Hooks implements analytics.Stats.
func (s *Sink) Hooks(ctx context.Context, q analytics.Query) ([]analytics.HookStats, error) {
	w, err := where(q)
	if err != nil {
		return nil, err
	}
	sl := slot(q)
	var out []analytics.HookStats
	err = s.query(ctx, `SELECT slot, processor, result, n, `+quantileColumns("rd", "duration_us")+`
		FROM (SELECT `+sl+` AS slot, processor, result, duration_us,
				ROW_NUMBER() OVER (PARTITION BY `+sl+`, processor, result ORDER BY duration_us) - 1 AS rd,
				COUNT(*) OVER (PARTITION BY `+sl+`, processor, result) AS n
			FROM hook_outcomes WHERE `+w.sql+`)
		GROUP BY slot, processor, result ORDER BY slot, processor, result`, w.args, func(rows *sql.Rows) error {
		var h analytics.HookStats
		var t int64
		var d quantileValues
		if err := rows.Scan(append([]any{&t, &h.Processor, &h.Result, &h.Outcomes}, d.dst()...)...); err != nil {
			return err
		}
		h.Time = q.IntervalStart(t)
		h.P50, h.P95, h.P99 = d.quantiles(int64(h.Outcomes))
		out = append(out, h)
		return nil
	})
	return out, err
}

// quantileColumns selects, for each of analytics.Levels, the values of
// col at the two ranks around level*(n-1), floor and ceiling, from a subquery
// numbering its rows from 0 in rank (in order of col) and counting them
// in n. SQLite computes level*(n-1) in the same float64 as Go does.
func quantileColumns(rank, col string) string {
	var cols []string
	for _, l := range analytics.Levels {
		pos := fmt.Sprintf("%v * (n - 1)", l)
		lo := "CAST(" + pos + " AS INTEGER)"
		cols = append(cols,
			"MIN(CASE WHEN "+rank+" = "+lo+" THEN "+col+" END)",
			"MIN(CASE WHEN "+rank+" = "+lo+" + ("+pos+" > "+lo+") THEN "+col+" END)")
	}
	return strings.Join(cols, ", ")
}

// quantileValues are the columns of quantileColumns.
type quantileValues [2 * len(analytics.Levels)]int64

func (v *quantileValues) dst() []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = &v[i]
	}
	return out
}

func (v *quantileValues) quantiles(n int64) (p50, p95, p99 time.Duration) {
	var d [len(analytics.Levels)]time.Duration
	for i, l := range analytics.Levels {
		// Between the values at the floor and ceiling of the position.
		pos := l * float64(n-1)
		lo, hi := float64(v[2*i]), float64(v[2*i+1])
		us := lo + (pos-math.Floor(pos))*(hi-lo)
		d[i] = time.Duration(math.Round(us * float64(time.Microsecond)))
	}
	return d[0], d[1], d[2]
}

// slot is the SQL of the start of a row's interval in Unix seconds (0
// without an interval).
func slot(q analytics.Query) string {
	if q.Interval <= 0 {
		return "0"
	}
	n := strconv.FormatInt(int64(q.Interval/time.Second), 10)
	return "time / (" + n + " * 1000) * " + n
}

// condition is a WHERE condition and its bound arguments.
type condition struct {
	sql  string
	args []any
}

// where is the condition of q: the time range, then the buckets.
func where(q analytics.Query) (condition, error) {
	if err := q.Check(); err != nil {
		return condition{}, err
	}
	c := condition{sql: "time >= ? AND time < ?", args: []any{q.From.UnixMilli(), q.To.UnixMilli()}}
	if len(q.Buckets) > 0 {
		c.sql += " AND bucket IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(q.Buckets)), ", ") + ")"
		for _, b := range q.Buckets {
			c.args = append(c.args, b)
		}
	}
	return c, nil
}

// query runs a statistics query and calls row for each result row.
func (s *Sink) query(ctx context.Context, query string, args []any, row func(*sql.Rows) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("analytics: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("analytics: stats: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("analytics: stats: %w", err)
	}
	return nil
}
