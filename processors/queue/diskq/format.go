package diskq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"time"
)

// Every file starts with an 8-byte magic naming its kind and format
// version, so a file of another kind or a future format is refused rather
// than misread.
const fileHeader = 8

var (
	magicLog      = []byte("s3gqlog1")
	magicJournal  = []byte("s3gqjnl1")
	magicSnapshot = []byte("s3gqsnp1")
	magicDead     = []byte("s3gqdlq1")
	magicTrim     = []byte("s3gqtrm1")
)

// A frame is payload length (uint32 LE), CRC32C (uint32 LE) of the length
// bytes and the payload, then the payload. The length is covered by the
// CRC so a torn or flipped length is caught instead of sending the reader
// off into garbage.
const frameHeader = 8

// recordOverhead is what a log record adds to its body: the frame header
// and the entry id.
const recordOverhead = frameHeader + 8

// MaxBodySize is the largest event body Publish accepts.
const MaxBodySize = 32 << 20

// maxLogPayload bounds a log frame's length field, so a corrupt length is
// refused before a buffer is grown to it.
const maxLogPayload = 8 + MaxBodySize

// maxAuxPayload bounds journal and dead-letter frames: a dead letter
// carries a body and a reason; a journal record at most a Read's ids.
const maxAuxPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame means bytes that do not form a valid frame: a torn write at
// the tail of a file, or corruption elsewhere.
var errBadFrame = errors.New("diskq: torn or corrupt record")

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

func frameCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, length), castagnoli, payload)
}

// appendRecord appends the log record of entry id.
func appendRecord(dst []byte, id uint64, body []byte) []byte {
	dst, start := beginFrame(dst)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = append(dst, body...)
	return endFrame(dst, start)
}

// formatID renders an entry id fixed-width, so ids sort as strings the way
// they sort as numbers.
func formatID(id uint64) string {
	var b [20]byte // the widest uint64 has 20 digits
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + id%10)
		id /= 10
	}
	return string(b[:])
}

func parseID(s string) (uint64, error) {
	if len(s) != 20 {
		return 0, fmt.Errorf("diskq: invalid entry id %q", s)
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("diskq: invalid entry id %q", s)
	}
	return id, nil
}

// frameReader reads frames sequentially from a region of a file through a
// reusable buffer, with positioned reads so it never disturbs other
// readers or the writer.
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
	if cap(fr.buf) > 4*readBufSize || fr.buf == nil {
		// Let a buffer grown for one large record go.
		fr.buf = make([]byte, readBufSize)
	}
	fr.r, fr.off, fr.end, fr.pos, fr.n = r, off, end, 0, 0
}

// offset is the file offset of the next frame.
func (fr *frameReader) offset() int64 { return fr.off + int64(fr.pos) }

// fill makes buf[pos:pos+need] hold file bytes. It returns errBadFrame if
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
		if err == io.EOF {
			// The file is shorter than the region it was said to hold.
			return errBadFrame
		}
		return err
	}
	return nil
}

// next returns the next frame's payload, valid until the following call,
// and io.EOF exactly at the end of the region.
func (fr *frameReader) next(maxPayload int) ([]byte, error) {
	if fr.offset() >= fr.end {
		return nil, io.EOF
	}
	if err := fr.fill(frameHeader); err != nil {
		return nil, err
	}
	h := fr.buf[fr.pos:]
	n := binary.LittleEndian.Uint32(h)
	if uint64(n) > uint64(maxPayload) {
		return nil, errBadFrame
	}
	if err := fr.fill(frameHeader + int(n)); err != nil {
		return nil, err
	}
	h = fr.buf[fr.pos:]
	payload := h[frameHeader : frameHeader+int(n)]
	if frameCRC(h[:4], payload) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, errBadFrame
	}
	fr.pos += frameHeader + int(n)
	return payload, nil
}

// decoder reads the fields of a payload; a short payload sets err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = errBadFrame
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }

// time reads a time stored as Unix nanoseconds.
func (d *decoder) time() time.Time { return time.Unix(0, int64(d.u64())) }
