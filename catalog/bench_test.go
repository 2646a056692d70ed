package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// BenchmarkGetBucket measures the per-request lookup the gateway makes:
// straight from the database, with many callers at once, and from the cache.
func BenchmarkGetBucket(b *testing.B) {
	const buckets = 100
	modes := []struct {
		name     string
		ttl      time.Duration
		parallel bool
	}{
		{"db", 0, false},
		{"db-parallel", 0, true},
		{"cached", time.Minute, false},
		{"cached-parallel", time.Minute, true},
	}
	for _, db := range testDBs {
		b.Run(db.Name, func(b *testing.B) {
			dsn := db.Fresh(b)
			ctx := context.Background()
			for _, m := range modes {
				c := openT(b, dsn, CacheTTL(m.ttl))
				for i := range buckets {
					err := c.CreateBucket(ctx, Bucket{Name: fmt.Sprintf("bucket-%03d", i), OwnerID: "o", Prefix: "p/"})
					if err != nil && !errors.Is(err, ErrBucketExists) {
						b.Fatal(err)
					}
				}
				b.Run(m.name, func(b *testing.B) {
					get := func(i int) {
						if _, err := c.GetBucket(ctx, fmt.Sprintf("bucket-%03d", i%buckets)); err != nil {
							b.Fatal(err)
						}
					}
					if m.parallel {
						b.RunParallel(func(pb *testing.PB) {
							for i := 0; pb.Next(); i++ {
								get(i)
							}
						})
						return
					}
					i := 0
					for b.Loop() {
						get(i)
						i++
					}
				})
			}
		})
	}
}
