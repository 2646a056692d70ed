package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

// genBody is n deterministic pseudo-random bytes, generated as read.
func genBody(seed byte, n int64) io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n) }

func genBytes(seed byte, n int) []byte {
	b, _ := io.ReadAll(genBody(seed, int64(n)))
	return b
}

// failAtEnd serves data, then fails at its very end instead of io.EOF (a
// gateway body whose signature or checksum turns out wrong), after
// setting sum when it is given (as a trailing checksum would).
type failAtEnd struct {
	r     io.Reader
	err   error
	atEnd func() // runs as the end is reached, before the failure
}

func (f *failAtEnd) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		if f.atEnd != nil {
			f.atEnd()
		}
		return n, f.err
	}
	return n, err
}

// gatewayBody is a gateway-like body: its checksum is set only as it ends.
type gatewayBody struct {
	r   io.Reader
	h   interface{ Sum([]byte) []byte }
	cs  *backends.Checksum
	alg string
	bad bool // declare a wrong value
}

func newGatewayBody(data io.Reader, alg string, cs *backends.Checksum) *gatewayBody {
	a, _ := checksum.Parse(alg)
	h := a.New()
	return &gatewayBody{r: io.TeeReader(data, h), h: h, cs: cs, alg: alg}
}

func (g *gatewayBody) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err == io.EOF {
		v := base64.StdEncoding.EncodeToString(g.h.Sum(nil))
		if g.bad {
			v = base64.StdEncoding.EncodeToString(make([]byte, len(g.h.Sum(nil))))
		}
		*g.cs = backends.Checksum{Algorithm: g.alg, Value: v, Type: backends.ChecksumFullObject}
	}
	return n, err
}

func mustPut(t *testing.T, s *Store, bucket, key string, data []byte) backends.ObjectInfo {
	t.Helper()
	info, err := s.PutObject(t.Context(), bucket, key, bytes.NewReader(data), backends.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("PutObject(%s): %v", key, err)
	}
	return info
}

func mustGet(t *testing.T, s *Store, bucket, key string) []byte {
	t.Helper()
	obj, err := s.GetObject(t.Context(), bucket, key, backends.GetOptions{})
	if err != nil {
		t.Fatalf("GetObject(%s): %v", key, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("GetObject(%s) body: %v", key, err)
	}
	return b
}

// TestHeldBackFinalBytes streams bodies through a relay to versitygw: a
// body that fails at its very end has had almost all of its bytes sent
// (it streamed), yet the key keeps its previous version.
func TestHeldBackFinalBytes(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	r := newRelay(t, strings.TrimPrefix(vgw.endpoint, "http://"), true)
	opts := testOptions(nil)
	opts.Endpoint = r.endpoint()
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	bkt := namespace() + "-held"
	if err := s.CreateBucket(ctx, bkt); err != nil {
		t.Fatal(err)
	}
	old := []byte("the previous version")
	const size = 4 << 20
	// streamed checks, as the body ends, that most of it has reached the
	// backend already: the body streams, it is not buffered.
	streamed := func(t *testing.T, before int64) func() {
		return func() {
			deadline := time.Now().Add(2 * time.Second)
			for r.up.Load()-before < size-(1<<20) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if sent := r.up.Load() - before; sent < size-(1<<20) {
				t.Errorf("at the body's end only %d of %d bytes had reached the backend: it did not stream", sent, size)
			}
		}
	}
	for _, tc := range []struct {
		name string
		seed byte
		body func(cs *backends.Checksum, atEnd func()) io.Reader
		want error
	}{
		{"signature fails at the end", 1, func(_ *backends.Checksum, atEnd func()) io.Reader {
			return &failAtEnd{genBody(1, size), errBody, atEnd}
		}, errBody},
		{"checksum fails at the end", 2, func(cs *backends.Checksum, atEnd func()) io.Reader {
			g := newGatewayBody(&failAtEnd{genBody(2, size), io.EOF, atEnd}, "CRC32", cs)
			g.bad = true
			return g
		}, backends.ErrBadDigest},
		{"body one byte short", 3, func(*backends.Checksum, func()) io.Reader { return genBody(3, size-1) }, backends.ErrIncompleteBody},
		{"body one byte long", 4, func(*backends.Checksum, func()) io.Reader { return genBody(4, size+1) }, backends.ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + strings.ReplaceAll(tc.name, " ", "-")
			mustPut(t, s, bkt, key, old)
			cs := &backends.Checksum{Algorithm: "CRC32"}
			_, err := s.PutObject(ctx, bkt, key, tc.body(cs, streamed(t, r.up.Load())), backends.PutOptions{Size: size, Checksum: cs})
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutObject error = %v, want %v", err, tc.want)
			}
			time.Sleep(100 * time.Millisecond) // a late commit would show now
			// The declared size's last byte never left (the bytes before
			// it may still sit in the transport's buffer when the request
			// is cut, so only its absence is certain).
			tail := genBytes(tc.seed, size)[size-16:]
			if tc.name != "body one byte short" && r.sent(tail) {
				t.Errorf("the final byte reached the backend")
			}
			if got := mustGet(t, s, bkt, key); !bytes.Equal(got, old) {
				t.Errorf("key holds %d bytes, want the previous version", len(got))
			}
		})
	}
}

// TestUnknownLength: a body of unknown size becomes one PUT when it fits a
// part, else a multipart upload completed only at the body's clean end,
// with at most two parts in memory.
func TestUnknownLength(t *testing.T) {
	s := newTestStore(t, nil) // not parallel: it measures allocations
	ctx := t.Context()
	bkt := namespace() + "-unknown"
	if err := s.CreateBucket(ctx, bkt); err != nil {
		t.Fatal(err)
	}

	small := genBytes(5, 1000)
	info, err := s.PutObject(ctx, bkt, "small", bytes.NewReader(small), backends.PutOptions{Size: -1})
	if sum := md5.Sum(small); err != nil || info.ETag != hex.EncodeToString(sum[:]) {
		t.Fatalf("small unknown-length PUT = %+v, %v; want a plain ETag", info, err)
	}

	const size = 2*partSize + 12345
	cs := &backends.Checksum{Algorithm: "CRC32"}
	sh := sha256.New()
	body := newGatewayBody(io.TeeReader(genBody(6, size), sh), "CRC32", cs)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	info, err = s.PutObject(ctx, bkt, "big", body, backends.PutOptions{Size: -1, Checksum: cs})
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatalf("PutObject(unknown length): %v", err)
	}
	if !strings.HasSuffix(info.ETag, "-3") || info.Size != size || info.Checksum != *cs {
		t.Errorf("info = %+v; want 3 parts, size %d, checksum %+v", info, size, *cs)
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 3*partSize {
		t.Errorf("allocated %d MiB for a %d MiB body: more than two parts' buffers", alloc>>20, size>>20)
	} else {
		t.Logf("allocated %.1f MiB for a %.1f MiB body of unknown length", float64(alloc)/(1<<20), float64(size)/(1<<20))
	}
	obj, err := s.GetObject(ctx, bkt, "big", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	io.Copy(got, obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got.Sum(nil), sh.Sum(nil)) {
		t.Errorf("object differs from the body")
	}

	// A body failing after two parts went up: no object, no upload left.
	mustPut(t, s, bkt, "failing", []byte("old"))
	_, err = s.PutObject(ctx, bkt, "failing", &failAtEnd{r: genBody(7, size), err: errBody}, backends.PutOptions{Size: -1})
	if !errors.Is(err, errBody) {
		t.Fatalf("failing unknown-length PUT: %v, want the body's error", err)
	}
	if got := mustGet(t, s, bkt, "failing"); string(got) != "old" {
		t.Errorf("failed upload replaced the object")
	}
	page, err := s.ListMultipartUploads(ctx, bkt, backends.ListUploadsOptions{MaxUploads: 10})
	if err != nil || len(page.Uploads) != 0 {
		t.Errorf("uploads left behind: %+v, %v", page.Uploads, err)
	}
}

// TestLateAlgorithm: a streamed body whose checksum algorithm is known only
// at its end cannot be forwarded; nothing is stored.
func TestLateAlgorithm(t *testing.T) {
	s := newTestStore(t, nil)
	t.Parallel()
	bkt := namespace() + "-late"
	if err := s.CreateBucket(t.Context(), bkt); err != nil {
		t.Fatal(err)
	}
	cs := &backends.Checksum{}
	const size = 1 << 20
	_, err := s.PutObject(t.Context(), bkt, "k", newGatewayBody(genBody(8, size), "CRC32", cs), backends.PutOptions{Size: size, Checksum: cs})
	if !errors.Is(err, errLateAlgorithm) {
		t.Fatalf("error = %v, want errLateAlgorithm", err)
	}
	if _, err := s.HeadObject(t.Context(), bkt, "k", backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Errorf("HeadObject = %v, want ErrNoSuchKey", err)
	}
}

// TestConnectionReuse counts dials: concurrent requests reuse a pool of
// connections instead of dialling for most requests (Go's default of 2
// idle connections per host would).
func TestConnectionReuse(t *testing.T) {
	needVersitygw(t)
	const workers, rounds = 16, 25
	run := func(maxIdle int) int64 {
		opts := testOptions(nil)
		opts.MaxIdleConnsPerHost = maxIdle
		s, err := New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var cc connCounter
		cc.install(s)
		bkt := namespace() + "-reuse"
		if err := s.CreateBucket(t.Context(), bkt); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					key := fmt.Sprintf("w%d/r%d", w, r)
					if _, err := s.PutObject(t.Context(), bkt, key, strings.NewReader(key), backends.PutOptions{Size: int64(len(key))}); err != nil {
						t.Error(err)
						return
					}
					obj, err := s.GetObject(t.Context(), bkt, key, backends.GetOptions{})
					if err != nil {
						t.Error(err)
						return
					}
					discard(obj.Body)
					obj.Body.Close()
				}
			})
		}
		wg.Wait()
		return cc.dials.Load()
	}
	pooled := run(0)
	churn := run(2)
	t.Logf("%d requests from %d workers: %d dials with the Store's pool, %d with 2 idle connections per host", 2*workers*rounds, workers, pooled, churn)
	if pooled > 2*workers {
		t.Errorf("%d dials for %d concurrent workers: connections are not reused", pooled, workers)
	}
}

// TestNoLeaks cancels PUTs and GETs midway, and closes GET bodies early:
// goroutines and connections return to where they were, and no
// cancelled PUT leaves an object.
func TestNoLeaks(t *testing.T) {
	s := newTestStore(t, nil)
	var cc connCounter
	cc.install(s)
	ctx := t.Context()
	bkt := namespace() + "-leaks"
	if err := s.CreateBucket(ctx, bkt); err != nil {
		t.Fatal(err)
	}
	big := genBytes(9, 3<<20)
	mustPut(t, s, bkt, "big", big)
	s.Close()
	runtime.GC()
	base := runtime.NumGoroutine()

	for i := range 10 {
		// A client gone mid-PUT.
		pctx, cancel := context.WithCancel(ctx)
		body := &cancelAt{r: bytes.NewReader(big), at: int64(len(big) / 2), cancel: cancel}
		_, err := s.PutObject(pctx, bkt, fmt.Sprint("put-", i), body, backends.PutOptions{Size: int64(len(big))})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled PutObject: %v", err)
		}
		// A client gone mid-GET, and one that stops reading.
		gctx, cancel := context.WithCancel(ctx)
		obj, err := s.GetObject(gctx, bkt, "big", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.CopyN(io.Discard, obj.Body, 1<<20)
		cancel()
		discard(obj.Body)
		obj.Body.Close()
		obj, err = s.GetObject(ctx, bkt, "big", backends.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.CopyN(io.Discard, obj.Body, 1000)
		obj.Body.Close()
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (runtime.NumGoroutine() > base || cc.open.Load() > 0) {
		time.Sleep(20 * time.Millisecond)
		s.Close()
	}
	if g, open := runtime.NumGoroutine(), cc.open.Load(); g > base || open > 0 {
		buf := make([]byte, 1<<20)
		t.Errorf("after the disconnects: %d goroutines (%d before), %d connections open\n%s", g, base, open, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("%d dials for 30 interrupted requests", cc.dials.Load())
	time.Sleep(100 * time.Millisecond)
	page, err := s.ListObjects(ctx, bkt, backends.ListOptions{Prefix: "put-", MaxKeys: 100})
	if err != nil || len(page.Objects) != 0 {
		t.Errorf("cancelled PUTs left objects: %+v, %v", page.Objects, err)
	}
}

// cancelAt cancels its context once at bytes were read, and goes on.
type cancelAt struct {
	r      *bytes.Reader
	at     int64
	cancel context.CancelFunc
}

func (c *cancelAt) Read(p []byte) (int, error) {
	if c.r.Size()-int64(c.r.Len()) >= c.at {
		c.cancel()
	}
	return c.r.Read(p[:min(len(p), 32<<10)])
}

// TestBackendGoesDown cuts the connection to versitygw in the middle of a
// PUT and of a GET, and stops it: the calls fail with
// ErrBackendUnavailable, and the PUT leaves nothing.
func TestBackendGoesDown(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	direct := newTestStore(t, nil)
	r := newRelay(t, strings.TrimPrefix(vgw.endpoint, "http://"), false)
	opts := testOptions(nil)
	opts.Endpoint = r.endpoint()
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	bkt := namespace() + "-down"
	if err := s.CreateBucket(ctx, bkt); err != nil {
		t.Fatal(err)
	}
	big := genBytes(10, 8<<20)
	mustPut(t, direct, bkt, "big", big)

	// Mid-PUT: the relay is cut once half the body went through.
	body := &onRead{r: bytes.NewReader(big), at: int64(len(big) / 2), fn: r.cut}
	_, err = s.PutObject(ctx, bkt, "new", body, backends.PutOptions{Size: int64(len(big))})
	if !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("PutObject cut midway: %v, want ErrBackendUnavailable", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := direct.HeadObject(ctx, bkt, "new", backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Errorf("a cut PUT left an object: %v", err)
	}

	// Mid-GET.
	obj, err := s.GetObject(ctx, bkt, "big", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, obj.Body, 1<<20)
	r.cut()
	if _, err := discard(obj.Body); !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("GET body cut midway: %v, want ErrBackendUnavailable", err)
	}
	obj.Body.Close()

	// Gone altogether.
	r.close()
	if _, err := s.HeadObject(ctx, bkt, "big", backends.GetOptions{}); !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("HeadObject with the backend down: %v, want ErrBackendUnavailable", err)
	}
	if _, err := s.PutObject(ctx, bkt, "k", strings.NewReader("x"), backends.PutOptions{Size: 1}); !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Errorf("PutObject with the backend down: %v, want ErrBackendUnavailable", err)
	}
}

// onRead calls fn once at bytes were read.
type onRead struct {
	r    *bytes.Reader
	at   int64
	fn   func()
	done bool
}

func (o *onRead) Read(p []byte) (int, error) {
	if !o.done && o.r.Size()-int64(o.r.Len()) >= o.at {
		o.done = true
		o.fn()
	}
	return o.r.Read(p[:min(len(p), 32<<10)])
}

// TestPrefixedBuckets maps two gateway buckets into one backend bucket
// under different prefixes: each sees its own keys only, prefixes
// removed; copies between them are native; the backend bucket itself is
// no gateway bucket.
func TestPrefixedBuckets(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	shared := namespace() + "-shared"
	s := newTestStore(t, map[string]Mapping{
		"alpha": {Bucket: shared, Prefix: "tenants/alpha/"},
		"beta":  {Bucket: shared, Prefix: "tenants/beta/"},
	})
	ctx := t.Context()
	for _, b := range []string{"alpha", "beta"} {
		if err := s.CreateBucket(ctx, b); err != nil {
			t.Fatalf("CreateBucket(%s): %v", b, err)
		}
	}
	if err := s.CreateBucket(ctx, "alpha"); !errors.Is(err, backends.ErrBucketExists) {
		t.Errorf("CreateBucket(alpha) again: %v", err)
	}
	mustPut(t, s, "alpha", "a/1", []byte("one"))
	mustPut(t, s, "alpha", "a/2", []byte("two"))
	mustPut(t, s, "beta", "b/1", []byte("uno"))
	keys := func(bucket string, opts backends.ListOptions) []string {
		page, err := s.ListObjects(ctx, bucket, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range page.Objects {
			out = append(out, o.Key)
		}
		return append(out, page.CommonPrefixes...)
	}
	if got := keys("alpha", backends.ListOptions{MaxKeys: 100}); !slices.Equal(got, []string{"a/1", "a/2"}) {
		t.Errorf("alpha lists %q", got)
	}
	if got := keys("beta", backends.ListOptions{Delimiter: "/", MaxKeys: 100}); !slices.Equal(got, []string{"b/"}) {
		t.Errorf("beta lists %q", got)
	}
	if got := keys("alpha", backends.ListOptions{StartAfter: "a/1", MaxKeys: 100}); !slices.Equal(got, []string{"a/2"}) {
		t.Errorf("alpha after a/1 lists %q", got)
	}

	// A native copy between the two.
	info, err := s.CopyObject(ctx, backends.ObjectRef{Bucket: "alpha", Key: "a/1"}, backends.ObjectRef{Bucket: "beta", Key: "copied"}, backends.CopyOptions{})
	if err != nil || info.Size != 3 {
		t.Fatalf("CopyObject = %+v, %v", info, err)
	}
	if got := mustGet(t, s, "beta", "copied"); string(got) != "one" {
		t.Errorf("copy holds %q", got)
	}

	all, err := s.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range all {
		names = append(names, b.Name)
	}
	if !slices.Contains(names, "alpha") || !slices.Contains(names, "beta") || slices.Contains(names, shared) {
		t.Errorf("ListBuckets = %q; want alpha and beta, not %s", names, shared)
	}
	if _, err := s.HeadBucket(ctx, shared); !errors.Is(err, backends.ErrNoSuchBucket) {
		t.Errorf("HeadBucket(%s): %v, want ErrNoSuchBucket (it holds other buckets)", shared, err)
	}
	if err := s.CreateBucket(ctx, shared); !errors.Is(err, backends.ErrInvalidBucket) {
		t.Errorf("CreateBucket(%s): %v, want ErrInvalidBucket", shared, err)
	}
	if err := s.DeleteBucket(ctx, "alpha"); !errors.Is(err, backends.ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket(alpha) with objects: %v", err)
	}
	for _, k := range []string{"a/1", "a/2"} {
		if err := s.DeleteObject(ctx, "alpha", k, backends.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBucket(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteBucket(alpha): %v", err)
	}
	if _, err := s.HeadBucket(ctx, "alpha"); !errors.Is(err, backends.ErrNoSuchBucket) {
		t.Errorf("HeadBucket(alpha) after delete: %v", err)
	}
	if got := keys("beta", backends.ListOptions{MaxKeys: 100}); !slices.Equal(got, []string{"b/1", "copied"}) {
		t.Errorf("beta after alpha's delete lists %q", got)
	}
}

// TestNativeCopy: CopyObject and UploadPartCopy run in the backend; the
// bytes do not pass through s3gate.
func TestNativeCopy(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	r := newRelay(t, strings.TrimPrefix(vgw.endpoint, "http://"), false)
	opts := testOptions(nil)
	opts.Endpoint = r.endpoint()
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	bkt := namespace() + "-copy"
	if err := s.CreateBucket(ctx, bkt); err != nil {
		t.Fatal(err)
	}
	data := genBytes(11, 12<<20)
	src := mustPut(t, s, bkt, "src", data)
	up, down := r.up.Load(), r.down.Load()
	info, err := s.CopyObject(ctx, backends.ObjectRef{Bucket: bkt, Key: "src"}, backends.ObjectRef{Bucket: bkt, Key: "dst"},
		backends.CopyOptions{ReplaceMetadata: true, Metadata: map[string]string{"copied": "yes"}})
	if err != nil || info.ETag != src.ETag || info.Metadata["copied"] != "yes" {
		t.Fatalf("CopyObject = %+v, %v", info, err)
	}
	id, err := s.CreateMultipartUpload(ctx, bkt, "parts", backends.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := s.CopyPart(ctx, backends.ObjectRef{Bucket: bkt, Key: "src"}, &backends.Range{Start: 0, End: 6<<20 - 1},
		backends.ObjectRef{Bucket: bkt, Key: "parts"}, id, 1, backends.CopyOptions{})
	if err != nil || p1.Size != 6<<20 {
		t.Fatalf("CopyPart = %+v, %v", p1, err)
	}
	p2, err := s.CopyPart(ctx, backends.ObjectRef{Bucket: bkt, Key: "src"}, &backends.Range{Start: 6 << 20, End: 12<<20 - 1},
		backends.ObjectRef{Bucket: bkt, Key: "parts"}, id, 2, backends.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if moved := r.up.Load() - up + r.down.Load() - down; moved > 256<<10 {
		t.Errorf("copies moved %d bytes through s3gate", moved)
	}
	if _, err := s.CompleteMultipartUpload(ctx, bkt, "parts", id, []backends.CompletedPart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: p2.ETag}}, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dst", "parts"} {
		if got := mustGet(t, s, bkt, k); !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, want the source's %d", k, len(got), len(data))
		}
	}
	_, err = s.CopyObject(ctx, backends.ObjectRef{Bucket: bkt, Key: "src"}, backends.ObjectRef{Bucket: bkt, Key: "dst2"},
		backends.CopyOptions{Conditions: backends.Conditions{IfMatch: `"0123"`}})
	if !errors.Is(err, backends.ErrPreconditionFail) {
		t.Errorf("CopyObject with a failing source condition: %v", err)
	}
	_, err = s.CopyObject(ctx, backends.ObjectRef{Bucket: bkt, Key: "missing"}, backends.ObjectRef{Bucket: bkt, Key: "dst3"}, backends.CopyOptions{})
	if !errors.Is(err, backends.ErrNoSuchKey) {
		t.Errorf("CopyObject of a missing source: %v", err)
	}
}

func TestBucketMap(t *testing.T) {
	bad := []map[string]Mapping{
		{"alpha": {Bucket: "shared", Prefix: "a/"}, "beta": {Bucket: "shared", Prefix: "a/b/"}},
		{"alpha": {Bucket: "shared"}, "beta": {Bucket: "shared", Prefix: "b/"}},
		{"*": {Bucket: "shared", Prefix: "x/*"}},
		{"*": {Bucket: "shared", Prefix: "x/"}},
		{"Bad_Name": {Bucket: "shared"}},
		{"alpha": {Bucket: ""}},
	}
	for _, m := range bad {
		if _, err := newBucketMap(m); err == nil {
			t.Errorf("newBucketMap(%v) accepted", m)
		}
	}
	bm, err := newBucketMap(map[string]Mapping{
		"alpha": {Bucket: "shared", Prefix: "a/"},
		"*":     {Bucket: "tenant-*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want loc
		ok   bool
	}{
		{"alpha", loc{"alpha", "shared", "a/"}, true},
		{"other", loc{"other", "tenant-other", ""}, true},
		{"Upper", loc{}, false},
		{"a", loc{}, false},
		{strings.Repeat("x", 60), loc{}, false}, // tenant- makes it too long
	} {
		got, err := bm.resolve(tc.name)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("resolve(%q) = %+v, %v", tc.name, got, err)
		}
	}
	bm, _ = newBucketMap(map[string]Mapping{"alpha": {Bucket: "shared", Prefix: "a/"}})
	if _, err := bm.resolve("shared"); err == nil {
		t.Errorf("a backend bucket holding a prefixed bucket resolves as a bucket of its own")
	}
	bm, _ = newBucketMap(map[string]Mapping{"*": {Bucket: "one", Prefix: "b/*/"}})
	if got, err := bm.resolve("photos"); err != nil || got != (loc{"photos", "one", "b/photos/"}) {
		t.Errorf("template prefix: %+v, %v", got, err)
	}
}

func TestOptions(t *testing.T) {
	ctx := t.Context()
	for _, o := range []Options{
		{Endpoint: "http://127.0.0.1:1"},
		{Endpoint: "http://127.0.0.1:1", Credentials: "magic", AccessKey: "a", SecretKey: "b"},
		{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b", CAFile: "/nonexistent"},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if _, err := New(ctx, Options{Endpoint: "http://127.0.0.1:1", Credentials: CredentialsEnv}); err == nil {
		t.Errorf("env credentials without AWS_ACCESS_KEY_ID accepted")
	}
	if vgw.missing == "" {
		t.Setenv("AWS_ACCESS_KEY_ID", testAccess)
		t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
		s, err := New(ctx, Options{Endpoint: vgw.endpoint, Credentials: CredentialsEnv, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ListBuckets(ctx); err != nil {
			t.Errorf("ListBuckets with credentials from the environment: %v", err)
		}
	}
}
