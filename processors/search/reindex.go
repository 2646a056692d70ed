package search

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/s3gate/s3gate/backends"
)

// Progress counts a reindex's work so far.
type Progress struct {
	Bucket  string // the bucket being worked on
	Indexed int64  // objects whose documents were written
	Removed int64  // documents of objects no longer there
}

// reindexWorkers is how many objects a reindex reads at once: enough to
// overlap backend round trips and the index's group commits.
const reindexWorkers = 8

// reindexPage is the listing page size of a reindex (a variable for tests).
var reindexPage = 1000

// Reindex rebuilds the documents of bucket (every bucket of the backend
// when empty) from the backend: every object is synced under a new
// sequencer from next, then every document whose object is gone is
// deleted. progress is called after each page of work. Writes going on
// meanwhile are safe: their events carry later sequencers.
func (p *Processor) Reindex(ctx context.Context, bucket string, next func() string, progress func(Progress)) (Progress, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	buckets := []string{bucket}
	if bucket == "" {
		list, err := p.opts.Backend.ListBuckets(ctx)
		if err != nil {
			return Progress{}, fmt.Errorf("search: reindex: listing buckets: %w", err)
		}
		buckets = buckets[:0]
		for _, b := range list {
			buckets = append(buckets, b.Name)
		}
	}
	var indexed, removed atomic.Int64
	snapshot := func(b string) Progress {
		return Progress{Bucket: b, Indexed: indexed.Load(), Removed: removed.Load()}
	}
	for _, b := range buckets {
		if err := p.reindexObjects(ctx, b, next, &indexed, func() { progress(snapshot(b)) }); err != nil {
			return snapshot(b), err
		}
		if err := p.removeStale(ctx, b, next, &removed); err != nil {
			return snapshot(b), err
		}
		progress(snapshot(b))
	}
	return snapshot(bucket), nil
}

// reindexObjects syncs every object of bucket, a page at a time.
func (p *Processor) reindexObjects(ctx context.Context, bucket string, next func() string, indexed *atomic.Int64, page func()) error {
	after := ""
	for {
		lp, err := p.opts.Backend.ListObjects(ctx, bucket, backends.ListOptions{StartAfter: after, MaxKeys: reindexPage})
		if err != nil {
			return fmt.Errorf("search: reindex: listing %s: %w", bucket, err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(reindexWorkers)
		for _, info := range lp.Objects {
			if p.opts.Skip != nil && p.opts.Skip(bucket, info.Key) {
				continue
			}
			g.Go(func() error {
				if err := p.Sync(gctx, bucket, info.Key, next()); err != nil {
					return err
				}
				indexed.Add(1)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		page()
		if !lp.IsTruncated || lp.NextStartAfter == "" {
			return nil
		}
		after = lp.NextStartAfter
	}
}

// removeStale deletes the documents of bucket whose objects are gone (or
// that should never have had one).
func (p *Processor) removeStale(ctx context.Context, bucket string, next func() string, removed *atomic.Int64) error {
	return p.opts.Index.Keys(ctx, bucket, func(key string) error {
		if p.opts.Skip != nil && p.opts.Skip(bucket, key) {
			removed.Add(1)
			return p.opts.Index.Delete(ctx, bucket, key, next())
		}
		_, err := p.opts.Backend.HeadObject(ctx, bucket, key, backends.GetOptions{})
		switch {
		case absent(err):
			// Sync, not Delete: the object may have come back meanwhile.
			removed.Add(1)
			return p.Sync(ctx, bucket, key, next())
		case err != nil:
			return fmt.Errorf("search: reindex: head %s/%q: %w", bucket, key, err)
		}
		return nil
	})
}
