package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/metadata"
	"github.com/s3gate/s3gate/processors/queue/diskq"
	"github.com/s3gate/s3gate/processors/worker"
)

// BenchmarkVariantsPipeline measures variants made per second with the
// worker pool busy, end to end as served in the embedded shape: b.N photo
// uploads (12 MP JPEGs) wait in the on-disk queue, the metadata hook (4
// workers) and the image hook (2 workers, the defaults) run on them, and
// the clock stops when every original's catalogue row lists its three
// default variants. It also reports how long each photo waited from its
// event to its variants (p50, max): with the pool busy that is mostly
// queueing; an idle pool's latency is one render (BenchmarkRender12MPJPEG
// in render/).
//
//	go test -run '^$' -bench VariantsPipeline -benchtime 8x ./processors/image
func BenchmarkVariantsPipeline(b *testing.B) {
	ctx := context.Background()
	store, err := fs.Open(b.TempDir(), fs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cat, err := catalog.Open(ctx, catalogtest.FreshSQLite(b))
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
	img, err := New(Options{Backend: store, Catalog: cat, Location: Location{Prefix: ".variants/"}, MaxRenders: 2})
	if err != nil {
		b.Fatal(err)
	}
	photo := jpegOf(b, 4000, 3000)
	seq := events.NewSequencer(1)
	published := make([]time.Time, b.N)
	for i := range b.N {
		key := fmt.Sprintf("camera/%05d.jpg", i)
		info, err := store.PutObject(ctx, bucket, key, bytes.NewReader(photo), backends.PutOptions{Size: int64(len(photo)),
			ContentHeaders: backends.ContentHeaders{ContentType: "image/jpeg"}})
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
	pool, err := worker.New(q, []worker.Spec{
		{Processor: metadata.New(store, cat, metadata.Options{}), Concurrency: 4},
		{Processor: img, Concurrency: 2},
	}, worker.Options{})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	for i := range published {
		published[i] = start
	}
	go func() { done <- pool.Run(runCtx) }()
	waits := make([]time.Duration, b.N)
	left := b.N
	for left > 0 {
		rows, _, err := cat.ListObjects(ctx, catalog.ObjectFilter{Readable: []catalog.ReadGrant{{Bucket: "*"}}, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			var i int
			fmt.Sscanf(r.Key, "camera/%05d.jpg", &i)
			var list []json.RawMessage
			if waits[i] == 0 && json.Unmarshal(r.Variants, &list) == nil && len(list) == 3 {
				waits[i] = time.Since(published[i])
				left--
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(waits)
	b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "variants/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "photos/s")
	b.ReportMetric(waits[len(waits)/2].Seconds(), "p50-s")
	b.ReportMetric(waits[len(waits)-1].Seconds(), "max-s")
}
