package image

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors"
)

// Open returns variant name of bucket/key for a GET; opts (range,
// conditions) apply to the variant. A variant that is missing, or stale
// (made from an older version of the original or by an older preset), is
// made first when OnDemand is set: one render per object at a time, which
// every concurrent request for it waits for.
func (p *Processor) Open(ctx context.Context, bucket, key, name string, opts backends.GetOptions) (*backends.Object, error) {
	vb, vk, err := p.locate(ctx, bucket, key, name)
	if err != nil {
		return nil, err
	}
	return p.backend.GetObject(ctx, vb, vk, opts)
}

// Head is Open without the body.
func (p *Processor) Head(ctx context.Context, bucket, key, name string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	vb, vk, err := p.locate(ctx, bucket, key, name)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	return p.backend.HeadObject(ctx, vb, vk, opts)
}

// locate returns where a fresh variant name of bucket/key is stored,
// making it first if need be.
func (p *Processor) locate(ctx context.Context, bucket, key, name string) (string, string, error) {
	ps, ok := p.preset(bucket, name)
	if !ok {
		return "", "", ErrUnknownPreset
	}
	if p.Skip(bucket, key) {
		return "", "", backends.ErrNoSuchKey // variants have no variants
	}
	vb, vk, err := p.loc.variant(bucket, key, ps)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	for attempt := range 2 {
		orig, err := p.backend.HeadObject(ctx, bucket, key, backends.GetOptions{})
		if err != nil {
			return "", "", err
		}
		info, err := p.backend.HeadObject(ctx, vb, vk, backends.GetOptions{})
		switch {
		case err == nil && fresh(info, orig.ETag, ps):
			return vb, vk, nil
		case err != nil && !absent(err):
			return "", "", err
		case attempt > 0:
			// Made, yet not there: the preset does not apply to what the
			// object holds.
			return "", "", fmt.Errorf("%w: preset %s is not made from objects of this type", ErrNotImage, name)
		case !p.opts.OnDemand:
			return "", "", ErrNotMade
		}
		if err := p.makeNow(ctx, bucket, key); err != nil {
			return "", "", err
		}
	}
	panic("unreachable")
}

// makeNow brings bucket/key's variants up to date for a request. The
// render goes on when the request that started it leaves: others may be
// waiting for it, and the variants are wanted anyway.
func (p *Processor) makeNow(ctx context.Context, bucket, key string) error {
	ch := p.flights.DoChan(bucket+"\x00"+key, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		return nil, p.sync(ctx, bucket, key, "", p.rowType(ctx, bucket, key), false)
	})
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res := <-ch:
		err := res.Err
		if processors.IsPermanent(err) {
			return fmt.Errorf("%w: %v", ErrNotImage, errors.Unwrap(err))
		}
		return err
	}
}

// rowType returns the sniffed type the catalogue row records for a
// version, which spares a read of its first bytes.
func (p *Processor) rowType(ctx context.Context, bucket, key string) func(etag string) string {
	if p.cat == nil {
		return nil
	}
	row, err := p.cat.GetObject(ctx, bucket, key)
	if err != nil {
		return nil
	}
	return func(etag string) string {
		if row.ETag == etag {
			return row.SniffedContentType
		}
		return ""
	}
}
