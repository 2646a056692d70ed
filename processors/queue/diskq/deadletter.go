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
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue"
)

// Dead-letter record types.
const (
	recLetter  = 'L'
	recRemoved = 'R'
)

// deadCompactAt is the size of removed records above which a dead-letter
// file is rewritten (when they also outweigh the live ones).
const deadCompactAt = 1 << 20

// deadLetters is a group's dead-letter file. Only where each letter lies
// is kept in memory; bodies stay on disk.
type deadLetters struct {
	path      string
	f         *os.File
	size      int64
	live      []deadRef // oldest first
	liveBytes int64
}

type deadRef struct {
	id  uint64
	off int64
	n   int64 // frame size
}

// openDead opens (creating if needed) a dead-letter file and finds its
// live letters, truncating a torn tail.
func (q *Queue) openDead(path string) (*deadLetters, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	d := &deadLetters{path: path, f: f}
	if err := d.load(q); err != nil {
		f.Close()
		return nil, fmt.Errorf("diskq: %s: %w", path, err)
	}
	return d, nil
}

func (d *deadLetters) load(q *Queue) error {
	fi, err := d.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	hdr := make([]byte, fileHeader)
	n, _ := d.f.ReadAt(hdr, 0)
	switch {
	case n < fileHeader && bytes.HasPrefix(magicDead, hdr[:n]):
		// New, or torn while being created.
		if err := d.f.Truncate(0); err != nil {
			return err
		}
		if _, err := d.f.Write(magicDead); err != nil {
			return err
		}
		if err := q.syncFile(d.f); err != nil {
			return err
		}
		d.size = fileHeader
		return q.syncDir(filepath.Dir(d.path))
	case !bytes.Equal(hdr[:n], magicDead):
		return errors.New("not a dead-letter file")
	}
	var fr logfile.Reader
	fr.Reset(d.f, fileHeader, size)
	for {
		off := fr.Offset()
		payload, err := fr.Next(maxAuxPayload)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = d.apply(payload, off, fr.Offset()-off)
		}
		if errors.Is(err, errBadFrame) {
			q.log.Warn("diskq: truncating torn tail of dead letters", "file", d.path, "offset", off, "bytes", size-off)
			if err := d.f.Truncate(off); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return err
		}
	}
	d.size = fr.Offset()
	return nil
}

func (d *deadLetters) apply(payload []byte, off, n int64) error {
	dec := decoder{b: payload}
	switch dec.u8() {
	case recLetter:
		id := dec.u64()
		if dec.err != nil {
			return errBadFrame
		}
		d.live = append(d.live, deadRef{id, off, n})
		d.liveBytes += n
	case recRemoved:
		dec.time()
		ids, err := decodeIDs(&dec)
		if err != nil {
			return err
		}
		d.remove(ids)
	default:
		return errBadFrame
	}
	return nil
}

// remove drops the live letters with the given ids.
func (d *deadLetters) remove(ids []uint64) {
	d.live = slices.DeleteFunc(d.live, func(r deadRef) bool {
		if slices.Contains(ids, r.id) {
			d.liveBytes -= r.n
			return true
		}
		return false
	})
}

func (d *deadLetters) write(q *Queue, rec []byte) error {
	n, err := d.f.Write(rec)
	if err != nil {
		if n > 0 {
			d.f.Truncate(d.size)
		}
		return err
	}
	d.size += int64(n)
	return q.syncFile(d.f)
}

func encodeLetter(id uint64, m queue.Message, reason string, at time.Time) []byte {
	b, start := logfile.BeginFrame(nil)
	b = append(b, recLetter)
	b = binary.LittleEndian.AppendUint64(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(max(m.Deliveries, 0)))
	b = binary.LittleEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(reason)))
	b = append(b, reason...)
	b = append(b, m.Body...)
	return logfile.EndFrame(b, start)
}

// letter reads the dead letter r of group.
func (d *deadLetters) letter(group string, r deadRef) (queue.DeadLetter, error) {
	var fr logfile.Reader
	fr.Reset(d.f, r.off, r.off+r.n)
	payload, err := fr.Next(maxAuxPayload)
	if err != nil {
		return queue.DeadLetter{}, fmt.Errorf("diskq: reading dead letter %s of group %q: %w", formatID(r.id), group, err)
	}
	dec := decoder{b: payload}
	dec.u8()
	id, deliveries, at := dec.u64(), dec.u32(), dec.time()
	reason := string(dec.take(int(dec.u32())))
	if dec.err != nil {
		return queue.DeadLetter{}, fmt.Errorf("diskq: dead letter %s of group %q: %w", formatID(r.id), group, errBadFrame)
	}
	return queue.DeadLetter{
		Message: queue.Message{ID: formatID(id), Body: bytes.Clone(dec.b), Deliveries: int(deliveries)},
		Group:   group,
		Reason:  reason,
		At:      at,
	}, nil
}

// compact rewrites the file without removed letters once they are the
// bulk of it.
func (d *deadLetters) compact(q *Queue) error {
	if len(d.live) == 0 && d.size > fileHeader {
		if err := d.f.Truncate(fileHeader); err != nil {
			return err
		}
		d.size = fileHeader
		return q.syncFile(d.f)
	}
	if dead := d.size - fileHeader - d.liveBytes; dead < deadCompactAt || dead < d.liveBytes {
		return nil
	}
	buf := append(make([]byte, 0, fileHeader+d.liveBytes), magicDead...)
	live := make([]deadRef, len(d.live))
	for i, r := range d.live {
		off := int64(len(buf))
		buf = append(buf, make([]byte, r.n)...)
		if _, err := d.f.ReadAt(buf[off:], r.off); err != nil {
			return err
		}
		live[i] = deadRef{r.id, off, r.n}
	}
	if err := q.writeFileAtomic(d.path, buf); err != nil {
		return err
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	d.f.Close()
	d.f, d.size, d.live = f, int64(len(buf)), live
	return nil
}

func (q *Queue) syncFile(f *os.File) error {
	if !q.fsync {
		return nil
	}
	return f.Sync()
}

// DeadLetter records that group gave up on m and acknowledges it. The dead
// letter is durable before the acknowledgement is written, so a crash in
// between redelivers m rather than losing it.
func (q *Queue) DeadLetter(ctx context.Context, groupName string, m queue.Message, reason string) error {
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
	id, err := parseID(m.ID)
	if err != nil {
		return err
	}
	if len(m.Body) > MaxBodySize {
		return ErrTooLarge
	}
	if err := g.addDead(id, m, reason); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ack([]uint64{id})
}

func (g *group) addDead(id uint64, m queue.Message, reason string) error {
	g.dlMu.Lock()
	defer g.dlMu.Unlock()
	if g.dead == nil {
		d, err := g.q.openDead(g.base + ".dead")
		if err != nil {
			return err
		}
		g.dead = d
	}
	rec := encodeLetter(id, m, reason, time.Now())
	off := g.dead.size
	if err := g.dead.write(g.q, rec); err != nil {
		return fmt.Errorf("diskq: recording dead letter of group %q: %w", g.name, err)
	}
	g.dead.live = append(g.dead.live, deadRef{id, off, int64(len(rec))})
	g.dead.liveBytes += int64(len(rec))
	return nil
}

// DeadLetters lists up to max of group's dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, groupName string, limit int) ([]queue.DeadLetter, error) {
	if err := q.enter(); err != nil {
		return nil, err
	}
	defer q.leave()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g, err := q.group(groupName)
	if err != nil {
		return nil, err
	}
	g.dlMu.Lock()
	defer g.dlMu.Unlock()
	out := []queue.DeadLetter{}
	if g.dead == nil {
		return out, nil
	}
	for _, r := range g.dead.live[:min(max(limit, 0), len(g.dead.live))] {
		dl, err := g.dead.letter(g.name, r)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, nil
}

// Replay publishes the named dead letters of group again, as new entries,
// and then removes them, oldest first. Ids that are not dead letters of
// the group count for nothing. A crash between the two publishes them
// again on the next Replay rather than losing them.
func (q *Queue) Replay(ctx context.Context, groupName string, ids ...string) (int, error) {
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
	want := make([]uint64, 0, len(ids))
	for _, s := range ids {
		id, err := parseID(s)
		if err != nil {
			return 0, err
		}
		want = append(want, id)
	}
	g.dlMu.Lock()
	defer g.dlMu.Unlock()
	if g.dead == nil {
		return 0, nil
	}
	var bodies [][]byte
	var replayed []uint64
	for _, r := range g.dead.live {
		if !slices.Contains(want, r.id) || slices.Contains(replayed, r.id) {
			continue
		}
		dl, err := g.dead.letter(g.name, r)
		if err != nil {
			return 0, err
		}
		bodies = append(bodies, dl.Body)
		replayed = append(replayed, r.id)
	}
	if len(bodies) == 0 {
		return 0, nil
	}
	if _, err := q.publish(ctx, bodies); err != nil {
		return 0, err
	}
	if err := g.dead.write(q, appendIDs(nil, recRemoved, time.Now(), replayed)); err != nil {
		return 0, fmt.Errorf("diskq: removing replayed dead letters of group %q: %w", g.name, err)
	}
	g.dead.remove(replayed)
	if err := g.dead.compact(q); err != nil {
		q.log.Error("diskq: compacting dead letters failed", "group", g.name, "err", err)
	}
	return len(replayed), nil
}
