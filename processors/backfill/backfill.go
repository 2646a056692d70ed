// Package backfill emits synthetic events for objects that already exist,
// so that a hook added later (or one whose state was lost) catches up with
// what was written before it ran.
package backfill

import (
	"context"
	"fmt"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue"
)

// Options say where objects are read and where their events go.
type Options struct {
	Backend   backends.Backend
	Queue     queue.Queue
	Sequencer *events.Sequencer
	Region    string
	// Skip reports keys that get no event (a hook's own output, such as
	// image variants under a reserved prefix); nil skips none.
	Skip func(bucket, key string) bool
	// Count lists the keys once before emitting, so Progress carries a
	// total (a progress bar needs one) at the cost of a second listing.
	Count bool
	// PageSize is the listing page; 0 means 1000.
	PageSize int
}

// Progress is how far a backfill has come. Total is -1 until counted.
type Progress struct {
	Total   int64 `json:"total"`
	Emitted int64 `json:"emitted"`
	Skipped int64 `json:"skipped"`
}

// Run emits an ObjectCreated:Put event, marked synthetic, for every object
// of bucket under prefix, in key order, calling progress after each page.
// Hooks are idempotent and read the object's current state, so emitting
// for an object they already know costs a look and changes nothing.
func Run(ctx context.Context, o Options, bucket, prefix string, progress func(Progress)) (Progress, error) {
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	p := Progress{Total: -1}
	if o.Count {
		n, err := walk(ctx, o, bucket, prefix, func(backends.ObjectInfo) error { return nil }, nil)
		if err != nil {
			return p, err
		}
		p.Total = n
		progress(p)
	}
	_, err := walk(ctx, o, bucket, prefix, func(info backends.ObjectInfo) error {
		rec := events.New(events.Change{
			Name:      events.ObjectCreatedPut,
			Region:    o.Region,
			Time:      time.Now(),
			Bucket:    bucket,
			Key:       info.Key,
			Size:      info.Size,
			ETag:      info.ETag,
			Sequencer: o.Sequencer.Next(),
		})
		rec.S3gate.Synthetic = true
		body, err := rec.Marshal()
		if err != nil {
			return err
		}
		if _, err := o.Queue.Publish(ctx, body); err != nil {
			return fmt.Errorf("backfill: publishing the event of %s/%s: %w", bucket, info.Key, err)
		}
		p.Emitted++
		return nil
	}, func(skipped int64) {
		p.Skipped += skipped
		progress(p)
	})
	return p, err
}

// walk calls fn for every object of bucket under prefix that Skip does not
// skip and returns how many it called it for; page, unless nil, is told
// after each page how many keys it skipped.
func walk(ctx context.Context, o Options, bucket, prefix string, fn func(backends.ObjectInfo) error, page func(skipped int64)) (int64, error) {
	var n int64
	after := ""
	for {
		lp, err := o.Backend.ListObjects(ctx, bucket, backends.ListOptions{Prefix: prefix, StartAfter: after, MaxKeys: o.PageSize})
		if err != nil {
			return n, fmt.Errorf("backfill: listing %s: %w", bucket, err)
		}
		var skipped int64
		for _, info := range lp.Objects {
			if o.Skip != nil && o.Skip(bucket, info.Key) {
				skipped++
				continue
			}
			if err := fn(info); err != nil {
				return n, err
			}
			n++
		}
		if page != nil {
			page(skipped)
		}
		if !lp.IsTruncated || lp.NextStartAfter == "" {
			return n, nil
		}
		after = lp.NextStartAfter
	}
}
