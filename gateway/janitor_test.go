package gateway

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// jnSmallPages caps every ListMultipartUploads page, so that a sweep has
// to follow the markers.
type jnSmallPages struct {
	backends.Backend
	max   int
	calls atomic.Int32
}

func (b *jnSmallPages) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	b.calls.Add(1)
	opts.MaxUploads = min(opts.MaxUploads, b.max)
	return b.Backend.ListMultipartUploads(ctx, bucket, opts)
}

// jnUploads lists every upload of a bucket through the backend as
// "key=id", sorted.
func jnUploads(t *testing.T, e *env, bucket string) []string {
	t.Helper()
	var out []string
	opts := backends.ListUploadsOptions{MaxUploads: 1000}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("ListMultipartUploads never ends")
		}
		page, err := e.backend.ListMultipartUploads(context.Background(), bucket, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Uploads {
			out = append(out, u.Key+"="+u.UploadID)
		}
		if !page.IsTruncated {
			break
		}
		opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
	sort.Strings(out)
	return out
}

// jnInitiated returns when the backend says an upload was initiated.
func jnInitiated(t *testing.T, e *env, bucket, key, id string) time.Time {
	t.Helper()
	page, err := e.backend.ListParts(context.Background(), bucket, key, id, backends.ListPartsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return page.Upload.Initiated
}

// jnAfter waits until the clock has passed t, so uploads started next are
// strictly later.
func jnAfter(t time.Time) {
	for !time.Now().After(t) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(2 * time.Millisecond)
}

// SweepUploads aborts the uploads initiated before the cutoff, in every
// bucket, with their parts, and only those.
func TestSweepUploads(t *testing.T) {
	e := newEnv(t)
	for _, b := range []string{"sweep-one", "sweep-two", "sweep-empty"} {
		e.mkBucket(b)
	}
	expectStatus(t, e.put("sweep-one", "object", []byte("stays"), nil), 200)
	type up struct{ bucket, key, id string }
	var old []up
	for _, u := range []up{{"sweep-one", "a", ""}, {"sweep-one", "a", ""}, {"sweep-one", "dir/b", ""}, {"sweep-two", "c", ""}} {
		u.id = e.mpCreate(u.bucket, u.key, nil)
		e.mpPartOK(u.bucket, u.key, u.id, 1, []byte("abandoned part of "+u.key), nil)
		old = append(old, u)
	}
	cutoff := time.Now()
	jnAfter(cutoff)
	var fresh []up
	for _, u := range []up{{"sweep-one", "a", ""}, {"sweep-two", "d", ""}} {
		u.id = e.mpCreate(u.bucket, u.key, nil)
		e.mpPartOK(u.bucket, u.key, u.id, 1, []byte("live part"), nil)
		fresh = append(fresh, u)
	}
	for _, u := range old {
		if !jnInitiated(t, e, u.bucket, u.key, u.id).Before(cutoff) {
			t.Fatalf("upload %s started after the cutoff", u.id)
		}
	}

	n, err := e.gw.SweepUploads(context.Background(), cutoff)
	if err != nil || n != len(old) {
		t.Fatalf("SweepUploads = %d, %v; want %d", n, err, len(old))
	}
	for _, u := range old {
		e.mpGone(u.bucket, u.key, u.id)
	}
	for _, u := range fresh {
		if page := e.mpListParts(u.bucket, u.key, u.id, ""); len(page.Parts) != 1 {
			t.Errorf("fresh upload %s/%s lost parts: %+v", u.bucket, u.key, page.Parts)
		}
	}
	if got := e.get("sweep-one", "object"); string(got) != "stays" {
		t.Errorf("object changed by the sweep: %q", got)
	}
	// A fresh upload still completes.
	u := fresh[0]
	e.mpCompleteOK(u.bucket, u.key, u.id, mpQuoted([]byte("live part")), mpETag([]byte("live part")))

	// Nothing left to sweep before the same cutoff.
	if n, err := e.gw.SweepUploads(context.Background(), cutoff); err != nil || n != 0 {
		t.Errorf("second sweep = %d, %v", n, err)
	}
	if got := jnUploads(t, e, "sweep-two"); strings.Join(got, " ") != "d="+fresh[1].id {
		t.Errorf("sweep-two uploads %v", got)
	}
}

// The cutoff is exclusive: an upload initiated exactly at it stays.
func TestSweepUploadsCutoffExclusive(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sweep-edge")
	id := e.mpCreate("sweep-edge", "k", nil)
	at := jnInitiated(t, e, "sweep-edge", "k", id)
	if n, err := e.gw.SweepUploads(context.Background(), at); err != nil || n != 0 {
		t.Fatalf("sweep at the initiation time = %d, %v; want 0", n, err)
	}
	if n, err := e.gw.SweepUploads(context.Background(), at.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep before the initiation time = %d, %v; want 0", n, err)
	}
	if got := jnUploads(t, e, "sweep-edge"); len(got) != 1 {
		t.Fatalf("uploads %v", got)
	}
	if n, err := e.gw.SweepUploads(context.Background(), at.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Fatalf("sweep just after = %d, %v; want 1", n, err)
	}
	e.mpGone("sweep-edge", "k", id)
}

// A sweep follows ListMultipartUploads' markers across pages, aborting as
// it goes.
func TestSweepUploadsPaged(t *testing.T) {
	var paged *jnSmallPages
	e := newEnv(t, func(_ *Options, b *backends.Backend) {
		paged = &jnSmallPages{Backend: *b, max: 2}
		*b = paged
	})
	e.mkBucket("sweep-paged")
	var old []string
	for _, k := range []string{"k1", "k2", "k2", "k3", "k4", "k4", "k5"} {
		old = append(old, k+"="+e.mpCreate("sweep-paged", k, nil))
	}
	cutoff := time.Now()
	jnAfter(cutoff)
	var fresh []string
	for _, k := range []string{"k0", "k2", "k9"} {
		fresh = append(fresh, k+"="+e.mpCreate("sweep-paged", k, nil))
	}
	sort.Strings(fresh)
	paged.calls.Store(0)
	n, err := e.gw.SweepUploads(context.Background(), cutoff)
	if err != nil || n != len(old) {
		t.Fatalf("SweepUploads = %d, %v; want %d", n, err, len(old))
	}
	if c := paged.calls.Load(); c < int32((len(old)+len(fresh))/2) {
		t.Errorf("%d pages listed for %d uploads in pages of 2", c, len(old)+len(fresh))
	}
	if got := jnUploads(t, e, "sweep-paged"); strings.Join(got, " ") != strings.Join(fresh, " ") {
		t.Errorf("left %v, want %v", got, fresh)
	}
}

// The janitor sweeps on its interval with the gateway's clock and stops
// with its context.
func TestRunUploadJanitor(t *testing.T) {
	var offset atomic.Int64
	e := newEnv(t, func(o *Options, _ *backends.Backend) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	e.mkBucket("janitor")
	id := e.mpCreate("janitor", "k", nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.gw.RunUploadJanitor(ctx, 5*time.Millisecond, time.Hour)
		close(done)
	}()
	// Young uploads survive several sweeps.
	time.Sleep(50 * time.Millisecond)
	if got := jnUploads(t, e, "janitor"); len(got) != 1 {
		cancel()
		<-done
		t.Fatalf("a young upload was swept: %v", got)
	}
	// Two hours later by the gateway's clock, the upload is abandoned.
	offset.Store(int64(2 * time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for len(jnUploads(t, e, "janitor")) != 0 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("the janitor did not sweep the abandoned upload")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the janitor did not stop with its context")
	}
	offset.Store(0)
	e.mpGone("janitor", "k", id)
}
