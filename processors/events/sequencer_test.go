package events

import (
	"sort"
	"sync"
	"testing"
	"time"
)

func TestSequencerMonotonic(t *testing.T) {
	s := NewSequencer(7)
	clock := time.UnixMilli(1_700_000_000_000)
	s.now = func() time.Time { return clock }
	prev := s.Next()
	for i := range 1000 {
		switch i % 4 {
		case 1:
			clock = clock.Add(-time.Second) // the wall clock steps back
		case 2:
			clock = clock.Add(3 * time.Millisecond)
		}
		next := s.Next()
		if len(next) != 28 || next <= prev {
			t.Fatalf("step %d: %q after %q", i, next, prev)
		}
		prev = next
	}
}

func TestSequencerConcurrentUnique(t *testing.T) {
	s := NewSequencer(0)
	var mu sync.Mutex
	var all []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 0, 1000)
			for range 1000 {
				local = append(local, s.Next())
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate sequencer %s", all[i])
		}
	}
}

func TestSequencerObserve(t *testing.T) {
	a, b := NewSequencer(1), NewSequencer(2)
	ahead := time.Now().Add(time.Hour)
	a.now = func() time.Time { return ahead }
	seen := a.Next()
	if got := b.Next(); got >= seen {
		t.Fatalf("b's clock is behind, yet %s >= %s", got, seen)
	}
	b.Observe(seen)
	if got := b.Next(); got <= seen {
		t.Fatalf("after observing %s, b issued %s", seen, got)
	}
	b.Observe("garbage") // ignored
}
