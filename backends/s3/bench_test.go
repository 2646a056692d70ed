package s3

import (
	"fmt"
	"io"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// Benchmarks against the test versitygw: go test -run '^$' -bench . ./backends/s3/

func benchStore(b *testing.B) (*Store, string) {
	s := newTestStore(b, nil)
	bkt := namespace() + "-bench"
	if err := s.CreateBucket(b.Context(), bkt); err != nil {
		b.Fatal(err)
	}
	return s, bkt
}

func BenchmarkPutObject(b *testing.B) {
	for _, size := range []int64{1 << 10, 1 << 20, 64 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s, bkt := benchStore(b)
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if _, err := s.PutObject(b.Context(), bkt, fmt.Sprint("k", i%8), io.LimitReader(zeros{}, size), backends.PutOptions{Size: size}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGetObject(b *testing.B) {
	for _, size := range []int64{1 << 10, 1 << 20, 64 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s, bkt := benchStore(b)
			if _, err := s.PutObject(b.Context(), bkt, "k", io.LimitReader(zeros{}, size), backends.PutOptions{Size: size}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				obj, err := s.GetObject(b.Context(), bkt, "k", backends.GetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, obj.Body); err != nil || n != size {
					b.Fatal(n, err)
				}
				obj.Body.Close()
			}
		})
	}
}
