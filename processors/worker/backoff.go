package worker

import "time"

// backoff is the wait before retry n (n ≥ 1: the wait after the n-th
// consecutive failure), with full jitter: uniformly random in [0, c] where
// the ceiling c is lo for the first retry and doubles with each one up to
// hi. Jitter keeps the consumers of a failing dependency from retrying in
// lockstep. rnd(k) returns a number in [0, k), as rand.Int64N does.
func backoff(n int, lo, hi time.Duration, rnd func(int64) int64) time.Duration {
	c := ceiling(n, lo, hi)
	if c <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(c) + 1))
}

// ceiling is the largest wait backoff may return before retry n:
// min(hi, lo·2^(n-1)), without overflowing.
func ceiling(n int, lo, hi time.Duration) time.Duration {
	if lo <= 0 || hi <= 0 {
		return 0
	}
	c := min(lo, hi)
	for i := 1; i < n && c < hi; i++ {
		if c > hi/2 {
			return hi
		}
		c *= 2
	}
	return c
}

// worstBackoff is the most a message can spend waiting between the
// attempts of one delivery: the sum of the ceilings of its retries. It
// must stay well below the queue's claim timeout, or another consumer is
// handed the message while this one still waits to retry it.
func worstBackoff(attempts int, lo, hi time.Duration) time.Duration {
	var sum time.Duration
	for n := 1; n < attempts; n++ {
		sum += ceiling(n, lo, hi)
	}
	return sum
}
