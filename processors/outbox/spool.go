package outbox

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// entry is an event waiting for publication.
type entry struct {
	id   uint64
	hash uint64 // its object's, to keep two events of one object apart
	body []byte
	seg  *segment // holds the intent
	cseg *segment // holds the commit record
}

// spool is the queue of events waiting for publication, in commit order.
// The oldest are in mem, at most memMax of them. Once mem was full, every
// later event is left on disk (overflow) and read back from its commit
// record, starting at rseg/roff, when mem has room again, so that they
// keep their order; when that reading catches up with the writer, events
// go to mem again. Guarded by Outbox.mu, but for the read-back itself,
// which only the publisher does.
type spool struct {
	mem      []*entry
	overflow bool
	rseg     *segment // where reading back goes on
	roff     int64

	// The publisher's.
	rfile    *os.File
	rfileSeg *segment
	rd       logfile.Reader
}

// spoolLocked queues e, whose commit record is at off in cseg. Call with
// mu held.
func (o *Outbox) spoolLocked(e *entry, cseg *segment, off int64) {
	if !o.overflow && len(o.mem) < o.memMax {
		o.mem = append(o.mem, e)
		if n := int64(len(o.mem)); n > o.memHigh.Load() {
			o.memHigh.Store(n)
		}
		o.kick()
		return
	}
	if !o.overflow {
		o.overflow, o.rseg, o.roff = true, cseg, off
	}
	e.seg.spooled.set(e.id - e.seg.first)
}

// next returns the next event to publish, waiting for one until ctx ends
// or the outbox closes.
func (o *Outbox) next(ctx context.Context) (*entry, error) {
	for {
		o.mu.Lock()
		if len(o.mem) > 0 {
			e := o.mem[0]
			o.mem[0] = nil
			o.mem = o.mem[1:]
			o.mu.Unlock()
			return e, nil
		}
		if err := o.usable(); err != nil {
			o.mu.Unlock()
			return nil, err
		}
		wait := o.notify
		var retry <-chan time.Time
		if o.overflow {
			read, err := o.readBack()
			if read {
				o.mu.Unlock()
				continue
			}
			if err != nil {
				// Most likely out of file descriptors or memory: try
				// again in a while.
				o.log.Error("outbox: reading spooled events back failed; retrying", "err", err)
				retry = time.After(readRetry)
			}
		}
		o.mu.Unlock()
		select {
		case <-wait:
		case <-retry:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readRetry is the wait before reading spooled events back again after a
// failure.
const readRetry = time.Second

// requeue puts events taken by next but not published back at the front
// of the spool, for a later Run.
func (o *Outbox) requeue(es ...*entry) {
	if len(es) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mem = append(es[:len(es):len(es)], o.mem...)
}

// readBack moves spooled events from disk to mem, or leaves overflow once
// it has caught up with the writer. It reports whether it made progress;
// if not, the caller waits for the writer, or retries later after an
// error. Call with mu held; it is released while reading.
func (o *Outbox) readBack() (bool, error) {
	s := o.rseg
	if s.deleted {
		// Nothing in it was left to publish.
		o.moveReader(s)
		return true, nil
	}
	if o.roff >= s.size {
		switch {
		case s.sealed:
			o.moveReader(s)
			return true, nil
		case s == o.segs[len(o.segs)-1] && o.tailSize == s.size:
			// Everything appended is written, and read: later events
			// may go to memory again.
			o.overflow, o.rseg = false, nil
			o.closeReader()
			return true, nil
		}
		return false, nil // the writer has yet to write what was appended
	}
	start, end, room := o.roff, s.size, o.memMax-len(o.mem)
	o.mu.Unlock()
	got, off, err := o.readCommits(s, start, end, room)
	o.mu.Lock()
	switch {
	case err == nil:
	case s.deleted:
		return true, nil // nothing in it was left to publish
	case errors.Is(err, errBadFrame):
		// Bytes this outbox wrote and checked are damaged.
		o.log.Error("outbox: spooled events are corrupt; skipping the rest of the segment", "segment", s.path, "offset", off)
		off = end
	case len(got) == 0:
		return false, err
	}
	o.roff = off
	for _, e := range got {
		t, i := o.segFor(e.id)
		if t == nil || !t.spooled.has(i) {
			continue // published, or a second commit record of one intent
		}
		t.spooled.clear(i)
		e.seg, e.cseg = t, s
		o.mem = append(o.mem, e)
		o.fromDisk.Add(1)
	}
	if n := int64(len(o.mem)); n > o.memHigh.Load() {
		o.memHigh.Store(n)
	}
	return true, nil
}

// readCommits reads commit records of s from off up to end, at most max
// of them, and returns them with the offset after the last record read.
func (o *Outbox) readCommits(s *segment, off, end int64, max int) ([]*entry, int64, error) {
	if o.rfileSeg != s {
		o.closeReader()
		f, err := os.Open(s.path)
		if err != nil {
			return nil, off, err
		}
		o.rfile, o.rfileSeg = f, s
	}
	o.rd.Reset(o.rfile, off, end)
	var got []*entry
	for len(got) < max {
		r, err := nextRecord(&o.rd)
		if err == io.EOF {
			break
		}
		if err != nil {
			return got, o.rd.Offset(), err
		}
		if r.kind == recCommit {
			got = append(got, &entry{id: r.id, hash: r.hash, body: append([]byte(nil), r.body...)})
		}
	}
	return got, o.rd.Offset(), nil
}

// moveReader moves reading back on to the segment after s. Call with mu
// held.
func (o *Outbox) moveReader(s *segment) {
	next := o.segAfter(s.num)
	if next == nil {
		// Cannot be: the newest segment is never sealed nor deleted.
		o.overflow, o.rseg = false, nil
		return
	}
	o.rseg, o.roff = next, segHeader
}

func (o *Outbox) closeReader() {
	if o.rfile != nil {
		o.rfile.Close()
		o.rfile, o.rfileSeg = nil, nil
	}
}
