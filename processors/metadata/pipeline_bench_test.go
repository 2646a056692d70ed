package metadata

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue/diskq"
	"github.com/s3gate/s3gate/processors/worker"
)

// BenchmarkPipeline measures the events per second the embedded pipeline
// sustains end to end: b.N events of distinct objects wait in the on-disk
// queue (fsync on, as served), and the metadata hook, with the serve
// default of 4 workers, turns each into a catalogue row (HEAD, a 512-byte
// read and a write to the catalogue).
//
//	go test -run '^$' -bench Pipeline ./processors/metadata
func BenchmarkPipeline(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", catalogtest.FreshSQLite}, {"postgres", catalogtest.FreshPostgres}} {
		b.Run(db.name, func(b *testing.B) { benchmarkPipeline(b, db.dsn(b)) })
	}
}

func benchmarkPipeline(b *testing.B, dsn string) {
	ctx := context.Background()
	store, err := fs.Open(b.TempDir(), fs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cat, err := catalog.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close()
	q, err := diskq.Open(b.TempDir(), diskq.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	if err := store.CreateBucket(ctx, bucket); err != nil {
		b.Fatal(err)
	}
	seq := events.NewSequencer(1)
	body := bytes.Repeat([]byte("s3gate "), 300)
	for i := range b.N {
		key := fmt.Sprintf("obj/%07d", i)
		info, err := store.PutObject(ctx, bucket, key, bytes.NewReader(body), backends.PutOptions{Size: int64(len(body))})
		if err != nil {
			b.Fatal(err)
		}
		rec := events.New(events.Change{Name: events.ObjectCreatedPut, Time: time.Now(), Bucket: bucket, Key: key,
			Size: info.Size, ETag: info.ETag, Sequencer: seq.Next(), Principal: "bench"})
		msg, _ := rec.Marshal()
		if _, err := q.Publish(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	pool, err := worker.New(q, []worker.Spec{{Processor: New(store, cat, Options{}), Concurrency: 4}}, worker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- pool.Run(runCtx) }()
	for {
		n, err := cat.CountObjects(ctx, catalog.ObjectFilter{Readable: []catalog.ReadGrant{{Bucket: "*"}}})
		if err != nil {
			b.Fatal(err)
		}
		if n.Objects == int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
