package diskq

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// segment is one file of the log.
type segment struct {
	start uint64
	path  string

	// Guarded by Queue.mu. f is opened on first read, except for the
	// segment being written, whose file the writer uses too.
	f       *os.File
	size    int64  // bytes of durable records, header included
	next    uint64 // id after the segment's last durable record
	sealed  bool   // no more records will be added
	idx     []indexPoint
	indexed bool // idx covers the segment (else built on first need)
}

// indexPoint is where a record starts: a sparse in-memory index, so a
// lookup reads at most indexEvery bytes of a segment.
type indexPoint struct {
	id  uint64
	off int64
}

// chunk is a run of queued records for one segment.
type chunk struct {
	newSeg bool // start a new segment before writing buf
	start  uint64
	next   uint64
	buf    []byte
	idx    []indexPoint
}

// batch is what the writer makes durable at once: every entry queued
// while its previous write and fsync ran.
type batch struct {
	chunks []chunk
	done   chan struct{}
	err    error
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

func segName(start uint64) string { return formatID(start) + ".seg" }

// openLog finds the segments and recovers the newest one.
func (q *Queue) openLog() error {
	entries, err := os.ReadDir(q.logDir)
	if err != nil {
		return fmt.Errorf("diskq: %w", err)
	}
	var starts []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(q.logDir, name))
			continue
		}
		start, err := parseID(strings.TrimSuffix(name, ".seg"))
		if !strings.HasSuffix(name, ".seg") || err != nil {
			q.log.Warn("diskq: ignoring unknown file in log directory", "file", name)
			continue
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	if len(starts) == 0 {
		s, err := q.createSegment(1)
		if err != nil {
			return err
		}
		q.segs = []*segment{s}
		q.setTail(s, nil, -1)
		return nil
	}
	for i, start := range starts {
		s := &segment{start: start, path: filepath.Join(q.logDir, segName(start))}
		if i+1 < len(starts) {
			fi, err := os.Stat(s.path)
			if err != nil {
				return fmt.Errorf("diskq: %w", err)
			}
			s.size, s.next, s.sealed = fi.Size(), starts[i+1], true
		}
		q.segs = append(q.segs, s)
	}
	return q.recoverTail(q.segs[len(q.segs)-1])
}

// setTail makes s the segment being written.
func (q *Queue) setTail(s *segment, idx []indexPoint, lastIdx int64) {
	s.idx, s.indexed = idx, true
	q.wseg = s
	q.end, q.nextID = s.next, s.next
	q.tailSize, q.lastIdx = s.size, lastIdx
}

// recoverTail scans the newest segment and truncates it after its last
// intact record: a crash mid-write leaves a torn record there, and only
// there, since older segments were fsynced before the next was created.
func (q *Queue) recoverTail(s *segment) error {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("diskq: %w", err)
	}
	s.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("diskq: %w", err)
	}
	size := fi.Size()
	hdr := make([]byte, fileHeader)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("diskq: %w", err)
	}
	switch {
	case n < fileHeader && bytes.HasPrefix(magicLog, hdr[:n]):
		// Torn while the segment was being created.
		q.log.Warn("diskq: rewriting torn segment header", "segment", s.path)
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("diskq: %w", err)
		}
		if _, err := f.WriteAt(magicLog, 0); err != nil {
			return fmt.Errorf("diskq: %w", err)
		}
		size = fileHeader
	case !bytes.Equal(hdr[:n], magicLog):
		return fmt.Errorf("diskq: %s is not a log segment", s.path)
	}

	var fr logfile.Reader
	fr.Reset(f, fileHeader, size)
	id, lastIdx := s.start, int64(-1)
	var idx []indexPoint
	for {
		off := fr.Offset()
		payload, err := fr.Next(maxLogPayload)
		if err == io.EOF {
			break
		}
		if err == nil && (len(payload) < 8 || binary.LittleEndian.Uint64(payload) != id) {
			err = errBadFrame
		}
		if errors.Is(err, errBadFrame) {
			q.log.Warn("diskq: truncating torn tail of the log", "segment", s.path,
				"offset", off, "bytes", size-off, "entries_kept", id-s.start)
			if err := f.Truncate(off); err != nil {
				return fmt.Errorf("diskq: %w", err)
			}
			size = off
			break
		}
		if err != nil {
			return fmt.Errorf("diskq: reading %s: %w", s.path, err)
		}
		if lastIdx < 0 || off-lastIdx >= indexEvery {
			idx = append(idx, indexPoint{id, off})
			lastIdx = off
		}
		id++
	}
	if q.fsync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("diskq: %w", err)
		}
	}
	s.size, s.next = size, id
	q.setTail(s, idx, lastIdx)
	q.wsize = size
	return nil
}

// createSegment creates the segment file for entries from start on.
func (q *Queue) createSegment(start uint64) (*segment, error) {
	path := filepath.Join(q.logDir, segName(start))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("diskq: %w", err)
	}
	if _, err := f.Write(magicLog); err != nil {
		f.Close()
		return nil, fmt.Errorf("diskq: %w", err)
	}
	if err := q.syncDir(q.logDir); err != nil {
		f.Close()
		return nil, fmt.Errorf("diskq: %w", err)
	}
	q.wsize = fileHeader
	return &segment{start: start, path: path, f: f, size: fileHeader, next: start, indexed: true}, nil
}

// publish queues bodies for the writer and waits until they are durable.
func (q *Queue) publish(ctx context.Context, bodies [][]byte) ([]uint64, error) {
	for _, body := range bodies {
		if len(body) > MaxBodySize {
			return nil, ErrTooLarge
		}
	}
	ids := make([]uint64, len(bodies))
	q.mu.Lock()
	if q.failed != nil {
		err := q.failed
		q.mu.Unlock()
		return nil, err
	}
	b := q.cur
	for i, body := range bodies {
		ids[i] = q.enqueue(b, body)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // the writer is already due to look
	}
	select {
	case <-b.done:
		if b.err != nil {
			return nil, b.err
		}
		return ids, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// enqueue adds body to b and returns its id. It decides segment
// boundaries and index points here, where offsets are known, so the
// writer only copies bytes.
func (q *Queue) enqueue(b *batch, body []byte) uint64 {
	id := q.nextID
	q.nextID++
	n := int64(recordOverhead + len(body))
	if q.tailSize > fileHeader && q.tailSize+n > q.segSize {
		b.chunks = append(b.chunks, chunk{newSeg: true, start: id})
		q.tailSize, q.lastIdx = fileHeader, -1
	} else if len(b.chunks) == 0 {
		b.chunks = append(b.chunks, chunk{start: id})
	}
	c := &b.chunks[len(b.chunks)-1]
	if q.lastIdx < 0 || q.tailSize-q.lastIdx >= indexEvery {
		c.idx = append(c.idx, indexPoint{id, q.tailSize})
		q.lastIdx = q.tailSize
	}
	c.buf = appendRecord(c.buf, id, body)
	c.next = id + 1
	q.tailSize += n
	return id
}

// writeLoop is the single writer: it takes whatever has been queued,
// writes and fsyncs it, and releases its publishers.
func (q *Queue) writeLoop() {
	defer close(q.writerDone)
	for {
		select {
		case <-q.wake:
		case <-q.stopWriter:
			return
		}
		for {
			q.mu.Lock()
			b, failed := q.cur, q.failed
			if len(b.chunks) == 0 {
				q.mu.Unlock()
				break
			}
			q.cur = newBatch()
			q.mu.Unlock()
			err := failed
			if err == nil {
				err = q.write(b)
			}
			if err != nil && failed == nil {
				q.log.Error("diskq: log write failed; publishing stops until the queue is reopened", "err", err)
				q.mu.Lock()
				q.failed = fmt.Errorf("diskq: log write failed: %w", err)
				q.mu.Unlock()
			}
			b.err = err
			close(b.done)
		}
	}
}

// write appends b to the log, fsyncs it and makes it visible to readers.
func (q *Queue) write(b *batch) error {
	segs := make([]*segment, len(b.chunks))
	var sealed []*segment
	for i := range b.chunks {
		c := &b.chunks[i]
		if c.newSeg {
			old := q.wseg
			if err := q.syncLog(old); err != nil {
				return err
			}
			s, err := q.createSegment(c.start)
			if err != nil {
				return err
			}
			q.mu.Lock()
			q.segs = append(q.segs, s)
			q.mu.Unlock()
			q.wseg = s
			sealed = append(sealed, old)
		}
		segs[i] = q.wseg
		if _, err := q.wseg.f.WriteAt(c.buf, q.wsize); err != nil {
			return err
		}
		q.wsize += int64(len(c.buf))
	}
	if err := q.syncLog(q.wseg); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range b.chunks {
		c, s := &b.chunks[i], segs[i]
		s.size += int64(len(c.buf))
		s.next = c.next
		s.idx = append(s.idx, c.idx...)
	}
	// Sealed only now: until its records are durable, a segment must not
	// look complete to Trim.
	for _, s := range sealed {
		s.sealed = true
	}
	q.end = b.chunks[len(b.chunks)-1].next
	close(q.notify)
	q.notify = make(chan struct{})
	return nil
}

func (q *Queue) syncLog(s *segment) error {
	if !q.fsync {
		return nil
	}
	if q.syncHook != nil {
		q.syncHook()
	}
	q.logSyncs.Add(1)
	return s.f.Sync()
}

// segView is a consistent look at one segment for a reader.
type segView struct {
	seg     *segment
	f       *os.File
	size    int64
	next    uint64
	sealed  bool
	idx     []indexPoint
	indexed bool
}

// view returns the segment holding id, opening its file if needed.
func (q *Queue) view(id uint64) (segView, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].start > id }) - 1
	if i < 0 {
		return segView{}, fmt.Errorf("diskq: entry %d is no longer in the log", id)
	}
	s := q.segs[i]
	if s.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return segView{}, fmt.Errorf("diskq: %w", err)
		}
		s.f = f
	}
	return segView{s, s.f, s.size, s.next, s.sealed, s.idx, s.indexed}, nil
}

// cursor is where a frame reader stands in the log: the next frame it
// returns is entry id of seg.
type cursor struct {
	seg *segment
	id  uint64
}

// seek positions rd so that its next record is entry id. It keeps going
// from where rd stands when that is on the way, and otherwise starts at
// the nearest index point.
func (q *Queue) seek(rd *logfile.Reader, pos *cursor, v segView, id uint64) error {
	if pos.seg == v.seg && pos.id == id {
		rd.SetEnd(v.size)
		return nil
	}
	at, off := v.seg.start, int64(fileHeader)
	if id != v.seg.start {
		idx, err := q.index(v)
		if err != nil {
			return err
		}
		if i := sort.Search(len(idx), func(i int) bool { return idx[i].id > id }) - 1; i >= 0 {
			at, off = idx[i].id, idx[i].off
		}
	}
	if pos.seg == v.seg && pos.id <= id && pos.id >= at {
		rd.SetEnd(v.size)
	} else {
		rd.Reset(v.f, off, v.size)
		*pos = cursor{v.seg, at}
	}
	for pos.id < id {
		if _, err := nextRecord(rd, pos); err != nil {
			return err
		}
	}
	return nil
}

// index returns v's segment index, building it by a scan for a segment
// written before the queue was opened. A corrupt segment is indexed up to
// the corruption, where a read then finds it.
func (q *Queue) index(v segView) ([]indexPoint, error) {
	if v.indexed {
		return v.idx, nil
	}
	var rd logfile.Reader
	rd.Reset(v.f, fileHeader, v.size)
	pos := cursor{v.seg, v.seg.start}
	var idx []indexPoint
	last := int64(-1)
	for pos.id < v.next {
		off := rd.Offset()
		if _, err := nextRecord(&rd, &pos); err != nil {
			if errors.Is(err, errBadFrame) {
				break
			}
			return nil, err
		}
		if last < 0 || off-last >= indexEvery {
			idx = append(idx, indexPoint{pos.id - 1, off})
			last = off
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !v.seg.indexed {
		v.seg.idx, v.seg.indexed = idx, true
	}
	return v.seg.idx, nil
}

// nextRecord reads the record pos says comes next and returns its body,
// valid until rd's next read.
func nextRecord(rd *logfile.Reader, pos *cursor) ([]byte, error) {
	payload, err := rd.Next(maxLogPayload)
	if err == io.EOF {
		err = errBadFrame // the segment ended before the entry
	}
	if err == nil && (len(payload) < 8 || binary.LittleEndian.Uint64(payload) != pos.id) {
		err = errBadFrame
	}
	if err != nil {
		pos.seg = nil
		return nil, err
	}
	pos.id++
	return payload[8:], nil
}

// Trim removes the entries every group has acknowledged that are older
// than every group's oldest unacknowledged one, and deletes the segments
// holding only such entries (never the one being written). With no groups
// it removes nothing: a group created later reads from the oldest entry
// still in the queue.
func (q *Queue) Trim(ctx context.Context) error {
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	q.trimMu.Lock()
	defer q.trimMu.Unlock()
	groups := q.groupList()
	if len(groups) == 0 {
		return nil
	}
	floor := uint64(1<<64 - 1)
	for _, g := range groups {
		g.mu.Lock()
		// The acknowledgements that allow removing entries must not be
		// lost to a crash after the removal.
		err := g.syncJournal()
		low := g.low()
		g.mu.Unlock()
		if err != nil {
			return err
		}
		floor = min(floor, low)
	}
	// A group created meanwhile starts at the old trim point; holding
	// groupsMu while moving the point keeps further ones out.
	q.groupsMu.Lock()
	for _, g := range q.groups {
		if !slices.Contains(groups, g) {
			g.mu.Lock()
			floor = min(floor, g.low())
			g.mu.Unlock()
		}
	}
	q.mu.Lock()
	raised := floor > q.first
	if raised {
		q.first = floor
	}
	q.mu.Unlock()
	q.groupsMu.Unlock()
	if raised {
		// So that entries below floor stay gone after a restart, also
		// those in a segment that is kept.
		if err := q.writeFileAtomic(q.trimPath(), encodeTrimPoint(floor)); err != nil {
			return fmt.Errorf("diskq: trim: %w", err)
		}
	}

	q.mu.Lock()
	var drop []*segment
	for len(q.segs) > 1 && q.segs[0].sealed && q.segs[0].next <= floor {
		drop = append(drop, q.segs[0])
		q.segs = q.segs[1:]
	}
	q.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	var errs []error
	for _, s := range drop {
		q.mu.Lock()
		f := s.f
		s.f = nil
		q.mu.Unlock()
		if f != nil {
			f.Close()
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, q.syncDir(q.logDir))
	q.log.Debug("diskq: trimmed log", "segments", len(drop), "below", floor)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("diskq: trim: %w", err)
	}
	return nil
}

func (q *Queue) trimPath() string { return filepath.Join(q.dir, "trim") }

func encodeTrimPoint(first uint64) []byte {
	b := append([]byte(nil), magicTrim...)
	b, start := logfile.BeginFrame(b)
	b = binary.LittleEndian.AppendUint64(b, first)
	return logfile.EndFrame(b, start)
}

// loadTrimPoint reads the oldest entry Trim left in the queue. The file
// is replaced atomically, so an unreadable one is corruption, not a torn
// write; the oldest segment's start is then the safe answer.
func (q *Queue) loadTrimPoint() error {
	q.first = q.segs[0].start
	data, err := os.ReadFile(q.trimPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("diskq: %w", err)
	}
	var payload []byte
	if bytes.HasPrefix(data, magicTrim) {
		payload, _, err = logfile.ParseFrame(data[fileHeader:], 8)
	}
	if err != nil || len(payload) != 8 {
		q.log.Error("diskq: trim point is corrupt; keeping every entry still on disk", "file", q.trimPath())
		return nil
	}
	q.first = min(max(q.first, binary.LittleEndian.Uint64(payload)), q.end)
	return nil
}
