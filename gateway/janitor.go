package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// SweepUploads aborts every multipart upload initiated before cutoff, in
// every bucket, and returns how many it aborted. It works through the
// Backend contract alone, so every backend gets it.
func (g *Gateway) SweepUploads(ctx context.Context, cutoff time.Time) (int, error) {
	buckets, err := g.backend.ListBuckets(ctx)
	if err != nil {
		return 0, err
	}
	aborted := 0
	for _, b := range buckets {
		opts := backends.ListUploadsOptions{MaxUploads: 1000}
		for {
			page, err := g.backend.ListMultipartUploads(ctx, b.Name, opts)
			if err != nil {
				return aborted, err
			}
			for _, u := range page.Uploads {
				if !u.Initiated.Before(cutoff) {
					continue
				}
				if err := g.backend.AbortMultipartUpload(ctx, b.Name, u.Key, u.UploadID); err != nil && !isGone(err) {
					return aborted, err
				}
				aborted++
			}
			if !page.IsTruncated {
				break
			}
			opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
		}
	}
	return aborted, nil
}

// isGone reports errors that mean someone else finished the job first.
func isGone(err error) bool {
	return errors.Is(err, backends.ErrNoSuchUpload) || errors.Is(err, backends.ErrNoSuchBucket)
}

// RunUploadJanitor sweeps uploads older than expiry every interval until
// ctx is done, logging what it removed.
func (g *Gateway) RunUploadJanitor(ctx context.Context, interval, expiry time.Duration) {
	if interval <= 0 || expiry <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := g.SweepUploads(ctx, g.now().Add(-expiry))
		switch {
		case err != nil && ctx.Err() == nil:
			g.log.Error("sweeping abandoned multipart uploads", "err", err, "aborted", n)
		case n > 0:
			g.log.Info("aborted abandoned multipart uploads", "count", n, "older_than", expiry)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
