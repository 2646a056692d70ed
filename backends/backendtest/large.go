package backendtest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

const largeSize = 64 << 20

// stream returns a reader of n deterministic pseudo-random bytes, generated
// as they are read.
func stream(seed byte, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
}

func sha(r io.Reader) (string, error) {
	h := sha256.New()
	_, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), err
}

// testLargeObject round-trips 64 MiB without holding it: the body is
// generated while the backend reads it, and both sides are compared by
// hash.
func testLargeObject(t *testing.T, b backends.Backend) {
	const bkt, key = "bt-large", "big/object.bin"
	createBucket(t, b, bkt)
	md, sh := md5.New(), sha256.New()
	body := io.TeeReader(stream(1, largeSize), io.MultiWriter(md, sh))
	info, err := b.PutObject(t.Context(), bkt, key, body, backends.PutOptions{Size: largeSize})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if want := hex.EncodeToString(md.Sum(nil)); info.ETag != want || info.Size != largeSize {
		t.Fatalf("PutObject info = %+v, want ETag %s size %d", info, want, largeSize)
	}

	obj, err := b.GetObject(t.Context(), bkt, key, backends.GetOptions{})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := sha(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	if want := hex.EncodeToString(sh.Sum(nil)); got != want {
		t.Fatalf("GetObject body sha256 = %s, want %s", got, want)
	}

	// A range in the middle matches the same span of the generator.
	rng := backends.Range{Start: largeSize/2 - 5, End: largeSize/2 + 1<<20}
	obj, err = b.GetObject(t.Context(), bkt, key, backends.GetOptions{Range: &rng})
	if err != nil {
		t.Fatalf("GetObject(range): %v", err)
	}
	got, err = sha(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatalf("reading ranged body: %v", err)
	}
	src := stream(1, largeSize)
	if _, err := io.CopyN(io.Discard, src, rng.Start); err != nil {
		t.Fatal(err)
	}
	want, _ := sha(io.LimitReader(src, rng.End-rng.Start+1))
	if got != want {
		t.Errorf("ranged body sha256 = %s, want %s", got, want)
	}
}
