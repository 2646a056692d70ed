package router_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/backendtest"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/backends/router"
)

func openFS(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The acceptance suite passes through a router that sends half of its
// buckets to one backend and half to another.
func TestAcceptanceThroughRouter(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		a, b := openFS(t), openFS(t)
		routes := map[string]string{}
		for _, name := range []string{"bt-roundtrip", "bt-checksum", "bt-copy-dst", "bt-mp-rules", "bt-buckets"} {
			routes[name] = "b"
		}
		r, err := router.New(map[string]backends.Backend{"a": a, "b": b}, routes, "a")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}, openFS(t).Capabilities(""))
}

// copier records CopyObject calls.
type copier struct {
	backends.Backend
	calls int
}

func (c *copier) CopyObject(ctx context.Context, src, dst backends.ObjectRef, o backends.CopyOptions) (backends.ObjectInfo, error) {
	c.calls++
	return backends.ObjectInfo{Key: dst.Key}, nil
}

func (c *copier) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, id string, n int, o backends.CopyOptions) (backends.PartInfo, error) {
	c.calls++
	return backends.PartInfo{Number: n}, nil
}

func TestRouting(t *testing.T) {
	ctx := context.Background()
	a, b := openFS(t), openFS(t)
	cb := &copier{Backend: b}
	r, err := router.New(map[string]backends.Backend{"a": a, "b": cb}, map[string]string{"photos": "b", "thumbs": "b"}, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"photos", "thumbs", "scratch"} {
		if err := r.CreateBucket(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// Each bucket lives where it is routed, and only there.
	if _, err := b.HeadBucket(ctx, "photos"); err != nil {
		t.Errorf("photos not on b: %v", err)
	}
	if _, err := a.HeadBucket(ctx, "photos"); !errors.Is(err, backends.ErrNoSuchBucket) {
		t.Errorf("photos also on a: %v", err)
	}
	if _, err := a.HeadBucket(ctx, "scratch"); err != nil {
		t.Errorf("scratch not on the default: %v", err)
	}
	// A bucket on a backend it is not routed to is not listed.
	if err := a.CreateBucket(ctx, "thumbs"); err != nil {
		t.Fatal(err)
	}
	list, err := r.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, bi := range list {
		names = append(names, bi.Name)
	}
	if strings.Join(names, ",") != "photos,scratch,thumbs" {
		t.Errorf("ListBuckets = %v", names)
	}
	// Copies stay inside a backend that can copy, and only there.
	if _, err := r.CopyObject(ctx, backends.ObjectRef{Bucket: "photos", Key: "x"}, backends.ObjectRef{Bucket: "thumbs", Key: "y"}, backends.CopyOptions{}); err != nil || cb.calls != 1 {
		t.Errorf("copy within b: %v, %d calls", err, cb.calls)
	}
	if _, err := r.CopyObject(ctx, backends.ObjectRef{Bucket: "photos", Key: "x"}, backends.ObjectRef{Bucket: "scratch", Key: "y"}, backends.CopyOptions{}); !errors.Is(err, backends.ErrCopyUnsupported) {
		t.Errorf("copy across backends: %v", err)
	}
	if _, err := r.CopyPart(ctx, backends.ObjectRef{Bucket: "scratch", Key: "x"}, nil, backends.ObjectRef{Bucket: "scratch", Key: "y"}, "id", 1, backends.CopyOptions{}); !errors.Is(err, backends.ErrCopyUnsupported) {
		t.Errorf("copy within a backend that cannot copy: %v", err)
	}
	if _, err := router.New(map[string]backends.Backend{"a": a}, nil, "nope"); err == nil {
		t.Error("unknown default accepted")
	}
	if _, err := router.New(map[string]backends.Backend{"a": a}, map[string]string{"x": "nope"}, "a"); err == nil {
		t.Error("route to an unknown backend accepted")
	}
}
