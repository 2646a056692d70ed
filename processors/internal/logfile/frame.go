package logfile

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

// A frame is the payload length (uint32 LE), the CRC32C (uint32 LE) of
// the length bytes and the payload, then the payload. The length is
// covered by the CRC so a torn or flipped length is caught instead of
// sending the reader off into garbage.

// FrameHeader is the size of a frame's header: what a frame adds to its
// payload.
const FrameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, length), castagnoli, payload)
}

// BeginFrame reserves a frame header at the end of dst and returns the
// extended slice and where the frame starts. The payload is appended
// after it, then EndFrame fills the header in; building the payload in
// place saves a copy.
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), len(dst)
}

// EndFrame completes the frame that BeginFrame started at start: its
// payload is everything in dst after the header.
func EndFrame(dst []byte, start int) []byte {
	payload := dst[start+FrameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], checksum(dst[start:start+4], payload))
	return dst
}

// ParseFrame decodes the frame at the start of b and returns its payload
// and the bytes after the frame, both aliasing b. A frame cut short, one
// whose payload is longer than maxPayload, or a checksum that does not
// match is ErrBadFrame.
func ParseFrame(b []byte, maxPayload int) (payload, rest []byte, err error) {
	if len(b) < FrameHeader {
		return nil, nil, ErrBadFrame
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if n > uint64(max(maxPayload, 0)) || n > uint64(len(b)-FrameHeader) {
		return nil, nil, ErrBadFrame
	}
	end := FrameHeader + int(n)
	payload = b[FrameHeader:end]
	if checksum(b[:4], payload) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, nil, ErrBadFrame
	}
	return payload, b[end:], nil
}

// readBufSize is the Reader's buffer; a larger frame grows it.
const readBufSize = 64 << 10

// Reader reads frames sequentially from a region of a file through a
// reusable buffer, with positioned reads so it never disturbs other
// readers or the writer. The zero Reader is ready for Reset.
type Reader struct {
	r   io.ReaderAt
	off int64 // file offset of buf[0]
	end int64 // end of the region
	buf []byte
	pos int // next frame starts at buf[pos]
	n   int // buf[:n] holds file bytes
}

// Reset makes fr read the frames of r from offset off up to end.
func (fr *Reader) Reset(r io.ReaderAt, off, end int64) {
	if fr.buf == nil || cap(fr.buf) > 4*readBufSize {
		// Let a buffer grown for one large record go.
		fr.buf = make([]byte, readBufSize)
	}
	fr.r, fr.off, fr.end, fr.pos, fr.n = r, off, end, 0, 0
}

// SetEnd moves the end of the region, for a file that has grown since
// Reset; reading goes on from where it stands.
func (fr *Reader) SetEnd(end int64) { fr.end = end }

// Offset is the file offset of the next frame.
func (fr *Reader) Offset() int64 { return fr.off + int64(fr.pos) }

// fill makes buf[pos:pos+need] hold file bytes, or returns ErrBadFrame if
// the region ends first.
func (fr *Reader) fill(need int) error {
	if fr.n-fr.pos >= need {
		return nil
	}
	if int64(need) > fr.end-fr.Offset() {
		return ErrBadFrame
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
			return ErrBadFrame
		}
		return err
	}
	return nil
}

// Next returns the next frame's payload, valid until the following call,
// and io.EOF exactly at the end of the region. A frame that is torn,
// corrupt or has a payload longer than maxPayload is ErrBadFrame, and the
// reader stays in front of it; other errors are the file's.
func (fr *Reader) Next(maxPayload int) ([]byte, error) {
	if fr.Offset() >= fr.end {
		return nil, io.EOF
	}
	if err := fr.fill(FrameHeader); err != nil {
		return nil, err
	}
	n := uint64(binary.LittleEndian.Uint32(fr.buf[fr.pos:]))
	if n > uint64(max(maxPayload, 0)) {
		return nil, ErrBadFrame // refused before the buffer grows to it
	}
	if err := fr.fill(FrameHeader + int(n)); err != nil {
		return nil, err
	}
	payload, rest, err := ParseFrame(fr.buf[fr.pos:fr.n], maxPayload)
	if err != nil {
		return nil, err
	}
	fr.pos = fr.n - len(rest)
	return payload, nil
}
