package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/events"
)

// TestObserve: every attempt of every hook is reported once, with its
// result, attempt number and a unique id: two failures then success give
// retry, retry, ok; a permanent error gives permanent.
func TestObserve(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		q, _ := b.open(t, longClaim)
		flaky := newRecorder("flaky", func(_ context.Context, call int, _ events.Record) error {
			if call <= 2 {
				return errors.New("backend unavailable")
			}
			return nil
		})
		broken := newRecorder("broken", func(context.Context, int, events.Record) error {
			return processors.Permanent(errors.New("corrupt"))
		})
		var (
			mu  sync.Mutex
			got []Outcome
		)
		opts := testOptions()
		opts.Observe = func(o Outcome) {
			mu.Lock()
			got = append(got, o)
			mu.Unlock()
		}
		p := newPool(t, q, opts, Spec{Processor: flaky}, Spec{Processor: broken})
		publish(t, q, 0, 1, time.Now())
		run(t, p)
		waitFor(t, "four outcomes", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= 4
		})
		time.Sleep(50 * time.Millisecond) // no fifth may follow
		mu.Lock()
		defer mu.Unlock()
		var lines []string
		ids := map[string]bool{}
		for _, o := range got {
			if o.Record.S3.Object.Key != "k0" || o.Duration <= 0 || o.ID == "" || ids[o.ID] {
				t.Errorf("outcome %+v: wrong record, no duration or a repeated id", o)
			}
			ids[o.ID] = true
			lines = append(lines, o.Processor+" "+string(rune('0'+o.Attempt))+" "+o.Result)
		}
		slices.Sort(lines)
		want := []string{"broken 1 permanent", "flaky 1 retry", "flaky 2 retry", "flaky 3 ok"}
		if !slices.Equal(lines, want) {
			t.Errorf("outcomes %q, want %q", strings.Join(lines, ", "), strings.Join(want, ", "))
		}
	})
}
