package outbox

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// magic starts every segment file: the kind of file and the version of
// its format, so a file of another kind or a future format is refused
// rather than misread. Each record after the header is one logfile frame.
var magic = []byte("s3gobox1")

const fileHeader = 8

// segHeader is the size of a segment's header: the magic, then one frame
// of the segment's number and the first intent id it may hold.
const segHeader = fileHeader + logfile.FrameHeader + 16

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

// errBadFrame is a record that is torn, corrupt or does not decode: the
// frame reader's error, so one errors.Is check covers both.
var errBadFrame = logfile.ErrBadFrame

// Sizes of the records, frame included.
func intentSize(rec []byte) int64  { return logfile.FrameHeader + 1 + 8 + int64(len(rec)) }
func commitSize(body []byte) int64 { return logfile.FrameHeader + 1 + 8 + 8 + int64(len(body)) }

const markerSize = logfile.FrameHeader + 1 + 8

func summarySize(n uint64) int64 { return logfile.FrameHeader + 1 + 16 + int64((n+7)/8) }

func appendIntent(dst []byte, id uint64, rec []byte) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = append(dst, recIntent)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = append(dst, rec...)
	return logfile.EndFrame(dst, start)
}

func appendCommit(dst []byte, id, hash uint64, body []byte) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = append(dst, recCommit)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, hash)
	dst = append(dst, body...)
	return logfile.EndFrame(dst, start)
}

func appendMarker(dst []byte, kind byte, id uint64) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = append(dst, kind)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	return logfile.EndFrame(dst, start)
}

// appendSummary records which of the n intents from first on are
// resolved: bit i of resolved is intent first+i.
func appendSummary(dst []byte, first, n uint64, resolved bitset) []byte {
	dst, start := logfile.BeginFrame(dst)
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
	return logfile.EndFrame(dst, start)
}

func appendSegHeader(dst []byte, num, first uint64) []byte {
	dst = append(dst, magic...)
	dst, start := logfile.BeginFrame(dst)
	dst = binary.LittleEndian.AppendUint64(dst, num)
	dst = binary.LittleEndian.AppendUint64(dst, first)
	return logfile.EndFrame(dst, start)
}

// parseSegHeader returns the number and first id a segment header holds.
func parseSegHeader(b []byte) (num, first uint64, err error) {
	if len(b) != segHeader || string(b[:fileHeader]) != string(magic) {
		return 0, 0, errBadFrame
	}
	p, _, err := logfile.ParseFrame(b[fileHeader:], 16)
	if err != nil || len(p) != 16 {
		return 0, 0, errBadFrame
	}
	return binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), nil
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
	r := record{frame: logfile.FrameHeader + int64(len(p))}
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

// nextRecord reads the next record from fr: its body is valid until fr's
// next read, and io.EOF comes exactly at the end of fr's region.
func nextRecord(fr *logfile.Reader) (record, error) {
	p, err := fr.Next(maxPayload)
	if err != nil {
		return record{}, err
	}
	return parseRecord(p)
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
