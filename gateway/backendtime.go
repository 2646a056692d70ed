package gateway

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// timedBackend adds the time each call spends in the backend to the
// request it serves (request.backendNanos), for the analytics row's
// BackendLatency. Calls outside a request (the janitor, bucket adoption)
// are not counted.
//
// Bodies stream through calls, so a call's duration is not all the
// backend's: a PutObject or UploadPart waits for the client while it reads
// the body, and a GET body is read after GetObject returned. Time inside
// the client body's Read is taken out of the call; time inside the GET
// body's Read is added, and time writing it to the client is not.
type timedBackend struct{ b backends.Backend }

// timedCopier keeps backends.Copier for a backend that implements it: the
// gateway asks for it to copy without streaming.
type timedCopier struct {
	*timedBackend
	c backends.Copier
}

var (
	_ backends.Backend = (*timedBackend)(nil)
	_ backends.Backend = timedCopier{}
	_ backends.Copier  = timedCopier{}
)

// timeBackend wraps b to count its time per request.
func timeBackend(b backends.Backend) backends.Backend {
	t := &timedBackend{b}
	if c, ok := b.(backends.Copier); ok {
		return timedCopier{t, c}
	}
	return t
}

// backendClock is the backend time counter of ctx's request, nil outside
// one. (requestState would hand back a throwaway state to count into.)
func backendClock(ctx context.Context) *atomic.Int64 {
	if st, ok := ctx.Value(requestKey{}).(*request); ok {
		return &st.backendNanos
	}
	return nil
}

// spent counts the time since start to ctx's request.
func spent(ctx context.Context, start time.Time) {
	if c := backendClock(ctx); c != nil {
		c.Add(int64(time.Since(start)))
	}
}

func (t *timedBackend) ListBuckets(ctx context.Context) ([]backends.BucketInfo, error) {
	defer spent(ctx, time.Now())
	return t.b.ListBuckets(ctx)
}

func (t *timedBackend) CreateBucket(ctx context.Context, bucket string) error {
	defer spent(ctx, time.Now())
	return t.b.CreateBucket(ctx, bucket)
}

func (t *timedBackend) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	defer spent(ctx, time.Now())
	return t.b.HeadBucket(ctx, bucket)
}

func (t *timedBackend) DeleteBucket(ctx context.Context, bucket string) error {
	defer spent(ctx, time.Now())
	return t.b.DeleteBucket(ctx, bucket)
}

func (t *timedBackend) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	return timedWrite(ctx, body, func(body io.Reader) (backends.ObjectInfo, error) {
		return t.b.PutObject(ctx, bucket, key, body, opts)
	})
}

// timedWrite runs write, a backend call that reads the client's body,
// and counts its time less the time it waited inside the body's Read.
func timedWrite[T any](ctx context.Context, body io.Reader, write func(io.Reader) (T, error)) (T, error) {
	c := backendClock(ctx)
	if c == nil || body == nil {
		defer spent(ctx, time.Now())
		return write(body)
	}
	cr := &clientReader{r: body}
	start := time.Now()
	out, err := write(cr)
	cr.count(c, start)
	return out, err
}

func (t *timedBackend) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	start := time.Now()
	obj, err := t.b.GetObject(ctx, bucket, key, opts)
	c := backendClock(ctx)
	if c == nil {
		return obj, err
	}
	c.Add(int64(time.Since(start)))
	if err == nil && obj != nil && obj.Body != nil {
		obj.Body = timeBody(obj.Body, c)
	}
	return obj, err
}

func (t *timedBackend) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	defer spent(ctx, time.Now())
	return t.b.HeadObject(ctx, bucket, key, opts)
}

func (t *timedBackend) DeleteObject(ctx context.Context, bucket, key string, opts backends.DeleteOptions) error {
	defer spent(ctx, time.Now())
	return t.b.DeleteObject(ctx, bucket, key, opts)
}

func (t *timedBackend) ListObjects(ctx context.Context, bucket string, opts backends.ListOptions) (backends.ListPage, error) {
	defer spent(ctx, time.Now())
	return t.b.ListObjects(ctx, bucket, opts)
}

func (t *timedBackend) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	defer spent(ctx, time.Now())
	return t.b.GetObjectTagging(ctx, bucket, key)
}

func (t *timedBackend) PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error {
	defer spent(ctx, time.Now())
	return t.b.PutObjectTagging(ctx, bucket, key, tags)
}

func (t *timedBackend) CreateMultipartUpload(ctx context.Context, bucket, key string, opts backends.UploadOptions) (string, error) {
	defer spent(ctx, time.Now())
	return t.b.CreateMultipartUpload(ctx, bucket, key, opts)
}

func (t *timedBackend) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, opts backends.PartOptions) (backends.PartInfo, error) {
	return timedWrite(ctx, body, func(body io.Reader) (backends.PartInfo, error) {
		return t.b.UploadPart(ctx, bucket, key, uploadID, n, body, opts)
	})
}

func (t *timedBackend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []backends.CompletedPart, opts backends.CompleteOptions) (backends.ObjectInfo, error) {
	defer spent(ctx, time.Now())
	return t.b.CompleteMultipartUpload(ctx, bucket, key, uploadID, parts, opts)
}

func (t *timedBackend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	defer spent(ctx, time.Now())
	return t.b.AbortMultipartUpload(ctx, bucket, key, uploadID)
}

func (t *timedBackend) ListParts(ctx context.Context, bucket, key, uploadID string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	defer spent(ctx, time.Now())
	return t.b.ListParts(ctx, bucket, key, uploadID, opts)
}

func (t *timedBackend) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	defer spent(ctx, time.Now())
	return t.b.ListMultipartUploads(ctx, bucket, opts)
}

// Capabilities takes no context and waits for nothing: it is not counted.
func (t *timedBackend) Capabilities(bucket string) backends.Capabilities {
	return t.b.Capabilities(bucket)
}

func (t timedCopier) CopyObject(ctx context.Context, src, dst backends.ObjectRef, opts backends.CopyOptions) (backends.ObjectInfo, error) {
	defer spent(ctx, time.Now())
	return t.c.CopyObject(ctx, src, dst, opts)
}

func (t timedCopier) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, uploadID string, n int, opts backends.CopyOptions) (backends.PartInfo, error) {
	defer spent(ctx, time.Now())
	return t.c.CopyPart(ctx, src, rng, dst, uploadID, n, opts)
}

// clientReader is the body of a write as the backend sees it: it measures
// the time the backend waits inside the client's Read. Atomic: a backend
// may read the body from another goroutine (an HTTP transport's writer).
type clientReader struct {
	r      io.Reader
	waited atomic.Int64
}

func (r *clientReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := r.r.Read(p)
	r.waited.Add(int64(time.Since(start)))
	return n, err
}

// count adds to c the call that began at start, less the time it waited
// for the client. A copy's source is a GET body read inside the call, so
// its time was added by timedBody and is taken out again here: the copy
// counts as the call's whole duration, once.
func (r *clientReader) count(c *atomic.Int64, start time.Time) {
	c.Add(max(0, int64(time.Since(start))-r.waited.Load()))
}

// timeBody wraps a GET body to count the time inside its Read and Close.
// A body that writes itself (fs: sendfile) keeps io.WriterTo, which
// sendBody looks for.
func timeBody(rc io.ReadCloser, c *atomic.Int64) io.ReadCloser {
	if wt, ok := rc.(io.WriterTo); ok {
		return &timedWriterToBody{timedBody: timedBody{rc: rc, c: c}, wt: wt}
	}
	return &timedBody{rc: rc, c: c}
}

type timedBody struct {
	rc io.ReadCloser
	c  *atomic.Int64
}

func (b *timedBody) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := b.rc.Read(p)
	b.c.Add(int64(time.Since(start)))
	return n, err
}

func (b *timedBody) Close() error {
	start := time.Now()
	err := b.rc.Close()
	b.c.Add(int64(time.Since(start)))
	return err
}

// timedWriterToBody counts a WriteTo less the time spent in the
// destination. In a sendfile the disk read and the socket write are one
// system call, inside the destination's ReadFrom: it counts as the
// client's, so an fs GET's body counts for next to nothing.
type timedWriterToBody struct {
	timedBody
	wt io.WriterTo
	// dst lives here so that WriteTo allocates nothing.
	dst clientWriter
}

func (b *timedWriterToBody) WriteTo(w io.Writer) (int64, error) {
	b.dst = clientWriter{w: w}
	start := time.Now()
	n, err := b.wt.WriteTo(&b.dst)
	b.c.Add(max(0, int64(time.Since(start))-b.dst.waited))
	b.dst.w = nil
	return n, err
}

// clientWriter measures the time spent writing to w. It keeps w's
// io.ReaderFrom, which net/http's sendfile path needs.
type clientWriter struct {
	w      io.Writer
	waited int64
}

func (w *clientWriter) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := w.w.Write(p)
	w.waited += int64(time.Since(start))
	return n, err
}

func (w *clientWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.w.(io.ReaderFrom)
	if !ok {
		// Through Write, so that src's reads stay the backend's.
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	start := time.Now()
	n, err := rf.ReadFrom(src)
	w.waited += int64(time.Since(start))
	return n, err
}
