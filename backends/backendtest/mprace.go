package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// testCompleteRacesAbort completes and aborts the same upload at once:
// exactly one of them takes effect, and nothing is half done.
func testCompleteRacesAbort(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-mp-race-abort"
	createBucket(t, b, bkt)
	outcomes := map[string]int{}
	for round := range 20 {
		key := fmt.Sprintf("k%d", round)
		data := []byte(key + " data")
		id := startUpload(t, b, bkt, key, backends.UploadOptions{})
		p := uploadPart(t, b, bkt, key, id, 1, data)
		var wg sync.WaitGroup
		var cerr, aerr error
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, cerr = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(p), backends.CompleteOptions{})
		})
		wg.Go(func() { <-start; aerr = b.AbortMultipartUpload(ctx, bkt, key, id) })
		close(start)
		wg.Wait()
		switch {
		case cerr == nil && errors.Is(aerr, backends.ErrNoSuchUpload):
			outcomes["completed"]++
			wantMultipart(t, b, bkt, key, data)
		case aerr == nil && errors.Is(cerr, backends.ErrNoSuchUpload):
			outcomes["aborted"]++
			wantAbsent(t, b, bkt, key)
		default:
			t.Fatalf("round %d: Complete: %v, Abort: %v", round, cerr, aerr)
		}
		wantNoUpload(t, b, bkt, key, id)
	}
	t.Logf("outcomes: %v", outcomes)
}

// testCompleteRacesUploadPart uploads and replaces parts while the upload
// completes: the object holds exactly the listed parts, and a part
// either lands before the completion or fails with ErrNoSuchUpload.
func testCompleteRacesUploadPart(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-mp-race-part"
	createBucket(t, b, bkt)
	for round := range 20 {
		key := fmt.Sprintf("k%d", round)
		old := []byte("first version")
		id := startUpload(t, b, bkt, key, backends.UploadOptions{})
		p := uploadPart(t, b, bkt, key, id, 1, old)
		var wg sync.WaitGroup
		var cerr, perr, rerr error
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, cerr = b.CompleteMultipartUpload(ctx, bkt, key, id, completed(p), backends.CompleteOptions{})
		})
		wg.Go(func() {
			<-start
			_, perr = b.UploadPart(ctx, bkt, key, id, 2, bytes.NewReader([]byte("extra")), backends.PartOptions{Size: 5})
		})
		wg.Go(func() {
			<-start
			_, rerr = b.UploadPart(ctx, bkt, key, id, 1, bytes.NewReader([]byte("replacement")), backends.PartOptions{Size: 11})
		})
		close(start)
		wg.Wait()
		for name, err := range map[string]error{"UploadPart(2)": perr, "UploadPart(1)": rerr} {
			if err != nil && !errors.Is(err, backends.ErrNoSuchUpload) {
				t.Fatalf("round %d: %s: %v", round, name, err)
			}
		}
		switch {
		case cerr == nil:
			// Completed with the first version of part 1; the replacement
			// came after (or it would have failed with ErrInvalidPart).
			wantMultipart(t, b, bkt, key, old)
			if rerr == nil {
				t.Fatalf("round %d: part 1 replaced yet the completion with its old ETag succeeded", round)
			}
		case errors.Is(cerr, backends.ErrInvalidPart) && rerr == nil:
			wantAbsent(t, b, bkt, key)
			if err := b.AbortMultipartUpload(ctx, bkt, key, id); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("round %d: Complete: %v, replacement: %v", round, cerr, rerr)
		}
		wantNoUpload(t, b, bkt, key, id)
	}
}

// testPartsInParallel uploads every part twice at once, with different
// bytes: each part ends up one whole version, and the completed object
// is the versions listed.
func testPartsInParallel(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key, nparts = "bt-mp-parallel", "k", 4
	createBucket(t, b, bkt)
	id := startUpload(t, b, bkt, key, backends.UploadOptions{ChecksumAlgorithm: "CRC32"})
	size := func(n int) int {
		if n == nparts {
			return 1000
		}
		return backends.MinPartSize
	}
	versions := map[string][]byte{} // ETag -> bytes
	var wg sync.WaitGroup
	errs := make(chan error, 2*nparts)
	for n := 1; n <= nparts; n++ {
		for v := range 2 {
			data := partBytes(byte(40+2*n+v), size(n))
			versions[md5Hex(data)] = data
			wg.Go(func() {
				_, err := b.UploadPart(ctx, bkt, key, id, n, bytes.NewReader(data), backends.PartOptions{Size: int64(len(data))})
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UploadPart: %v", err)
	}
	page, err := b.ListParts(ctx, bkt, key, id, backends.ListPartsOptions{MaxParts: 100})
	if err != nil || len(page.Parts) != nparts {
		t.Fatalf("ListParts = %+v, %v", page.Parts, err)
	}
	var want [][]byte
	for _, p := range page.Parts {
		data, ok := versions[p.ETag]
		if !ok || int64(len(data)) != p.Size || p.Checksum.Value != b64(digestOf("CRC32", data)) {
			t.Fatalf("part %d = %+v: not one whole version", p.Number, p)
		}
		want = append(want, data)
	}
	completeUpload(t, b, bkt, key, id, completed(page.Parts...), backends.CompleteOptions{})
	wantMultipart(t, b, bkt, key, want...)
}

// testConditionalComplete: If-None-Match and If-Match on completion, as on
// PUT, checked and committed atomically.
func testConditionalComplete(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-mp-conditional"
	createBucket(t, b, bkt)
	upload := func(key string, data []byte) (string, []backends.CompletedPart) {
		id := startUpload(t, b, bkt, key, backends.UploadOptions{})
		return id, completed(uploadPart(t, b, bkt, key, id, 1, data))
	}
	id, parts := upload("k", []byte("v1"))
	v1 := completeUpload(t, b, bkt, "k", id, parts, backends.CompleteOptions{IfNoneMatch: "*"})

	id, parts = upload("k", []byte("v2"))
	_, err := b.CompleteMultipartUpload(ctx, bkt, "k", id, parts, backends.CompleteOptions{IfNoneMatch: "*"})
	wantErr(t, "If-None-Match * over an object", err, backends.ErrPreconditionFail)
	_, err = b.CompleteMultipartUpload(ctx, bkt, "k", id, parts, backends.CompleteOptions{IfMatch: `"` + md5Hex([]byte("x")) + `"`})
	wantErr(t, "If-Match with a stale ETag", err, backends.ErrPreconditionFail)
	wantMultipart(t, b, bkt, "k", []byte("v1"))
	completeUpload(t, b, bkt, "k", id, parts, backends.CompleteOptions{IfMatch: `"` + v1.ETag + `"`})
	wantMultipart(t, b, bkt, "k", []byte("v2"))

	id, parts = upload("missing", []byte("x"))
	_, err = b.CompleteMultipartUpload(ctx, bkt, "missing", id, parts, backends.CompleteOptions{IfMatch: "*"})
	wantErr(t, "If-Match on a missing key", err, backends.ErrNoSuchKey)
	wantAbsent(t, b, bkt, "missing")

	// Racing completions of different uploads with If-None-Match *:
	// exactly one wins.
	for round := range 10 {
		key := fmt.Sprintf("race-%d", round)
		const n = 4
		ids := make([]string, n)
		lists := make([][]backends.CompletedPart, n)
		for i := range n {
			ids[i], lists[i] = upload(key, racer(round, i))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = b.CompleteMultipartUpload(ctx, bkt, key, ids[i], lists[i], backends.CompleteOptions{IfNoneMatch: "*"})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: uploads %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !errorsIsAny(err, backends.ErrPreconditionFail):
				t.Fatalf("round %d: upload %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		wantMultipart(t, b, bkt, key, racer(round, winner))
		for i := range n {
			if i != winner {
				if err := b.AbortMultipartUpload(ctx, bkt, key, ids[i]); err != nil {
					t.Fatalf("aborting a losing upload: %v", err)
				}
			}
		}
	}
}
