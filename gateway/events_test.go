package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/events"
)

// recordingOutbox keeps what the gateway told it: intents, then their
// outcomes.
type recordingOutbox struct {
	mu        sync.Mutex
	begun     []events.Record
	committed []events.Record
	aborted   []events.Record
	fail      error
}

type recordingTicket struct {
	o   *recordingOutbox
	rec events.Record
	// settled catches a ticket settled twice.
	settled bool
}

func (o *recordingOutbox) Begin(ctx context.Context, rec events.Record) (Ticket, error) {
	ts, err := o.BeginAll(ctx, []events.Record{rec})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

func (o *recordingOutbox) BeginAll(_ context.Context, recs []events.Record) ([]Ticket, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return nil, o.fail
	}
	var ts []Ticket
	for _, r := range recs {
		o.begun = append(o.begun, r)
		ts = append(ts, &recordingTicket{o: o, rec: r})
	}
	return ts, nil
}

func (t *recordingTicket) settle(into *[]events.Record, rec events.Record) {
	t.o.mu.Lock()
	defer t.o.mu.Unlock()
	if t.settled {
		panic("ticket settled twice")
	}
	t.settled = true
	*into = append(*into, rec)
}

func (t *recordingTicket) Commit(rec events.Record) { t.settle(&t.o.committed, rec) }
func (t *recordingTicket) Abort()                   { t.settle(&t.o.aborted, t.rec) }

// take returns and forgets what was committed and aborted, and checks that
// every intent was settled.
func (o *recordingOutbox) take(t *testing.T) (committed, aborted []events.Record) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.committed) + len(o.aborted); n != len(o.begun) {
		t.Fatalf("%d intents, %d settled", len(o.begun), n)
	}
	committed, aborted = o.committed, o.aborted
	o.begun, o.committed, o.aborted = nil, nil, nil
	return committed, aborted
}

func TestEventPerMutation(t *testing.T) {
	box := &recordingOutbox{}
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Outbox = box })
	e.mkBucket("events")
	ctx := t.Context()
	box.take(t) // bucket creation emits nothing

	expect := func(name, key string, size int64, etag string) events.Record {
		t.Helper()
		committed, aborted := box.take(t)
		if len(committed) != 1 || len(aborted) != 0 {
			t.Fatalf("%s %s: committed %d, aborted %d; want one event", name, key, len(committed), len(aborted))
		}
		rec := committed[0]
		if rec.EventName != name || rec.Key() != key || rec.S3.Bucket.Name != "events" || rec.S3.Object.Size != size || rec.S3.Object.ETag != etag {
			t.Fatalf("event %s %q size %d etag %q; want %s %q %d %q", rec.EventName, rec.Key(), rec.S3.Object.Size, rec.S3.Object.ETag, name, key, size, etag)
		}
		if rec.UserIdentity.PrincipalID == "" || rec.ResponseElements.RequestID == "" || rec.RequestParameters.SourceIPAddress != "127.0.0.1" ||
			len(rec.S3.Object.Sequencer) != 28 || rec.S3gate.Auth != "sigv4" || rec.EventVersion != "2.1" || rec.EventSource != "aws:s3" {
			t.Fatalf("event lacks its request's facts: %+v", rec)
		}
		return rec
	}

	key := "dir/a b+c.txt"
	body := []byte("hello events")
	put, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	rec := expect(events.ObjectCreatedPut, key, int64(len(body)), strings.Trim(aws.ToString(put.ETag), `"`))
	if rec.S3gate.ContentType != "text/plain" || rec.S3gate.SniffedType != "text/plain" || rec.S3.Object.Key != url.QueryEscape(key) {
		t.Fatalf("content type %q, sniffed %q, encoded key %q", rec.S3gate.ContentType, rec.S3gate.SniffedType, rec.S3.Object.Key)
	}
	first := rec.S3.Object.Sequencer

	if _, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("events"), Key: aws.String("copy"), CopySource: aws.String("events/" + url.PathEscape(key))}); err != nil {
		t.Fatal(err)
	}
	rec = expect(events.ObjectCreatedCopy, "copy", int64(len(body)), strings.Trim(aws.ToString(put.ETag), `"`))
	if rec.S3.Object.Sequencer <= first {
		t.Fatalf("sequencer %s after %s", rec.S3.Object.Sequencer, first)
	}

	mp, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("events"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("events"), Key: aws.String("mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := box.take(t); len(c) != 0 {
		t.Fatalf("creating an upload and a part emitted %d events", len(c))
	}
	done, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("events"), Key: aws.String("mp"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	expect(events.ObjectCreatedComplete, "mp", int64(len(body)), strings.Trim(aws.ToString(done.ETag), `"`))

	if _, err := e.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("events"), Key: aws.String("mp"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}); err != nil {
		t.Fatal(err)
	}
	expect(events.ObjectTaggingPut, "mp", 0, "")
	if _, err := e.client.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("events"), Key: aws.String("mp")}); err != nil {
		t.Fatal(err)
	}
	expect(events.ObjectTaggingDelete, "mp", 0, "")

	f := signedPostForm(t, time.Now().Add(time.Hour), []any{map[string]string{"bucket": "events"}, []any{"starts-with", "$key", ""}}, [2]string{"key", "posted"})
	f.filename, f.file = "x", []byte("posted body")
	expectStatus(t, e.post("events", f), 204)
	if rec := expect(events.ObjectCreatedPost, "posted", int64(len(f.file)), md5hex(string(f.file))); rec.S3gate.SniffedType != "text/plain" {
		t.Fatalf("POST sniffed as %q", rec.S3gate.SniffedType)
	}

	if _, err := e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("events"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}
	expect(events.ObjectRemovedDelete, "copy", 0, "")

	// DeleteObjects: one event per key deleted; a key that fails is aborted.
	objs := []types.ObjectIdentifier{{Key: aws.String(key)}, {Key: aws.String("mp")}, {Key: aws.String("posted"), ETag: aws.String(`"0123"`)}}
	if _, err := e.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("events"), Delete: &types.Delete{Objects: objs}}); err != nil {
		t.Fatal(err)
	}
	committed, aborted := box.take(t)
	var names []string
	for _, r := range committed {
		if r.EventName != events.ObjectRemovedDelete {
			t.Fatalf("DeleteObjects emitted %s", r.EventName)
		}
		names = append(names, r.Key())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{key, "mp"}) || len(aborted) != 1 || aborted[0].Key() != "posted" {
		t.Fatalf("DeleteObjects: committed %v, aborted %d", names, len(aborted))
	}

	// A write the backend refuses leaves no event.
	_, err = e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("events"), Key: aws.String("posted"), Body: bytes.NewReader(body), IfMatch: aws.String(`"0123"`)})
	if err == nil {
		t.Fatal("conditional PUT against the wrong ETag succeeded")
	}
	if c, a := box.take(t); len(c) != 0 || len(a) != 1 {
		t.Fatalf("failed PUT: committed %d, aborted %d", len(c), len(a))
	}
}

// TestOutboxDownRefusesWrites: a write whose intent cannot be recorded is
// refused before the backend sees it, so no change goes unannounced.
func TestOutboxDownRefusesWrites(t *testing.T) {
	box := &recordingOutbox{}
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Outbox = box })
	e.mkBucket("events")
	box.fail = errors.New("disk full")
	resp := e.put("events", "k", []byte("x"), nil)
	expectError(t, resp, 503, "ServiceUnavailable")
	if _, err := e.backend.HeadObject(t.Context(), "events", "k", backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Fatalf("the backend stored an object whose event could not be recorded: %v", err)
	}
	resp = e.do(req{method: "DELETE", path: "/ev/k"})
	expectError(t, resp, 503, "ServiceUnavailable")
}

func TestReconcile(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("events")
	ctx := t.Context()
	now := time.Now()
	intent := func(name, key string, at time.Time) events.Record {
		return events.New(events.Change{Name: name, Bucket: "events", Key: key, Time: at, Sequencer: events.NewSequencer(1).Next()})
	}
	expectStatus(t, e.put("events", "there", []byte("abc"), nil), 200)
	cases := []struct {
		name string
		rec  events.Record
		emit bool
	}{
		{"created and there", intent(events.ObjectCreatedPut, "there", now), true},
		{"created, missing", intent(events.ObjectCreatedPut, "missing", now), false},
		{"created, only an older object", intent(events.ObjectCreatedPut, "there", now.Add(time.Hour)), false},
		{"deleted and gone", intent(events.ObjectRemovedDelete, "missing", now), true},
		{"delete did not happen", intent(events.ObjectRemovedDelete, "there", now.Add(time.Hour)), false},
		{"tagging, object there", intent(events.ObjectTaggingPut, "there", now), true},
		{"tagging, object gone", intent(events.ObjectTaggingPut, "missing", now), false},
		{"bucket gone", events.New(events.Change{Name: events.ObjectCreatedPut, Bucket: "nobucket", Key: "k", Time: now}), false},
	}
	for _, c := range cases {
		rec, emit, err := e.gw.Reconcile(ctx, c.rec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if emit != c.emit {
			t.Errorf("%s: emit %v, want %v", c.name, emit, c.emit)
		}
		if emit && strings.HasPrefix(c.rec.EventName, "ObjectCreated") && (rec.S3.Object.Size != 3 || rec.S3.Object.ETag != md5hex("abc")) {
			t.Errorf("%s: emitted %+v without the object's size and ETag", c.name, rec.S3.Object)
		}
	}
}
