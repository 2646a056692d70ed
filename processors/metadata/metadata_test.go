package metadata

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
)

const bucket = "photos"

// pngBytes is the start of a PNG file: signature and IHDR of a 3x2 image.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x02\x00\x00\x00"),
	bytes.Repeat([]byte{0x42}, 1000)...)

// countingBackend counts calls and can fail or intercept them.
type countingBackend struct {
	backends.Backend
	heads, gets, tagReads atomic.Int64
	closes                atomic.Int64 // of GetObject bodies
	failHead              atomic.Pointer[error]
	afterHead             func() // runs once after the next HEAD, then clears
	mu                    sync.Mutex
}

func (b *countingBackend) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	b.heads.Add(1)
	if err := b.failHead.Load(); err != nil {
		return backends.ObjectInfo{}, *err
	}
	info, err := b.Backend.HeadObject(ctx, bucket, key, opts)
	b.mu.Lock()
	after := b.afterHead
	b.afterHead = nil
	b.mu.Unlock()
	if after != nil {
		after()
	}
	return info, err
}

func (b *countingBackend) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	b.gets.Add(1)
	obj, err := b.Backend.GetObject(ctx, bucket, key, opts)
	if err == nil {
		obj.Body = &countedBody{obj.Body, &b.closes}
	}
	return obj, err
}

type countedBody struct {
	io.ReadCloser
	closes *atomic.Int64
}

func (c *countedBody) Close() error {
	c.closes.Add(1)
	return c.ReadCloser.Close()
}

func (b *countingBackend) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	b.tagReads.Add(1)
	return b.Backend.GetObjectTagging(ctx, bucket, key)
}

// env is a backend, a catalogue and the processor between them, with a
// gateway's way of making events.
type env struct {
	t       *testing.T
	ctx     context.Context
	backend *countingBackend
	cat     *catalog.Catalog
	p       *Processor
	seq     *events.Sequencer
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// synced counts the "row synced" log lines: the rows changed.
func (s *syncBuffer) synced() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), "object row synced")
}

func newEnv(t *testing.T, dsn string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	e := &env{t: t, ctx: ctx, backend: &countingBackend{Backend: store}, cat: cat, seq: events.NewSequencer(1), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p = New(e.backend, cat, Options{Logger: log})
	return e
}

// record is the event of a change to key, its sequencer taken now, before
// the backend call, as the gateway does.
func (e *env) record(name, key, principal string) events.Record {
	return events.New(events.Change{Name: name, Region: "us-east-1", Time: time.Now(), Bucket: bucket, Key: key,
		Sequencer: e.seq.Next(), Principal: principal})
}

func (e *env) put(key, principal string, body []byte, opts backends.PutOptions) events.Record {
	e.t.Helper()
	rec := e.record(events.ObjectCreatedPut, key, principal)
	opts.Size = int64(len(body))
	info, err := e.backend.PutObject(e.ctx, bucket, key, bytes.NewReader(body), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	rec.S3.Object.Size, rec.S3.Object.ETag = info.Size, info.ETag
	return rec
}

func (e *env) del(key, principal string) events.Record {
	e.t.Helper()
	rec := e.record(events.ObjectRemovedDelete, key, principal)
	if err := e.backend.DeleteObject(e.ctx, bucket, key, backends.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *env) tag(key, principal string, tags map[string]string) events.Record {
	e.t.Helper()
	rec := e.record(events.ObjectTaggingPut, key, principal)
	if err := e.backend.PutObjectTagging(e.ctx, bucket, key, tags); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *env) handle(rec events.Record) {
	e.t.Helper()
	if err := e.p.Handle(e.ctx, rec); err != nil {
		e.t.Fatalf("Handle(%s %s): %v", rec.EventName, rec.Key(), err)
	}
}

// row returns the row of key, nil when there is none.
func (e *env) row(key string) *catalog.Object {
	e.t.Helper()
	o, err := e.cat.GetObject(e.ctx, bucket, key)
	if errors.Is(err, catalog.ErrNoSuchObject) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return &o
}

func (e *env) head(key string) backends.ObjectInfo {
	e.t.Helper()
	info, err := e.backend.Backend.HeadObject(e.ctx, bucket, key, backends.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

func crc32Of(b []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestLifecycle(t *testing.T) {
	catalogtest.EachDB(t, func(t *testing.T, db catalogtest.DB) {
		e := newEnv(t, db.Fresh(t))
		const key = "2026/ü+a b.png"

		// PUT, then its event: the row says what the backend holds.
		sum := crc32Of(pngBytes)
		created := e.put(key, "user:alice", pngBytes, backends.PutOptions{
			ContentHeaders: backends.ContentHeaders{ContentType: "application/octet-stream"},
			Metadata:       map[string]string{"camera": "x100", "album": "summer"},
			Tags:           map[string]string{"kind": "photo", "year": "2026"},
			Checksum:       &backends.Checksum{Algorithm: "CRC32", Value: sum, Type: "FULL_OBJECT"},
		})
		e.handle(created)
		info := e.head(key)
		want := catalog.Object{
			Bucket: bucket, Key: key, Size: int64(len(pngBytes)), ETag: info.ETag,
			ChecksumAlgorithm: "CRC32", ChecksumValue: sum, ChecksumType: "FULL_OBJECT",
			ContentType: "application/octet-stream", SniffedContentType: "image/png",
			Owner: "user:alice", OwnerSequencer: created.S3.Object.Sequencer,
			Created:   info.LastModified.UTC().Truncate(time.Microsecond),
			Modified:  info.LastModified.UTC().Truncate(time.Microsecond),
			Metadata:  map[string]string{"camera": "x100", "album": "summer"},
			Tags:      map[string]string{"kind": "photo", "year": "2026"},
			Sequencer: created.S3.Object.Sequencer,
		}
		if got := e.row(key); !reflect.DeepEqual(got, &want) {
			t.Fatalf("row after PUT:\n got %+v\nwant %+v", got, &want)
		}
		if e.logs.synced() != 1 {
			t.Errorf("%d rows synced, want 1", e.logs.synced())
		}

		// Delivered again: nothing changes.
		e.handle(created)
		if got := e.row(key); !reflect.DeepEqual(got, &want) || e.logs.synced() != 1 {
			t.Errorf("re-delivery changed the row (%d syncs): %+v", e.logs.synced(), got)
		}

		// Tagged by someone else: new tags, same owner.
		tagged := e.tag(key, "user:bob", map[string]string{"kind": "photo", "best": "yes"})
		e.handle(tagged)
		got := e.row(key)
		if !reflect.DeepEqual(got.Tags, map[string]string{"kind": "photo", "best": "yes"}) || got.Owner != "user:alice" ||
			got.Sequencer != tagged.S3.Object.Sequencer {
			t.Errorf("after tagging: %+v", got)
		}
		// A late copy of the created event does not bring the old tags back.
		e.handle(created)
		if got := e.row(key); got.Tags["best"] != "yes" || got.Sequencer != tagged.S3.Object.Sequencer {
			t.Errorf("late created event after tagging: %+v", got)
		}
		// Tags removed.
		untagged := e.record(events.ObjectTaggingDelete, key, "user:bob")
		if err := e.backend.PutObjectTagging(e.ctx, bucket, key, nil); err != nil {
			t.Fatal(err)
		}
		e.handle(untagged)
		if got := e.row(key); got.Tags != nil {
			t.Errorf("tags after their removal: %v", got.Tags)
		}

		// Overwritten by bob: a new version, bob's; Created stays.
		over := e.put(key, "user:bob", []byte("plain words"), backends.PutOptions{})
		e.handle(over)
		got = e.row(key)
		if got.Owner != "user:bob" || got.SniffedContentType != "text/plain" || got.ContentType != "" || got.Metadata != nil ||
			got.ChecksumAlgorithm != "" || !got.Created.Equal(want.Created) || got.Modified.Equal(want.Modified) {
			t.Errorf("after the overwrite: %+v", got)
		}

		// Deleted: the row goes.
		deleted := e.del(key, "user:carol")
		e.handle(deleted)
		if got := e.row(key); got != nil {
			t.Fatalf("row after delete: %+v", got)
		}
		// Late events for versions that are gone bring nothing back.
		before := e.logs.synced()
		for _, rec := range []events.Record{created, over, tagged} {
			e.handle(rec)
		}
		if got := e.row(key); got != nil || e.logs.synced() != before {
			t.Errorf("late events after delete: row %+v, %d syncs", got, e.logs.synced()-before)
		}
		if seq, _ := e.cat.ProcessorSequencer(e.ctx, Name, bucket, key); seq != deleted.S3.Object.Sequencer {
			t.Errorf("tombstone %q, want the delete's %q", seq, deleted.S3.Object.Sequencer)
		}

		// Usage counts what is left.
		e.handle(e.put("a", "user:alice", []byte("12345"), backends.PutOptions{}))
		if u, err := e.cat.BucketUsage(e.ctx); err != nil || !reflect.DeepEqual(u, []catalog.Usage{{Bucket: bucket, Objects: 1, Bytes: 5}}) {
			t.Errorf("BucketUsage = %+v, %v", u, err)
		}
	})
}

// Who owns a version does not depend on the order its events arrive in.
func TestOwner(t *testing.T) {
	catalogtest.EachDB(t, func(t *testing.T, db catalogtest.DB) {
		e := newEnv(t, db.Fresh(t))

		// In order and reversed: the later write's principal owns.
		a := e.put("k1", "alice", []byte("one"), backends.PutOptions{})
		b := e.put("k1", "bob", []byte("two"), backends.PutOptions{})
		e.handle(b)
		e.handle(a)
		if got := e.row("k1"); got.Owner != "bob" || got.OwnerSequencer != b.S3.Object.Sequencer {
			t.Errorf("reversed: owner %q (%s)", got.Owner, got.OwnerSequencer)
		}

		// Same bytes written twice: the later claim wins, in either order.
		c := e.put("k2", "carol", []byte("same"), backends.PutOptions{})
		d := e.put("k2", "dave", []byte("same"), backends.PutOptions{})
		e.handle(d)
		e.handle(c)
		if got := e.row("k2"); got.Owner != "dave" {
			t.Errorf("same bytes: owner %q, want dave", got.Owner)
		}

		// Sequencers in the opposite order of the commits: bob takes his
		// sequencer first, but alice's PUT commits first and its event is
		// applied before bob's commit. Bob's version is there to stay and
		// is bob's.
		late := e.record(events.ObjectCreatedPut, "k3", "bob")
		early := e.put("k3", "alice", []byte("alice's"), backends.PutOptions{})
		e.handle(early)
		info, err := e.backend.PutObject(e.ctx, bucket, "k3", strings.NewReader("bob's"), backends.PutOptions{Size: 5})
		if err != nil {
			t.Fatal(err)
		}
		late.S3.Object.ETag = info.ETag
		e.handle(late)
		e.handle(early)
		if got := e.row("k3"); got.Owner != "bob" || got.ETag != info.ETag {
			t.Errorf("inverted sequencers: owner %q of %s", got.Owner, got.ETag)
		}

		// A version first seen through a tagging event has no owner until
		// its created event arrives, whenever that is.
		f := e.put("k4", "frank", []byte("f"), backends.PutOptions{})
		g := e.tag("k4", "grace", map[string]string{"t": "1"})
		e.handle(g)
		if got := e.row("k4"); got.Owner != "" {
			t.Errorf("owner before the created event: %q", got.Owner)
		}
		e.handle(f)
		if got := e.row("k4"); got.Owner != "frank" {
			t.Errorf("owner %q, want frank", got.Owner)
		}

		// An overwrite seen first through a tagging event keeps the old
		// owner only until its own created event arrives.
		h := e.put("k4", "heidi", []byte("h"), backends.PutOptions{})
		i := e.tag("k4", "ivan", map[string]string{"t": "2"})
		e.handle(i)
		e.handle(h)
		if got := e.row("k4"); got.Owner != "heidi" {
			t.Errorf("owner %q, want heidi", got.Owner)
		}

		// Anonymous and synthetic events without a principal name nobody.
		anon := e.put("k5", "", []byte("x"), backends.PutOptions{})
		e.handle(anon)
		if got := e.row("k5"); got.Owner != "" {
			t.Errorf("owner %q of an event without a principal", got.Owner)
		}
	})
}

func TestSniffing(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	gets := e.backend.gets.Load()
	e.handle(e.put("empty", "u", nil, backends.PutOptions{ContentHeaders: backends.ContentHeaders{ContentType: "image/png"}}))
	if got := e.row("empty"); got.SniffedContentType != "" || got.ContentType != "image/png" || got.Size != 0 {
		t.Errorf("empty object: %+v", got)
	}
	if e.backend.gets.Load() != gets {
		t.Error("an empty object's bytes were read")
	}
	e.handle(e.put("bin", "u", []byte{0, 1, 2, 3, 0xff}, backends.PutOptions{}))
	if got := e.row("bin").SniffedContentType; got != "application/octet-stream" {
		t.Errorf("binary sniffed as %q", got)
	}
	// Only the first bytes are read, however large the object.
	big := append(append([]byte{}, pngBytes...), bytes.Repeat([]byte("x"), 1<<20)...)
	e.handle(e.put("big", "u", big, backends.PutOptions{}))
	if got := e.row("big"); got.SniffedContentType != "image/png" || got.Size != int64(len(big)) {
		t.Errorf("big: %+v", got)
	}
	if g, c := e.backend.gets.Load(), e.backend.closes.Load(); g == 0 || g != c {
		t.Errorf("%d bodies opened, %d closed", g, c)
	}
}

// An object without tags costs no tagging read.
func TestNoTagsNoTagRead(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	e.handle(e.put("k", "u", []byte("x"), backends.PutOptions{}))
	if n := e.backend.tagReads.Load(); n != 0 {
		t.Errorf("%d tag reads for an untagged object", n)
	}
	e.handle(e.put("t", "u", []byte("x"), backends.PutOptions{Tags: map[string]string{"a": "b"}}))
	if n := e.backend.tagReads.Load(); n != 1 {
		t.Errorf("%d tag reads for a tagged object, want 1", n)
	}
}

// An object overwritten between the HEAD and the read of its first bytes
// is read again, so the row describes one version throughout.
func TestObjectChangesDuringLoad(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	first := e.put("k", "alice", pngBytes, backends.PutOptions{})
	var second events.Record
	e.backend.mu.Lock()
	e.backend.afterHead = func() {
		second = e.put("k", "bob", []byte("GIF89a and then some"), backends.PutOptions{})
	}
	e.backend.mu.Unlock()
	e.handle(first)
	got, info := e.row("k"), e.head("k")
	if got.ETag != info.ETag || got.SniffedContentType != "image/gif" || got.Size != info.Size {
		t.Errorf("row %+v\nbackend %+v", got, info)
	}
	if n := e.backend.heads.Load(); n != 2 {
		t.Errorf("%d HEADs, want 2", n)
	}
	e.handle(second)
	if got := e.row("k"); got.Owner != "bob" {
		t.Errorf("owner %q, want bob", got.Owner)
	}
}

func TestPermanentErrors(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	good := e.put("k", "u", []byte("x"), backends.PutOptions{})
	cases := map[string]func(r *events.Record){
		"no bucket":         func(r *events.Record) { r.S3.Bucket.Name = "" },
		"no key":            func(r *events.Record) { r.S3.Object.Key = "" },
		"undecodable key":   func(r *events.Record) { r.S3.Object.Key = "a%zz" },
		"NUL in the key":    func(r *events.Record) { r.S3.Object.Key = "a%00b" },
		"invalid UTF-8 key": func(r *events.Record) { r.S3.Object.Key = "a%FFb" },
	}
	heads := e.backend.heads.Load()
	for name, mutate := range cases {
		rec := good
		mutate(&rec)
		err := e.p.Handle(e.ctx, rec)
		if err == nil || !processors.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent error", name, err)
		}
	}
	if n := e.backend.heads.Load() - heads; n != 0 {
		t.Errorf("%d backend reads for events that cannot be applied", n)
	}
	// Every kind of event reaches the row, even one this processor has
	// never heard of.
	rec := good
	rec.EventName = "ObjectRestore:Completed"
	if err := e.p.Handle(e.ctx, rec); err != nil || e.row("k") == nil {
		t.Errorf("unknown event kind: %v", err)
	}
}

func TestTemporaryErrors(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	rec := e.put("k", "u", []byte("x"), backends.PutOptions{})
	down := backends.ErrBackendUnavailable
	e.backend.failHead.Store(&down)
	err := e.p.Handle(e.ctx, rec)
	if err == nil || processors.IsPermanent(err) || !errors.Is(err, backends.ErrBackendUnavailable) {
		t.Fatalf("backend down: err = %v, want a temporary error wrapping ErrBackendUnavailable", err)
	}
	if e.row("k") != nil {
		t.Error("a row was written from a failed read")
	}
	e.backend.failHead.Store(nil)
	e.handle(rec)
	if e.row("k") == nil {
		t.Error("no row once the backend was back")
	}

	// The catalogue gone (closed): temporary too.
	e.cat.Close()
	if err := e.p.Handle(e.ctx, rec); err == nil || processors.IsPermanent(err) {
		t.Errorf("catalogue closed: err = %v, want a temporary error", err)
	}
	// So is a context that ended.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.p.Handle(ctx, rec); err == nil || processors.IsPermanent(err) {
		t.Errorf("cancelled: err = %v, want a temporary error", err)
	}
}

// A bucket that is gone means its objects are.
func TestBucketGone(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	rec := e.put("k", "u", []byte("x"), backends.PutOptions{})
	e.handle(rec)
	e.handle(e.del("k", "u"))
	if err := e.backend.DeleteBucket(e.ctx, bucket); err != nil {
		t.Fatal(err)
	}
	e.handle(rec)
	if e.row("k") != nil {
		t.Error("a row for an object of a deleted bucket")
	}
}

// TestSniffedByTheGateway: an event that carries the media type the
// gateway sniffed spares the read of the object's first bytes, but only for
// the version it describes; later events of the same version reuse the
// row's.
func TestSniffedByTheGateway(t *testing.T) {
	e := newEnv(t, catalogtest.FreshSQLite(t))
	rec := e.put("told", "alice", pngBytes, backends.PutOptions{})
	rec.S3gate.SniffedType = "image/png"
	e.handle(rec)
	if got := e.backend.gets.Load(); got != 0 {
		t.Fatalf("%d reads of the object although the event said its type", got)
	}
	if row := e.row("told"); row == nil || row.SniffedContentType != "image/png" {
		t.Fatalf("row %+v", row)
	}
	e.handle(e.tag("told", "alice", map[string]string{"k": "v"}))
	if got := e.backend.gets.Load(); got != 0 {
		t.Fatalf("a tagging event of the same version read the object (%d reads)", got)
	}

	// The event's type is of another version than the one stored now:
	// it is not trusted, the bytes are read.
	stale := e.put("moved", "alice", pngBytes, backends.PutOptions{})
	stale.S3gate.SniffedType = "image/png"
	e.put("moved", "bob", []byte("GIF89a\x01\x00\x01\x00"), backends.PutOptions{})
	e.handle(stale)
	if got := e.backend.gets.Load(); got != 1 {
		t.Fatalf("%d reads, want the one of the current version", got)
	}
	if row := e.row("moved"); row == nil || row.SniffedContentType != "image/gif" {
		t.Fatalf("row %+v", row)
	}
}
