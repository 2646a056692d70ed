package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Stats answers the questions operators ask of the recorded rows. Both
// stores implement it with the same meaning (analyticstest holds the
// tests they share), each keeping its SQL in one file.
type Stats interface {
	// Requests sums requests and bytes per value of a dimension and per
	// interval, in order of time, then value.
	Requests(ctx context.Context, q Query, by Dimension) ([]Usage, error)
	// TopObjects returns the limit objects (DefaultTop when limit <= 0)
	// most downloaded in the range: successful (2xx) GetObject requests,
	// most first, then by bytes sent, bucket and key. q.Interval is
	// ignored.
	TopObjects(ctx context.Context, q Query, limit int) ([]ObjectDownloads, error)
	// Operations returns per operation and interval the error counts and
	// rate and the latency quantiles, in order of time, then operation.
	Operations(ctx context.Context, q Query) ([]OperationStats, error)
	// Hooks counts hook outcomes per processor, result and interval, with
	// their duration quantiles; q.Buckets filters the objects' buckets.
	Hooks(ctx context.Context, q Query) ([]HookStats, error)
}

// DefaultTop is TopObjects' limit when none is given; MaxTop caps it.
const (
	DefaultTop = 10
	MaxTop     = 1000
)

// TopLimit is the limit TopObjects applies when asked for limit.
func TopLimit(limit int) int {
	if limit <= 0 {
		return DefaultTop
	}
	return min(limit, MaxTop)
}

// Dimension is what Requests groups by.
type Dimension string

// The dimensions of Requests.
const (
	ByBucket    Dimension = "bucket"
	ByOperation Dimension = "operation"
	ByPrincipal Dimension = "principal"
)

// Dimensions lists every Dimension, for validation and help texts.
var Dimensions = []Dimension{ByBucket, ByOperation, ByPrincipal}

// Valid reports whether d is one of Dimensions.
func (d Dimension) Valid() bool {
	return slices.Contains(Dimensions, d)
}

// Check returns an error wrapping ErrInvalidQuery unless d is Valid.
func (d Dimension) Check() error {
	if !d.Valid() {
		return fmt.Errorf("%w: unknown dimension %q", ErrInvalidQuery, d)
	}
	return nil
}

// ErrInvalidQuery marks a Query or argument no store can answer; the
// admin API answers it with 400.
var ErrInvalidQuery = errors.New("analytics: invalid query")

// Query selects the rows a statistic aggregates.
type Query struct {
	// From and To bound the row's time: [From, To), to the millisecond.
	From, To time.Time
	// Interval splits the range into intervals of this width, aligned
	// to the Unix epoch (so days start at 00:00 UTC): whole seconds. 0
	// makes the whole range one interval, whose Time is From.
	Interval time.Duration
	// Buckets keeps only these buckets; empty keeps all.
	Buckets []string
}

// The times a Query may name: ClickHouse's DateTime holds unsigned 32-bit
// seconds, so nothing before 1970 or past 2106 can be stored or asked for.
var (
	minQueryTime = time.Unix(0, 0).UTC()
	maxQueryTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MaxIntervals bounds the intervals one query may split its range into,
// so that a year at one-second steps cannot be asked for.
const MaxIntervals = 10000

// Check returns an error wrapping ErrInvalidQuery when q cannot be run.
func (q Query) Check() error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return fmt.Errorf("%w: from and to are required", ErrInvalidQuery)
	case !q.To.Truncate(time.Millisecond).After(q.From.Truncate(time.Millisecond)):
		return fmt.Errorf("%w: empty range [%s, %s)", ErrInvalidQuery, q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	case q.From.Before(minQueryTime) || q.To.After(maxQueryTime):
		return fmt.Errorf("%w: the range must lie within [%s, %s]", ErrInvalidQuery, minQueryTime.Format(time.RFC3339), maxQueryTime.Format(time.RFC3339))
	case q.Interval < 0 || q.Interval%time.Second != 0:
		return fmt.Errorf("%w: interval %s: want whole seconds", ErrInvalidQuery, q.Interval)
	case q.Interval > 0 && q.To.Sub(q.From)/q.Interval > MaxIntervals:
		return fmt.Errorf("%w: %s split by %s makes more than %d intervals", ErrInvalidQuery, q.To.Sub(q.From), q.Interval, MaxIntervals)
	}
	return nil
}

// IntervalStart is the start of the interval holding a row whose time is
// unix seconds (as the stores group them).
func (q Query) IntervalStart(unix int64) time.Time {
	if q.Interval <= 0 {
		return q.From.UTC()
	}
	return time.Unix(unix, 0).UTC()
}

// Usage is the traffic of one value of a dimension in one interval.
type Usage struct {
	// Time is the start of the interval (UTC).
	Time time.Time `json:"time"`
	// Key is the bucket, operation or principal ("" when the requests
	// had none: anonymous, or not about a bucket).
	Key      string `json:"key"`
	Requests uint64 `json:"requests"`
	// Errors are the requests answered with a status of 400 or more.
	Errors   uint64 `json:"errors"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// ObjectDownloads is one object's successful GetObject requests.
type ObjectDownloads struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Downloads uint64 `json:"downloads"`
	BytesOut  uint64 `json:"bytes_out"`
}

// OperationStats are the error rate and latency of one operation in one
// interval.
type OperationStats struct {
	Time      time.Time `json:"time"`
	Operation string    `json:"operation"`
	Requests  uint64    `json:"requests"`
	// Errors have status >= 400, ServerErrors status >= 500.
	Errors       uint64 `json:"errors"`
	ServerErrors uint64 `json:"server_errors"`
	// ErrorRate is Errors / Requests.
	ErrorRate float64 `json:"error_rate"`
	// Latency quantiles of the whole request, and of the part spent
	// waiting for the backend (see Quantile).
	P50        time.Duration `json:"p50_ns"`
	P95        time.Duration `json:"p95_ns"`
	P99        time.Duration `json:"p99_ns"`
	BackendP50 time.Duration `json:"backend_p50_ns"`
	BackendP95 time.Duration `json:"backend_p95_ns"`
	BackendP99 time.Duration `json:"backend_p99_ns"`
}

// HookStats count the outcomes of one processor with one result in one
// interval.
type HookStats struct {
	Time      time.Time     `json:"time"`
	Processor string        `json:"processor"`
	Result    string        `json:"result"` // ok, retry, dead_letter, skipped
	Outcomes  uint64        `json:"outcomes"`
	P50       time.Duration `json:"p50_ns"` // attempt duration quantiles
	P95       time.Duration `json:"p95_ns"`
	P99       time.Duration `json:"p99_ns"`
}

// Levels are the quantiles the stats report. Both stores compute a
// quantile as ClickHouse's quantiles() does for up to 8192 values: sort
// the n values, take the position level*(n-1) counting from 0, and
// interpolate linearly between its neighbours. Past 8192 values per group
// ClickHouse samples, and its figure is an estimate.
var Levels = [3]float64{0.50, 0.95, 0.99}
