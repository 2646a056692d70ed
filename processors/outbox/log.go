package outbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// reserve makes room for a record of n bytes in the current batch, moving
// on to a new segment first when the newest would grow past SegmentSize.
// It returns the chunk to append the record to and the record's offset in
// its segment. Call with mu held; segment boundaries are decided here,
// where offsets are known, so the writer only copies bytes.
func (o *Outbox) reserve(n int64) (*chunk, int64) {
	b := o.cur
	tail := o.segs[len(o.segs)-1]
	if o.tailSize > segHeader && o.tailSize+n > o.segSize {
		s := &segment{
			num:   tail.num + 1,
			first: o.nextID,
			end:   o.nextID,
			path:  filepath.Join(o.dir, segName(tail.num+1)),
			size:  segHeader,
		}
		o.segs = append(o.segs, s)
		o.m.segments.Set(float64(len(o.segs)))
		b.chunks = append(b.chunks, chunk{seg: s, newSeg: true})
		o.tailSize = segHeader
	} else if len(b.chunks) == 0 {
		b.chunks = append(b.chunks, chunk{seg: tail})
	}
	off := o.tailSize
	o.tailSize += n
	return &b.chunks[len(b.chunks)-1], off
}

// writeLoop is the single writer: it takes whatever has been queued,
// writes it (fsyncing it if anyone waits for that) and releases the
// waiters.
func (o *Outbox) writeLoop() {
	defer close(o.writerDone)
	for {
		select {
		case <-o.wake:
			o.drain()
		case <-o.stop:
			if o.flushOnStop {
				o.drain()
			}
			o.mu.Lock()
			b := o.cur
			o.cur = newBatch()
			o.mu.Unlock()
			b.err = ErrClosed
			close(b.done)
			return
		}
	}
}

// drain writes batches until none is waiting.
func (o *Outbox) drain() {
	for {
		select {
		case <-o.stop:
			if !o.flushOnStop {
				return // a simulated crash: what is queued is lost
			}
		default:
		}
		o.mu.Lock()
		b, failed := o.cur, o.failed
		if len(b.chunks) == 0 && !b.forced {
			o.mu.Unlock()
			return
		}
		o.cur = newBatch()
		o.mu.Unlock()
		err := failed
		if err == nil {
			err = o.write(b)
		}
		if err != nil && failed == nil {
			o.log.Error("outbox: write failed; writes are refused until s3gate restarts", "err", err)
			o.mu.Lock()
			o.failed = fmt.Errorf("outbox: write failed: %w", err)
			o.kick()
			o.mu.Unlock()
		}
		b.err = err
		close(b.done)
	}
}

// write appends b to the segments, fsyncs it if asked and makes it
// visible to readers.
func (o *Outbox) write(b *batch) error {
	var sealed []*segment
	for i := range b.chunks {
		c := &b.chunks[i]
		if c.newSeg {
			old := o.wseg
			if err := o.rollTo(c.seg); err != nil {
				return err
			}
			sealed = append(sealed, old)
		}
		if len(c.buf) == 0 {
			continue
		}
		if _, err := o.wseg.f.WriteAt(c.buf, o.wsize); err != nil {
			return err
		}
		o.wsize += int64(len(c.buf))
	}
	if b.sync && o.fsync {
		if err := o.syncSeg(o.wseg); err != nil {
			return err
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range b.chunks {
		b.chunks[i].seg.size += int64(len(b.chunks[i].buf))
	}
	// Sealed only now that every record of theirs is written: a segment
	// must not look complete to the cleaner before.
	for _, s := range sealed {
		s.sealed = true
		if s.refs <= 0 {
			o.wakeCleaner()
		}
	}
	o.kick()
	return nil
}

// rollTo makes the writer move on to the new segment s: the one written
// so far is fsynced (so that only the newest segment can end torn) and
// closed, and s is created.
func (o *Outbox) rollTo(s *segment) error {
	old := o.wseg
	if o.fsync {
		if err := o.syncSeg(old); err != nil {
			return err
		}
	}
	f, err := o.createSegment(s)
	if err != nil {
		return err
	}
	old.f.Close()
	old.f = nil
	o.wseg, o.wsize = s, segHeader
	s.f = f
	return nil
}

// createSegment creates s's file with its header: written under a
// temporary name and renamed, so a segment file always has a whole
// header.
func (o *Outbox) createSegment(s *segment) (*os.File, error) {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	_, err = f.Write(appendSegHeader(nil, s.num, s.first))
	if err == nil && o.fsync {
		err = o.syncSeg(&segment{f: f})
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err == nil {
		err = o.syncDir()
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("outbox: creating segment: %w", err)
	}
	return f, nil
}

func (o *Outbox) syncSeg(s *segment) error {
	o.syncs.Add(1)
	if o.syncHook != nil {
		o.syncHook()
	}
	start := time.Now()
	err := s.f.Sync()
	o.m.fsync.Observe(time.Since(start).Seconds())
	return err
}

// syncDir makes creations, renames and unlinks in the directory durable.
func (o *Outbox) syncDir() error {
	if !o.fsync {
		return nil
	}
	d, err := os.Open(o.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openLog finds the segments, cuts a torn tail off the newest and
// rebuilds the state of every intent still on disk.
func (o *Outbox) openLog() error {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == logfile.LockFile:
			continue
		case strings.HasSuffix(name, ".tmp"):
			// A segment whose creation did not finish: nothing was
			// written to it.
			os.Remove(filepath.Join(o.dir, name))
			continue
		}
		num, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if !strings.HasSuffix(name, ".seg") || err != nil || segName(num) != name {
			o.log.Warn("outbox: ignoring unknown file", "file", name)
			continue
		}
		nums = append(nums, num)
	}
	slices.Sort(nums)
	for i, num := range nums {
		s := &segment{num: num, path: filepath.Join(o.dir, segName(num))}
		last := i == len(nums)-1
		ok, err := o.readHeader(s, last)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if n := len(o.segs); n > 0 && s.first < o.segs[n-1].first {
			return fmt.Errorf("outbox: %s starts at intent %d, before the segment ahead of it", s.path, s.first)
		}
		o.segs = append(o.segs, s)
	}
	if len(o.segs) == 0 {
		s := &segment{num: 1, first: 1, end: 1, path: filepath.Join(o.dir, segName(1)), size: segHeader}
		f, err := o.createSegment(s)
		if err != nil {
			return err
		}
		s.f = f
		o.segs = []*segment{s}
		o.wseg, o.wsize = s, segHeader
		o.tailSize, o.nextID = segHeader, 1
		return nil
	}
	if err := o.scan(); err != nil {
		return err
	}
	if err := o.countCommits(); err != nil {
		return err
	}
	tail := o.segs[len(o.segs)-1]
	for _, s := range o.segs[:len(o.segs)-1] {
		s.sealed = true
	}
	f, err := os.OpenFile(tail.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	tail.f = f
	o.wseg, o.wsize, o.tailSize = tail, tail.size, tail.size
	o.recoveredSpooled = o.spooled
	if o.spooled > 0 {
		// Read the spooled events back from the oldest segment on.
		o.overflow, o.rseg, o.roff = true, o.segs[0], segHeader
	}
	if o.unchecked > 0 || o.spooled > 0 {
		o.log.Info("outbox: found work left from before the restart",
			"unchecked_intents", o.unchecked, "unpublished_events", o.spooled, "segments", len(o.segs))
	}
	return nil
}

// readHeader reads s's header. A newest segment too short to hold one
// was cut short while it was created (with Fsync off): it holds nothing
// and is removed.
func (o *Outbox) readHeader(s *segment, last bool) (bool, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	if last && fi.Size() < segHeader {
		o.log.Warn("outbox: removing a segment cut short at its creation", "segment", s.path, "bytes", fi.Size())
		if err := os.Remove(s.path); err != nil {
			return false, fmt.Errorf("outbox: %w", err)
		}
		return false, nil
	}
	h := make([]byte, segHeader)
	if _, err := io.ReadFull(f, h); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, fmt.Errorf("outbox: reading %s: %w", s.path, err)
	}
	num, first, err := parseSegHeader(h)
	if err != nil || num != s.num || first == 0 {
		return false, fmt.Errorf("outbox: %s is not an outbox segment, or its header is corrupt", s.path)
	}
	s.first, s.end, s.size = first, first, fi.Size()
	return true, nil
}

// scan reads every record and works out which intents are resolved,
// committed or neither.
func (o *Outbox) scan() error {
	o.nextID = o.segs[len(o.segs)-1].first
	var fr logfile.Reader
	for i, s := range o.segs {
		last := i == len(o.segs)-1
		limit := uint64(1<<64 - 1) // intents of s are below the next segment's first
		if !last {
			limit = o.segs[i+1].first
		}
		if err := o.scanSegment(&fr, s, last, func(r record) bool {
			return o.apply(s, r, limit)
		}); err != nil {
			return err
		}
		o.nextID = max(o.nextID, s.end)
	}
	for _, s := range o.segs {
		for i := range s.end - s.first {
			switch {
			case !s.intent.has(i):
				// Never an intent (or one lost to corruption): nothing
				// to wait for.
				s.resolved.set(i)
			case s.resolved.has(i):
			case s.committed.has(i):
				s.refs++
				o.pending++
			default:
				s.refs++
				o.pending++
				s.check.set(i)
				o.unchecked++
			}
		}
		s.intent = nil
	}
	return nil
}

// apply takes one record into the open-time state; false means it cannot
// be right (an intent out of order), which is treated as corruption.
func (o *Outbox) apply(s *segment, r record, limit uint64) bool {
	switch r.kind {
	case recIntent:
		if r.id < s.end || r.id >= limit {
			return false
		}
		s.intent.set(r.id - s.first)
		s.end = r.id + 1
	case recCommit:
		if t, i := o.segFor(r.id); t != nil && t.intent.has(i) {
			t.committed.set(i)
		}
	case recAbort, recPublished:
		if t, i := o.segFor(r.id); t != nil && t.intent.has(i) {
			t.resolved.set(i)
		}
	case recSummary:
		t, _ := o.segFor(r.id)
		if t == nil || t.first != r.id {
			break
		}
		for i := range r.n {
			if summaryHas(r.body, i) && t.intent.has(i) {
				t.resolved.set(i)
			}
		}
	}
	return true
}

// countCommits finds the commit records of events not yet published: they
// keep their segments and are read back for publication.
func (o *Outbox) countCommits() error {
	var fr logfile.Reader
	for _, s := range o.segs {
		if err := o.scanSegment(&fr, s, false, func(r record) bool {
			if r.kind != recCommit {
				return true
			}
			t, i := o.segFor(r.id)
			if t == nil || !t.committed.has(i) || t.resolved.has(i) || t.spooled.has(i) {
				return true // published, or a second commit record of one intent
			}
			t.spooled.set(i)
			s.refs++
			o.spooled++
			return true
		}); err != nil {
			return err
		}
	}
	for _, s := range o.segs {
		s.committed = nil
	}
	return nil
}

// scanSegment calls fn for each record of s up to s.size. A torn or
// corrupt record ends the segment there: the newest segment (last) is
// truncated to it, as a crash mid-write leaves one; in an older one the
// rest is unreadable, which is reported.
func (o *Outbox) scanSegment(fr *logfile.Reader, s *segment, last bool, fn func(record) bool) error {
	flags := os.O_RDONLY
	if last {
		flags = os.O_RDWR
	}
	f, err := os.OpenFile(s.path, flags, 0)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	fr.Reset(f, segHeader, s.size)
	for {
		off := fr.Offset()
		r, err := nextRecord(fr)
		if err == io.EOF {
			return nil
		}
		if err == nil && !fn(r) {
			err = errBadFrame
		}
		if errors.Is(err, errBadFrame) {
			if last {
				o.log.Warn("outbox: truncating torn tail", "segment", s.path, "offset", off, "bytes", s.size-off)
				if err := f.Truncate(off); err != nil {
					return fmt.Errorf("outbox: %w", err)
				}
				if o.fsync {
					if err := f.Sync(); err != nil {
						return fmt.Errorf("outbox: %w", err)
					}
				}
			} else {
				o.log.Error("outbox: segment is corrupt; the records after the damage are lost",
					"segment", s.path, "offset", off, "bytes", s.size-off)
			}
			s.size = off
			return nil
		}
		if err != nil {
			return fmt.Errorf("outbox: reading %s: %w", s.path, err)
		}
	}
}

// cleanLoop deletes segments nothing refers to any more.
func (o *Outbox) cleanLoop() {
	defer close(o.cleanerDone)
	for {
		select {
		case <-o.cleanWake:
			o.clean()
		case <-o.stop:
			return
		}
	}
}

// clean deletes the sealed segments whose intents are all resolved and
// commit records all published. Markers in them may have resolved intents
// of older segments that stay, so a summary of each of those is made
// durable first.
func (o *Outbox) clean() {
	o.mu.Lock()
	if o.usable() != nil {
		o.mu.Unlock()
		return
	}
	var del []*segment
	for _, s := range o.segs {
		if s.sealed && s.refs <= 0 {
			del = append(del, s)
		}
	}
	if len(del) == 0 {
		o.mu.Unlock()
		return
	}
	newest := del[len(del)-1].num
	var b *batch
	for _, t := range o.segs {
		if t.num < newest && t.refs > 0 && t.resolved.any() {
			n := t.end - t.first
			c, _ := o.reserve(summarySize(n))
			c.buf = appendSummary(c.buf, t.first, n, t.resolved)
			b = o.cur
		}
	}
	if b != nil {
		b.sync = true
	}
	o.mu.Unlock()
	if b != nil {
		o.wakeWriter()
		<-b.done
		if b.err != nil {
			return
		}
	}
	o.mu.Lock()
	o.segs = slices.DeleteFunc(o.segs, func(s *segment) bool { return slices.Contains(del, s) })
	for _, s := range del {
		s.deleted = true
		s.resolved, s.spooled, s.check = nil, nil, nil
	}
	o.m.segments.Set(float64(len(o.segs)))
	o.kick()
	o.mu.Unlock()
	var errs []error
	for _, s := range del {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, o.syncDir())
	if err := errors.Join(errs...); err != nil {
		o.log.Error("outbox: deleting segments", "err", err)
		return
	}
	o.log.Debug("outbox: deleted segments", "count", len(del), "newest", newest)
}
