package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// CheckFunc decides the outcome of an intent left without one by a crash:
// it looks at the backend and returns the record to emit (the intent
// completed with what the backend holds: size, ETag) and true, or false
// if the change was not made. An error leaves the intent for a later
// Recover.
type CheckFunc func(ctx context.Context, intent events.Record) (events.Record, bool, error)

// RecoverStats counts what Recover did.
type RecoverStats struct {
	// Checked is how many intents without an outcome were handed to the
	// check; Emitted and Dropped how many it said to emit or drop, Failed
	// how many it could not decide (they stay for a later Recover).
	Checked, Emitted, Dropped, Failed int
	// Spooled is how many events were found committed but unpublished
	// when the outbox was opened; they are published without a check.
	Spooled int
}

// Recover settles the intents that the previous run of s3gate left
// without an outcome (it died between Begin and Commit or Abort): check
// says, for each, whether the backend made the change, and the event is
// emitted or dropped accordingly. Committed but unpublished events need no
// check; Open already queued them. Call Recover once at start, before
// Run and before the gateway serves. If check fails for some intents,
// Recover goes on with the others and returns an error; those intents
// keep their place and a later Recover checks them again.
func (o *Outbox) Recover(ctx context.Context, check CheckFunc) (RecoverStats, error) {
	o.mu.Lock()
	st := RecoverStats{Spooled: int(o.recoveredSpooled)}
	var segs []*segment
	for _, s := range o.segs {
		if s.check.any() {
			segs = append(segs, s)
		}
	}
	o.mu.Unlock()
	var errs []error
	var fr logfile.Reader
	for _, s := range segs {
		if err := o.recoverSegment(ctx, &fr, s, check, &st, &errs); err != nil {
			return st, err
		}
	}
	if st.Checked > 0 || st.Spooled > 0 {
		o.log.Info("outbox: recovered", "checked", st.Checked, "emitted", st.Emitted,
			"dropped", st.Dropped, "failed", st.Failed, "spooled", st.Spooled)
	}
	if st.Failed > 0 {
		return st, fmt.Errorf("outbox: %d intents could not be checked and wait for the next Recover: %w", st.Failed, errors.Join(errs...))
	}
	return st, nil
}

// recoverSegment checks the unchecked intents of s. Its error ends
// Recover (ctx ended, or s is unreadable); errors of check are collected
// in errs.
func (o *Outbox) recoverSegment(ctx context.Context, fr *logfile.Reader, s *segment, check CheckFunc, st *RecoverStats, errs *[]error) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	o.mu.Lock()
	end := s.size
	o.mu.Unlock()
	fr.Reset(f, segHeader, end)
	for {
		r, err := nextRecord(fr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("outbox: reading %s: %w", s.path, err)
		}
		if r.kind != recIntent {
			continue
		}
		i := r.id - s.first
		o.mu.Lock()
		unchecked := s.check.has(i)
		o.mu.Unlock()
		if !unchecked {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var intent events.Record
		if err := json.Unmarshal(r.body, &intent); err != nil {
			// Cannot be checked, nor ever will: drop it rather than keep
			// its segment forever.
			o.log.Error("outbox: dropping an unreadable intent", "id", r.id, "err", err)
			o.settle(s, r.id, nil, 0)
			st.Dropped++
			continue
		}
		st.Checked++
		out, emit, err := check(ctx, intent)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.Failed++
			if len(*errs) < 3 {
				*errs = append(*errs, fmt.Errorf("%s/%s: %w", intent.S3.Bucket.Name, intent.Key(), err))
			}
		case emit:
			body, err := out.Marshal()
			if err != nil {
				st.Failed++
				*errs = append(*errs, err)
				continue
			}
			o.settle(s, r.id, body, objectHash(out))
			st.Emitted++
		default:
			o.settle(s, r.id, nil, 0)
			st.Dropped++
		}
	}
}

// settle records Recover's decision on intent id of s: its event (body)
// is committed and spooled, or without one the intent is dropped.
func (o *Outbox) settle(s *segment, id uint64, body []byte, hash uint64) {
	o.mu.Lock()
	i := id - s.first
	if !s.check.has(i) {
		o.mu.Unlock()
		return
	}
	s.check.clear(i)
	o.unchecked--
	o.mu.Unlock()
	if body != nil {
		o.commit(s, id, hash, body)
	} else {
		o.abort(s, id)
	}
}
