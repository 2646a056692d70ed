package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors/analytics"
)

// GET /api/v1/stats answers the questions operators ask of the analytics
// store, over [from, to) (RFC 3339; default the last 24 hours):
//
//	from, to      the range
//	interval      split it into intervals (Go duration, whole seconds: 1h, 15m); default one
//	bucket        only these buckets (repeatable, or comma-separated; at most 100)
//	by            requests and bytes by bucket, operation, principal (default all three)
//	top           how many objects top_objects lists (default 10, at most 1000)
//
// It answers requests and bytes per dimension, the most downloaded
// objects, error rate and latency quantiles per operation, hook outcomes,
// and storage growth from the catalogue.
//
// Who sees what: a principal the policy allows s3gate:GetStats (the
// admin role) sees every bucket; anyone else sees the buckets they may
// read whole (a readable grant without a prefix), and is refused when
// there are none. Without a policy, only the admin role may ask.

// StorageStats is the part of the catalogue the stats route reads.
type StorageStats interface {
	StorageGrowth(ctx context.Context, f catalog.GrowthFilter) ([]catalog.Growth, error)
	BucketUsage(ctx context.Context) ([]catalog.Usage, error)
}

var _ StorageStats = (*catalog.Catalog)(nil)

// Stats is the answer of GET /api/v1/stats.
type Stats struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// IntervalSeconds is the width of the intervals; 0 is one interval.
	IntervalSeconds int64 `json:"interval_seconds"`
	// Buckets are the buckets counted; absent for all.
	Buckets []string `json:"buckets,omitempty"`
	// Requests holds, per dimension asked for, requests and bytes per
	// value and interval.
	Requests   map[analytics.Dimension][]analytics.Usage `json:"requests"`
	TopObjects []analytics.ObjectDownloads               `json:"top_objects"`
	Operations []analytics.OperationStats                `json:"operations"`
	Hooks      []analytics.HookStats                     `json:"hooks"`
	// Storage is absent when the server keeps no catalogue.
	Storage *StorageGrowth `json:"storage,omitempty"`
}

// StorageGrowth is what the catalogue says of the stored bytes.
type StorageGrowth struct {
	// Current is each bucket's objects and bytes now.
	Current []BucketStorage `json:"current"`
	// Growth is, per bucket and interval, the objects first stored then
	// that are still stored, and the bucket's running total.
	Growth []GrowthPoint `json:"growth"`
}

// BucketStorage is one bucket's stored objects now.
type BucketStorage struct {
	Bucket  string `json:"bucket"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// GrowthPoint is one bucket's growth in one interval.
type GrowthPoint struct {
	Time         time.Time `json:"time"`
	Bucket       string    `json:"bucket"`
	Objects      int64     `json:"objects"`
	Bytes        int64     `json:"bytes"`
	TotalObjects int64     `json:"total_objects"`
	TotalBytes   int64     `json:"total_bytes"`
}

var errAnalyticsOff = &adminError{http.StatusNotImplemented, "AnalyticsDisabled", "Analytics is turned off on this server (analytics.enabled)."}

// defaultStatsRange is the range asked when from is left out;
// maxStatsBuckets bounds the buckets one query names (each is a bound
// parameter of every query).
const (
	defaultStatsRange = 24 * time.Hour
	maxStatsBuckets   = 100
)

func (a *admin) stats(w http.ResponseWriter, r *http.Request) error {
	store := a.g.opts.Stats
	if store == nil {
		return errAnalyticsOff
	}
	q, by, top, err := a.statsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if q.Buckets, err = a.statsBuckets(r, q.Buckets); err != nil {
		return err
	}
	ctx := r.Context()
	out := Stats{
		From: q.From.UTC(), To: q.To.UTC(), IntervalSeconds: int64(q.Interval / time.Second), Buckets: q.Buckets,
		Requests: map[analytics.Dimension][]analytics.Usage{},
	}
	for _, d := range by {
		u, err := store.Requests(ctx, q, d)
		if err != nil {
			return a.statsError(r, err)
		}
		out.Requests[d] = nonNil(u)
	}
	if out.TopObjects, err = store.TopObjects(ctx, q, top); err != nil {
		return a.statsError(r, err)
	}
	if out.Operations, err = store.Operations(ctx, q); err != nil {
		return a.statsError(r, err)
	}
	if out.Hooks, err = store.Hooks(ctx, q); err != nil {
		return a.statsError(r, err)
	}
	out.TopObjects, out.Operations, out.Hooks = nonNil(out.TopObjects), nonNil(out.Operations), nonNil(out.Hooks)
	if a.g.opts.Storage != nil {
		if out.Storage, err = a.storage(ctx, q); err != nil {
			return err
		}
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// statsQuery reads the query string of GET /api/v1/stats.
func (a *admin) statsQuery(v url.Values) (q analytics.Query, by []analytics.Dimension, top int, err error) {
	q.To = a.g.now().UTC()
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(t.name); s != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return q, nil, 0, badArg(t.name, "an RFC 3339 time (2026-01-02T15:04:05Z)")
			}
		}
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-defaultStatsRange)
	}
	if s := v.Get("interval"); s != "" {
		if q.Interval, err = time.ParseDuration(s); err != nil {
			return q, nil, 0, badArg("interval", "a whole number of seconds as a duration (90s, 15m, 1h)")
		}
	}
	if err := q.Check(); err != nil {
		return q, nil, 0, invalidStatsQuery(err)
	}
	for _, s := range v["bucket"] {
		for b := range strings.SplitSeq(s, ",") {
			if !backends.ValidBucketName(b) {
				return q, nil, 0, &adminError{http.StatusBadRequest, "InvalidBucketName", "bucket must name buckets: " + strconv.Quote(b) + " cannot be one."}
			}
			if !slices.Contains(q.Buckets, b) {
				q.Buckets = append(q.Buckets, b)
			}
		}
	}
	if len(q.Buckets) > maxStatsBuckets {
		return q, nil, 0, badArg("bucket", "at most "+strconv.Itoa(maxStatsBuckets)+" buckets")
	}
	by = analytics.Dimensions
	if s := v.Get("by"); s != "" {
		by = nil
		for d := range strings.SplitSeq(s, ",") {
			if !analytics.Dimension(d).Valid() {
				return q, nil, 0, badArg("by", "a list of bucket, operation and principal")
			}
			by = append(by, analytics.Dimension(d))
		}
	}
	top = analytics.DefaultTop
	if s := v.Get("top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > analytics.MaxTop {
			return q, nil, 0, badArg("top", "between 1 and "+strconv.Itoa(analytics.MaxTop))
		}
	}
	return q, by, top, nil
}

// statsBuckets narrows the buckets asked for to those the caller may see
// the statistics of (see GET /api/v1/stats). nil keeps every bucket.
func (a *admin) statsBuckets(r *http.Request, asked []string) ([]string, error) {
	if a.g.opts.Authorizer == nil {
		return asked, nil // authorize required the admin role
	}
	err := a.g.allowed(r, "s3gate:GetStats", "", "")
	var apiErr *APIError
	switch {
	case err == nil:
		return asked, nil
	case !errors.As(err, &apiErr) || apiErr.Code != "AccessDenied":
		return nil, err
	}
	grants, err := a.readable(r)
	if err != nil {
		return nil, err
	}
	var mine []string
	for _, g := range grants {
		switch {
		case g.Prefix != "":
			// Part of a bucket: its statistics would tell of the rest.
		case g.Bucket == "*":
			return asked, nil
		default:
			mine = append(mine, g.Bucket)
		}
	}
	if len(mine) == 0 {
		return nil, &adminError{http.StatusForbidden, "AccessDenied", "Access Denied: statistics need the admin role or read access to whole buckets."}
	}
	if len(asked) == 0 {
		slices.Sort(mine)
		return slices.Compact(mine), nil
	}
	for _, b := range asked {
		if !slices.Contains(mine, b) {
			return nil, &adminError{http.StatusForbidden, "AccessDenied", "Access Denied: no read access to the whole of bucket " + strconv.Quote(b) + "."}
		}
	}
	return asked, nil
}

// storage reads the catalogue's view of q's buckets.
func (a *admin) storage(ctx context.Context, q analytics.Query) (*StorageGrowth, error) {
	cat := a.g.opts.Storage
	growth, err := cat.StorageGrowth(ctx, catalog.GrowthFilter{From: q.From, To: q.To, Interval: q.Interval, Buckets: q.Buckets})
	if err != nil {
		return nil, err
	}
	usage, err := cat.BucketUsage(ctx)
	if err != nil {
		return nil, err
	}
	out := &StorageGrowth{Current: []BucketStorage{}, Growth: make([]GrowthPoint, 0, len(growth))}
	for _, u := range usage {
		if len(q.Buckets) == 0 || slices.Contains(q.Buckets, u.Bucket) {
			out.Current = append(out.Current, BucketStorage{Bucket: u.Bucket, Objects: u.Objects, Bytes: u.Bytes})
		}
	}
	for _, g := range growth {
		out.Growth = append(out.Growth, GrowthPoint{Time: g.Time, Bucket: g.Bucket, Objects: g.Objects, Bytes: g.Bytes,
			TotalObjects: g.TotalObjects, TotalBytes: g.TotalBytes})
	}
	return out, nil
}

// statsError answers a failed statistics query: the caller's mistake, or
// a store that cannot answer now (logged; the recorder keeps the rows
// meanwhile, so a retry later sees them all).
func (a *admin) statsError(r *http.Request, err error) error {
	switch {
	case errors.Is(err, analytics.ErrInvalidQuery):
		return invalidStatsQuery(err)
	case r.Context().Err() != nil:
		return err
	}
	a.g.log.WarnContext(r.Context(), "analytics store query failed", "request_id", requestState(r.Context()).id, "err", err)
	return &adminError{http.StatusServiceUnavailable, "ServiceUnavailable", "The analytics store is unavailable; please retry."}
}

func invalidStatsQuery(err error) error {
	return &adminError{http.StatusBadRequest, "InvalidArgument", strings.TrimPrefix(err.Error(), "analytics: invalid query: ")}
}
