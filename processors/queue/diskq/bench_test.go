package diskq

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

const benchBody = 256

// BenchmarkPublish measures publishing with and without fsync, from one
// publisher (every Publish waits for its own fsync) and from many (they
// share fsyncs).
func BenchmarkPublish(b *testing.B) {
	body := bytes.Repeat([]byte("e"), benchBody)
	for _, fsync := range []bool{true, false} {
		for _, publishers := range []int{1, 64} {
			b.Run(fmt.Sprintf("fsync=%v/publishers=%d", fsync, publishers), func(b *testing.B) {
				q := open(b, b.TempDir(), Options{Fsync: new(fsync)})
				ctx := b.Context()
				b.SetBytes(benchBody)
				var n atomic.Int64
				if publishers == 1 {
					for b.Loop() {
						if _, err := q.Publish(ctx, body); err != nil {
							b.Fatal(err)
						}
						n.Add(1)
					}
				} else {
					b.SetParallelism(max(1, publishers/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := q.Publish(ctx, body); err != nil {
								b.Error(err)
								return
							}
							n.Add(1)
						}
					})
				}
				b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "events/s")
				if fsync {
					b.ReportMetric(float64(n.Load())/float64(max(q.logSyncs.Load(), 1)), "events/fsync")
				}
			})
		}
	}
}

// BenchmarkReadAck measures one consumer draining a backlog: Read of up to
// 100 entries, then Ack of them.
func BenchmarkReadAck(b *testing.B) {
	const batch = 100
	q := open(b, b.TempDir(), Options{})
	ctx := b.Context()
	if err := q.EnsureGroup(ctx, "g"); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("e"), benchBody)
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i] = body
	}
	for left := b.N; left > 0; left -= len(bodies) {
		if _, err := q.publish(ctx, bodies[:min(left, len(bodies))]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchBody)
	b.ResetTimer()
	n := 0
	for n < b.N {
		ms, err := q.Read(ctx, "g", "c", min(batch, b.N-n), 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) == 0 {
			b.Fatalf("backlog ran dry after %d of %d entries", n, b.N)
		}
		if err := q.Ack(ctx, "g", idsOf(ms)...); err != nil {
			b.Fatal(err)
		}
		n += len(ms)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
