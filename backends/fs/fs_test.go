package fs_test

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/backendtest"
	"github.com/s3gate/s3gate/backends/fs"
)

func openStore(t *testing.T, dir string) *fs.Store {
	t.Helper()
	s, err := fs.Open(dir, fs.Options{Fsync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAcceptance(t *testing.T) {
	s := openStore(t, t.TempDir())
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		return openStore(t, t.TempDir())
	}, s.Capabilities(""))
}

func putString(t *testing.T, s *fs.Store, bucket, key, body string) {
	t.Helper()
	if _, err := s.PutObject(t.Context(), bucket, key, strings.NewReader(body), backends.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
}

func getString(t *testing.T, s *fs.Store, bucket, key string) (string, error) {
	t.Helper()
	obj, err := s.GetObject(t.Context(), bucket, key, backends.GetOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	return string(b), err
}

// tree lists every path below dir, relative to it.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestKeysStayInsideBucket(t *testing.T) {
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	keys := []string{"..", "../x", "../../../../../../tmp/escape", "/etc/passwd", "//etc//passwd", "a/../../..",
		"./.", "../bkt2/k", "..\\..\\win", "%2e%2e/%2f", "\x00/..", "tmp/x", "../tmp/x", "../../.lock",
		strings.Repeat("../", 341), strings.Repeat("/", 1024), strings.Repeat("\x01/", 512),
		strings.Repeat("é", 512), strings.Repeat("x", 254) + "/" + strings.Repeat("y", 254)}
	for _, k := range keys {
		putString(t, s, "bkt", k, "body of "+k)
	}
	for _, n := range []string{"..", "../x", "/abs", "a/b", "bkt/..", "."} {
		if err := s.CreateBucket(ctx, n); !errors.Is(err, backends.ErrInvalidBucket) {
			t.Errorf("CreateBucket(%q) = %v, want ErrInvalidBucket", n, err)
		}
	}
	if got := tree(t, parent); !slices.Contains(got, "data") || slices.ContainsFunc(got, func(p string) bool {
		return p != "." && p != "data" && !strings.HasPrefix(p, "data"+string(filepath.Separator))
	}) {
		t.Fatalf("files outside the data dir: %q", got)
	}
	for _, p := range tree(t, data) {
		switch {
		case p == "." || p == ".lock" || p == "tmp" || p == "buckets" || p == "uploads" || p == filepath.Join("buckets", "bkt"):
		case !strings.HasPrefix(p, filepath.Join("buckets", "bkt")+string(filepath.Separator)):
			t.Errorf("unexpected path %q", p)
		}
		for _, name := range strings.Split(p, string(filepath.Separator)) {
			if len(name) > 255 {
				t.Errorf("name longer than NAME_MAX: %q", name)
			}
		}
	}
	for _, k := range keys {
		if got, err := getString(t, s, "bkt", k); err != nil || got != "body of "+k {
			t.Errorf("GetObject(%q) = %q, %v", k, got, err)
		}
	}
}

// plantOutside creates a directory outside the data dir holding a valid
// object file, copied from one the store wrote.
func plantOutside(t *testing.T, s *fs.Store, data string) string {
	t.Helper()
	putString(t, s, "bkt", "secret", "secret bytes")
	outside := t.TempDir()
	b, err := os.ReadFile(filepath.Join(data, "buckets", "bkt", "secret.o"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.o"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(t.Context(), "bkt", "secret", backends.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	return outside
}

func TestSymlinksDoNotLeadOutside(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	outside := plantOutside(t, s, data)
	bdir := filepath.Join(data, "buckets", "bkt")
	rel, err := filepath.Rel(bdir, outside)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		filepath.Join(bdir, "abs.d"):             outside,
		filepath.Join(bdir, "rel.d"):             rel,
		filepath.Join(bdir, "file.o"):            filepath.Join(outside, "secret.o"),
		filepath.Join(data, "buckets", "evil-b"): outside,
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"abs/secret", "rel/secret", "file"} {
		if got, err := getString(t, s, "bkt", k); err == nil {
			t.Errorf("GetObject(%q) followed a symlink out: %q", k, got)
		}
		if _, err := s.HeadObject(ctx, "bkt", k, backends.GetOptions{}); err == nil {
			t.Errorf("HeadObject(%q) followed a symlink out", k)
		}
		s.DeleteObject(ctx, "bkt", k, backends.DeleteOptions{})
	}
	for _, k := range []string{"abs/new", "rel/new", "abs/deeper/new"} {
		if _, err := s.PutObject(ctx, "bkt", k, strings.NewReader("x"), backends.PutOptions{Size: 1}); err == nil {
			t.Errorf("PutObject(%q) wrote through a symlink", k)
		}
	}
	if _, err := s.PutObject(ctx, "evil-b", "k", strings.NewReader("x"), backends.PutOptions{Size: 1}); err == nil {
		t.Error("PutObject into a symlinked bucket succeeded")
	}
	if _, err := getString(t, s, "evil-b", "secret"); err == nil {
		t.Error("GetObject from a symlinked bucket succeeded")
	}
	for _, d := range []string{"", "/"} {
		page, err := s.ListObjects(ctx, "bkt", backends.ListOptions{Delimiter: d, MaxKeys: 100})
		if err != nil {
			t.Fatalf("ListObjects: %v", err)
		}
		if len(page.Objects)+len(page.CommonPrefixes) != 0 {
			t.Errorf("listing (delimiter %q) shows symlinked entries: %+v", d, page)
		}
	}
	if got := tree(t, outside); !slices.Equal(got, []string{".", "secret.o"}) {
		t.Errorf("outside dir changed: %q", got)
	}
}

func TestLongSegments(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	p := strings.Repeat("P", 300)
	keys := []string{p + "a/x", p + "b/x", p + "a", p, strings.Repeat("ü", 300) + "/z", strings.Repeat("%", 341), strings.Repeat("L", 1024)}
	for _, k := range keys {
		putString(t, s, "bkt", k, k[len(k)-1:])
	}
	page, err := s.ListObjects(ctx, "bkt", backends.ListOptions{Delimiter: "/", MaxKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, o := range page.Objects {
		objs = append(objs, o.Key)
	}
	wantObjs := []string{strings.Repeat("%", 341), strings.Repeat("L", 1024), p, p + "a"}
	wantCPs := []string{p + "a/", p + "b/", strings.Repeat("ü", 300) + "/"}
	if !slices.Equal(objs, wantObjs) || !slices.Equal(page.CommonPrefixes, wantCPs) {
		t.Errorf("listing = %q %q,\nwant %q %q", objs, page.CommonPrefixes, wantObjs, wantCPs)
	}
	for _, path := range tree(t, data) {
		for _, name := range strings.Split(path, string(filepath.Separator)) {
			if len(name) > 255 {
				t.Errorf("name longer than NAME_MAX: %d bytes", len(name))
			}
		}
	}
	for _, k := range keys {
		if got, err := getString(t, s, "bkt", k); err != nil || got != k[len(k)-1:] {
			t.Errorf("GetObject(%.20q…) = %q, %v", k, got, err)
		}
		if err := s.DeleteObject(ctx, "bkt", k, backends.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting the keys removed their (hashed) directories too.
	if got := tree(t, filepath.Join(data, "buckets", "bkt")); !slices.Equal(got, []string{".", ".bucket"}) {
		t.Errorf("bucket dir after deleting every key: %q", got)
	}
	if got := tree(t, filepath.Join(data, "tmp")); !slices.Equal(got, []string{"."}) {
		t.Errorf("tmp after deleting every key: %q", got)
	}
}

func TestDeleteRemovesEmptyDirs(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(data, "buckets", "bkt")
	putString(t, s, "bkt", "a/b/c/d", "1")
	putString(t, s, "bkt", "a/x", "2")
	if err := s.DeleteObject(ctx, "bkt", "a/b/c/d", backends.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, bdir); !slices.Equal(got, []string{".", ".bucket", "a.d", "a.d/x.o"}) {
		t.Errorf("after deleting a/b/c/d: %q", got)
	}
	if err := s.DeleteObject(ctx, "bkt", "a/x", backends.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, bdir); !slices.Equal(got, []string{".", ".bucket"}) {
		t.Errorf("after deleting a/x: %q", got)
	}
}

// Empty directories (left by a crash, or made by hand) hold no key, so
// they never show as common prefixes and do not keep a bucket alive; files
// whose names no key maps to are not listed.
func TestForeignEntriesAreInvisible(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(data, "buckets", "bkt")
	for _, d := range []string{"empty.d/deeper.d/deepest.d", "also.d"} {
		if err := os.MkdirAll(filepath.Join(bdir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	putString(t, s, "bkt", "full/k", "x")
	putString(t, s, "bkt", "a", "x")
	// Names that are not the canonical name of any key, and other files.
	a, err := os.ReadFile(filepath.Join(bdir, "a.o"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"%61.o", "%6.o", "a%.o", "notes.txt", "x~.o"} {
		if err := os.WriteFile(filepath.Join(bdir, name), a, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(bdir, "%66ull.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bdir, "%66ull.d", "k.o"), a, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/", "e", "p"} {
		page, err := s.ListObjects(ctx, "bkt", backends.ListOptions{Delimiter: d, MaxKeys: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{"/": {"full/"}, "e": nil, "p": nil}[d]
		wantObjs := map[string][]string{"/": {"a"}, "e": {"a", "full/k"}, "p": {"a", "full/k"}}[d]
		var objs []string
		for _, o := range page.Objects {
			objs = append(objs, o.Key)
		}
		if !slices.Equal(page.CommonPrefixes, want) || !slices.Equal(objs, wantObjs) {
			t.Errorf("delimiter %q: common prefixes = %q, objects %q; want %q, %q", d, page.CommonPrefixes, objs, want, wantObjs)
		}
	}
	for _, k := range []string{"full/k", "a"} {
		if err := s.DeleteObject(ctx, "bkt", k, backends.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatalf("DeleteBucket with only empty dirs left: %v", err)
	}
	if got := tree(t, filepath.Join(data, "buckets")); !slices.Equal(got, []string{"."}) {
		t.Errorf("buckets dir after DeleteBucket: %q", got)
	}
}

// Damaged or misplaced object files are never served as the key asked
// for, and listings skip them.
func TestCorruptObject(t *testing.T) {
	data := t.TempDir()
	s := openStore(t, data)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(data, "buckets", "bkt")
	putString(t, s, "bkt", "good", "fine")
	good, err := os.ReadFile(filepath.Join(bdir, "good.o"))
	if err != nil {
		t.Fatal(err)
	}
	// Each key gets its own intact file, then a damaged version of it.
	damage := map[string]func(b []byte) []byte{
		"truncated": func(b []byte) []byte { return b[:5] },
		"shifted":   func(b []byte) []byte { return b[1:] }, // footer intact, a data byte lost
		"moved":     func([]byte) []byte { return good },    // footer names another key
		"magic":     func(b []byte) []byte { return append(b[:len(b)-1:len(b)-1], 'X') },
		"empty":     func([]byte) []byte { return nil },
	}
	for key, f := range damage {
		putString(t, s, "bkt", key, "intact")
		path := filepath.Join(bdir, key+".o")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for key := range damage {
		if got, err := getString(t, s, "bkt", key); err == nil || errors.Is(err, backends.ErrNoSuchKey) {
			t.Errorf("GetObject(%s) = %q, %v; want an internal error", key, got, err)
		}
	}
	page, err := s.ListObjects(ctx, "bkt", backends.ListOptions{MaxKeys: 10})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "good" {
		t.Errorf("listing with corrupt objects = %+v, %v; want just good", page, err)
	}
	for key := range damage {
		if err := s.DeleteObject(ctx, "bkt", key, backends.DeleteOptions{}); err != nil {
			t.Errorf("DeleteObject(%s): %v", key, err)
		}
	}
}

// A ranged body copied into an *os.File takes the kernel's copy path
// (io.WriterTo, then the file's ReadFrom); it must honour the range.
func TestBodyWriterTo(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	if _, err := s.PutObject(t.Context(), "bkt", "k", bytes.NewReader(data), backends.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []backends.Range{{Start: 3, End: 999_990}, {Start: 0, End: -1}, {IsSuffix: true, Suffix: 7}} {
		obj, err := s.GetObject(t.Context(), "bkt", "k", backends.GetOptions{Range: &r})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := obj.Body.(io.WriterTo); !ok {
			t.Fatal("body does not implement io.WriterTo")
		}
		out, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(out, obj.Body)
		obj.Body.Close()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out.Name())
		if want := data[obj.Range.Start : obj.Range.End+1]; n != int64(len(want)) || !bytes.Equal(got, want) {
			t.Errorf("range %v: copied %d bytes, want %d (equal: %v)", r, n, len(want), bytes.Equal(got, want))
		}
	}
}

func TestLockInProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir, fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := fs.Open(dir, fs.Options{}); !errors.Is(err, fs.ErrLocked) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = fs.Open(dir, fs.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

func TestStaleTempFilesCleared(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	s.Close()
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(filepath.Join(tmp, "ABC.put"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "DEF.bucket", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir)
	if got := tree(t, tmp); !slices.Equal(got, []string{"."}) {
		t.Errorf("tmp after Open: %q", got)
	}
}

// Deleting every object of a directory at once races each delete's
// directory sync against the others' empty-directory cleanup; puts into the
// same directory race the cleanup too. None of it may fail.
func TestConcurrentDeletesInOneDirectory(t *testing.T) {
	s := openStore(t, t.TempDir())
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		const n = 12
		for i := 0; i < n; i++ {
			putString(t, s, "bkt", "shared/dir/sub/key-"+string(rune('a'+i)), "v")
		}
		errs := make(chan error, 2*n)
		for i := 0; i < n; i++ {
			go func() {
				errs <- s.DeleteObject(t.Context(), "bkt", "shared/dir/sub/key-"+string(rune('a'+i)), backends.DeleteOptions{})
			}()
			go func() {
				key := "shared/dir/sub/other-" + string(rune('a'+i))
				_, err := s.PutObject(t.Context(), "bkt", key, strings.NewReader("o"), backends.PutOptions{Size: 1})
				if err == nil {
					err = s.DeleteObject(t.Context(), "bkt", key, backends.DeleteOptions{})
				}
				errs <- err
			}()
		}
		for i := 0; i < 2*n; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	page, err := s.ListObjects(t.Context(), "bkt", backends.ListOptions{MaxKeys: 1000})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("left behind: %+v %v", page.Objects, err)
	}
}
