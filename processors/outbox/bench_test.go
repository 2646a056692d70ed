package outbox

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkBeginCommit measures a write's cost to the gateway: Begin
// (which waits for the intent's fsync, shared with concurrent callers)
// and Commit, from many goroutines, while Run publishes to a disk queue
// in the background.
func BenchmarkBeginCommit(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("fsync=%v/writers=%d", fsync, writers), func(b *testing.B) {
				dir := b.TempDir()
				q := openQueue(b, filepath.Join(dir, "q"))
				o := open(b, filepath.Join(dir, "outbox"), q, Options{Fsync: new(fsync)})
				run(b, o)
				rec := putRec("bench/object.bin", 1)
				fin := final(rec)
				ctx := b.Context()
				var n atomic.Int64
				syncs := o.syncs.Load()
				write := func() bool {
					tk, err := o.Begin(ctx, rec)
					if err != nil {
						b.Error(err)
						return false
					}
					tk.Commit(fin)
					n.Add(1)
					return true
				}
				if writers == 1 {
					// Every Begin waits for its own fsync.
					for b.Loop() {
						if !write() {
							return
						}
					}
				} else {
					b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() && write() {
						}
					})
					b.StopTimer()
				}
				b.ReportMetric(float64(o.syncs.Load()-syncs)/float64(max(n.Load(), 1)), "fsyncs/op")
			})
		}
	}
}
