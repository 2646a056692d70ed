package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GrowthFilter selects the objects StorageGrowth counts.
type GrowthFilter struct {
	// From and To bound created_at: [From, To).
	From, To time.Time
	// Interval splits the range into intervals of this width aligned to
	// the Unix epoch (whole seconds, >= 1s); 0 makes the whole range one
	// interval starting at From.
	Interval time.Duration
	// Buckets keeps only these buckets; empty keeps all.
	Buckets []string
}

// Growth is what one bucket gained in one interval: the objects first
// stored in it that are still stored now.
type Growth struct {
	Time           time.Time // the interval's start, UTC (From when Interval is 0)
	Bucket         string
	Objects, Bytes int64 // added in the interval
	// TotalObjects and TotalBytes count every such object first stored
	// before the interval's end (including before From): the bucket's size
	// as it grew, as far as the catalogue can tell (deleted objects leave
	// no row, so their history is gone).
	TotalObjects, TotalBytes int64
}

// StorageGrowth returns, per bucket and interval with additions, in order
// of bucket then time.
//
// "First stored" is a row's Created, kept across overwrites, and the sizes
// are the current ones. The first and last intervals are cut to [From, To):
// the first one's Time may be before From, but it counts additions from
// From on, and the last one's totals end at To.
//
// One grouped query answers it, so the rows are read in one snapshot: each
// (bucket, interval) comes back as one row, and one more row per bucket
// holds what was stored before From. The running totals are summed here.
// No index covers created_at, so the database scans the selected buckets'
// rows.
func (c *Catalog) StorageGrowth(ctx context.Context, f GrowthFilter) ([]Growth, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	// created_at holds whole microseconds, so "at or after t" is "at or
	// after t rounded up".
	from, to := ceilMicro(f.From), ceilMicro(f.To)
	fromUS := from.UnixMicro()
	var args []any
	pFrom := arg(&args, c.d.timeArg(from))
	pTo := arg(&args, c.d.timeArg(to))
	// slot -1 is the baseline; intervals count from 0.
	var start, width int64
	slot := "0"
	if f.Interval > 0 {
		width = f.Interval.Microseconds()
		start = fromUS - mod(fromUS, width)
		// created_at >= From >= start, so the division is of a non-negative
		// number and truncating is flooring in both databases.
		slot = "(" + c.d.unixMicros("created_at") + " - " + arg(&args, start) + ") / " + arg(&args, width)
	}
	q := "SELECT bucket, CASE WHEN created_at < " + pFrom + " THEN -1 ELSE " + slot + " END AS slot, " +
		"count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM objects WHERE created_at < " + pTo
	if len(f.Buckets) > 0 {
		bs := slices.Clone(f.Buckets)
		slices.Sort(bs) // the same filter makes the same query text
		var ps []string
		for _, b := range slices.Compact(bs) {
			ps = append(ps, arg(&args, b))
		}
		q += " AND bucket IN (" + strings.Join(ps, ", ") + ")"
	}
	q += " GROUP BY bucket, slot ORDER BY bucket, slot"

	rows, err := c.queryListing(ctx, q, args...)
	if err != nil {
		return nil, wrap(ctx, "storage growth", err)
	}
	defer rows.Close()
	var gs []Growth
	var bucket string
	var totalObjects, totalBytes int64
	for rows.Next() {
		var g Growth
		var n int64
		if err := rows.Scan(&g.Bucket, &n, &g.Objects, &g.Bytes); err != nil {
			return nil, wrap(ctx, "storage growth", err)
		}
		if g.Bucket != bucket {
			bucket, totalObjects, totalBytes = g.Bucket, 0, 0
		}
		totalObjects += g.Objects
		totalBytes += g.Bytes
		if n < 0 {
			continue // the baseline: in the totals only
		}
		g.TotalObjects, g.TotalBytes = totalObjects, totalBytes
		if f.Interval > 0 {
			g.Time = time.UnixMicro(start + n*width).UTC()
		} else {
			g.Time = f.From.UTC()
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, "storage growth", err)
	}
	return gs, nil
}

func (f GrowthFilter) validate() error {
	switch {
	case f.From.IsZero() || f.To.IsZero():
		return fmt.Errorf("%w: growth needs From and To", ErrInvalidFilter)
	case !f.To.After(f.From):
		return fmt.Errorf("%w: growth To is not after From", ErrInvalidFilter)
	case f.Interval < 0 || f.Interval%time.Second != 0:
		return fmt.Errorf("%w: growth interval %v is not a whole number of seconds", ErrInvalidFilter, f.Interval)
	}
	for _, b := range f.Buckets {
		// "" names no bucket; it is not "every bucket" here.
		if b == "" || !storable(b) {
			return fmt.Errorf("%w: bucket name is empty, not UTF-8 or holds NUL", ErrInvalidFilter)
		}
	}
	return nil
}

// ceilMicro rounds t up to a whole microsecond.
func ceilMicro(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); u.Before(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

// mod is x modulo m (m > 0), never negative: Go's % keeps x's sign.
func mod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}
