package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/image/render"
	"github.com/s3gate/s3gate/processors/metadata"
)

const bucket = "photos"

// gradient is a w x h test picture.
func gradient(w, h int) stdimage.Image {
	img := stdimage.NewNRGBA(stdimage.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

func jpegOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is a valid PNG header claiming w x h pixels, with a tiny body.
func bombPNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	copy(ihdr[8:], []byte{8, 2, 0, 0, 0})
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// env is a processor over an fs store and a catalogue, with the metadata
// hook that writes the rows the image hook fills.
type env struct {
	t     *testing.T
	ctx   context.Context
	store *countingStore
	cat   *catalog.Catalog
	meta  *metadata.Processor
	p     *Processor
	reg   *prometheus.Registry
	seq   *events.Sequencer
}

// countingStore counts the variant writes.
type countingStore struct {
	backends.Backend
	puts atomic.Int64
}

func (s *countingStore) PutObject(ctx context.Context, b, k string, r io.Reader, o backends.PutOptions) (backends.ObjectInfo, error) {
	s.puts.Add(1)
	return s.Backend.PutObject(ctx, b, k, r, o)
}

func newEnv(t *testing.T, dsn string, tune func(*Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	st, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, b := range []string{bucket, "variants"} {
		if err := st.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, ctx: ctx, store: &countingStore{Backend: st}, reg: prometheus.NewRegistry(), seq: events.NewSequencer(1)}
	if dsn != "" {
		if e.cat, err = catalog.Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.cat.Close() })
		e.meta = metadata.New(st, e.cat, metadata.Options{})
	}
	opts := Options{Backend: e.store, Catalog: e.cat, Location: Location{Prefix: ".variants/"}, OnDemand: true,
		CacheControl: "max-age=60", Registerer: e.reg, RowWait: 5 * time.Second}
	if tune != nil {
		tune(&opts)
	}
	if e.p, err = New(opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// put stores body at key and returns its event.
func (e *env) put(key string, body []byte, contentType string) events.Record {
	e.t.Helper()
	rec := events.New(events.Change{Name: events.ObjectCreatedPut, Time: time.Now(), Bucket: bucket, Key: key, Sequencer: e.seq.Next(), Principal: "alice"})
	info, err := e.store.Backend.PutObject(e.ctx, bucket, key, bytes.NewReader(body), backends.PutOptions{
		Size: int64(len(body)), ContentHeaders: backends.ContentHeaders{ContentType: contentType}})
	if err != nil {
		e.t.Fatal(err)
	}
	rec.S3.Object.Size, rec.S3.Object.ETag = info.Size, info.ETag
	return rec
}

func (e *env) del(key string) events.Record {
	e.t.Helper()
	rec := events.New(events.Change{Name: events.ObjectRemovedDelete, Time: time.Now(), Bucket: bucket, Key: key, Sequencer: e.seq.Next()})
	if err := e.store.Backend.DeleteObject(e.ctx, bucket, key, backends.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// hooks runs the metadata hook (when there is a catalogue), then the image
// hook, as the worker pool would.
func (e *env) hooks(rec events.Record) error {
	e.t.Helper()
	if e.meta != nil {
		if err := e.meta.Handle(e.ctx, rec); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.p.Handle(e.ctx, rec)
}

// variants returns the names of the variants stored for key and their
// infos.
func (e *env) variants(key string) map[string]backends.ObjectInfo {
	e.t.Helper()
	out := map[string]backends.ObjectInfo{}
	page, err := e.store.Backend.ListObjects(e.ctx, bucket, backends.ListOptions{Prefix: ".variants/" + key + "/", Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range page.Objects {
		info, err := e.store.Backend.HeadObject(e.ctx, bucket, o.Key, backends.GetOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		out[strings.TrimPrefix(o.Key, ".variants/"+key+"/")] = info
	}
	return out
}

func (e *env) row(key string) catalog.Object {
	e.t.Helper()
	o, err := e.cat.GetObject(e.ctx, bucket, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// decoded decodes a stored variant.
func (e *env) decoded(key string) (stdimage.Config, string) {
	e.t.Helper()
	obj, err := e.store.Backend.GetObject(e.ctx, bucket, key, backends.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer obj.Body.Close()
	cfg, format, err := stdimage.DecodeConfig(obj.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg, format
}

func TestVariantsLifecycle(t *testing.T) {
	catalogtest.EachDB(t, func(t *testing.T, db catalogtest.DB) {
		e := newEnv(t, db.Fresh(t), nil)
		rec := e.put("2024/sea.jpg", jpegOf(t, 1600, 1200), "image/jpeg")
		if err := e.hooks(rec); err != nil {
			t.Fatal(err)
		}
		etag := rec.S3.Object.ETag
		got := e.variants("2024/sea.jpg")
		want := map[string][2]int{"thumb.jpg": {200, 200}, "preview.jpg": {1024, 768}, "large.jpg": {1600, 1200}}
		if len(got) != len(want) {
			t.Fatalf("variants %v, want %v", keys(got), want)
		}
		for name, dims := range want {
			info, ok := got[name]
			if !ok {
				t.Fatalf("no variant %s", name)
			}
			if info.Metadata[metaSource] != etag || info.ContentType != "image/jpeg" || info.CacheControl != "max-age=60" {
				t.Errorf("%s: metadata %v, type %q, cache %q", name, info.Metadata, info.ContentType, info.CacheControl)
			}
			cfg, format := e.decoded(".variants/2024/sea.jpg/" + name)
			if format != "jpeg" || cfg.Width != dims[0] || cfg.Height != dims[1] {
				t.Errorf("%s: %s %dx%d, want jpeg %dx%d", name, format, cfg.Width, cfg.Height, dims[0], dims[1])
			}
		}
		row := e.row("2024/sea.jpg")
		if row.ImageWidth == nil || *row.ImageWidth != 1600 || *row.ImageHeight != 1200 || row.HookError != nil {
			t.Fatalf("row: width %v height %v error %v", row.ImageWidth, row.ImageHeight, row.HookError)
		}
		var listed []storedVariant
		if err := json.Unmarshal(row.Variants, &listed); err != nil || len(listed) != 3 || listed[0].Name != "thumb" ||
			listed[0].Key != ".variants/2024/sea.jpg/thumb.jpg" || listed[0].Width != 200 {
			t.Fatalf("row variants %s (%v)", row.Variants, err)
		}
		var exif map[string]any
		if err := json.Unmarshal(row.EXIF, &exif); err != nil || exif["format"] != "jpeg" || exif["orientation"] != 1.0 {
			t.Fatalf("row exif %s (%v)", row.EXIF, err)
		}

		// Delivered again: nothing is rendered or written again.
		puts := e.store.puts.Load()
		if err := e.hooks(rec); err != nil {
			t.Fatal(err)
		}
		if n := e.store.puts.Load() - puts; n != 0 {
			t.Fatalf("a redelivered event wrote %d variants", n)
		}

		// Overwritten by a PNG: every variant is replaced.
		rec2 := e.put("2024/sea.jpg", pngOf(t, 300, 600), "image/png")
		if err := e.hooks(rec2); err != nil {
			t.Fatal(err)
		}
		for name, info := range e.variants("2024/sea.jpg") {
			if info.Metadata[metaSource] != rec2.S3.Object.ETag {
				t.Errorf("%s still from the old version", name)
			}
		}
		if cfg, _ := e.decoded(".variants/2024/sea.jpg/preview.jpg"); cfg.Width != 300 || cfg.Height != 600 {
			t.Errorf("preview of the PNG is %dx%d, want 300x600 (never enlarged)", cfg.Width, cfg.Height)
		}
		if row := e.row("2024/sea.jpg"); *row.ImageWidth != 300 {
			t.Errorf("row width %d after overwrite", *row.ImageWidth)
		}

		// Overwritten by text under the same name: the variants go.
		rec3 := e.put("2024/sea.jpg", []byte("not a picture at all, only words"), "image/jpeg")
		if err := e.hooks(rec3); err != nil {
			t.Fatal(err)
		}
		if got := e.variants("2024/sea.jpg"); len(got) != 0 {
			t.Fatalf("variants of a text file: %v", keys(got))
		}

		// An image again, then deleted: the variants go with it.
		if err := e.hooks(e.put("2024/sea.jpg", jpegOf(t, 64, 48), "")); err != nil {
			t.Fatal(err)
		}
		if got := e.variants("2024/sea.jpg"); len(got) != 3 {
			t.Fatalf("variants %v", keys(got))
		}
		if err := e.hooks(e.del("2024/sea.jpg")); err != nil {
			t.Fatal(err)
		}
		if got := e.variants("2024/sea.jpg"); len(got) != 0 {
			t.Fatalf("variants left after delete: %v", keys(got))
		}
		if n := testutil.ToFloat64(e.p.m.renders.WithLabelValues("made")); n != 3 {
			t.Errorf("renders made = %v, want 3", n)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// An event for an older version finds the newer version and makes its
// variants; the newer event then has nothing left to do.
func TestOutOfOrderEvents(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t), nil)
	old := e.put("a.png", pngOf(t, 40, 40), "image/png")
	e.put("a.png", pngOf(t, 80, 20), "image/png")
	if err := e.hooks(old); err != nil {
		t.Fatal(err)
	}
	current, err := e.store.Backend.HeadObject(e.ctx, bucket, "a.png", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, info := range e.variants("a.png") {
		if info.Metadata[metaSource] != current.ETag {
			t.Fatalf("%s made from %s, want the current %s", name, info.Metadata[metaSource], current.ETag)
		}
	}
}

func TestHostileImages(t *testing.T) {
	truncated := jpegOf(t, 800, 600)
	truncated = truncated[:len(truncated)/3]
	cases := []struct {
		name, key   string
		body        []byte
		contentType string
		permanent   bool
		wantErr     error
	}{
		{"decompression bomb header", "bomb.png", bombPNG(100000, 100000), "image/png", true, render.ErrTooLarge},
		{"truncated JPEG", "cut.jpg", truncated, "image/jpeg", true, render.ErrCorrupt},
		{"text with an image's name", "words.jpg", []byte("hello, I am text"), "image/jpeg", false, nil},
		{"image signature then garbage", "junk.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xff}, 4000)...), "image/png", true, render.ErrCorrupt},
		{"over the byte limit", "huge.png", append(pngOf(t, 10, 10), make([]byte, 70<<10)...), "image/png", true, render.ErrTooLarge},
	}
	e := newEnv(t, catalogtest.FreshSQLite(t), func(o *Options) { o.Limits.MaxBytes = 64 << 10 })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.hooks(e.put(c.key, c.body, c.contentType))
			if processors.IsPermanent(err) != c.permanent || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("Handle: %v, want permanent=%v %v", err, c.permanent, c.wantErr)
			}
			if got := e.variants(c.key); len(got) != 0 {
				t.Fatalf("variants %v", keys(got))
			}
			row := e.row(c.key)
			if c.permanent && (row.HookError == nil || !strings.HasPrefix(*row.HookError, "image: ")) {
				t.Fatalf("hook error not recorded: %v", row.HookError)
			}
			if !c.permanent && row.HookError != nil {
				t.Fatalf("hook error %q for an object the hook rightly left alone", *row.HookError)
			}
		})
	}
	// The worker is fine: a good image right after works.
	if err := e.hooks(e.put("fine.jpg", jpegOf(t, 30, 30), "")); err != nil {
		t.Fatal(err)
	}
	if got := e.variants("fine.jpg"); len(got) != 3 {
		t.Fatalf("variants %v", keys(got))
	}
}

// The image hook may run before the metadata hook has written the row: it
// waits for it, and gives up temporarily (so the event is retried) when
// it never comes.
func TestWaitsForTheRow(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t), func(o *Options) { o.RowWait = 300 * time.Millisecond })
	rec := e.put("late.jpg", jpegOf(t, 50, 50), "image/jpeg")
	err := e.p.Handle(e.ctx, rec)
	if err == nil || processors.IsPermanent(err) || !strings.Contains(err.Error(), "metadata hook") {
		t.Fatalf("without a row: %v, want a temporary error naming the metadata hook", err)
	}
	e2 := newEnv(t, catalogtest.FreshSQLite(t), nil)
	rec = e2.put("late.jpg", jpegOf(t, 50, 50), "image/jpeg")
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		if err := e2.meta.Handle(e2.ctx, rec); err != nil {
			t.Error(err)
		}
	})
	if err := e2.p.Handle(e2.ctx, rec); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if row := e2.row("late.jpg"); row.ImageWidth == nil || *row.ImageWidth != 50 {
		t.Fatalf("row not filled: %+v", row.HookFields)
	}
}

func TestOnDemand(t *testing.T) {
	e := newEnv(t, "", nil)
	e.put("p.jpg", jpegOf(t, 900, 300), "image/jpeg")
	e.put("notes.txt", []byte("plain words"), "text/plain")

	// Eight requests at once for a variant never made: one render.
	var wg sync.WaitGroup
	etags := make([]string, 8)
	for i := range etags {
		wg.Go(func() {
			obj, err := e.p.Open(e.ctx, bucket, "p.jpg", "thumb", backends.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			defer obj.Body.Close()
			cfg, _, err := stdimage.DecodeConfig(obj.Body)
			if err != nil || cfg.Width != 200 || cfg.Height != 200 {
				t.Errorf("thumb %dx%d (%v)", cfg.Width, cfg.Height, err)
			}
			etags[i] = obj.Info.ETag
		})
	}
	wg.Wait()
	if n := testutil.ToFloat64(e.p.m.renders.WithLabelValues("made")); n != 1 {
		t.Fatalf("%v renders for 8 concurrent requests, want 1", n)
	}
	for _, et := range etags[1:] {
		if et != etags[0] {
			t.Fatalf("requests saw different variants: %v", etags)
		}
	}
	// A range of it.
	obj, err := e.p.Open(e.ctx, bucket, "p.jpg", "preview", backends.GetOptions{Range: &backends.Range{Start: 0, End: 9}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if len(b) != 10 || obj.Range == nil || !bytes.Equal(b[:2], []byte{0xff, 0xd8}) {
		t.Fatalf("range: %d bytes %x, range %+v", len(b), b, obj.Range)
	}

	// Overwritten: the stale variant is not served; a fresh one is made.
	e.put("p.jpg", jpegOf(t, 100, 400), "image/jpeg")
	info, err := e.p.Head(e.ctx, bucket, "p.jpg", "preview", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := e.decoded(".variants/p.jpg/preview.jpg"); cfg.Width != 100 || cfg.Height != 400 || info.Size == 0 {
		t.Fatalf("preview after overwrite %dx%d", cfg.Width, cfg.Height)
	}

	for _, c := range []struct {
		key, name string
		want      error
	}{
		{"p.jpg", "nosuch", ErrUnknownPreset},
		{"notes.txt", "thumb", ErrNotImage},
		{"gone.jpg", "thumb", backends.ErrNoSuchKey},
		{".variants/p.jpg/thumb.jpg", "thumb", backends.ErrNoSuchKey},
	} {
		if _, err := e.p.Open(e.ctx, bucket, c.key, c.name, backends.GetOptions{}); !errors.Is(err, c.want) {
			t.Errorf("Open(%s, %s): %v, want %v", c.key, c.name, err, c.want)
		}
	}

	off := newEnv(t, "", func(o *Options) { o.OnDemand = false })
	off.put("p.jpg", jpegOf(t, 90, 30), "image/jpeg")
	if _, err := off.p.Open(off.ctx, bucket, "p.jpg", "thumb", backends.GetOptions{}); !errors.Is(err, ErrNotMade) {
		t.Fatalf("on demand off: %v, want ErrNotMade", err)
	}
}

func TestPresetsAndLocation(t *testing.T) {
	presets := []Preset{
		{Preset: render.Preset{Name: "small", Width: 64, Mode: render.Fit, Format: render.PNG}, ContentTypes: []string{"image/png"}},
		{Preset: render.Preset{Name: "card", Width: 300, Height: 100, Mode: render.Exact, Format: render.JPEG, Quality: 70}, Buckets: []string{"other"}},
	}
	e := newEnv(t, "", func(o *Options) {
		o.Presets = presets
		o.Location = Location{Bucket: "variants"}
	})
	if err := e.hooks(e.put("dir/x.png", pngOf(t, 128, 32), "image/png")); err != nil {
		t.Fatal(err)
	}
	if err := e.hooks(e.put("y.jpg", jpegOf(t, 128, 32), "image/jpeg")); err != nil {
		t.Fatal(err)
	}
	page, err := e.store.Backend.ListObjects(e.ctx, "variants", backends.ListOptions{MaxKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != bucket+"/dir/x.png/small.png" {
		t.Fatalf("variants bucket holds %+v", page.Objects)
	}
	obj, err := e.store.Backend.GetObject(e.ctx, "variants", bucket+"/dir/x.png/small.png", backends.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := stdimage.DecodeConfig(obj.Body)
	obj.Body.Close()
	if err != nil || format != "png" || cfg.Width != 64 || cfg.Height != 16 {
		t.Fatalf("small: %s %dx%d (%v)", format, cfg.Width, cfg.Height, err)
	}
	if !e.p.Skip("variants", "photos/dir/x.png/small.png") || e.p.Skip(bucket, ".variants/x") {
		t.Fatal("Skip")
	}
	if e.p.HasPreset(bucket, "card") || !e.p.HasPreset("other", "card") {
		t.Fatal("a bucket's presets")
	}
	for _, bad := range [][]Preset{
		{{Preset: render.Preset{Name: "a", Width: 10, Mode: render.Fit, Format: render.PNG}}, {Preset: render.Preset{Name: "a", Width: 20, Mode: render.Fit, Format: render.PNG}}},
		{{Preset: render.Preset{Name: "A", Width: 10, Mode: render.Fit, Format: render.PNG}}},
		{{Preset: render.Preset{Name: "a", Width: 10, Mode: render.Fit, Format: render.PNG}, ContentTypes: []string{"*/*"}}},
	} {
		if _, err := New(Options{Backend: e.store, Presets: bad, Location: Location{Prefix: ".v/"}}); err == nil {
			t.Errorf("presets %+v accepted", bad)
		}
	}
	if _, err := New(Options{Backend: e.store, Location: Location{Prefix: "/abs/"}}); err == nil {
		t.Error("prefix /abs/ accepted")
	}
}

func TestLongKeys(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t), nil)
	key := strings.Repeat("k", 1000) + ".jpg"
	if err := e.hooks(e.put(key, jpegOf(t, 20, 20), "image/jpeg")); err != nil {
		t.Fatal(err)
	}
	row := e.row(key)
	if row.HookError == nil || !strings.Contains(*row.HookError, "too long") {
		t.Fatalf("hook error %v", row.HookError)
	}
	if _, err := e.p.Open(e.ctx, bucket, key, "thumb", backends.GetOptions{}); !errors.Is(err, ErrNotImage) {
		t.Fatalf("Open: %v", err)
	}
}
