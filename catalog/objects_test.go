package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadOf is a loader that returns o whatever the row holds (nil: absent).
func loadOf(o *Object) LoadFunc {
	return func(context.Context, *Object) (*Object, error) {
		if o == nil {
			return nil, nil
		}
		cp := *o
		return &cp, nil
	}
}

// syncT syncs bucket/key to o for the event seq of processor "test".
func syncT(t *testing.T, c *Catalog, bucket, key, seq string, o *Object) SyncResult {
	t.Helper()
	res, err := c.SyncObject(testCtx(t), "test", bucket, key, seq, loadOf(o))
	if err != nil {
		t.Fatalf("SyncObject(%s/%s, %s): %v", bucket, key, seq, err)
	}
	return res
}

// rowT returns the row of bucket/key, nil when absent.
func rowT(t *testing.T, c *Catalog, bucket, key string) *Object {
	t.Helper()
	o, err := c.GetObject(testCtx(t), bucket, key)
	if errors.Is(err, ErrNoSuchObject) {
		return nil
	}
	if err != nil {
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	return &o
}

func seqN(n int) string { return fmt.Sprintf("%028X", n) }

func TestSyncObject(t *testing.T) {
	t1 := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 7200))
	t2 := t1.Add(time.Hour)
	v1 := &Object{
		Size: 11, ETag: "etag-1", ChecksumAlgorithm: "CRC32", ChecksumValue: "AAAAAA==", ChecksumType: "FULL_OBJECT",
		ContentType: "Text/Plain; charset=utf-8", SniffedContentType: "text/plain; charset=utf-8",
		Owner: "user:alice", OwnerSequencer: seqN(1), Modified: t1,
		Metadata: map[string]string{"origin": "camera", "x": ""}, Tags: map[string]string{"color": "red", "size": "L"},
	}
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)

		// Create.
		res := syncT(t, c, "b", "dir/k", seqN(1), v1)
		want := *v1
		want.Bucket, want.Key = "b", "dir/k"
		want.SniffedContentType = "text/plain"
		want.Created = t1.UTC().Truncate(time.Microsecond)
		want.Modified = want.Created
		want.Sequencer = seqN(1)
		if !res.Changed || res.Stale || res.Sequencer != seqN(1) || res.Object == nil || !reflect.DeepEqual(*res.Object, want) {
			t.Fatalf("create: %+v\nwant object %+v", res, want)
		}
		if got := rowT(t, c, "b", "dir/k"); !reflect.DeepEqual(got, &want) {
			t.Fatalf("row after create:\n got %+v\nwant %+v", got, want)
		}

		// The same state again (a re-delivery): nothing written.
		if res := syncT(t, c, "b", "dir/k", seqN(1), v1); res.Changed || res.Stale {
			t.Errorf("re-delivery: %+v", res)
		}
		// An older event finding the same state: stale, unchanged.
		if res := syncT(t, c, "b", "dir/k", seqN(0), v1); res.Changed || !res.Stale || res.Sequencer != seqN(1) {
			t.Errorf("older event: %+v", res)
		}
		// A newer event with the same state advances the sequencer only.
		if res := syncT(t, c, "b", "dir/k", seqN(2), v1); res.Changed || res.Stale || res.Object.Sequencer != seqN(2) {
			t.Errorf("newer event, same state: %+v", res)
		}
		if got := rowT(t, c, "b", "dir/k"); got.Sequencer != seqN(2) {
			t.Errorf("row sequencer %s, want %s", got.Sequencer, seqN(2))
		}

		// A hook fills its fields for this version.
		w, h := 640, 480
		ok, err := c.SetObjectFields(ctx, "image", "b", "dir/k", seqN(2), "etag-1",
			HookFields{ImageWidth: &w, ImageHeight: &h, EXIF: json.RawMessage(`{"Make":"X"}`)})
		if err != nil || !ok {
			t.Fatalf("SetObjectFields = %v, %v", ok, err)
		}
		// A change of tags only is the same version: the hook fields stay.
		v1b := *v1
		v1b.Tags = map[string]string{"color": "blue"}
		res = syncT(t, c, "b", "dir/k", seqN(3), &v1b)
		if !res.Changed || res.Object.ImageWidth == nil || *res.Object.ImageWidth != 640 || string(res.Object.EXIF) == "" {
			t.Fatalf("retag: %+v", res.Object)
		}
		if !reflect.DeepEqual(res.Object.Tags, v1b.Tags) {
			t.Errorf("tags %v, want %v", res.Object.Tags, v1b.Tags)
		}
		if n := countTagged(t, c, "b", map[string]string{"color": "red"}); n != 0 {
			t.Errorf("%d rows still tagged color=red", n)
		}
		if n := countTagged(t, c, "b", map[string]string{"color": "blue"}); n != 1 {
			t.Errorf("%d rows tagged color=blue, want 1", n)
		}

		// Overwrite: a new version. Created stays, hook fields go.
		v2 := &Object{Size: 3, ETag: "etag-2", ContentType: "image/png", SniffedContentType: "image/png",
			Owner: "user:bob", OwnerSequencer: seqN(4), Modified: t2}
		res = syncT(t, c, "b", "dir/k", seqN(4), v2)
		got := rowT(t, c, "b", "dir/k")
		want2 := *v2
		want2.Bucket, want2.Key = "b", "dir/k"
		want2.Created = want.Created
		want2.Modified = t2.UTC().Truncate(time.Microsecond)
		want2.Sequencer = seqN(4)
		if !res.Changed || !reflect.DeepEqual(got, &want2) || !reflect.DeepEqual(res.Object, &want2) {
			t.Fatalf("overwrite:\n got %+v\nwant %+v\nres  %+v", got, want2, res.Object)
		}
		// The hook's result for the old version no longer applies.
		if ok, err := c.SetObjectFields(ctx, "image", "b", "dir/k", seqN(3), "etag-1", HookFields{ImageWidth: &w}); err != nil || ok {
			t.Errorf("SetObjectFields for an old version = %v, %v", ok, err)
		}

		// Delete: the row goes, the sequencer stays as a tombstone.
		res = syncT(t, c, "b", "dir/k", seqN(5), nil)
		if !res.Changed || res.Object != nil || rowT(t, c, "b", "dir/k") != nil {
			t.Fatalf("delete: %+v", res)
		}
		if n := countTagged(t, c, "b", map[string]string{"color": "blue"}); n != 0 {
			t.Errorf("tags of a deleted object still match: %d", n)
		}
		if seq, err := c.ProcessorSequencer(ctx, "test", "b", "dir/k"); err != nil || seq != seqN(5) {
			t.Errorf("tombstone = %q, %v", seq, err)
		}
		// A late create event for a version that is gone: the loader finds
		// nothing, so no row comes back; the tombstone keeps the greater.
		res = syncT(t, c, "b", "dir/k", seqN(1), nil)
		if res.Changed || !res.Stale || rowT(t, c, "b", "dir/k") != nil {
			t.Errorf("late create after delete: %+v", res)
		}
		if seq, _ := c.ProcessorSequencer(ctx, "test", "b", "dir/k"); seq != seqN(5) {
			t.Errorf("tombstone after a late event = %q", seq)
		}

		// A new write after the delete starts a new row: Created anew.
		v1c := *v1
		v1c.Modified = t2.Add(time.Hour)
		res = syncT(t, c, "b", "dir/k", seqN(6), &v1c)
		if !res.Changed || !res.Object.Created.Equal(v1c.Modified.Truncate(time.Microsecond)) || res.Object.ImageWidth != nil {
			t.Errorf("re-create: %+v", res.Object)
		}
		v3 := *v2
		v3.Created = t2.Add(-time.Minute) // a loader's Created is used for a new row only
		syncT(t, c, "b", "new", seqN(7), &v3)
		if got := rowT(t, c, "b", "new"); !got.Created.Equal(v3.Created.UTC().Truncate(time.Microsecond)) {
			t.Errorf("new row Created = %v, want %v", got.Created, v3.Created)
		}
	})
}

func countTagged(t *testing.T, c *Catalog, bucket string, tags map[string]string) int64 {
	t.Helper()
	u, err := c.CountObjects(testCtx(t), ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}, Bucket: bucket, Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	return u.Objects
}

// The loader sees the row as stored, and its errors come back unchanged
// with nothing written.
func TestSyncObjectLoader(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		v := &Object{Size: 1, ETag: "e", Owner: "alice", Modified: time.Now()}
		syncT(t, c, "b", "k", seqN(1), v)
		var seen Object
		boom := errors.New("backend down")
		_, err := c.SyncObject(ctx, "test", "b", "k", seqN(2), func(_ context.Context, cur *Object) (*Object, error) {
			if cur != nil {
				seen = *cur
				cur.Owner = "scribbled"
			}
			return nil, boom
		})
		if err != boom {
			t.Fatalf("err = %v, want the loader's own", err)
		}
		if seen.Owner != "alice" || seen.ETag != "e" || seen.Sequencer != seqN(1) {
			t.Errorf("loader saw %+v", seen)
		}
		if got := rowT(t, c, "b", "k"); got == nil || got.Owner != "alice" {
			t.Errorf("row after a failed load: %+v", got)
		}
		if seq, _ := c.ProcessorSequencer(ctx, "test", "b", "k"); seq != seqN(1) {
			t.Errorf("sequencer recorded for a failed load: %s", seq)
		}
		// Processors keep separate sequencers.
		if _, err := c.SyncObject(ctx, "other", "b", "k", seqN(9), loadOf(v)); err != nil {
			t.Fatal(err)
		}
		if seq, _ := c.ProcessorSequencer(ctx, "test", "b", "k"); seq != seqN(1) {
			t.Errorf("another processor moved this one's sequencer to %s", seq)
		}
	})
}

func TestSyncObjectRejects(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		called := false
		load := func(context.Context, *Object) (*Object, error) { called = true; return nil, nil }
		for _, k := range []struct{ bucket, key string }{{"b", "a\x00b"}, {"b", "\xff"}, {"", "k"}, {"b", ""}} {
			if _, err := c.SyncObject(ctx, "test", k.bucket, k.key, seqN(1), load); !errors.Is(err, ErrInvalidObjectKey) {
				t.Errorf("SyncObject(%q, %q) = %v, want ErrInvalidObjectKey", k.bucket, k.key, err)
			}
		}
		if _, err := c.SyncObject(ctx, "", "b", "k", seqN(1), load); err == nil {
			t.Error("SyncObject without a processor succeeded")
		}
		if called {
			t.Error("the loader ran for a rejected key")
		}
		// Descriptive text that PostgreSQL cannot hold is cleaned, not refused.
		res := syncT(t, c, "b", "k", seqN(1), &Object{ETag: "e", ContentType: "a\x00b\xff", Metadata: map[string]string{"m": "x\x00"}})
		if res.Object.ContentType != "ab\uFFFD" || res.Object.Metadata["m"] != "x" {
			t.Errorf("cleaned: %q %q", res.Object.ContentType, res.Object.Metadata)
		}
	})
}

func TestSetObjectFields(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		syncT(t, c, "b", "k", seqN(1), &Object{Size: 5, ETag: "e1", Modified: time.Now()})
		verdict, hookErr := "clean", "timeout"
		set := func(seq, etag string, f HookFields) bool {
			t.Helper()
			ok, err := c.SetObjectFields(ctx, "scan", "b", "k", seq, etag, f)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !set(seqN(2), "e1", HookFields{ScanVerdict: &verdict, HookError: &hookErr, Variants: json.RawMessage(`["s","m"]`)}) {
			t.Fatal("not written")
		}
		got := rowT(t, c, "b", "k")
		if *got.ScanVerdict != "clean" || *got.HookError != "timeout" || got.ImageWidth != nil {
			t.Fatalf("row %+v", got)
		}
		var variants []string
		if err := json.Unmarshal(got.Variants, &variants); err != nil || !reflect.DeepEqual(variants, []string{"s", "m"}) {
			t.Errorf("variants %s", got.Variants)
		}
		// An older event of the same hook is not applied.
		other := "infected"
		if set(seqN(1), "e1", HookFields{ScanVerdict: &other}) {
			t.Error("an older event overwrote a newer one's result")
		}
		// Empty clears; nil leaves alone.
		empty := ""
		if !set(seqN(3), "e1", HookFields{HookError: &empty}) {
			t.Fatal("not written")
		}
		if got := rowT(t, c, "b", "k"); got.HookError != nil || got.ScanVerdict == nil || *got.ScanVerdict != "clean" {
			t.Errorf("after clearing hook_error: %+v", got)
		}
		if _, err := c.SetObjectFields(ctx, "scan", "b", "k", seqN(4), "e1", HookFields{EXIF: json.RawMessage("{")}); err == nil {
			t.Error("invalid JSON accepted")
		}
		// No row: nothing to write.
		if ok, err := c.SetObjectFields(ctx, "scan", "b", "gone", seqN(5), "e1", HookFields{ScanVerdict: &verdict}); err != nil || ok {
			t.Errorf("missing row: %v, %v", ok, err)
		}
	})
}

func TestPruneTombstones(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		o := &Object{ETag: "e", Modified: time.Now()}
		syncT(t, c, "b", "live", seqN(1), o)
		syncT(t, c, "b", "dead", seqN(1), o)
		syncT(t, c, "b", "dead", seqN(2), nil)
		// Nothing is old enough yet.
		if n, err := c.PruneTombstones(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("PruneTombstones(1h) = %d, %v", n, err)
		}
		n, err := c.PruneTombstones(ctx, -time.Second) // everything is old
		if err != nil || n != 1 {
			t.Fatalf("PruneTombstones = %d, %v; want the one tombstone", n, err)
		}
		if seq, _ := c.ProcessorSequencer(ctx, "test", "b", "dead"); seq != "" {
			t.Errorf("tombstone left: %s", seq)
		}
		if seq, _ := c.ProcessorSequencer(ctx, "test", "b", "live"); seq != seqN(1) {
			t.Errorf("a live key's sequencer was pruned: %q", seq)
		}
	})
}

func TestDeleteBucketRemovesObjects(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		for _, b := range []string{"gone", "kept"} {
			if err := c.CreateBucket(ctx, Bucket{Name: b}); err != nil {
				t.Fatal(err)
			}
			syncT(t, c, b, "k", seqN(1), &Object{ETag: "e", Modified: time.Now(), Tags: map[string]string{"t": "v"}})
			syncT(t, c, b, "tomb", seqN(1), nil)
		}
		if err := c.DeleteBucket(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if rowT(t, c, "gone", "k") != nil || rowT(t, c, "kept", "k") == nil {
			t.Error("rows of the wrong bucket removed")
		}
		for b, want := range map[string]string{"gone": "", "kept": seqN(1)} {
			for _, k := range []string{"k", "tomb"} {
				if seq, _ := c.ProcessorSequencer(ctx, "test", b, k); seq != want {
					t.Errorf("%s/%s sequencer %q, want %q", b, k, seq, want)
				}
			}
		}
		if n := countTagged(t, c, "", map[string]string{"t": "v"}); n != 1 {
			t.Errorf("%d tagged rows, want 1", n)
		}
		if err := c.DeleteBucket(ctx, "gone"); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("second delete: %v", err)
		}
	})
}

// listFixture fills a catalogue with rows for the listing tests.
func listFixture(t *testing.T, c *Catalog) time.Time {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []struct {
		bucket, key, ct, sniffed string
		size                     int64
		tags                     map[string]string
	}{
		{"b1", "a/1", "image/png", "image/png", 100, map[string]string{"kind": "photo", "year": "2026"}},
		{"b1", "a/2", "application/octet-stream", "image/jpeg", 200, map[string]string{"kind": "photo", "year": "2025"}},
		{"b1", "a%/x", "text/plain; charset=utf-8", "text/plain", 300, nil},
		{"b1", "a_/y", "TEXT/HTML", "text/html", 400, map[string]string{"kind": "doc"}},
		{"b1", "ab/z", "", "application/octet-stream", 500, nil},
		{"b1", "A/upper", "image/gif", "image/gif", 600, nil},
		{"b1", "a\\/back", "", "", 0, nil},
		{"b2", "a/1", "image/webp", "image/webp", 700, map[string]string{"kind": "photo"}},
		{"b2", "z/ü", "video/mp4", "video/mp4", 800, nil},
	}
	for i, r := range rows {
		syncT(t, c, r.bucket, r.key, seqN(i+1), &Object{
			Size: r.size, ETag: fmt.Sprint("e", i), ContentType: r.ct, SniffedContentType: r.sniffed,
			Modified: base.Add(time.Duration(i) * time.Hour), Tags: r.tags,
		})
	}
	return base
}

func keysOf(objs []Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Bucket+"/"+o.Key)
	}
	return ks
}

func TestListObjectsFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		base := listFixture(t, c)
		all := []ReadGrant{{Bucket: "*"}}
		i64 := func(n int64) *int64 { return &n }
		cases := []struct {
			name string
			f    ObjectFilter
			want []string
		}{
			{"everything", ObjectFilter{Readable: all},
				[]string{"b1/A/upper", "b1/a%/x", "b1/a/1", "b1/a/2", "b1/a\\/back", "b1/a_/y", "b1/ab/z", "b2/a/1", "b2/z/ü"}},
			{"bucket", ObjectFilter{Readable: all, Bucket: "b2"}, []string{"b2/a/1", "b2/z/ü"}},
			{"prefix", ObjectFilter{Readable: all, Prefix: "a/"}, []string{"b1/a/1", "b1/a/2", "b2/a/1"}},
			{"prefix is case sensitive", ObjectFilter{Readable: all, Prefix: "A"}, []string{"b1/A/upper"}},
			{"prefix with _ is literal", ObjectFilter{Readable: all, Prefix: "a_"}, []string{"b1/a_/y"}},
			{"prefix with % is literal", ObjectFilter{Readable: all, Prefix: "a%"}, []string{"b1/a%/x"}},
			{"prefix with \\ is literal", ObjectFilter{Readable: all, Prefix: "a\\"}, []string{"b1/a\\/back"}},
			{"non-ASCII prefix", ObjectFilter{Readable: all, Prefix: "z/ü"}, []string{"b2/z/ü"}},
			{"content type exact, declared", ObjectFilter{Readable: all, ContentType: "image/png"}, []string{"b1/a/1"}},
			{"content type exact, sniffed", ObjectFilter{Readable: all, ContentType: "image/jpeg"}, []string{"b1/a/2"}},
			{"content type ignores case and parameters", ObjectFilter{Readable: all, ContentType: "Text/HTML; charset=x"}, []string{"b1/a_/y"}},
			{"content type declared with parameters", ObjectFilter{Readable: all, ContentType: "text/plain"}, []string{"b1/a%/x"}},
			{"content type family", ObjectFilter{Readable: all, ContentType: "image/*"},
				[]string{"b1/A/upper", "b1/a/1", "b1/a/2", "b2/a/1"}},
			{"content type any", ObjectFilter{Readable: all, Bucket: "b2", ContentType: "*/*"}, []string{"b2/a/1", "b2/z/ü"}},
			{"size range", ObjectFilter{Readable: all, MinSize: i64(200), MaxSize: i64(400)}, []string{"b1/a%/x", "b1/a/2", "b1/a_/y"}},
			{"empty objects", ObjectFilter{Readable: all, MaxSize: i64(0)}, []string{"b1/a\\/back"}},
			{"modified window", ObjectFilter{Readable: all, ModifiedSince: base.Add(time.Hour), ModifiedBefore: base.Add(3 * time.Hour)},
				[]string{"b1/a%/x", "b1/a/2"}},
			{"one tag", ObjectFilter{Readable: all, Tags: map[string]string{"kind": "photo"}}, []string{"b1/a/1", "b1/a/2", "b2/a/1"}},
			{"two tags", ObjectFilter{Readable: all, Tags: map[string]string{"kind": "photo", "year": "2026"}}, []string{"b1/a/1"}},
			{"tag value differs", ObjectFilter{Readable: all, Tags: map[string]string{"kind": "Photo"}}, nil},
			{"everything at once", ObjectFilter{Readable: all, Bucket: "b1", Prefix: "a", ContentType: "image/*", MinSize: i64(150),
				Tags: map[string]string{"kind": "photo"}, ModifiedSince: base}, []string{"b1/a/2"}},

			// Read grants.
			{"no grants", ObjectFilter{Readable: []ReadGrant{}}, nil},
			{"one bucket", ObjectFilter{Readable: []ReadGrant{{Bucket: "b2"}}}, []string{"b2/a/1", "b2/z/ü"}},
			{"grant with _ does not widen", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a_"}}}, []string{"b1/a_/y"}},
			{"grant with % does not widen", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a%"}}}, []string{"b1/a%/x"}},
			{"grant with \\ does not widen", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a\\"}}}, []string{"b1/a\\/back"}},
			{"grant is case sensitive", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a/"}}}, []string{"b1/a/1", "b1/a/2"}},
			{"grant on every bucket", ObjectFilter{Readable: []ReadGrant{{Bucket: "*", Prefix: "a/"}}}, []string{"b1/a/1", "b1/a/2", "b2/a/1"}},
			{"several grants", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a%"}, {Bucket: "b2", Prefix: "z/"}}},
				[]string{"b1/a%/x", "b2/z/ü"}},
			{"grant on another bucket", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1"}}, Bucket: "b2"}, nil},
			{"grant narrower than the prefix", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a/"}}, Prefix: "a"},
				[]string{"b1/a/1", "b1/a/2"}},
			{"grant wider than the prefix", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a"}}, Prefix: "a/"},
				[]string{"b1/a/1", "b1/a/2"}},
			{"grant beside the prefix", ObjectFilter{Readable: []ReadGrant{{Bucket: "b1", Prefix: "a/"}}, Prefix: "ab"}, nil},
			{"grant on a missing bucket", ObjectFilter{Readable: []ReadGrant{{Bucket: "b3"}}}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				objs, next, err := c.ListObjects(testCtx(t), tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := keysOf(objs); !reflect.DeepEqual(got, tc.want) || next != "" {
					t.Errorf("ListObjects = %q (next %q), want %q", got, next, tc.want)
				}
				u, err := c.CountObjects(testCtx(t), tc.f)
				if err != nil || u.Objects != int64(len(tc.want)) {
					t.Errorf("CountObjects = %+v, %v; want %d rows", u, err, len(tc.want))
				}
				var bytes int64
				for _, o := range objs {
					bytes += o.Size
				}
				if u.Bytes != bytes {
					t.Errorf("CountObjects bytes = %d, want %d", u.Bytes, bytes)
				}
			})
		}

		usage, err := c.BucketUsage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := []Usage{{"b1", 7, 2100}, {"b2", 2, 1500}}; !reflect.DeepEqual(usage, want) {
			t.Errorf("BucketUsage = %+v, want %+v", usage, want)
		}

		// What is refused.
		bad := []ObjectFilter{
			{},                               // no grants at all
			{Readable: []ReadGrant{{}}},      // a grant without a bucket
			{Readable: all, Prefix: "a\x00"}, // text no database stores
			{Readable: all, Limit: -1},       // a negative page
			{Readable: all, PageToken: "!!"}, // not base64
			{Readable: all, PageToken: "_w"}, // a length beyond the token
			{Readable: all, Tags: map[string]string{"\xff": "x"}},
		}
		for _, f := range bad {
			if _, _, err := c.ListObjects(testCtx(t), f); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("ListObjects(%+v) err = %v, want ErrInvalidFilter", f, err)
			}
		}
		if _, err := c.CountObjects(testCtx(t), ObjectFilter{}); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("CountObjects without grants: %v", err)
		}
	})
}

func TestListObjectsPages(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		// 40 rows in two buckets; every third one tagged, so a tag filter
		// must skip rows and still fill its pages.
		var want, wantTagged []string
		for i := range 40 {
			bucket := "p1"
			if i >= 25 {
				bucket = "p2"
			}
			key := fmt.Sprintf("k/%03d", i)
			var tags map[string]string
			if i%3 == 0 {
				tags = map[string]string{"third": "yes"}
				wantTagged = append(wantTagged, bucket+"/"+key)
			}
			syncT(t, c, bucket, key, seqN(i), &Object{Size: int64(i), ETag: "e", Modified: time.Now(), Tags: tags})
			want = append(want, bucket+"/"+key)
		}
		// A grant that hides some: p2 only under k/03.
		grants := []ReadGrant{{Bucket: "p1"}, {Bucket: "p2", Prefix: "k/03"}}
		var wantGranted []string
		for _, k := range want {
			if strings.HasPrefix(k, "p1/") || strings.HasPrefix(k, "p2/k/03") {
				wantGranted = append(wantGranted, k)
			}
		}
		for _, tc := range []struct {
			name  string
			f     ObjectFilter
			limit int
			want  []string
		}{
			{"all", ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}}, 7, want},
			{"tagged", ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}, Tags: map[string]string{"third": "yes"}}, 4, wantTagged},
			{"granted", ObjectFilter{Readable: grants}, 6, wantGranted},
			{"exact fit", ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}}, 20, want},
			{"default page", ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}}, 0, want},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				f := tc.f
				f.Limit = tc.limit
				page := tc.limit
				if page == 0 {
					page = DefaultObjectPage
				}
				var got []string
				for n := 0; ; n++ {
					objs, next, err := c.ListObjects(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if next != "" && len(objs) != page {
						t.Fatalf("page %d has %d rows and a next page; want full pages of %d", n, len(objs), page)
					}
					got = append(got, keysOf(objs)...)
					if next == "" {
						break
					}
					// The token is stable: the same page again.
					again, next2, err := c.ListObjects(ctx, ObjectFilter{Readable: f.Readable, Tags: f.Tags, Limit: f.Limit, PageToken: f.PageToken})
					if err != nil || !reflect.DeepEqual(keysOf(again), keysOf(objs)) || next2 != next {
						t.Fatalf("page %d read again differs: %q %q", n, keysOf(again), next2)
					}
					f.PageToken = next
					if n > 100 {
						t.Fatal("no end of pages")
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("pages = %q\nwant %q", got, tc.want)
				}
			})
		}
		// A limit above the maximum is capped. The rows go in in one
		// transaction: one sync each would take long on a slow machine.
		ctx := testCtx(t)
		tx, err := c.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for i := range MaxObjectPage + 5 - 40 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO objects (bucket, key, size, etag, created_at, modified_at, metadata, tags)
				VALUES ('p3', $1, 0, 'e', $2, $2, '{}', '{}')`, fmt.Sprintf("x%05d", i), c.d.timeArg(time.Now())); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		objs, next, err := c.ListObjects(ctx, ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}, Limit: 5000})
		if err != nil || len(objs) != MaxObjectPage || next == "" {
			t.Errorf("Limit 5000: %d rows, next %q, %v; want %d and more", len(objs), next, err, MaxObjectPage)
		}
		// A token only positions: a forged one shows nothing the grants hide.
		objs, _, err = c.ListObjects(ctx, ObjectFilter{Readable: grants, PageToken: encodePageToken("p2", "")})
		if err != nil || !reflect.DeepEqual(keysOf(objs), []string{"p2/k/030", "p2/k/031", "p2/k/032", "p2/k/033", "p2/k/034", "p2/k/035", "p2/k/036", "p2/k/037", "p2/k/038", "p2/k/039"}) {
			t.Errorf("forged token: %q, %v", keysOf(objs), err)
		}
	})
}

func TestObjectsCancelledContext(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		syncT(t, c, "b", "k", seqN(1), &Object{ETag: "e", Modified: time.Now()})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		all := ObjectFilter{Readable: []ReadGrant{{Bucket: "*"}}}
		calls := map[string]func() error{
			"SyncObject": func() error {
				_, err := c.SyncObject(ctx, "test", "b", "k", seqN(2), loadOf(nil))
				return err
			},
			"SetObjectFields": func() error {
				_, err := c.SetObjectFields(ctx, "test", "b", "k", seqN(2), "e", HookFields{})
				return err
			},
			"GetObject":       func() error { _, err := c.GetObject(ctx, "b", "k"); return err },
			"ListObjects":     func() error { _, _, err := c.ListObjects(ctx, all); return err },
			"CountObjects":    func() error { _, err := c.CountObjects(ctx, all); return err },
			"BucketUsage":     func() error { _, err := c.BucketUsage(ctx); return err },
			"PruneTombstones": func() error { _, err := c.PruneTombstones(ctx, 0); return err },
			"ProcessorSequencer": func() error {
				_, err := c.ProcessorSequencer(ctx, "test", "b", "k")
				return err
			},
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
		}
		if rowT(t, c, "b", "k") == nil {
			t.Error("a cancelled sync deleted the row")
		}
	})
}
