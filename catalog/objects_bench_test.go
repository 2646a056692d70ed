package catalog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSyncObject measures SyncObject's own cost, the loader answering
// from memory: new rows, overwrites of existing ones (a new version each
// time), re-deliveries that change nothing, and new rows from several
// callers at once, as a worker pool makes them.
func BenchmarkSyncObject(b *testing.B) {
	for _, db := range testDBs {
		b.Run(db.Name, func(b *testing.B) {
			c := openT(b, db.Fresh(b))
			ctx := context.Background()
			var n atomic.Int64
			obj := func(i int64) *Object {
				return &Object{Size: i, ETag: fmt.Sprintf("%032x", i), ContentType: "image/jpeg", SniffedContentType: "image/jpeg",
					Owner: "user:bench", Modified: time.Unix(1_800_000_000, i),
					Metadata: map[string]string{"camera": "x"}, Tags: map[string]string{"kind": "photo", "n": fmt.Sprint(i % 10)}}
			}
			sync := func(b *testing.B, key string, i int64) SyncResult {
				res, err := c.SyncObject(ctx, "bench", "bench", key, fmt.Sprintf("%028X", i), loadOf(obj(i)))
				if err != nil {
					b.Fatal(err)
				}
				return res
			}
			report := func(b *testing.B) {
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			}
			b.Run("new", func(b *testing.B) {
				for b.Loop() {
					i := n.Add(1)
					sync(b, fmt.Sprintf("new/%d", i), i)
				}
				report(b)
			})
			b.Run("overwrite", func(b *testing.B) {
				for b.Loop() {
					i := n.Add(1)
					if !sync(b, fmt.Sprintf("over/%d", i%100), i).Changed {
						b.Fatal("no change")
					}
				}
				report(b)
			})
			b.Run("unchanged", func(b *testing.B) {
				i := n.Add(1)
				sync(b, "same", i)
				for b.Loop() {
					if sync(b, "same", i).Changed {
						b.Fatal("changed")
					}
				}
				report(b)
			})
			b.Run("new-parallel", func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						sync(b, fmt.Sprintf("par/%d", i), i)
					}
				})
				report(b)
			})
		})
	}
}
