// Package router is a backends.Backend that sends each bucket to the
// backend configured for it: several storage backends behind one gateway
// (photos on an S3 service, scratch on the local disk), one the default.
package router

import (
	"context"
	"errors"
	"io"
	"sort"

	"github.com/s3gate/s3gate/backends"
)

// Router routes buckets to named backends.
type Router struct {
	backends map[string]backends.Backend
	routes   map[string]string // bucket -> backend name
	deflt    string
}

// New returns a Router over the named backends; buckets in routes go to
// the backend they name, every other bucket to the default.
func New(named map[string]backends.Backend, routes map[string]string, deflt string) (*Router, error) {
	if _, ok := named[deflt]; !ok {
		return nil, errors.New("router: the default backend " + deflt + " is not configured")
	}
	for bucket, name := range routes {
		if _, ok := named[name]; !ok {
			return nil, errors.New("router: bucket " + bucket + " is routed to unknown backend " + name)
		}
	}
	return &Router{backends: named, routes: routes, deflt: deflt}, nil
}

// backendName is the name of the backend that holds bucket.
func (r *Router) backendName(bucket string) string {
	if name, ok := r.routes[bucket]; ok {
		return name
	}
	return r.deflt
}

func (r *Router) pick(bucket string) backends.Backend { return r.backends[r.backendName(bucket)] }

// BackendName reports where a bucket lives, for records and logs.
func (r *Router) BackendName(bucket string) string { return r.backendName(bucket) }

// ListBuckets lists, from every backend, the buckets routed to it.
func (r *Router) ListBuckets(ctx context.Context) ([]backends.BucketInfo, error) {
	var out []backends.BucketInfo
	seen := map[string]bool{}
	for _, name := range sortedNames(r.backends) {
		list, err := r.backends[name].ListBuckets(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range list {
			if r.backendName(b.Name) == name && !seen[b.Name] {
				seen[b.Name] = true
				out = append(out, b)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func sortedNames(m map[string]backends.Backend) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *Router) CreateBucket(ctx context.Context, bucket string) error {
	return r.pick(bucket).CreateBucket(ctx, bucket)
}

func (r *Router) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	return r.pick(bucket).HeadBucket(ctx, bucket)
}

func (r *Router) DeleteBucket(ctx context.Context, bucket string) error {
	return r.pick(bucket).DeleteBucket(ctx, bucket)
}

func (r *Router) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	return r.pick(bucket).PutObject(ctx, bucket, key, body, opts)
}

func (r *Router) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	return r.pick(bucket).GetObject(ctx, bucket, key, opts)
}

func (r *Router) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	return r.pick(bucket).HeadObject(ctx, bucket, key, opts)
}

func (r *Router) DeleteObject(ctx context.Context, bucket, key string, opts backends.DeleteOptions) error {
	return r.pick(bucket).DeleteObject(ctx, bucket, key, opts)
}

func (r *Router) ListObjects(ctx context.Context, bucket string, opts backends.ListOptions) (backends.ListPage, error) {
	return r.pick(bucket).ListObjects(ctx, bucket, opts)
}

func (r *Router) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	return r.pick(bucket).GetObjectTagging(ctx, bucket, key)
}

func (r *Router) PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error {
	return r.pick(bucket).PutObjectTagging(ctx, bucket, key, tags)
}

func (r *Router) CreateMultipartUpload(ctx context.Context, bucket, key string, opts backends.UploadOptions) (string, error) {
	return r.pick(bucket).CreateMultipartUpload(ctx, bucket, key, opts)
}

func (r *Router) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, opts backends.PartOptions) (backends.PartInfo, error) {
	return r.pick(bucket).UploadPart(ctx, bucket, key, uploadID, n, body, opts)
}

func (r *Router) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []backends.CompletedPart, opts backends.CompleteOptions) (backends.ObjectInfo, error) {
	return r.pick(bucket).CompleteMultipartUpload(ctx, bucket, key, uploadID, parts, opts)
}

func (r *Router) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	return r.pick(bucket).AbortMultipartUpload(ctx, bucket, key, uploadID)
}

func (r *Router) ListParts(ctx context.Context, bucket, key, uploadID string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	return r.pick(bucket).ListParts(ctx, bucket, key, uploadID, opts)
}

func (r *Router) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	return r.pick(bucket).ListMultipartUploads(ctx, bucket, opts)
}

func (r *Router) Capabilities(bucket string) backends.Capabilities {
	return r.pick(bucket).Capabilities(bucket)
}

// sameCopier returns the Copier that holds both buckets, if one does.
func (r *Router) sameCopier(src, dst string) (backends.Copier, bool) {
	if r.backendName(src) != r.backendName(dst) {
		return nil, false
	}
	c, ok := r.pick(src).(backends.Copier)
	return c, ok
}

// CopyObject copies inside the backend when source and destination share
// one that can; otherwise it answers ErrCopyUnsupported and the gateway
// streams the copy through itself.
func (r *Router) CopyObject(ctx context.Context, src, dst backends.ObjectRef, opts backends.CopyOptions) (backends.ObjectInfo, error) {
	c, ok := r.sameCopier(src.Bucket, dst.Bucket)
	if !ok {
		return backends.ObjectInfo{}, backends.ErrCopyUnsupported
	}
	return c.CopyObject(ctx, src, dst, opts)
}

// CopyPart is CopyObject for UploadPartCopy.
func (r *Router) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, uploadID string, n int, opts backends.CopyOptions) (backends.PartInfo, error) {
	c, ok := r.sameCopier(src.Bucket, dst.Bucket)
	if !ok {
		return backends.PartInfo{}, backends.ErrCopyUnsupported
	}
	return c.CopyPart(ctx, src, rng, dst, uploadID, n, opts)
}

var (
	_ backends.Backend = (*Router)(nil)
	_ backends.Copier  = (*Router)(nil)
)
