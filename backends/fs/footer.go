package fs

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

const (
	footerMagic   = "S3GATEO1"
	trailerLen    = 8 + len(footerMagic)
	footerVersion = 1
	// maxMetaLen bounds what a corrupt length field can make us read.
	maxMetaLen = 1 << 20
	// partRecFixed is a part record's size without its checksum: number
	// (uint32), size and offset (uint64 each), MD5 (16 bytes).
	partRecFixed = 4 + 8 + 8 + md5.Size
	// tailRead is read in one pread; it covers the footer of most objects.
	tailRead = 4096
)

var errCorrupt = errors.New("fs: corrupt object file")

// meta is the JSON footer stored after an object's bytes (and after a
// part's bytes in an upload directory).
type meta struct {
	Version  int    `json:"v"`
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	ETag     string `json:"etag"`
	Modified int64  `json:"mtime"` // Unix nanoseconds
	backends.ContentHeaders
	Metadata map[string]string `json:"meta,omitempty"`
	Checksum backends.Checksum `json:"checksum,omitzero"`
	Tags     map[string]string `json:"tags,omitempty"`

	// Parts, for an object completed from a multipart upload, is its
	// number of parts: their table sits between the data and the JSON.
	Parts int `json:"parts,omitempty"`
	// Upload is the id of the upload completed into this object; Open
	// uses it to finish removing an upload whose completion was cut short.
	Upload string `json:"upload,omitempty"`
	// Part is the number of a part file's part (in an upload directory).
	Part int `json:"part,omitempty"`
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
		TagCount:       len(m.Tags),
		PartsCount:     m.Parts,
	}
}

// partRecLen is the size of one record of the parts table; its checksum
// is of the object's algorithm.
func (m *meta) partRecLen() (int, error) {
	alg, ok := checksum.Parse(m.Checksum.Algorithm)
	if !ok {
		return 0, fmt.Errorf("%w: parts without a checksum algorithm", errCorrupt)
	}
	return partRecFixed + alg.Size(), nil
}

// tableLen is the size of the parts table.
func (m *meta) tableLen() (int64, error) {
	if m.Parts == 0 {
		return 0, nil
	}
	if m.Parts < 0 || m.Parts > backends.MaxParts {
		return 0, fmt.Errorf("%w: %d parts", errCorrupt, m.Parts)
	}
	n, err := m.partRecLen()
	return int64(m.Parts) * int64(n), err
}

// partRec is one record of the parts table of a multipart object.
type partRec struct {
	Number int
	Size   int64
	Offset int64 // in the data region
	MD5    [md5.Size]byte
	Sum    []byte // binary digest of the object's checksum algorithm
}

func (r *partRec) info(alg string) backends.PartInfo {
	return backends.PartInfo{
		Number:   r.Number,
		ETag:     hex.EncodeToString(r.MD5[:]),
		Size:     r.Size,
		Checksum: backends.Checksum{Algorithm: alg, Value: base64.StdEncoding.EncodeToString(r.Sum)},
	}
}

func (r *partRec) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(r.Number))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Offset))
	b = append(b, r.MD5[:]...)
	return append(b, r.Sum...)
}

func decodePartRec(b []byte) partRec {
	r := partRec{
		Number: int(binary.BigEndian.Uint32(b)),
		Size:   int64(binary.BigEndian.Uint64(b[4:])),
		Offset: int64(binary.BigEndian.Uint64(b[12:])),
		Sum:    bytes.Clone(b[partRecFixed:]),
	}
	copy(r.MD5[:], b[20:partRecFixed])
	return r
}

// readPartRec reads record i (0-based) of the parts table with pread.
func readPartRec(f *os.File, m *meta, i int) (partRec, error) {
	n, err := m.partRecLen()
	if err != nil {
		return partRec{}, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, m.Size+int64(i)*int64(n)); err != nil {
		return partRec{}, err
	}
	r := decodePartRec(b)
	if r.Offset < 0 || r.Size < 0 || r.Offset > m.Size-r.Size {
		return partRec{}, fmt.Errorf("%w: bad part record", errCorrupt)
	}
	return r, nil
}

// readParts reads the whole parts table.
func readParts(f *os.File, m *meta) ([]backends.PartInfo, error) {
	if m.Parts == 0 {
		return nil, nil
	}
	n, err := m.partRecLen()
	if err != nil {
		return nil, err
	}
	b := make([]byte, m.Parts*n)
	if _, err := f.ReadAt(b, m.Size); err != nil {
		return nil, err
	}
	parts := make([]backends.PartInfo, m.Parts)
	for i := range parts {
		r := decodePartRec(b[i*n : (i+1)*n])
		parts[i] = r.info(m.Checksum.Algorithm)
	}
	return parts, nil
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
	tl, err := m.tableLen()
	if err != nil {
		return nil, err
	}
	if m.Version != footerVersion || m.Size < 0 || m.Size != size-int64(trailerLen)-int64(n)-tl {
		return nil, fmt.Errorf("%w: bad footer", errCorrupt)
	}
	return m, nil
}
