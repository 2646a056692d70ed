package fs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/s3gate/s3gate/backends"
)

const (
	footerMagic   = "S3GATEO1"
	trailerLen    = 8 + len(footerMagic)
	footerVersion = 1
	// maxMetaLen bounds what a corrupt length field can make us read.
	maxMetaLen = 1 << 20
	// tailRead is read in one pread; it covers the footer of most objects.
	tailRead = 4096
)

var errCorrupt = errors.New("fs: corrupt object file")

// meta is the JSON footer stored after an object's bytes.
type meta struct {
	Version  int    `json:"v"`
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	ETag     string `json:"etag"`
	Modified int64  `json:"mtime"` // Unix nanoseconds
	backends.ContentHeaders
	Metadata map[string]string `json:"meta,omitempty"`
	Checksum backends.Checksum `json:"checksum,omitzero"`
}

func (m *meta) info() backends.ObjectInfo {
	return backends.ObjectInfo{
		Key:            m.Key,
		Size:           m.Size,
		ETag:           m.ETag,
		LastModified:   time.Unix(0, m.Modified).UTC(),
		ContentHeaders: m.ContentHeaders,
		Metadata:       m.Metadata,
		Checksum:       m.Checksum,
	}
}

// encodeFooter renders the footer: JSON, its length (8 bytes, big endian)
// and the magic.
func encodeFooter(m *meta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaLen {
		return nil, fmt.Errorf("fs: object metadata too large (%d bytes)", len(b))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(b)))
	return append(b, footerMagic...), nil
}

// readFooter reads the footer of an open object file with pread, so the
// file offset is left alone.
func readFooter(f *os.File) (*meta, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", errCorrupt)
	}
	size := st.Size()
	if size < int64(trailerLen) {
		return nil, fmt.Errorf("%w: too short", errCorrupt)
	}
	tail := make([]byte, min(size, tailRead))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil, err
	}
	if string(tail[len(tail)-len(footerMagic):]) != footerMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	n := binary.BigEndian.Uint64(tail[len(tail)-trailerLen:])
	if n > maxMetaLen || int64(n) > size-int64(trailerLen) {
		return nil, fmt.Errorf("%w: bad metadata length", errCorrupt)
	}
	var js []byte
	if avail := len(tail) - trailerLen; int(n) <= avail {
		js = tail[avail-int(n) : avail]
	} else {
		js = make([]byte, n)
		if _, err := f.ReadAt(js, size-int64(trailerLen)-int64(n)); err != nil {
			return nil, err
		}
	}
	m := new(meta)
	if err := json.Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if m.Version != footerVersion || m.Size != size-int64(trailerLen)-int64(n) {
		return nil, fmt.Errorf("%w: bad footer", errCorrupt)
	}
	return m, nil
}
