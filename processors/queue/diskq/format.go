package diskq

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/s3gate/s3gate/processors/internal/logfile"
)

// Every file starts with an 8-byte magic naming its kind and format
// version, so a file of another kind or a future format is refused rather
// than misread. Each record after it is one logfile frame.
const fileHeader = 8

var (
	magicLog      = []byte("s3gqlog1")
	magicJournal  = []byte("s3gqjnl1")
	magicSnapshot = []byte("s3gqsnp1")
	magicDead     = []byte("s3gqdlq1")
	magicTrim     = []byte("s3gqtrm1")
)

// recordOverhead is what a log record adds to its body: the frame header
// and the entry id.
const recordOverhead = logfile.FrameHeader + 8

// MaxBodySize is the largest event body Publish accepts.
const MaxBodySize = 32 << 20

// maxLogPayload bounds a log frame's length field, so a corrupt length is
// refused before a buffer is grown to it.
const maxLogPayload = 8 + MaxBodySize

// maxAuxPayload bounds journal and dead-letter frames: a dead letter
// carries a body and a reason; a journal record at most a Read's ids.
const maxAuxPayload = 64 << 20

// errBadFrame is a record that is torn, corrupt or does not decode: the
// frame reader's error, so one errors.Is check covers both.
var errBadFrame = logfile.ErrBadFrame

// appendRecord appends the log record of entry id.
func appendRecord(dst []byte, id uint64, body []byte) []byte {
	dst, start := logfile.BeginFrame(dst)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = append(dst, body...)
	return logfile.EndFrame(dst, start)
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
