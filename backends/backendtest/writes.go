package backendtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/s3gate/s3gate/backends"
)

var errBoom = errors.New("body failed")

// failingReader returns data, then fails instead of returning io.EOF.
// withLast returns the error together with the final bytes.
type failingReader struct {
	r        *bytes.Reader
	withLast bool
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF || (f.withLast && f.r.Len() == 0) {
		return n, errBoom
	}
	return n, err
}

func testFailingBody(t *testing.T, b backends.Backend) {
	const bkt = "bt-failing"
	createBucket(t, b, bkt)
	old := []byte("the previous version")
	body := bytes.Repeat([]byte("new bytes "), 50_000) // several buffers' worth
	readers := map[string]func() io.Reader{
		"error with last byte": func() io.Reader { return &failingReader{r: bytes.NewReader(body), withLast: true} },
		"error after last byte": func() io.Reader {
			return io.MultiReader(bytes.NewReader(body), iotest.ErrReader(errBoom))
		},
		"error midway": func() io.Reader {
			return io.MultiReader(bytes.NewReader(body[:len(body)/2]), iotest.ErrReader(errBoom))
		},
		"error at once": func() io.Reader { return iotest.ErrReader(errBoom) },
	}
	for name, newReader := range readers {
		for _, size := range []int64{int64(len(body)), -1} {
			for _, existing := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s size %d existing %v", name, size, existing), func(t *testing.T) {
					key := fmt.Sprintf("k/%s/%d/%v", name, size, existing)
					if existing {
						put(t, b, bkt, key, old)
					}
					_, err := b.PutObject(t.Context(), bkt, key, newReader(), backends.PutOptions{Size: size})
					if !errors.Is(err, errBoom) {
						t.Fatalf("PutObject error = %v, want the body's error", err)
					}
					if existing {
						wantBody(t, b, bkt, key, old)
					} else {
						wantAbsent(t, b, bkt, key)
					}
				})
			}
		}
	}
	var leaked []string
	for _, k := range listKeys(t, b, bkt, backends.ListOptions{MaxKeys: 1000}) {
		if !strings.HasSuffix(k, "/true") {
			leaked = append(leaked, k)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("failed writes are listed: %q", leaked)
	}
}

// cancellingReader cancels its context halfway through the body and then
// keeps going to the end.
type cancellingReader struct {
	r      *bytes.Reader
	cancel context.CancelFunc
	at     int
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if int(c.r.Size())-c.r.Len() >= c.at {
		c.cancel()
	}
	if len(p) > 4096 {
		p = p[:4096]
	}
	return c.r.Read(p)
}

func testCancelledContext(t *testing.T, b backends.Backend) {
	const bkt = "bt-cancel"
	createBucket(t, b, bkt)
	body := bytes.Repeat([]byte("c"), 1<<20)
	for _, existing := range []bool{false, true} {
		key := fmt.Sprintf("k-%v", existing)
		if existing {
			put(t, b, bkt, key, []byte("old"))
		}
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: bytes.NewReader(body), cancel: cancel, at: len(body) / 2}
		_, err := b.PutObject(ctx, bkt, key, r, backends.PutOptions{Size: int64(len(body))})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("PutObject with cancelled context: error = %v, want context.Canceled", err)
		}
		if existing {
			wantBody(t, b, bkt, key, []byte("old"))
		} else {
			wantAbsent(t, b, bkt, key)
		}
	}
}

func testSizeMismatch(t *testing.T, b backends.Backend) {
	const bkt = "bt-size"
	createBucket(t, b, bkt)
	tests := []struct {
		name string
		body int
		size int64
		want error
	}{
		{"short", 9, 10, backends.ErrIncompleteBody},
		{"empty but sized", 0, 5, backends.ErrIncompleteBody},
		{"long", 11, 10, backends.ErrSizeMismatch},
		{"sized zero", 1, 0, backends.ErrSizeMismatch},
		{"much longer", 1 << 20, 100, backends.ErrSizeMismatch},
		{"exact", 10, 10, nil},
		{"unknown", 10, -1, nil},
	}
	for _, tc := range tests {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s existing %v", tc.name, existing), func(t *testing.T) {
				key := fmt.Sprintf("%s-%v", tc.name, existing)
				if existing {
					put(t, b, bkt, key, []byte("old"))
				}
				data := bytes.Repeat([]byte("s"), tc.body)
				_, err := b.PutObject(t.Context(), bkt, key, bytes.NewReader(data), backends.PutOptions{Size: tc.size})
				wantErr(t, "PutObject", err, tc.want)
				switch {
				case tc.want == nil:
					wantBody(t, b, bkt, key, data)
				case existing:
					wantBody(t, b, bkt, key, []byte("old"))
				default:
					wantAbsent(t, b, bkt, key)
				}
			})
		}
	}
}

// version returns the deterministic body of version v: big enough to
// span several copy buffers, so a torn write would show.
func version(v int) []byte {
	b := make([]byte, 300<<10+v)
	for i := range b {
		b[i] = byte(v*7 + i%251)
	}
	return b
}

func testConcurrentVersions(t *testing.T, b backends.Backend) {
	const bkt, key = "bt-versions", "hot/key"
	createBucket(t, b, bkt)
	const versions, writers, rounds, readers = 6, 4, 8, 4
	valid := make(map[string]int)
	for v := range versions {
		valid[md5Hex(version(v))] = len(version(v))
	}
	put(t, b, bkt, key, version(0))

	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, writers*rounds+readers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				data := version((w + r) % versions)
				if _, err := b.PutObject(t.Context(), bkt, key, bytes.NewReader(data), backends.PutOptions{Size: int64(len(data))}); err != nil {
					errs <- fmt.Errorf("PutObject: %w", err)
				}
			}
		})
	}
	var readWG sync.WaitGroup
	reads := make([]int, readers)
	for r := range readers {
		readWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := readOneVersion(t.Context(), b, bkt, key, valid); err != nil {
					errs <- err
					return
				}
				reads[r]++
			}
		})
	}
	wg.Wait()
	close(done)
	readWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := readOneVersion(t.Context(), b, bkt, key, valid); err != nil {
		t.Error(err)
	}
	t.Logf("reads during writes: %v", reads)
}

// readOneVersion reads the key and checks the body is one whole version
// and matches the ETag and size returned with it.
func readOneVersion(ctx context.Context, b backends.Backend, bkt, key string, valid map[string]int) error {
	obj, err := b.GetObject(ctx, bkt, key, backends.GetOptions{})
	if err != nil {
		return fmt.Errorf("GetObject: %w", err)
	}
	h := md5.New()
	n, err := io.Copy(h, obj.Body)
	obj.Body.Close()
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	size, ok := valid[sum]
	switch {
	case !ok:
		return fmt.Errorf("read a body (%d bytes) that is no version written", n)
	case b.Capabilities(bkt).Limits.RacyReads && n == int64(size):
		// The body is one whole version; its description may be
		// another's.
	case sum != obj.Info.ETag || n != obj.Info.Size || n != int64(size):
		return fmt.Errorf("body (%d bytes, md5 %s) does not match its info %+v", n, sum, obj.Info)
	}
	return nil
}

// testDeleteRacesPut deletes a key while another key in the same
// directory is written: the writes must all succeed even when a delete
// removes the (momentarily empty) parent directories.
func testDeleteRacesPut(t *testing.T, b backends.Backend) {
	const bkt = "bt-delete-race"
	createBucket(t, b, bkt)
	for i := range 40 {
		dir := fmt.Sprintf("d%d/e/f/", i%4)
		put(t, b, bkt, dir+"victim", []byte("v"))
		var wg sync.WaitGroup
		var putErr, delErr error
		data := []byte(fmt.Sprintf("round %d", i))
		wg.Go(func() {
			_, putErr = b.PutObject(t.Context(), bkt, dir+"new", bytes.NewReader(data), backends.PutOptions{Size: int64(len(data))})
		})
		wg.Go(func() { delErr = b.DeleteObject(t.Context(), bkt, dir+"victim", backends.DeleteOptions{}) })
		wg.Wait()
		if putErr != nil || delErr != nil {
			t.Fatalf("round %d: PutObject: %v, DeleteObject: %v", i, putErr, delErr)
		}
		wantBody(t, b, bkt, dir+"new", data)
		wantAbsent(t, b, bkt, dir+"victim")
		if err := b.DeleteObject(t.Context(), bkt, dir+"new", backends.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// testDeleteBucketRacesPut deletes a bucket while a write commits into it:
// either the write wins (and the delete finds the bucket not empty) or the
// delete wins (and the write fails); never both.
func testDeleteBucketRacesPut(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	outcomes := map[string]int{}
	for i := range 30 {
		bkt := fmt.Sprintf("bt-vanish-%d", i)
		createBucket(t, b, bkt)
		var wg sync.WaitGroup
		var putErr, delErr error
		wg.Go(func() {
			_, putErr = b.PutObject(ctx, bkt, "a/b/c", bytes.NewReader([]byte("x")), backends.PutOptions{Size: 1})
		})
		wg.Go(func() { delErr = b.DeleteBucket(ctx, bkt) })
		wg.Wait()
		switch {
		case putErr == nil && errors.Is(delErr, backends.ErrBucketNotEmpty):
			outcomes["put won"]++
			wantBody(t, b, bkt, "a/b/c", []byte("x"))
		case errors.Is(putErr, backends.ErrNoSuchBucket) && delErr == nil:
			outcomes["delete won"]++
			if _, err := b.HeadBucket(ctx, bkt); !errors.Is(err, backends.ErrNoSuchBucket) {
				t.Fatalf("HeadBucket after delete: %v", err)
			}
			createBucket(t, b, bkt)
			if keys := listKeys(t, b, bkt, backends.ListOptions{MaxKeys: 10}); len(keys) != 0 {
				t.Fatalf("recreated bucket holds %q", keys)
			}
		default:
			t.Fatalf("round %d: PutObject: %v, DeleteBucket: %v", i, putErr, delErr)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

func testConditionalWrites(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-conditional"
	createBucket(t, b, bkt)
	putIf := func(key string, data []byte, ifMatch, ifNoneMatch string) (backends.ObjectInfo, error) {
		return b.PutObject(ctx, bkt, key, bytes.NewReader(data),
			backends.PutOptions{Size: int64(len(data)), IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
	}

	v1, err := putIf("k", []byte("v1"), "", "*")
	if err != nil {
		t.Fatalf("If-None-Match * on a new key: %v", err)
	}
	_, err = putIf("k", []byte("v2"), "", "*")
	wantErr(t, "If-None-Match * on an existing key", err, backends.ErrPreconditionFail)
	wantBody(t, b, bkt, "k", []byte("v1"))

	_, err = putIf("missing", []byte("x"), v1.ETag, "")
	wantErr(t, "If-Match on a missing key", err, backends.ErrNoSuchKey)
	wantAbsent(t, b, bkt, "missing")

	_, err = putIf("k", []byte("v2"), `"`+md5Hex([]byte("other"))+`"`, "")
	wantErr(t, "If-Match with a stale ETag", err, backends.ErrPreconditionFail)
	wantBody(t, b, bkt, "k", []byte("v1"))

	if _, err := putIf("k", []byte("v2"), `"`+v1.ETag+`"`, ""); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	wantBody(t, b, bkt, "k", []byte("v2"))
	if _, err := putIf("k", []byte("v3"), "*", ""); err != nil {
		t.Fatalf("If-Match * on an existing key: %v", err)
	}
	wantBody(t, b, bkt, "k", []byte("v3"))

	// Racing conditional writes: exactly one wins. The racers start
	// together, so their checks and commits overlap.
	// Bodies are unique per round, so every win changes the ETag.
	race := func(round int, name, key, ifMatch, ifNoneMatch string) string {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = putIf(key, racer(round, i), ifMatch, ifNoneMatch)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%s: racers %d and %d both won", name, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, backends.ErrPreconditionFail):
				t.Errorf("%s: racer %d: %v, want ErrPreconditionFail", name, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: nobody won", name)
		}
		wantBody(t, b, bkt, key, racer(round, winner))
		return md5Hex(racer(round, winner))
	}
	etag := md5Hex([]byte("v3"))
	for round := range 20 {
		race(round, "If-None-Match *", fmt.Sprintf("race-new-%d", round), "", "*")
		etag = race(round, "If-Match", "k", etag, "")
	}
}

func racer(round, i int) []byte { return []byte(fmt.Sprintf("round %d racer %d", round, i)) }

func testConditionalDelete(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-conddelete"
	createBucket(t, b, bkt)
	info := put(t, b, bkt, "k", []byte("v1"))
	wantErr(t, "DeleteObject(If-Match other)", b.DeleteObject(ctx, bkt, "k", backends.DeleteOptions{IfMatch: `"0123"`}), backends.ErrPreconditionFail)
	wantBody(t, b, bkt, "k", []byte("v1"))
	wantErr(t, "DeleteObject(If-Match on a missing key)", b.DeleteObject(ctx, bkt, "missing", backends.DeleteOptions{IfMatch: "*"}), backends.ErrNoSuchKey)
	if err := b.DeleteObject(ctx, bkt, "k", backends.DeleteOptions{IfMatch: `"` + info.ETag + `"`}); err != nil {
		t.Fatalf("DeleteObject(If-Match current): %v", err)
	}
	wantAbsent(t, b, bkt, "k")
}
