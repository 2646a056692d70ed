package backendtest

import (
	"bytes"
	"maps"
	"sync"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

func wantTags(t *testing.T, b backends.Backend, bucket, key string, want map[string]string) {
	t.Helper()
	got, err := b.GetObjectTagging(t.Context(), bucket, key)
	if err != nil {
		t.Fatalf("GetObjectTagging(%q): %v", key, err)
	}
	if got == nil || !maps.Equal(got, want) {
		t.Fatalf("GetObjectTagging(%q) = %#v, want %v", key, got, want)
	}
	head, err := b.HeadObject(t.Context(), bucket, key, backends.GetOptions{})
	if err != nil || head.TagCount != len(want) {
		t.Fatalf("HeadObject(%q) TagCount = %d (%v), want %d", key, head.TagCount, err, len(want))
	}
}

func testTagging(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt = "bt-tagging"
	createBucket(t, b, bkt)
	data := bytes.Repeat([]byte("tagged bytes "), 30_000) // several copy buffers
	tags := map[string]string{"color": "red", "empty": "", "sp ace": "ü"}
	info, err := b.PutObject(ctx, bkt, "k", bytes.NewReader(data), backends.PutOptions{Size: int64(len(data)), Tags: tags,
		Metadata: map[string]string{"m": "v"}, ContentHeaders: backends.ContentHeaders{ContentType: "text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.TagCount != 3 {
		t.Errorf("PutObject TagCount = %d, want 3", info.TagCount)
	}
	wantTags(t, b, bkt, "k", tags)
	page, err := b.ListObjects(ctx, bkt, backends.ListOptions{MaxKeys: 10})
	if err != nil || len(page.Objects) != 1 || (page.Objects[0].TagCount != 3 && !b.Capabilities(bkt).Limits.NoListTagCounts) {
		t.Errorf("ListObjects = %+v, %v; want TagCount 3", page.Objects, err)
	}
	// A remote backend's PutObject may date the write by its answer; the
	// stored LastModified is what must survive retagging.
	before, err := b.HeadObject(ctx, bkt, "k", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Replacing the tags changes nothing else.
	newTags := map[string]string{"color": "blue"}
	if err := b.PutObjectTagging(ctx, bkt, "k", newTags); err != nil {
		t.Fatalf("PutObjectTagging: %v", err)
	}
	wantTags(t, b, bkt, "k", newTags)
	wantBody(t, b, bkt, "k", data)
	head, err := b.HeadObject(ctx, bkt, "k", backends.GetOptions{})
	if err != nil || head.ETag != info.ETag || !head.LastModified.Equal(before.LastModified) ||
		head.ContentType != "text/plain" || head.Metadata["m"] != "v" {
		t.Errorf("after PutObjectTagging: %+v, %v; want ETag, LastModified, headers and metadata of %+v", head, err, info)
	}
	for _, empty := range []map[string]string{nil, {}} {
		if err := b.PutObjectTagging(ctx, bkt, "k", newTags); err != nil {
			t.Fatal(err)
		}
		if err := b.PutObjectTagging(ctx, bkt, "k", empty); err != nil {
			t.Fatalf("PutObjectTagging(%v): %v", empty, err)
		}
		wantTags(t, b, bkt, "k", map[string]string{})
	}

	wantErr(t, "PutObjectTagging on a missing key", b.PutObjectTagging(ctx, bkt, "missing", newTags), backends.ErrNoSuchKey)
	_, err = b.GetObjectTagging(ctx, bkt, "missing")
	wantErr(t, "GetObjectTagging on a missing key", err, backends.ErrNoSuchKey)
	wantErr(t, "PutObjectTagging in a missing bucket", b.PutObjectTagging(ctx, "bt-missing", "k", newTags), backends.ErrNoSuchBucket)
	_, err = b.GetObjectTagging(ctx, "bt-missing", "k")
	wantErr(t, "GetObjectTagging in a missing bucket", err, backends.ErrNoSuchBucket)
	wantAbsent(t, b, bkt, "missing")

	// An overwrite without tags carries none.
	put(t, b, bkt, "k", []byte("plain"))
	wantTags(t, b, bkt, "k", map[string]string{})

	// Tagging a multipart object keeps its parts.
	id := startUpload(t, b, bkt, "mp", backends.UploadOptions{Tags: map[string]string{"a": "1"}})
	p1, p2 := partBytes(50, backends.MinPartSize), []byte("tail")
	parts := completed(uploadPart(t, b, bkt, "mp", id, 1, p1), uploadPart(t, b, bkt, "mp", id, 2, p2))
	completeUpload(t, b, bkt, "mp", id, parts, backends.CompleteOptions{})
	wantTags(t, b, bkt, "mp", map[string]string{"a": "1"})
	if err := b.PutObjectTagging(ctx, bkt, "mp", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	wantTags(t, b, bkt, "mp", map[string]string{"b": "2"})
	wantMultipart(t, b, bkt, "mp", p1, p2)
	got, _ := get(t, b, bkt, "mp", backends.GetOptions{PartNumber: 2, WithParts: true})
	if !bytes.Equal(got, p2) {
		t.Errorf("part 2 after retagging = %q, want %q", got, p2)
	}
}

// testTaggingRacesPut retags an object while it is overwritten: whatever
// the order, the overwrite is never undone by the retagged copy.
func testTaggingRacesPut(t *testing.T, b backends.Backend) {
	ctx := t.Context()
	const bkt, key = "bt-tagging-race", "k"
	createBucket(t, b, bkt)
	for round := range 20 {
		old := version(round)
		put(t, b, bkt, key, old)
		newer := version(round + 100)
		var wg sync.WaitGroup
		var terr, perr error
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			terr = b.PutObjectTagging(ctx, bkt, key, map[string]string{"round": "x"})
		})
		wg.Go(func() {
			<-start
			_, perr = b.PutObject(ctx, bkt, key, bytes.NewReader(newer), backends.PutOptions{Size: int64(len(newer))})
		})
		close(start)
		wg.Wait()
		if perr != nil {
			t.Fatalf("round %d: PutObject: %v", round, perr)
		}
		// The PUT always wins in the end: tagging either came first (and
		// the PUT dropped the tags) or tagged the new version.
		wantBody(t, b, bkt, key, newer)
		if terr != nil {
			t.Fatalf("round %d: PutObjectTagging: %v", round, terr)
		}
	}
}
