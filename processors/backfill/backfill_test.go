package backfill

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue/diskq"
)

func TestBackfill(t *testing.T) {
	ctx := t.Context()
	store, err := fs.Open(t.TempDir(), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateBucket(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	const n = 2500 // several listing pages
	for i := range n {
		key := fmt.Sprintf("p/%05d.jpg", i)
		if i%10 == 0 {
			key = fmt.Sprintf("p/.variants/%05d.jpg", i)
		}
		body := []byte(key)
		if _, err := store.PutObject(ctx, "photos", key, bytes.NewReader(body), backends.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.PutObject(ctx, "photos", "other", strings.NewReader("x"), backends.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	q, err := diskq.Open(t.TempDir(), diskq.Options{Fsync: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	var calls []Progress
	opts := Options{
		Backend: store, Queue: q, Sequencer: events.NewSequencer(7), Region: "us-east-1", Count: true, PageSize: 700,
		Skip: func(_, key string) bool { return strings.Contains(key, "/.variants/") },
	}
	p, err := Run(ctx, opts, "photos", "p/", func(p Progress) { calls = append(calls, p) })
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != n-n/10 || p.Emitted != p.Total || p.Skipped != n/10 {
		t.Fatalf("progress %+v, want %d emitted and counted, %d skipped", p, n-n/10, n/10)
	}
	if len(calls) < 4 || calls[0].Total != p.Total || calls[0].Emitted != 0 || calls[len(calls)-1] != p {
		t.Fatalf("progress reports %v", calls)
	}
	var last string
	got := 0
	for got < int(p.Emitted) {
		ms, err := q.Read(ctx, "g", "c", 1000, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			t.Fatalf("queue ran dry after %d events", got)
		}
		for _, m := range ms {
			recs, err := events.Unmarshal(m.Body)
			if err != nil || len(recs) != 1 {
				t.Fatalf("event body %q: %v", m.Body, err)
			}
			r := recs[0]
			if r.EventName != events.ObjectCreatedPut || !r.S3gate.Synthetic || r.S3.Bucket.Name != "photos" || !strings.HasPrefix(r.Key(), "p/") ||
				strings.Contains(r.Key(), ".variants") || r.S3.Object.Size != int64(len(r.Key())) || r.S3.Object.Sequencer <= last {
				t.Fatalf("event %+v (after sequencer %s)", r, last)
			}
			last = r.S3.Object.Sequencer
			got++
		}
	}
	if ms, _ := q.Read(ctx, "g", "c", 10, 0); len(ms) != 0 {
		t.Fatalf("%d events more than objects", len(ms))
	}
}
