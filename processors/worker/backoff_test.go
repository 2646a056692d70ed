package worker

import (
	"math"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue/diskq"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, time.Second
	top := func(n int64) int64 { return n - 1 }
	bottom := func(int64) int64 { return 0 }
	half := func(n int64) int64 { return n / 2 }
	// Ceilings double from lo and stop at hi.
	for n, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 6: time.Second, 100: time.Second, 1 << 20: time.Second,
	} {
		if got := backoff(n, lo, hi, top); got != want {
			t.Errorf("backoff(%d) at the top of its range = %v, want %v", n, got, want)
		}
		if got := backoff(n, lo, hi, bottom); got != 0 {
			t.Errorf("backoff(%d) at the bottom of its range = %v, want 0 (full jitter)", n, got)
		}
		if got := backoff(n, lo, hi, half); got != (want+1)/2 {
			t.Errorf("backoff(%d) mid-range = %v, want %v", n, got, (want+1)/2)
		}
	}
	// rand is asked for [0, ceiling], inclusive.
	var asked int64
	backoff(3, lo, hi, func(n int64) int64 { asked = n; return 0 })
	if asked != int64(400*time.Millisecond)+1 {
		t.Errorf("rand asked for [0, %d), want [0, %d)", asked, int64(400*time.Millisecond)+1)
	}
	// No overflow near the largest durations.
	if got := backoff(80, time.Duration(math.MaxInt64/3), time.Duration(math.MaxInt64-1), top); got != time.Duration(math.MaxInt64-1) {
		t.Errorf("huge backoff = %v", got)
	}
	if got := backoff(3, 0, hi, top); got != 0 {
		t.Errorf("backoff with lo 0 = %v, want 0", got)
	}
}

// TestBackoffSpread: with real randomness the waits spread over the range
// instead of repeating one value, which is what keeps consumers apart.
func TestBackoffSpread(t *testing.T) {
	p, err := New(&trimCounter{}, []Spec{{Processor: named("a")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := backoff(4, p.opts.BackoffMin, p.opts.BackoffMax, p.rnd)
		if d < 0 || d > 1600*time.Millisecond {
			t.Fatalf("backoff(4) = %v, outside [0, 1.6s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 waits took only %d values", len(seen))
	}
}

// TestDefaultBackoffWithinClaim: with the defaults a message's waits
// between attempts add up to well under the queues' default claim
// timeout, so retrying alone never hands it to a second consumer.
func TestDefaultBackoffWithinClaim(t *testing.T) {
	got := worstBackoff(DefaultMaxAttempts, DefaultBackoffMin, DefaultBackoffMax)
	if got != 3*time.Second {
		t.Errorf("worst total backoff = %v, want 3s (0.2+0.4+0.8+1.6)", got)
	}
	if got >= diskq.DefaultClaimAfter {
		t.Errorf("worst total backoff %v is not below the claim timeout %v", got, diskq.DefaultClaimAfter)
	}
}
