package policy

import (
	"context"
	"slices"
	"testing"
	"time"
)

// benchInput is a typical object read by a writer.
func benchInput() Input {
	return Input{
		Version: InputVersion,
		Principal: Principal{
			ID: "alice", DisplayName: "Alice", Roles: []string{"writer"}, Groups: []string{"staff"}, Auth: "sigv4",
		},
		Action:   "s3:GetObject",
		Resource: Resource{Bucket: "photos", Key: "2024/cat.jpg", ARN: "arn:aws:s3:::photos/2024/cat.jpg"},
		Request: Request{
			Method: "GET", SourceIP: "192.0.2.10", Time: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		},
	}
}

// BenchmarkDecide measures a decision of the default policy, evaluated
// (the cache disabled) and answered from the cache, and of the example
// policies, whose every feature is looked at for a request.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	homeRead := benchInput()
	homeRead.Principal.Roles = []string{"user"}
	homeRead.Resource = Resource{Bucket: "home", Key: "home/alice/a.txt", ARN: "arn:aws:s3:::home/home/alice/a.txt"}
	for _, bc := range []struct {
		name      string
		dir       string
		cacheSize int
		in        Input
	}{
		{"uncached", "", -1, benchInput()},
		{"cached", "", 0, benchInput()},
		{"examples/uncached", examplesDir, -1, homeRead},
		{"examples/cached", examplesDir, 0, homeRead},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := New(ctx, Options{Dir: bc.dir, CacheSize: bc.cacheSize})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			in := bc.in
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				b.Fatalf("Decide = %+v, %v; want an allow", d, err)
			}
			b.ReportAllocs()
			// Each decision is timed too, for the median and the 99th
			// percentile (the timer calls cost ~50 ns, within the noise).
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := e.Decide(ctx, in); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
