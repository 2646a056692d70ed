package gateway

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// limitedBackend declares no optional behaviour and counts the calls that
// would have carried a condition it cannot honour.
type limitedBackend struct {
	backends.Backend
	puts, deletes, completes atomic.Int32
}

func (b *limitedBackend) Capabilities(string) backends.Capabilities { return backends.Capabilities{} }

func (b *limitedBackend) PutObject(ctx context.Context, bucket, key string, body io.Reader, o backends.PutOptions) (backends.ObjectInfo, error) {
	b.puts.Add(1)
	return b.Backend.PutObject(ctx, bucket, key, body, o)
}

func (b *limitedBackend) DeleteObject(ctx context.Context, bucket, key string, o backends.DeleteOptions) error {
	b.deletes.Add(1)
	return b.Backend.DeleteObject(ctx, bucket, key, o)
}

func (b *limitedBackend) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []backends.CompletedPart, o backends.CompleteOptions) (backends.ObjectInfo, error) {
	b.completes.Add(1)
	return b.Backend.CompleteMultipartUpload(ctx, bucket, key, id, parts, o)
}

// TestCapabilitiesNotImplemented: conditional writes and deletes on a
// backend that does not declare them answer 501 NotImplemented before the
// backend is asked; nothing is emulated with a read before the write.
func TestCapabilitiesNotImplemented(t *testing.T) {
	lb := &limitedBackend{}
	e := newEnv(t, func(_ *Options, b *backends.Backend) {
		lb.Backend = *b
		*b = lb
	})
	e.mkBucket("caps")
	expectStatus(t, e.put("caps", "k", []byte("v1"), nil), 200)
	etag := `"` + mpMD5([]byte("v1")) + `"`
	lb.puts.Store(0)

	for _, hdr := range []map[string]string{{"If-None-Match": "*"}, {"If-Match": etag}, {"If-Match": "*"}} {
		t.Run(fmt.Sprint("PUT ", hdr), func(t *testing.T) {
			expectError(t, e.put("caps", "k", []byte("v2"), hdr), 501, "NotImplemented")
			if n := lb.puts.Load(); n != 0 {
				t.Fatalf("backend PutObject called %d times", n)
			}
		})
	}
	t.Run("DELETE If-Match", func(t *testing.T) {
		expectError(t, e.do(req{method: "DELETE", path: "/caps/k", header: map[string]string{"If-Match": etag}}), 501, "NotImplemented")
		if n := lb.deletes.Load(); n != 0 {
			t.Fatalf("backend DeleteObject called %d times", n)
		}
	})
	t.Run("DeleteObjects ETag", func(t *testing.T) {
		doc := []byte(`<Delete><Object><Key>k</Key><ETag>` + etag + `</ETag></Object></Delete>`)
		expectError(t, e.do(req{method: "POST", path: "/caps?delete", body: doc, header: map[string]string{"Content-MD5": hostileMD5(doc)}}), 501, "NotImplemented")
		if n := lb.deletes.Load(); n != 0 {
			t.Fatalf("backend DeleteObject called %d times", n)
		}
	})
	for _, hdr := range []map[string]string{{"If-None-Match": "*"}, {"If-Match": etag}} {
		t.Run(fmt.Sprint("Complete ", hdr), func(t *testing.T) {
			id := e.mpCreate("caps", "mp", nil)
			part := []byte("part one")
			e.mpPartOK("caps", "mp", id, 1, part, nil)
			expectError(t, e.mpComplete("caps", "mp", id, mpDoc(mpQuoted(part)), hdr), 501, "NotImplemented")
			if n := lb.completes.Load(); n != 0 {
				t.Fatalf("backend CompleteMultipartUpload called %d times", n)
			}
			// The upload is untouched and completes without a condition.
			e.mpCompleteOK("caps", "mp", id, mpQuoted(part), mpETag(part))
			lb.completes.Store(0)
		})
	}
	if got := e.get("caps", "k"); string(got) != "v1" {
		t.Fatalf("object after refused writes: %q", got)
	}
}

// unavailableBackend fails object reads and writes as a backend that is
// down does.
type unavailableBackend struct {
	backends.Backend
	down atomic.Bool
}

func (b *unavailableBackend) GetObject(ctx context.Context, bucket, key string, o backends.GetOptions) (*backends.Object, error) {
	if b.down.Load() {
		return nil, fmt.Errorf("dial: connection refused: %w", backends.ErrBackendUnavailable)
	}
	return b.Backend.GetObject(ctx, bucket, key, o)
}

func (b *unavailableBackend) PutObject(ctx context.Context, bucket, key string, body io.Reader, o backends.PutOptions) (backends.ObjectInfo, error) {
	if b.down.Load() {
		return backends.ObjectInfo{}, fmt.Errorf("dial: connection refused: %w", backends.ErrBackendUnavailable)
	}
	return b.Backend.PutObject(ctx, bucket, key, body, o)
}

// TestBackendUnavailableSlowDown: a backend that is down answers 503
// SlowDown, which clients retry with backoff.
func TestBackendUnavailableSlowDown(t *testing.T) {
	ub := &unavailableBackend{}
	e := newEnv(t, func(_ *Options, b *backends.Backend) {
		ub.Backend = *b
		*b = ub
	})
	e.mkBucket("down")
	expectStatus(t, e.put("down", "k", []byte("v"), nil), 200)
	ub.down.Store(true)
	expectError(t, e.do(req{path: "/down/k"}), 503, "SlowDown")
	expectError(t, e.put("down", "k", []byte("v2"), nil), 503, "SlowDown")
	ub.down.Store(false)
	if got := e.get("down", "k"); string(got) != "v" {
		t.Fatalf("object after a failed PUT: %q", got)
	}
}
