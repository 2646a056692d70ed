package fs_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
)

// newUpload creates bkt, starts an upload of key and stores parts (all
// but the last MinPartSize bytes), returning the id and the parts' list.
func newUpload(t *testing.T, s *fs.Store, key string, sizes ...int) (string, []backends.CompletedPart, []byte) {
	t.Helper()
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil && !errors.Is(err, backends.ErrBucketExists) {
		t.Fatal(err)
	}
	id, err := s.CreateMultipartUpload(ctx, "bkt", key, backends.UploadOptions{ChecksumAlgorithm: "CRC32"})
	if err != nil {
		t.Fatal(err)
	}
	var parts []backends.CompletedPart
	var whole []byte
	for i, n := range sizes {
		data := make([]byte, n)
		rand.NewChaCha8([32]byte{byte(i)}).Read(data)
		p, err := s.UploadPart(ctx, "bkt", key, id, i+1, bytes.NewReader(data), backends.PartOptions{Size: int64(n)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, backends.CompletedPart{Number: p.Number, ETag: p.ETag, Checksum: p.Checksum.Value})
		whole = append(whole, data...)
	}
	return id, parts, whole
}

func listUploads(t *testing.T, s *fs.Store) []string {
	t.Helper()
	page, err := s.ListMultipartUploads(t.Context(), "bkt", backends.ListUploadsOptions{MaxUploads: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range page.Uploads {
		ids = append(ids, u.UploadID)
	}
	return ids
}

// wantEmptyDirs checks that tmp and the bucket's uploads hold nothing.
func wantEmptyDirs(t *testing.T, data string) {
	t.Helper()
	if got := tree(t, filepath.Join(data, "tmp")); !slices.Equal(got, []string{"."}) {
		t.Errorf("tmp holds %q", got)
	}
	if got := tree(t, filepath.Join(data, "uploads")); len(got) > 2 {
		t.Errorf("uploads holds %q", got)
	}
}

func TestUploadIDs(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	urlSafe := regexp.MustCompile(`^[0-9A-V]{39}$`)
	var ids []string
	for range 50 {
		id, err := s.CreateMultipartUpload(t.Context(), "bkt", "k", backends.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !urlSafe.MatchString(id) || slices.Contains(ids, id) {
			t.Fatalf("id %q: not URL-safe, or repeated", id)
		}
		ids = append(ids, id)
	}
	// They sort by initiation, and listing follows that order.
	if !slices.IsSorted(ids) || !slices.Equal(listUploads(t, s), ids) {
		t.Errorf("ids do not sort by initiation: %q", ids)
	}
	// The random halves differ wherever the times agree.
	if ids[0][13:] == ids[1][13:] {
		t.Errorf("ids share their random part: %q %q", ids[0], ids[1])
	}
}

// Uploads, their parts and their options survive a restart.
func TestUploadsSurviveRestart(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	id, parts, whole := newUpload(t, s, "a/b", backends.MinPartSize, 100)
	s.Close()

	s = openStore(t, data)
	if got := listUploads(t, s); !slices.Equal(got, []string{id}) {
		t.Fatalf("uploads after restart = %q, want %q", got, id)
	}
	page, err := s.ListParts(t.Context(), "bkt", "a/b", id, backends.ListPartsOptions{MaxParts: 10})
	if err != nil || len(page.Parts) != 2 || page.Upload.ChecksumAlgorithm != "CRC32" {
		t.Fatalf("ListParts after restart = %+v, %v", page, err)
	}
	if _, err := s.CompleteMultipartUpload(t.Context(), "bkt", "a/b", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := getString(t, s, "bkt", "a/b"); err != nil || got != string(whole) {
		t.Fatalf("object after completion: %d bytes, %v", len(got), err)
	}
	wantEmptyDirs(t, data)
}

// copyTree copies the directory src to dst (which must not exist).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// A crash between the object's rename and the upload's removal leaves
// both; the next Open sees the object names the upload and removes it.
func TestCrashAfterCompleteRename(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	id, parts, whole := newUpload(t, s, "k", backends.MinPartSize, 10)
	saved := filepath.Join(t.TempDir(), "upload")
	copyTree(t, filepath.Join(data, "uploads", "bkt", id), saved)
	if _, err := s.CompleteMultipartUpload(t.Context(), "bkt", "k", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Retagging keeps the footer's record of the upload.
	if err := s.PutObjectTagging(t.Context(), "bkt", "k", map[string]string{"t": "1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	copyTree(t, saved, filepath.Join(data, "uploads", "bkt", id)) // the removal never happened

	s = openStore(t, data)
	if got := listUploads(t, s); len(got) != 0 {
		t.Errorf("completed upload listed after restart: %q", got)
	}
	_, err := s.UploadPart(t.Context(), "bkt", "k", id, 3, strings.NewReader("x"), backends.PartOptions{Size: 1})
	if !errors.Is(err, backends.ErrNoSuchUpload) {
		t.Errorf("UploadPart to the completed upload = %v, want ErrNoSuchUpload", err)
	}
	if got, err := getString(t, s, "bkt", "k"); err != nil || got != string(whole) {
		t.Errorf("object after restart: %d bytes, %v", len(got), err)
	}
	wantEmptyDirs(t, data)
}

// A crash before the object's rename leaves the assembled file in tmp,
// which Open removes; the upload stays whole and completable.
func TestCrashBeforeCompleteRename(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	id, parts, whole := newUpload(t, s, "k", backends.MinPartSize, 10)
	s.Close()
	for _, name := range []string{"ABC.mpu", "DEF.part", "GHI.tag"} {
		if err := os.WriteFile(filepath.Join(data, "tmp", name), whole[:1000], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openStore(t, data)
	if got := tree(t, filepath.Join(data, "tmp")); !slices.Equal(got, []string{"."}) {
		t.Errorf("tmp after Open: %q", got)
	}
	if _, err := s.HeadObject(t.Context(), "bkt", "k", backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Errorf("HeadObject = %v, want ErrNoSuchKey", err)
	}
	if _, err := s.CompleteMultipartUpload(t.Context(), "bkt", "k", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatalf("completing after restart: %v", err)
	}
	if got, err := getString(t, s, "bkt", "k"); err != nil || got != string(whole) {
		t.Errorf("object: %d bytes, %v", len(got), err)
	}
}

// A DeleteBucket cut short between its two renames leaves uploads of a
// bucket that is gone; Open removes them, and a new bucket of that name
// starts with none.
func TestCrashDuringDeleteBucket(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	newUpload(t, s, "k", 10)
	s.Close()
	if err := os.Rename(filepath.Join(data, "buckets", "bkt"), filepath.Join(data, "tmp", "X.deleted")); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, data)
	if got := tree(t, filepath.Join(data, "uploads")); !slices.Equal(got, []string{"."}) {
		t.Errorf("uploads after Open: %q", got)
	}
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	if got := listUploads(t, s); len(got) != 0 {
		t.Errorf("new bucket lists uploads %q", got)
	}
}

// Abort, complete and failed parts leave no file behind.
func TestNoStrayFiles(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	id, _, _ := newUpload(t, s, "aborted", backends.MinPartSize, 10)
	if _, err := s.UploadPart(ctx, "bkt", "aborted", id, 3, io.MultiReader(strings.NewReader("x"), errReader{}), backends.PartOptions{Size: -1}); err == nil {
		t.Fatal("failing part body accepted")
	}
	if err := s.AbortMultipartUpload(ctx, "bkt", "aborted", id); err != nil {
		t.Fatal(err)
	}
	id, parts, _ := newUpload(t, s, "dir/completed", backends.MinPartSize, 10)
	if _, err := s.CompleteMultipartUpload(ctx, "bkt", "dir/completed", id, parts[:1], backends.CompleteOptions{IfMatch: "*"}); err == nil {
		t.Fatal("If-Match on a missing key accepted")
	}
	if _, err := s.CompleteMultipartUpload(ctx, "bkt", "dir/completed", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObjectTagging(ctx, "bkt", "dir/completed", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	wantEmptyDirs(t, data)
	if got := tree(t, filepath.Join(data, "buckets", "bkt")); !slices.Equal(got, []string{".", ".bucket", "dir.d", "dir.d/completed.o"}) {
		t.Errorf("bucket holds %q", got)
	}
	// DeleteBucket takes the uploads directory with it.
	newUpload(t, s, "left", 10)
	if err := s.DeleteObject(ctx, "bkt", "dir/completed", backends.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"uploads", "buckets", "tmp"} {
		if got := tree(t, filepath.Join(data, d)); !slices.Equal(got, []string{"."}) {
			t.Errorf("%s after DeleteBucket: %q", d, got)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

// A damaged parts table is an error, never a panic or a wrong range.
func TestCorruptPartsTable(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	id, parts, _ := newUpload(t, s, "k", backends.MinPartSize, 10)
	if _, err := s.CompleteMultipartUpload(t.Context(), "bkt", "k", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "buckets", "bkt", "k.o")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The second record's offset (after its number and size) points past
	// the data.
	const rec = 4 + 8 + 8 + 16 + 4
	at := backends.MinPartSize + 10 + rec + 12
	copy(b[at:], []byte{0x7f, 0, 0, 0, 0, 0, 0, 0})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetObject(t.Context(), "bkt", "k", backends.GetOptions{PartNumber: 2}); err == nil {
		t.Error("GetObject of a part with a corrupt record succeeded")
	}
	if _, err := s.GetObject(t.Context(), "bkt", "k", backends.GetOptions{PartNumber: 1}); err != nil {
		t.Errorf("GetObject of an intact record: %v", err)
	}
}

// A multipart upload streams: 24 MiB go through UploadPart, Complete and
// GetObject with a few MiB allocated in all.
func TestMultipartMemoryFlat(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	const partSize, nparts = 8 << 20, 3
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	id, err := s.CreateMultipartUpload(ctx, "bkt", "big", backends.UploadOptions{ChecksumAlgorithm: "SHA256"})
	if err != nil {
		t.Fatal(err)
	}
	var parts []backends.CompletedPart
	for n := 1; n <= nparts; n++ {
		body := io.LimitReader(rand.NewChaCha8([32]byte{byte(n)}), partSize)
		p, err := s.UploadPart(ctx, "bkt", "big", id, n, body, backends.PartOptions{Size: partSize})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, backends.CompletedPart{Number: n, ETag: p.ETag})
	}
	if _, err := s.CompleteMultipartUpload(ctx, "bkt", "big", id, parts, backends.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := s.GetObject(ctx, "bkt", "big", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, obj.Body)
	obj.Body.Close()
	if err != nil || n != partSize*nparts {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for %d MiB", allocated>>10, partSize*nparts>>20)
	if allocated > 4<<20 {
		t.Errorf("allocated %d bytes for a %d-byte upload: not streaming", allocated, partSize*nparts)
	}
}
