package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"

	"github.com/s3gate/s3gate/processors/events"
)

// magic starts every segment file: the kind of file and the version of
// its format, so a file of another kind or a future format is refused
// rather than misread.
var magic = []byte("s3gobox1")

const fileHeader = 8

// A frame is payload length (uint32 LE), CRC32C (uint32 LE) of the length
// bytes and the payload, then the payload. The length is covered by the
// CRC so a torn or flipped length is caught instead of sending the reader
// off into garbage.
const frameHeader = 8

// segHeader is the size of a segment's header: the magic, then one frame
// of the segment's number and the first intent id it may hold.
const segHeader = fileHeader + frameHeader + 16

// Record types.
const (
	recIntent    = 'I' // id, the record as known before the commit (JSON)
	recCommit    = 'C' // id, object hash, the message to publish
	recAbort     = 'A' // id: no event (the backend did not commit, or Recover dropped it)
	recPublished = 'P' // id: the event is in the queue
	recSummary   = 'S' // first id of a segment, n, n bits: which of its intents are resolved
)

// MaxRecordSize bounds the JSON of one record; Begin refuses larger ones.
// Events are a few KiB at most (a key is at most 1 KiB, tags 10 pairs).
const MaxRecordSize = 1 << 20

// maxPayload bounds a frame's length field, so a corrupt length is
// refused before a buffer is grown to it. A summary of a full segment is
// the largest record: far smaller.
const maxPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame means bytes that do not form a valid record: a torn write
// at the tail of a segment, or corruption elsewhere.
var errBadFrame = errors.New("outbox: torn or corrupt record")

func frameCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, length), castagnoli, payload)
}

// beginFrame reserves a frame header at the end of dst; the payload is
// appended after it and endFrame fills the header in.
func beginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), len(dst)
}

func endFrame(dst []byte, start int) []byte {
	payload := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], frameCRC(dst[start:start+4], payload))
	return dst
}

// Sizes of the records, frame included.
func intentSize(rec []byte) int64  { return frameHeader + 1 + 8 + int64(len(rec)) }
func commitSize(body []byte) int64 { return frameHeader + 1 + 8 + 8 + int64(len(body)) }

const markerSize = frameHeader + 1 + 8

func summarySize(n uint64) int64 { return frameHeader + 1 + 16 + int64((n+7)/8) }

func appendIntent(dst []byte, id uint64, rec []byte) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, recIntent)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = append(dst, rec...)
	return endFrame(dst, start)
}

func appendCommit(dst []byte, id, hash uint64, body []byte) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, recCommit)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, hash)
	dst = append(dst, body...)
	return endFrame(dst, start)
}

func appendMarker(dst []byte, kind byte, id uint64) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	return endFrame(dst, start)
}

// appendSummary records which of the n intents from first on are
// resolved: bit i of resolved is intent first+i.
func appendSummary(dst []byte, first, n uint64, resolved bitset) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, recSummary)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	dst = binary.LittleEndian.AppendUint64(dst, n)
	for i := uint64(0); i < n; i += 8 {
		var b byte
		for j := uint64(0); j < 8 && i+j < n; j++ {
			if resolved.has(i + j) {
				b |= 1 << j
			}
		}
		dst = append(dst, b)
	}
	return endFrame(dst, start)
}

func appendSegHeader(dst []byte, num, first uint64) []byte {
	dst = append(dst, magic...)
	dst, start := beginFrame(dst)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	return endFrame(dst, start)
}

// parseSegHeader returns the number and first id a segment header holds.
func parseSegHeader(b []byte) (num, first uint64, err error) {
	if len(b) != segHeader || string(b[:fileHeader]) != string(magic) {
		return 0, 0, errBadFrame
	}
	h := b[fileHeader:]
	if binary.LittleEndian.Uint32(h) != 16 || frameCRC(h[:4], h[frameHeader:]) != binary.LittleEndian.Uint32(h[4:]) {
		return 0, 0, errBadFrame
	}
	return binary.LittleEndian.Uint64(h[frameHeader:]), binary.LittleEndian.Uint64(h[frameHeader+8:]), nil
}

// record is one decoded record. body aliases the frame reader's buffer.
type record struct {
	kind  byte
	id    uint64 // for a summary, the first id it covers
	hash  uint64 // commit: the object's hash
	n     uint64 // summary: how many intents it covers
	body  []byte // intent: record JSON; commit: message; summary: bits
	frame int64  // size of the record's frame
}

// parseRecord decodes a frame's payload. Anything malformed is
// errBadFrame, so a frame whose CRC happens to match garbage is still
// refused.
func parseRecord(p []byte) (record, error) {
	r := record{frame: frameHeader + int64(len(p))}
	if len(p) < 9 {
		return r, errBadFrame
	}
	r.kind, r.id, p = p[0], binary.LittleEndian.Uint64(p[1:]), p[9:]
	if r.id == 0 {
		return r, errBadFrame
	}
	switch r.kind {
	case recIntent:
		if len(p) == 0 || len(p) > MaxRecordSize {
			return r, errBadFrame
		}
		r.body = p
	case recCommit:
		if len(p) < 8 {
			return r, errBadFrame
		}
		r.hash, r.body = binary.LittleEndian.Uint64(p), p[8:]
	case recAbort, recPublished:
		if len(p) != 0 {
			return r, errBadFrame
		}
	case recSummary:
		if len(p) < 8 {
			return r, errBadFrame
		}
		r.n, r.body = binary.LittleEndian.Uint64(p), p[8:]
		if r.n > uint64(len(r.body))*8 || uint64(len(r.body)) != (r.n+7)/8 {
			return r, errBadFrame
		}
	default:
		return r, errBadFrame
	}
	return r, nil
}

// summaryHas reports whether a summary's bit i is set.
func summaryHas(bits []byte, i uint64) bool { return bits[i/8]&(1<<(i%8)) != 0 }

// objectHash identifies an event's object, so that two events of one
// object are never in flight at once. A collision only serializes two
// unrelated events.
func objectHash(rec events.Record) uint64 {
	h := fnv.New64a()
	h.Write([]byte(rec.S3.Bucket.Name))
	h.Write([]byte{0})
	h.Write([]byte(rec.S3.Object.Key))
	return h.Sum64()
}

// frameReader reads frames sequentially from a region of a file through a
// reusable buffer, with positioned reads so it never disturbs the writer.
type frameReader struct {
	r   io.ReaderAt
	off int64 // file offset of buf[0]
	end int64 // end of the region
	buf []byte
	pos int // next frame starts at buf[pos]
	n   int // buf[:n] holds file bytes
}

const readBufSize = 64 << 10

func (fr *frameReader) reset(r io.ReaderAt, off, end int64) {
	if fr.buf == nil || cap(fr.buf) > 4*readBufSize {
		// Let a buffer grown for one large record go.
		fr.buf = make([]byte, readBufSize)
	}
	fr.r, fr.off, fr.end, fr.pos, fr.n = r, off, end, 0, 0
}

// offset is the file offset of the next frame.
func (fr *frameReader) offset() int64 { return fr.off + int64(fr.pos) }

// fill makes buf[pos:pos+need] hold file bytes, or returns errBadFrame if
// the region ends first.
func (fr *frameReader) fill(need int) error {
	if fr.n-fr.pos >= need {
		return nil
	}
	if int64(need) > fr.end-fr.offset() {
		return errBadFrame
	}
	copy(fr.buf, fr.buf[fr.pos:fr.n])
	fr.off += int64(fr.pos)
	fr.n -= fr.pos
	fr.pos = 0
	if need > len(fr.buf) {
		nb := make([]byte, max(need, 2*len(fr.buf)))
		copy(nb, fr.buf[:fr.n])
		fr.buf = nb
	}
	want := min(int64(len(fr.buf)-fr.n), fr.end-fr.off-int64(fr.n))
	got, err := fr.r.ReadAt(fr.buf[fr.n:fr.n+int(want)], fr.off+int64(fr.n))
	fr.n += got
	if got < int(want) {
		if err == io.EOF || err == nil {
			// The file is shorter than the region it was said to hold.
			return errBadFrame
		}
		return err
	}
	return nil
}

// next returns the next record, whose body is valid until the following
// call, and io.EOF exactly at the end of the region.
func (fr *frameReader) next() (record, error) {
	if fr.offset() >= fr.end {
		return record{}, io.EOF
	}
	if err := fr.fill(frameHeader); err != nil {
		return record{}, err
	}
	h := fr.buf[fr.pos:]
	n := binary.LittleEndian.Uint32(h)
	if uint64(n) > maxPayload {
		return record{}, errBadFrame
	}
	if err := fr.fill(frameHeader + int(n)); err != nil {
		return record{}, err
	}
	h = fr.buf[fr.pos:]
	payload := h[frameHeader : frameHeader+int(n)]
	if frameCRC(h[:4], payload) != binary.LittleEndian.Uint32(h[4:]) {
		return record{}, errBadFrame
	}
	r, err := parseRecord(payload)
	if err != nil {
		return record{}, err
	}
	fr.pos += frameHeader + int(n)
	return r, nil
}

// bitset is a growable set of small integers: per segment, intent ids
// less the segment's first id.
type bitset []uint64

func (b *bitset) set(i uint64) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) clear(i uint64) {
	if w := int(i / 64); w < len(b) {
		b[w] &^= 1 << (i % 64)
	}
}

func (b bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

func (b bitset) any() bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}

// segName is a segment's file name: its number, fixed-width so names sort
// as numbers do.
func segName(num uint64) string { return fmt.Sprintf("%020d.seg", num) }
