package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/queue/diskq"
)

// noop is a processor that does nothing but count.
type noop struct{ n atomic.Int64 }

func (*noop) Name() string { return "noop" }
func (p *noop) Handle(context.Context, events.Record) error {
	p.n.Add(1)
	return nil
}

// BenchmarkPipeline measures events/s through the pool: a backlog of b.N
// events in the disk queue (fsync on, the default) drained by a no-op
// processor with Concurrency 4, every event read, decoded, handled and
// acknowledged.
func BenchmarkPipeline(b *testing.B) {
	for _, batch := range []int{1, DefaultBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q, err := diskq.Open(b.TempDir(), diskq.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			body, err := events.New(events.Change{
				Name: events.ObjectCreatedPut, Time: time.Now(), Bucket: "bucket", Key: "photos/2026/cat.jpg",
				Size: 123456, ETag: "0123456789abcdef0123456789abcdef", Sequencer: seq(1), RequestID: "17F0A0A0A0A0A0A0",
			}).Marshal()
			if err != nil {
				b.Fatal(err)
			}
			// Publish the backlog from many goroutines, which share fsyncs.
			const publishers = 32
			var wg sync.WaitGroup
			var next atomic.Int64
			for range publishers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := q.Publish(context.Background(), body); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()

			proc := &noop{}
			opts := testOptions()
			opts.Batch = batch
			p := newPool(b, q, opts, Spec{Processor: proc, Concurrency: 4})
			b.ResetTimer()
			stop := run(b, p)
			for proc.n.Load() < int64(b.N) || pending(b, q, proc.Name()) > 0 {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
