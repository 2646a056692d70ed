package backendtest

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
)

func testRoundTrip(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-roundtrip"
	createBucket(t, b, bkt)
	start := time.Now()

	data := []byte("hello, s3gate\n")
	opts := backends.PutOptions{
		Size: int64(len(data)),
		ContentHeaders: backends.ContentHeaders{
			ContentType:        "text/plain; charset=utf-8",
			ContentEncoding:    "identity",
			ContentDisposition: `attachment; filename="hello.txt"`,
			ContentLanguage:    "en",
			CacheControl:       "max-age=60",
			Expires:            "Wed, 21 Oct 2037 07:28:00 GMT",
		},
		Metadata: map[string]string{"color": "blue", "x-multi-word": "a b  c"},
	}
	info, err := b.PutObject(ctx, bkt, "dir/hello.txt", bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	want := backends.ObjectInfo{Key: "dir/hello.txt", Size: int64(len(data)), ETag: md5Hex(data),
		ContentHeaders: opts.ContentHeaders, Metadata: opts.Metadata}
	checkInfo(t, "PutObject", info, want)
	inWindow(t, "PutObject LastModified", info.LastModified, start)

	head, err := b.HeadObject(ctx, bkt, "dir/hello.txt", backends.GetOptions{})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	checkInfo(t, "HeadObject", head, want)
	inWindow(t, "HeadObject LastModified", head.LastModified, start)

	got, obj := get(t, b, bkt, "dir/hello.txt", backends.GetOptions{})
	if !bytes.Equal(got, data) {
		t.Errorf("GetObject body = %q, want %q", got, data)
	}
	if obj.Range != nil {
		t.Errorf("GetObject without range: Range = %+v, want nil", obj.Range)
	}
	checkInfo(t, "GetObject", obj.Info, want)
	if !obj.Info.LastModified.Truncate(time.Second).Equal(head.LastModified.Truncate(time.Second)) {
		t.Errorf("GetObject LastModified %v != HeadObject's %v", obj.Info.LastModified, head.LastModified)
	}

	// An overwrite replaces bytes, headers and metadata; unknown size works.
	data2 := []byte("second version, longer than the first")
	if _, err := b.PutObject(ctx, bkt, "dir/hello.txt", bytes.NewReader(data2), backends.PutOptions{Size: -1}); err != nil {
		t.Fatalf("PutObject(overwrite): %v", err)
	}
	head, err = b.HeadObject(ctx, bkt, "dir/hello.txt", backends.GetOptions{})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	checkInfo(t, "HeadObject(overwritten)", head, backends.ObjectInfo{Key: "dir/hello.txt", Size: int64(len(data2)), ETag: md5Hex(data2)})
	wantBody(t, b, bkt, "dir/hello.txt", data2)

	// The empty object.
	info = put(t, b, bkt, "empty", nil)
	if info.ETag != "d41d8cd98f00b204e9800998ecf8427e" || info.Size != 0 {
		t.Errorf("empty object info = %+v", info)
	}
	wantBody(t, b, bkt, "empty", nil)

	for _, key := range []string{"dir/hello.txt", "empty"} {
		if err := b.DeleteObject(ctx, bkt, key, backends.DeleteOptions{}); err != nil {
			t.Fatalf("DeleteObject(%q): %v", key, err)
		}
		wantAbsent(t, b, bkt, key)
		if err := b.DeleteObject(ctx, bkt, key, backends.DeleteOptions{}); err != nil {
			t.Errorf("DeleteObject(%q) again: %v, want nil (idempotent)", key, err)
		}
	}
	if err := b.DeleteObject(ctx, bkt, "never/existed", backends.DeleteOptions{}); err != nil {
		t.Errorf("DeleteObject(never existed): %v", err)
	}
}

// checkInfo compares everything but LastModified; nil and empty metadata
// are the same.
func checkInfo(t *testing.T, what string, got, want backends.ObjectInfo) {
	t.Helper()
	if got.Key != want.Key || got.Size != want.Size || got.ETag != want.ETag || got.ContentHeaders != want.ContentHeaders {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if len(got.Metadata) != len(want.Metadata) || (len(want.Metadata) > 0 && !maps.Equal(got.Metadata, want.Metadata)) {
		t.Errorf("%s Metadata = %v, want %v", what, got.Metadata, want.Metadata)
	}
}

// awkwardKeys are legal S3 keys that trip naive path mapping.
func awkwardKeys() []string {
	return []string{
		"a", "a/b", "a/", "a//b", "a-b", "a0", "/lead", "//double", "trail/", "trail//",
		".", "..", "../up", "../../../../etc/passwd", "a/../b", "./x", "x/./y", "x/../..",
		"nul\x00byte", "\x00", "sp ace", " ", "pct%2Fenc%00", "%", "plus+amp&q?h#", "tilde~x", "~",
		`back\slash`, "colon:star*", "ünï/cödé", "日本語/キー", "emoji🎉/x", "\u202Ertl", "\t\n\r",
		"a.o", "a.d/b", ".d", ".o", "segment", ".bucket", ".lock", "tmp/x", "buckets/x",
		strings.Repeat("deep/", 60) + "leaf",
		strings.Repeat("L", 1024),
		strings.Repeat("é", 512),
		strings.Repeat("/", 1024),
		strings.Repeat("x", 300) + "/y",
		strings.Repeat("x", 300) + "/z",
		strings.Repeat("ü", 200) + "/" + strings.Repeat("ü", 200) + "/z",
		strings.Repeat("%", 300),
		strings.Repeat("~", 255),
	}
}

func testKeys(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-keys"
	createBucket(t, b, bkt)
	keys := storableKeys(b, awkwardKeys())
	for _, k := range keys {
		if len(k) > backends.MaxKeyLength {
			t.Fatalf("test key too long: %d bytes", len(k))
		}
		put(t, b, bkt, k, []byte("body of "+k))
	}
	for _, k := range keys {
		_, obj := get(t, b, bkt, k, backends.GetOptions{})
		if obj.Info.Key != k {
			t.Errorf("GetObject(%q).Key = %q", k, obj.Info.Key)
		}
		wantBody(t, b, bkt, k, []byte("body of "+k))
	}
	slices.Sort(keys)
	if got := listKeys(t, b, bkt, backends.ListOptions{MaxKeys: 1000}); !slices.Equal(got, keys) {
		t.Errorf("listing = %q,\nwant %q", got, keys)
	}

	invalid := []struct {
		key  string
		want error
	}{
		{"", backends.ErrInvalidKey},
		{"\xff\xfe", backends.ErrInvalidKey},
		{"ok/\xc3", backends.ErrInvalidKey},
		{strings.Repeat("k", 1025), backends.ErrKeyTooLong},
		{strings.Repeat("é", 513), backends.ErrKeyTooLong},
	}
	for _, tc := range invalid {
		_, err := b.PutObject(ctx, bkt, tc.key, bytes.NewReader([]byte("x")), backends.PutOptions{Size: 1})
		wantErr(t, "PutObject("+tc.key+")", err, tc.want)
	}

	for _, k := range keys {
		if err := b.DeleteObject(ctx, bkt, k, backends.DeleteOptions{}); err != nil {
			t.Fatalf("DeleteObject(%q): %v", k, err)
		}
	}
	if got := listKeys(t, b, bkt, backends.ListOptions{MaxKeys: 1000}); len(got) != 0 {
		t.Errorf("listing after deleting everything = %q", got)
	}
	if err := b.DeleteBucket(ctx, bkt); err != nil {
		t.Errorf("DeleteBucket after deleting every key: %v", err)
	}
}

// listKeys pages through a listing (no delimiter) and returns its keys.
func listKeys(t *testing.T, b backends.Backend, bucket string, opts backends.ListOptions) []string {
	t.Helper()
	var keys []string
	for {
		page, err := b.ListObjects(t.Context(), bucket, opts)
		if err != nil {
			t.Fatalf("ListObjects(%+v): %v", opts, err)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if !page.IsTruncated {
			return keys
		}
		opts.StartAfter = page.NextStartAfter
	}
}

func testRanges(t *testing.T, b backends.Backend) {
	const bkt = "bt-ranges"
	createBucket(t, b, bkt)
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	put(t, b, bkt, "obj", data)
	put(t, b, bkt, "empty", nil)

	tests := []struct {
		key        string
		rng        backends.Range
		start, end int64 // inclusive; start -1: unsatisfiable
	}{
		{"obj", backends.Range{Start: 0, End: 9}, 0, 9},
		{"obj", backends.Range{Start: 10, End: -1}, 10, 99},
		{"obj", backends.Range{Start: 99, End: 99}, 99, 99},
		{"obj", backends.Range{Start: 0, End: -1}, 0, 99},
		{"obj", backends.Range{Start: 90, End: 500}, 90, 99},
		{"obj", backends.Range{IsSuffix: true, Suffix: 10}, 90, 99},
		{"obj", backends.Range{IsSuffix: true, Suffix: 100}, 0, 99},
		{"obj", backends.Range{IsSuffix: true, Suffix: 500}, 0, 99},
		{"obj", backends.Range{Start: 100, End: -1}, -1, 0},
		{"obj", backends.Range{Start: 150, End: 200}, -1, 0},
		{"obj", backends.Range{IsSuffix: true, Suffix: 0}, -1, 0},
		{"empty", backends.Range{Start: 0, End: -1}, -1, 0},
		{"empty", backends.Range{Start: 0, End: 5}, -1, 0},
		{"empty", backends.Range{IsSuffix: true, Suffix: 5}, -1, 0},
	}
	for _, tc := range tests {
		name := tc.key + " " + tc.rng.String()
		t.Run(name, func(t *testing.T) {
			obj, err := b.GetObject(t.Context(), bkt, tc.key, backends.GetOptions{Range: &tc.rng})
			if tc.start < 0 {
				if !errors.Is(err, backends.ErrInvalidRange) {
					t.Fatalf("error = %v, want ErrInvalidRange", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := readClose(obj)
			if err != nil {
				t.Fatal(err)
			}
			want := data[tc.start : tc.end+1]
			if !bytes.Equal(got, want) {
				t.Errorf("body = %q, want %q", got, want)
			}
			wantRange := backends.ContentRange{Start: tc.start, End: tc.end, Size: int64(len(data))}
			if obj.Range == nil || *obj.Range != wantRange {
				t.Errorf("Range = %+v, want %+v", obj.Range, wantRange)
			}
			if obj.Info.Size != int64(len(data)) || obj.Info.ETag != md5Hex(data) {
				t.Errorf("Info = %+v, want the whole object's size and ETag", obj.Info)
			}
		})
	}
}

func readClose(obj *backends.Object) ([]byte, error) {
	defer obj.Body.Close()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(obj.Body)
	return buf.Bytes(), err
}

func testConditions(t *testing.T, b backends.Backend) {
	const bkt = "bt-conditions"
	createBucket(t, b, bkt)
	data := []byte("conditional body")
	put(t, b, bkt, "obj", data)
	head, err := b.HeadObject(t.Context(), bkt, "obj", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	etag, lm := head.ETag, head.LastModified.Truncate(time.Second)
	quoted := `"` + etag + `"`

	tests := []struct {
		name string
		c    backends.Conditions
		want error
	}{
		{"none", backends.Conditions{}, nil},
		{"if-match", backends.Conditions{IfMatch: etag}, nil},
		{"if-match quoted", backends.Conditions{IfMatch: quoted}, nil},
		{"if-match list", backends.Conditions{IfMatch: `"nope", ` + quoted}, nil},
		{"if-match star", backends.Conditions{IfMatch: "*"}, nil},
		{"if-match wrong", backends.Conditions{IfMatch: `"0123"`}, backends.ErrPreconditionFail},
		{"if-none-match", backends.Conditions{IfNoneMatch: quoted}, backends.ErrNotModified},
		{"if-none-match star", backends.Conditions{IfNoneMatch: "*"}, backends.ErrNotModified},
		{"if-none-match other", backends.Conditions{IfNoneMatch: `"0123"`}, nil},
		{"if-modified-since equal", backends.Conditions{IfModifiedSince: lm}, backends.ErrNotModified},
		{"if-modified-since later", backends.Conditions{IfModifiedSince: lm.Add(time.Hour)}, backends.ErrNotModified},
		{"if-modified-since earlier", backends.Conditions{IfModifiedSince: lm.Add(-time.Second)}, nil},
		{"if-unmodified-since equal", backends.Conditions{IfUnmodifiedSince: lm}, nil},
		{"if-unmodified-since later", backends.Conditions{IfUnmodifiedSince: lm.Add(time.Hour)}, nil},
		{"if-unmodified-since earlier", backends.Conditions{IfUnmodifiedSince: lm.Add(-time.Second)}, backends.ErrPreconditionFail},
		// If-Match decides over If-Unmodified-Since, If-None-Match over
		// If-Modified-Since, and a failed precondition over not-modified.
		{"if-match wins over if-unmodified-since", backends.Conditions{IfMatch: quoted, IfUnmodifiedSince: lm.Add(-time.Hour)}, nil},
		{"if-none-match wins over if-modified-since", backends.Conditions{IfNoneMatch: `"0123"`, IfModifiedSince: lm.Add(time.Hour)}, nil},
		{"if-none-match match with if-modified-since", backends.Conditions{IfNoneMatch: quoted, IfModifiedSince: lm.Add(-time.Hour)}, backends.ErrNotModified},
		{"if-match fails before if-none-match", backends.Conditions{IfMatch: `"0123"`, IfNoneMatch: quoted}, backends.ErrPreconditionFail},
		{"if-match with if-modified-since", backends.Conditions{IfMatch: quoted, IfModifiedSince: lm.Add(time.Hour)}, backends.ErrNotModified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.HeadObject(t.Context(), bkt, "obj", backends.GetOptions{Conditions: tc.c})
			wantErr(t, "HeadObject", err, tc.want)
			if tc.want == nil && err != nil {
				return
			}
			obj, err := b.GetObject(t.Context(), bkt, "obj", backends.GetOptions{Conditions: tc.c})
			wantErr(t, "GetObject", err, tc.want)
			if err == nil {
				if got, _ := readClose(obj); !bytes.Equal(got, data) {
					t.Errorf("GetObject body = %q", got)
				}
			}
			// Conditions are decided before the range.
			if tc.want != nil {
				bad := &backends.Range{Start: 1000, End: -1}
				_, err := b.GetObject(t.Context(), bkt, "obj", backends.GetOptions{Conditions: tc.c, Range: bad})
				wantErr(t, "GetObject with unsatisfiable range", err, tc.want)
			}
		})
	}
	_, err = b.GetObject(t.Context(), bkt, "missing", backends.GetOptions{Conditions: backends.Conditions{IfMatch: "*"}})
	wantErr(t, "GetObject(missing, If-Match)", err, backends.ErrNoSuchKey)
}
