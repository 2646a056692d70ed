package outbox

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Run publishes committed events to the queue until ctx ends, in commit
// order with up to Options.Publishers in flight and never two of one
// object at once (see the package documentation). A publication that
// fails is retried with backoff and jitter until it succeeds or ctx ends.
// Published events are marked so, and segments left with nothing to do
// are deleted. Run returns nil once ctx has ended and every publication
// in flight has returned; an error if the outbox is closed or its files
// failed. Events not published by then stay spooled, for a later Run or
// the next start. One Run at a time.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: already running")
	}
	defer o.running.Store(false)
	if st := o.Stats(); st.Unchecked > 0 {
		o.log.Warn("outbox: intents from before the restart are not checked yet; Recover decides their events", "unchecked_intents", st.Unchecked)
	}
	var (
		wg     sync.WaitGroup
		slots  = make(chan struct{}, o.publishers)
		busyMu sync.Mutex
		busy   = map[uint64]chan struct{}{} // by object hash: the publication in flight
	)
	defer wg.Wait()
	defer func() {
		o.mu.Lock()
		o.closeReader()
		o.mu.Unlock()
	}()
	for {
		e, err := o.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		busyMu.Lock()
		prev := busy[e.hash]
		busyMu.Unlock()
		if prev != nil {
			// The object's previous event first, lest the queue get them
			// the other way round.
			select {
			case <-prev:
			case <-ctx.Done():
				o.requeue(e)
				return nil
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			o.requeue(e)
			return nil
		}
		done := make(chan struct{})
		busyMu.Lock()
		busy[e.hash] = done
		busyMu.Unlock()
		wg.Go(func() {
			if !o.publish(ctx, e) {
				o.requeue(e)
			}
			busyMu.Lock()
			delete(busy, e.hash)
			busyMu.Unlock()
			close(done)
			<-slots
		})
	}
}

// publish hands e to the queue, retrying until it succeeds (true) or ctx
// ends (false).
func (o *Outbox) publish(ctx context.Context, e *entry) bool {
	for attempt := 1; ; attempt++ {
		_, err := o.q.Publish(ctx, e.body)
		if err == nil {
			o.markPublished(e)
			o.outage.over(o)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		o.m.publishErrors.Inc()
		o.outage.failed(o, err)
		if !sleep(ctx, o.backoff(attempt)) {
			return false
		}
	}
}

// markPublished appends e's published marker and resolves its intent.
func (o *Outbox) markPublished(e *entry) {
	o.m.published.Inc()
	o.mu.Lock()
	defer o.wakeWriter()
	defer o.mu.Unlock()
	if o.usable() == nil {
		// Not fsynced: if a crash takes it back, the event is published
		// once more.
		c, _ := o.reserve(markerSize)
		c.buf = appendMarker(c.buf, recPublished, e.id)
	}
	o.spooled--
	o.m.spooled.Set(float64(o.spooled))
	o.unrefLocked(e.cseg)
	o.resolveLocked(e.seg, e.id)
}

// backoff is the wait after the attempt-th failure in a row: half of
// min(RetryMax, RetryMin·2^(attempt-1)), plus a random share of the
// other half, so that publishers do not retry in lockstep.
func (o *Outbox) backoff(attempt int) time.Duration {
	c := o.retryMin
	for i := 1; i < attempt && c < o.retryMax; i++ {
		c *= 2
	}
	c = min(c, o.retryMax)
	return c/2 + rand.N(c/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// outage tracks a spell of failed publications, to log its start and end
// rather than each failure.
type outage struct {
	mu       sync.Mutex
	down     bool
	since    time.Time
	failures int
}

func (u *outage) failed(o *Outbox, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failures++
	if u.down {
		return
	}
	u.down, u.since = true, time.Now()
	o.log.Warn("outbox: cannot publish events; they are kept in the outbox and published when the queue is back", "err", err)
}

func (u *outage) over(o *Outbox) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.down {
		return
	}
	o.log.Info("outbox: publishing again", "outage", time.Since(u.since).Round(time.Millisecond),
		"failed_attempts", u.failures, "spooled", o.Stats().Spooled)
	u.down, u.failures = false, 0
}
