package diskq

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue"
)

// Journal record types.
const (
	recDeliver = 'N' // from, to: handed out for the first time
	recClaim   = 'C' // ids: handed out again
	recAck     = 'A' // ids: acknowledged
	recSkip    = 'K' // from, to: unreadable, passed over
)

// journalHeader is the magic and the generation of the snapshot the
// journal continues.
const journalHeader = fileHeader + 8

// group is a consumer group's state. Every entry below next has been
// handed out; those still in pending are not acknowledged.
type group struct {
	q    *Queue
	name string
	base string // path of its files, less the extension

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*pendingEntry
	due     pendingHeap // pending by time of delivery, for reclaiming
	gen     uint64      // generation of the snapshot
	journal *os.File
	jsize   int64
	dirty   bool // journal written since its last fsync
	rd      logfile.Reader
	pos     cursor // where rd stands, for reading new entries in order

	dlMu sync.Mutex
	dead *deadLetters // nil until the group has dead-lettered
}

type pendingEntry struct {
	id         uint64
	deliveries uint32
	at         time.Time // last handed out
	index      int       // in group.due
}

// pendingHeap orders pending entries by when they were handed out, so
// the ones due for reclaiming are at the top.
type pendingHeap []*pendingEntry

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].id < h[j].id
}
func (h pendingHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *pendingHeap) Push(x any) {
	p := x.(*pendingEntry)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *pendingHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

func (q *Queue) newGroup(name string) *group {
	return &group{
		q:       q,
		name:    name,
		base:    filepath.Join(q.groupDir, hex.EncodeToString([]byte(name))),
		pending: make(map[uint64]*pendingEntry),
	}
}

// low is the oldest entry the group still needs.
func (g *group) low() uint64 {
	low := g.next
	for id := range g.pending {
		low = min(low, id)
	}
	return low
}

func validGroup(name string) error {
	if name == "" || len(name) > maxGroupName {
		return fmt.Errorf("diskq: group name must be 1 to %d bytes", maxGroupName)
	}
	return nil
}

// EnsureGroup creates group, reading from the oldest entry in the log.
func (q *Queue) EnsureGroup(ctx context.Context, name string) error {
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validGroup(name); err != nil {
		return err
	}
	q.groupsMu.Lock()
	defer q.groupsMu.Unlock()
	if q.groups[name] != nil {
		return nil
	}
	g := q.newGroup(name)
	q.mu.Lock()
	g.next = q.first
	q.mu.Unlock()
	g.gen = 1
	if err := q.writeFileAtomic(g.base+".snap", g.encodeSnapshot(g.gen)); err != nil {
		return fmt.Errorf("diskq: creating group %q: %w", name, err)
	}
	if err := g.newJournal(); err != nil {
		return fmt.Errorf("diskq: creating group %q: %w", name, err)
	}
	q.groups[name] = g
	return nil
}

func (g *group) encodeSnapshot(gen uint64) []byte {
	b := append([]byte(nil), magicSnapshot...)
	b, start := logfile.BeginFrame(b)
	b = binary.LittleEndian.AppendUint64(b, gen)
	b = binary.LittleEndian.AppendUint64(b, g.next)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(g.name)))
	b = append(b, g.name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(g.pending)))
	for id, p := range g.pending {
		b = binary.LittleEndian.AppendUint64(b, id)
		b = binary.LittleEndian.AppendUint32(b, p.deliveries)
		b = binary.LittleEndian.AppendUint64(b, uint64(p.at.UnixNano()))
	}
	return logfile.EndFrame(b, start)
}

// decodeSnapshot loads a snapshot into g, whose name it must carry.
func (g *group) decodeSnapshot(data []byte) error {
	if !bytes.HasPrefix(data, magicSnapshot) {
		return errBadFrame
	}
	payload, rest, err := logfile.ParseFrame(data[fileHeader:], len(data))
	if err != nil || len(rest) != 0 {
		return errBadFrame
	}
	d := decoder{b: payload}
	gen, next := d.u64(), d.u64()
	name := string(d.take(int(d.u16())))
	n := d.u32()
	if d.err != nil || name != g.name || uint64(n)*20 != uint64(len(d.b)) {
		return errBadFrame
	}
	g.gen, g.next = gen, next
	for range n {
		id, deliveries, at := d.u64(), d.u32(), d.time()
		g.pending[id] = &pendingEntry{id: id, deliveries: deliveries, at: at}
	}
	return nil
}

// newJournal starts an empty journal for the current snapshot, replacing
// the old one only once it is complete.
func (g *group) newJournal() error {
	hdr := append(append([]byte(nil), magicJournal...), binary.LittleEndian.AppendUint64(nil, g.gen)...)
	if err := g.q.writeFileAtomic(g.base+".journal", hdr); err != nil {
		return err
	}
	f, err := os.OpenFile(g.base+".journal", os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if g.journal != nil {
		g.journal.Close()
	}
	g.journal, g.jsize, g.dirty = f, journalHeader, false
	return nil
}

// openGroups loads every group's state.
func (q *Queue) openGroups() error {
	entries, err := os.ReadDir(q.groupDir)
	if err != nil {
		return fmt.Errorf("diskq: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(q.groupDir, name))
			continue
		}
		hexName, ok := strings.CutSuffix(name, ".snap")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hexName)
		if err != nil || validGroup(string(raw)) != nil {
			q.log.Warn("diskq: ignoring unknown file in groups directory", "file", name)
			continue
		}
		g, err := q.loadGroup(string(raw))
		if err != nil {
			return fmt.Errorf("diskq: loading group %q: %w", raw, err)
		}
		q.groups[g.name] = g
	}
	return nil
}

func (q *Queue) loadGroup(name string) (*group, error) {
	g := q.newGroup(name)
	data, err := os.ReadFile(g.base + ".snap")
	if err != nil {
		return nil, err
	}
	if err := g.decodeSnapshot(data); err != nil {
		// Starting over from the oldest entry redelivers what the group
		// had done, and loses nothing.
		q.log.Error("diskq: group state is corrupt; the group starts over from the oldest entry", "group", name)
		g = q.newGroup(name)
		g.next, g.gen = q.first, 1
		if err := q.writeFileAtomic(g.base+".snap", g.encodeSnapshot(g.gen)); err != nil {
			return nil, err
		}
		if err := g.newJournal(); err != nil {
			return nil, err
		}
	} else if err := g.replayJournal(); err != nil {
		return nil, err
	}

	// A log that lost its tail (a machine crash without Fsync) or
	// segments the journal did not know were trimmed leave ids the log
	// no longer has.
	lo, hi := q.first, q.end
	if g.next > hi || g.next < lo {
		q.log.Warn("diskq: group position outside the log; moved into it", "group", name, "next", g.next, "oldest", lo, "end", hi)
		g.next = min(max(g.next, lo), hi)
	}
	now := time.Now()
	for id, p := range g.pending {
		if id < lo || id >= g.next {
			delete(g.pending, id)
			continue
		}
		// A delivery time ahead of the clock (it was set back) must not
		// hold an entry back for longer than the claim timeout.
		if p.at.After(now) {
			p.at = now
		}
		heap.Push(&g.due, p)
	}
	if _, err := os.Stat(g.base + ".dead"); err == nil {
		if g.dead, err = q.openDead(g.base + ".dead"); err != nil {
			g.journal.Close()
			return nil, err
		}
	}
	return g, nil
}

// replayJournal applies the journal to the snapshot just loaded and
// truncates a torn tail. A journal of another generation is either one a
// compaction already folded into the snapshot or torn at creation.
func (g *group) replayJournal() error {
	f, err := os.OpenFile(g.base+".journal", os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return g.newJournal()
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	hdr := make([]byte, journalHeader)
	if n, _ := f.ReadAt(hdr, 0); n < journalHeader || !bytes.Equal(hdr[:fileHeader], magicJournal) ||
		binary.LittleEndian.Uint64(hdr[fileHeader:]) != g.gen {
		f.Close()
		return g.newJournal()
	}
	var fr logfile.Reader
	fr.Reset(f, journalHeader, fi.Size())
	for {
		off := fr.Offset()
		payload, err := fr.Next(maxAuxPayload)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = g.apply(payload)
		}
		if errors.Is(err, errBadFrame) {
			g.q.log.Warn("diskq: truncating torn tail of group journal", "group", g.name, "offset", off, "bytes", fi.Size()-off)
			if err := f.Truncate(off); err != nil {
				f.Close()
				return err
			}
			break
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	g.journal, g.jsize = f, fr.Offset()
	return nil
}

// apply replays one journal record.
func (g *group) apply(payload []byte) error {
	d := decoder{b: payload}
	typ, at := d.u8(), d.time()
	switch typ {
	case recDeliver, recSkip:
		from, to := d.u64(), d.u64()
		if d.err != nil || len(d.b) != 0 || from > to {
			return errBadFrame
		}
		if typ == recDeliver {
			for id := from; id < to; id++ {
				g.pending[id] = &pendingEntry{id: id, deliveries: 1, at: at}
			}
		}
		g.next = max(g.next, to)
	case recClaim, recAck:
		ids, err := decodeIDs(&d)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if typ == recAck {
				delete(g.pending, id)
			} else if p := g.pending[id]; p != nil {
				p.deliveries++
				p.at = at
			}
		}
	default:
		return errBadFrame
	}
	return nil
}

// Every journal record is its type, the time it was written (Unix ns),
// then its fields.
func appendRange(dst []byte, typ byte, at time.Time, from, to uint64) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = binary.LittleEndian.AppendUint64(dst, from)
	dst = binary.LittleEndian.AppendUint64(dst, to)
	return logfile.EndFrame(dst, start)
}

func appendIDs(dst []byte, typ byte, at time.Time, ids []uint64) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint64(dst, id)
	}
	return logfile.EndFrame(dst, start)
}

func decodeIDs(d *decoder) ([]uint64, error) {
	n := d.u32()
	if d.err != nil || uint64(len(d.b)) != uint64(n)*8 {
		return nil, errBadFrame
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.u64()
	}
	return ids, nil
}

// writeJournal appends records to the journal. On failure it cuts the
// journal back, so a half-written record cannot hide later ones.
func (g *group) writeJournal(recs []byte) error {
	n, err := g.journal.Write(recs)
	if err != nil {
		if n > 0 {
			if terr := g.journal.Truncate(g.jsize); terr != nil {
				g.q.log.Error("diskq: cannot cut back group journal", "group", g.name, "err", terr)
			}
		}
		return fmt.Errorf("diskq: writing journal of group %q: %w", g.name, err)
	}
	g.jsize += int64(n)
	g.dirty = true
	return nil
}

// maybeCompact replaces snapshot and journal with a new snapshot once the
// journal is large next to what a snapshot would hold. A failure is only
// logged: the journal still holds everything, and the next change tries
// again.
func (g *group) maybeCompact() {
	if g.jsize < max(g.q.compactAt, 32*int64(len(g.pending))) {
		return
	}
	g.compact()
}

func (g *group) compact() {
	gen := g.gen + 1
	if err := g.q.writeFileAtomic(g.base+".snap", g.encodeSnapshot(gen)); err != nil {
		g.q.log.Error("diskq: snapshot of group state failed", "group", g.name, "err", err)
		return
	}
	g.gen = gen
	if err := g.newJournal(); err != nil {
		g.q.log.Error("diskq: new group journal failed", "group", g.name, "err", err)
	}
}

// syncJournal fsyncs the journal if it changed.
func (g *group) syncJournal() error {
	if !g.dirty || !g.q.fsync {
		return nil
	}
	if err := g.journal.Sync(); err != nil {
		return fmt.Errorf("diskq: fsync of journal of group %q: %w", g.name, err)
	}
	g.dirty = false
	return nil
}

func (g *group) close(fsync bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	if fsync {
		errs = append(errs, g.syncJournal())
	}
	errs = append(errs, g.journal.Close())
	g.dlMu.Lock()
	defer g.dlMu.Unlock()
	if g.dead != nil {
		errs = append(errs, g.dead.f.Close())
	}
	return errors.Join(errs...)
}

// Read hands consumer up to max entries of group: reclaimed ones (handed
// out more than ClaimAfter ago and not acknowledged) first, then new ones.
// Entries become readable once durable. The consumer name is not
// recorded: any consumer of the group may reclaim any entry.
func (q *Queue) Read(ctx context.Context, groupName, consumer string, limit int, wait time.Duration) ([]queue.Message, error) {
	if err := q.enter(); err != nil {
		return nil, err
	}
	defer q.leave()
	if limit < 1 {
		return nil, errors.New("diskq: Read needs max of at least 1")
	}
	g, err := q.group(groupName)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, notify, due, err := g.read(limit)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		d := time.Until(deadline)
		if d <= 0 {
			return []queue.Message{}, nil
		}
		if !due.IsZero() {
			d = min(d, time.Until(due))
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-notify:
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closing:
			return nil, queue.ErrClosed
		}
	}
}

// read is one attempt of Read. It also returns what to wait on when it
// found nothing: a channel closed by the next Publish, and when the
// oldest pending entry falls due (zero if none).
func (g *group) read(limit int) ([]queue.Message, <-chan struct{}, time.Time, error) {
	q := g.q
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()

	var claimed []*pendingEntry
	for len(claimed) < limit && len(g.due) > 0 && !now.Before(g.due[0].at.Add(q.claimAfter)) {
		claimed = append(claimed, heap.Pop(&g.due).(*pendingEntry))
	}
	unclaim := func() {
		for _, p := range claimed {
			heap.Push(&g.due, p)
		}
	}
	slices.SortFunc(claimed, func(a, b *pendingEntry) int { return cmp.Compare(a.id, b.id) })
	bodies, err := q.readClaimed(claimed)
	if err != nil {
		unclaim()
		return nil, nil, time.Time{}, err
	}

	q.mu.Lock()
	end, notify := q.end, q.notify
	q.mu.Unlock()
	from := g.next
	var fresh []queue.Message
	skipTo := from
	if n := min(uint64(limit-len(claimed)), end-min(from, end)); n > 0 {
		fresh, skipTo, err = q.readNew(g, from, n)
		if err != nil && len(claimed) == 0 && len(fresh) == 0 {
			return nil, nil, time.Time{}, err
		}
		// Otherwise deliver what was read; the error comes back on the
		// next Read.
	}
	to := from + uint64(len(fresh))

	var claimIDs, lostIDs []uint64
	for i, p := range claimed {
		if bodies[i] == nil {
			lostIDs = append(lostIDs, p.id)
		} else {
			claimIDs = append(claimIDs, p.id)
		}
	}
	var recs []byte
	if len(claimIDs) > 0 {
		recs = appendIDs(recs, recClaim, now, claimIDs)
	}
	if len(lostIDs) > 0 {
		recs = appendIDs(recs, recAck, now, lostIDs)
	}
	if to > from {
		recs = appendRange(recs, recDeliver, now, from, to)
	}
	if skipTo > to {
		recs = appendRange(recs, recSkip, now, to, skipTo)
	}
	if len(recs) > 0 {
		if err := g.writeJournal(recs); err != nil {
			unclaim()
			g.pos.seg = nil // rd ran ahead of next
			return nil, nil, time.Time{}, err
		}
	}

	out := make([]queue.Message, 0, len(claimIDs)+len(fresh))
	for i, p := range claimed {
		if bodies[i] == nil {
			delete(g.pending, p.id)
			continue
		}
		p.deliveries++
		p.at = now
		heap.Push(&g.due, p)
		out = append(out, queue.Message{ID: formatID(p.id), Body: bodies[i], Deliveries: int(p.deliveries)})
	}
	for i, m := range fresh {
		p := &pendingEntry{id: from + uint64(i), deliveries: 1, at: now}
		g.pending[p.id] = p
		heap.Push(&g.due, p)
		out = append(out, m)
	}
	g.next = max(skipTo, to)
	g.maybeCompact()

	var due time.Time
	if len(g.due) > 0 {
		due = g.due[0].at.Add(q.claimAfter)
	}
	return out, notify, due, nil
}

// readClaimed reads the bodies of claimed, which is sorted by id. The
// body of an entry that cannot be read any more (corruption) is nil, so
// the caller can drop it.
func (q *Queue) readClaimed(claimed []*pendingEntry) ([][]byte, error) {
	if len(claimed) == 0 {
		return nil, nil
	}
	var rd logfile.Reader
	var pos cursor
	bodies := make([][]byte, len(claimed))
	for i, p := range claimed {
		v, err := q.view(p.id)
		if err != nil {
			return nil, err
		}
		if err = q.seek(&rd, &pos, v, p.id); err == nil {
			var body []byte
			if body, err = nextRecord(&rd, &pos); err == nil {
				bodies[i] = append(make([]byte, 0, len(body)), body...)
				continue
			}
		}
		if !errors.Is(err, errBadFrame) {
			return nil, err
		}
		q.log.Error("diskq: pending entry is unreadable; dropping it", "id", formatID(p.id), "segment", v.seg.path)
	}
	return bodies, nil
}

// readNew reads n entries from id from on, in order, continuing where the
// group's last read stopped. Past a corrupt stretch of a sealed segment it
// returns what it read and skipTo, the id to go on from; otherwise skipTo
// is from plus what it read.
func (q *Queue) readNew(g *group, from, n uint64) (msgs []queue.Message, skipTo uint64, err error) {
	msgs = make([]queue.Message, 0, n)
	id := from
	for uint64(len(msgs)) < n {
		v, err := q.view(id)
		if err != nil {
			return msgs, id, err
		}
		if id >= v.next {
			return msgs, id, fmt.Errorf("diskq: log has no entry %d", id)
		}
		err = q.seek(&g.rd, &g.pos, v, id)
		for err == nil && uint64(len(msgs)) < n && id < v.next {
			var body []byte
			if body, err = nextRecord(&g.rd, &g.pos); err == nil {
				b := append(make([]byte, 0, len(body)), body...)
				msgs = append(msgs, queue.Message{ID: formatID(id), Body: b, Deliveries: 1})
				id++
			}
		}
		if err == nil {
			continue
		}
		g.pos.seg = nil
		if errors.Is(err, errBadFrame) && v.sealed {
			q.log.Error("diskq: log segment is corrupt; skipping the rest of it",
				"group", g.name, "segment", v.seg.path, "from", formatID(id), "to", formatID(v.next))
			return msgs, v.next, nil
		}
		return msgs, id, fmt.Errorf("diskq: reading %s: %w", v.seg.path, err)
	}
	return msgs, id, nil
}

// Ack acknowledges entries of group. Ids the group has no pending entry
// for (never handed out, or already acknowledged) are ignored.
func (q *Queue) Ack(ctx context.Context, groupName string, ids ...string) error {
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	g, err := q.group(groupName)
	if err != nil {
		return err
	}
	nums := make([]uint64, 0, len(ids))
	for _, s := range ids {
		id, err := parseID(s)
		if err != nil {
			return err
		}
		nums = append(nums, id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ack(nums)
}

func (g *group) ack(ids []uint64) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	acked := ids[:0]
	for _, id := range ids {
		if g.pending[id] != nil {
			acked = append(acked, id)
		}
	}
	if len(acked) == 0 {
		return nil
	}
	if err := g.writeJournal(appendIDs(nil, recAck, time.Now(), acked)); err != nil {
		return err
	}
	for _, id := range acked {
		heap.Remove(&g.due, g.pending[id].index)
		delete(g.pending, id)
	}
	g.maybeCompact()
	return nil
}

// Pending is how many entries group has not acknowledged: handed out and
// pending, plus not yet handed out.
func (q *Queue) Pending(ctx context.Context, groupName string) (int64, error) {
	if err := q.enter(); err != nil {
		return 0, err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	g, err := q.group(groupName)
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	q.mu.Lock()
	end := q.end
	q.mu.Unlock()
	return int64(len(g.pending)) + int64(end-g.next), nil
}
