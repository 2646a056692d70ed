// Package reserved hides a reserved key prefix of every bucket from the
// clients of a backend. s3gate stores the image variants it makes under
// such a prefix (".variants/" by default): the gateway talks to the
// backend through this wrapper, so clients can neither read, write, list
// nor delete those keys, while the image processor writes them through
// the unwrapped backend.
package reserved

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/s3gate/s3gate/backends"
)

// Backend is a backends.Backend with every key under a prefix hidden.
type Backend struct {
	inner  backends.Backend
	prefix string
	// jump sorts after every key under prefix (the prefix followed by
	// U+10FFFF up to the longest key S3 allows): a listing that runs into
	// the hidden range resumes after it in one step.
	jump string
}

// Hide returns b with every key under prefix hidden, in every bucket. It
// panics if prefix is empty, which would hide every key.
func Hide(b backends.Backend, prefix string) *Backend {
	if prefix == "" {
		panic("reserved: empty prefix")
	}
	n := max(0, (backends.MaxKeyLength-len(prefix))/utf8.RuneLen(utf8.MaxRune))
	return &Backend{inner: b, prefix: prefix, jump: prefix + strings.Repeat(string(utf8.MaxRune), n)}
}

// Hidden reports whether key lies under the reserved prefix.
func (b *Backend) Hidden(key string) bool { return strings.HasPrefix(key, b.prefix) }

func reservedErr(key string) error {
	return fmt.Errorf("%w: %q", backends.ErrReservedKey, key)
}

func (b *Backend) ListBuckets(ctx context.Context) ([]backends.BucketInfo, error) {
	return b.inner.ListBuckets(ctx)
}

func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	return b.inner.CreateBucket(ctx, bucket)
}

func (b *Backend) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	return b.inner.HeadBucket(ctx, bucket)
}

// DeleteBucket also deletes a bucket that holds nothing but hidden keys:
// variants must not keep alive a bucket whose client objects are all gone.
// A bucket with a visible key stays ErrBucketNotEmpty, its variants kept.
func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	err := b.inner.DeleteBucket(ctx, bucket)
	if !errors.Is(err, backends.ErrBucketNotEmpty) {
		return err
	}
	visible, verr := b.anyVisible(ctx, bucket, "", "")
	if verr != nil {
		return verr
	}
	if visible {
		return err
	}
	opts := backends.ListOptions{Prefix: b.prefix, MaxKeys: 1000}
	for {
		p, err := b.inner.ListObjects(ctx, bucket, opts)
		if err != nil {
			return err
		}
		for _, o := range p.Objects {
			if err := b.inner.DeleteObject(ctx, bucket, o.Key, backends.DeleteOptions{}); err != nil {
				return err
			}
		}
		if !p.IsTruncated {
			break
		}
		opts.StartAfter = p.NextStartAfter
	}
	// Once: a client or the image processor writing meanwhile wins.
	return b.inner.DeleteBucket(ctx, bucket)
}

func (b *Backend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	if b.Hidden(key) {
		return backends.ObjectInfo{}, reservedErr(key) // before a byte of the body is read
	}
	return b.inner.PutObject(ctx, bucket, key, body, opts)
}

func (b *Backend) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	if b.Hidden(key) {
		return nil, backends.ErrNoSuchKey
	}
	return b.inner.GetObject(ctx, bucket, key, opts)
}

func (b *Backend) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	if b.Hidden(key) {
		return backends.ObjectInfo{}, backends.ErrNoSuchKey
	}
	return b.inner.HeadObject(ctx, bucket, key, opts)
}

func (b *Backend) DeleteObject(ctx context.Context, bucket, key string, opts backends.DeleteOptions) error {
	if b.Hidden(key) {
		return reservedErr(key)
	}
	return b.inner.DeleteObject(ctx, bucket, key, opts)
}

// ListObjects lists the visible keys only, in pages as full as the inner
// backend's would be: a page that lost hidden entries is topped up from
// further inner pages.
func (b *Backend) ListObjects(ctx context.Context, bucket string, opts backends.ListOptions) (backends.ListPage, error) {
	if opts.MaxKeys <= 0 {
		return b.inner.ListObjects(ctx, bucket, opts)
	}
	if b.Hidden(opts.Prefix) {
		// Nothing under such a prefix is visible, but a missing bucket is
		// still an error.
		_, err := b.inner.HeadBucket(ctx, bucket)
		return backends.ListPage{}, err
	}
	var page backends.ListPage
	last := "" // the last visible entry so far
	inner := opts
	for {
		n := len(page.Objects) + len(page.CommonPrefixes)
		inner.MaxKeys = opts.MaxKeys - n // so every visible entry fits
		p, err := b.inner.ListObjects(ctx, bucket, inner)
		if err != nil {
			return backends.ListPage{}, err
		}
		for _, o := range p.Objects {
			if !b.Hidden(o.Key) {
				page.Objects = append(page.Objects, o)
				last = max(last, o.Key)
			}
		}
		for _, cp := range p.CommonPrefixes {
			ok, err := b.visiblePrefix(ctx, bucket, cp, inner.StartAfter)
			if err != nil {
				return backends.ListPage{}, err
			}
			if ok {
				page.CommonPrefixes = append(page.CommonPrefixes, cp)
				last = max(last, cp)
			}
		}
		if !p.IsTruncated {
			return page, nil
		}
		if len(page.Objects)+len(page.CommonPrefixes) == opts.MaxKeys {
			// More may follow, though perhaps only hidden keys.
			page.IsTruncated, page.NextStartAfter = true, last
			return page, nil
		}
		next := p.NextStartAfter
		if b.Hidden(next) {
			// Skip the rest of the hidden range (possibly millions of
			// variants) in one step; filtering above keeps the result right
			// whatever the jump skips.
			next = max(next, b.jump)
		}
		if next <= inner.StartAfter {
			return backends.ListPage{}, fmt.Errorf("reserved: inner listing of %s does not advance past %q", bucket, inner.StartAfter)
		}
		inner.StartAfter = next
	}
}

// visiblePrefix reports whether the common prefix cp holds a visible key
// after startAfter. Only a proper prefix of the reserved prefix (say "."
// for ".variants/") needs a look: it may hold hidden keys alone.
func (b *Backend) visiblePrefix(ctx context.Context, bucket, cp, startAfter string) (bool, error) {
	switch {
	case b.Hidden(cp):
		return false, nil
	case !strings.HasPrefix(b.prefix, cp):
		return true, nil
	}
	return b.anyVisible(ctx, bucket, cp, startAfter)
}

// anyVisible reports whether a visible key under prefix follows startAfter.
// It costs one small listing, or two when the first key found is hidden.
func (b *Backend) anyVisible(ctx context.Context, bucket, prefix, startAfter string) (bool, error) {
	for {
		p, err := b.inner.ListObjects(ctx, bucket, backends.ListOptions{Prefix: prefix, StartAfter: startAfter, MaxKeys: 1})
		if err != nil || len(p.Objects) == 0 {
			return false, err
		}
		k := p.Objects[0].Key
		if !b.Hidden(k) {
			return true, nil
		}
		startAfter = max(k, b.jump)
	}
}

func (b *Backend) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	if b.Hidden(key) {
		return nil, backends.ErrNoSuchKey
	}
	return b.inner.GetObjectTagging(ctx, bucket, key)
}

func (b *Backend) PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error {
	if b.Hidden(key) {
		return reservedErr(key)
	}
	return b.inner.PutObjectTagging(ctx, bucket, key, tags)
}

func (b *Backend) CreateMultipartUpload(ctx context.Context, bucket, key string, opts backends.UploadOptions) (string, error) {
	if b.Hidden(key) {
		return "", reservedErr(key)
	}
	return b.inner.CreateMultipartUpload(ctx, bucket, key, opts)
}

func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, opts backends.PartOptions) (backends.PartInfo, error) {
	if b.Hidden(key) {
		return backends.PartInfo{}, reservedErr(key)
	}
	return b.inner.UploadPart(ctx, bucket, key, uploadID, n, body, opts)
}

func (b *Backend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []backends.CompletedPart, opts backends.CompleteOptions) (backends.ObjectInfo, error) {
	if b.Hidden(key) {
		return backends.ObjectInfo{}, reservedErr(key)
	}
	return b.inner.CompleteMultipartUpload(ctx, bucket, key, uploadID, parts, opts)
}

// AbortMultipartUpload and ListParts treat an upload of a hidden key as
// one that does not exist: clients cannot have started it.
func (b *Backend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if b.Hidden(key) {
		return backends.ErrNoSuchUpload
	}
	return b.inner.AbortMultipartUpload(ctx, bucket, key, uploadID)
}

func (b *Backend) ListParts(ctx context.Context, bucket, key, uploadID string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	if b.Hidden(key) {
		return backends.PartsPage{}, backends.ErrNoSuchUpload
	}
	return b.inner.ListParts(ctx, bucket, key, uploadID, opts)
}

// ListMultipartUploads drops the uploads of hidden keys, which the image
// processor may have started. Pages are not topped up: such uploads are
// rare and short-lived.
func (b *Backend) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	p, err := b.inner.ListMultipartUploads(ctx, bucket, opts)
	if err != nil {
		return p, err
	}
	p.Uploads = slices.DeleteFunc(p.Uploads, func(u backends.UploadInfo) bool { return b.Hidden(u.Key) })
	p.CommonPrefixes = slices.DeleteFunc(p.CommonPrefixes, b.Hidden)
	if p.IsTruncated && b.Hidden(p.NextKeyMarker) {
		// Resume after the whole hidden range rather than name a hidden key.
		p.NextKeyMarker, p.NextUploadIDMarker = max(p.NextKeyMarker, b.jump), ""
	}
	return p, nil
}

func (b *Backend) Capabilities(bucket string) backends.Capabilities {
	return b.inner.Capabilities(bucket)
}

// CopyObject refuses a hidden source as missing and a hidden destination as
// reserved, in the order a copy streamed by the gateway would meet them.
func (b *Backend) CopyObject(ctx context.Context, src, dst backends.ObjectRef, opts backends.CopyOptions) (backends.ObjectInfo, error) {
	if err := b.copyRefs(src, dst); err != nil {
		return backends.ObjectInfo{}, err
	}
	c, ok := b.inner.(backends.Copier)
	if !ok {
		return backends.ObjectInfo{}, backends.ErrCopyUnsupported
	}
	return c.CopyObject(ctx, src, dst, opts)
}

// CopyPart is CopyObject for UploadPartCopy.
func (b *Backend) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, uploadID string, n int, opts backends.CopyOptions) (backends.PartInfo, error) {
	if err := b.copyRefs(src, dst); err != nil {
		return backends.PartInfo{}, err
	}
	c, ok := b.inner.(backends.Copier)
	if !ok {
		return backends.PartInfo{}, backends.ErrCopyUnsupported
	}
	return c.CopyPart(ctx, src, rng, dst, uploadID, n, opts)
}

func (b *Backend) copyRefs(src, dst backends.ObjectRef) error {
	if b.Hidden(src.Key) {
		return backends.ErrNoSuchKey
	}
	if b.Hidden(dst.Key) {
		return reservedErr(dst.Key)
	}
	return nil
}

var (
	_ backends.Backend = (*Backend)(nil)
	_ backends.Copier  = (*Backend)(nil)
)
