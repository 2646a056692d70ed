package checksum

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strconv"
)

// Checksum types of a multipart upload, as S3 spells them.
//
// A FULL_OBJECT checksum is the algorithm's digest of the whole object;
// for a multipart upload it is derived from the parts' CRCs and sizes
// (Combine), so only the CRCs allow it. A COMPOSITE checksum is the
// algorithm's digest of the concatenated binary part digests, rendered
// base64 with "-N" for N parts.
//
//	algorithm  FULL_OBJECT  COMPOSITE
//	CRC32      yes          yes (default)
//	CRC32C     yes          yes (default)
//	CRC64NVME  yes (default) no
//	SHA1       no           yes (default)
//	SHA256     no           yes (default)
const (
	FullObject = "FULL_OBJECT"
	Composite  = "COMPOSITE"
)

// Supports reports whether S3 allows the checksum type for the algorithm
// in a multipart upload.
func (a Algorithm) Supports(typ string) bool {
	switch typ {
	case FullObject:
		return a == CRC32 || a == CRC32C || a == CRC64NVME
	case Composite:
		return a == CRC32 || a == CRC32C || a == SHA1 || a == SHA256
	}
	return false
}

// DefaultType is the checksum type S3 gives a multipart upload that names
// the algorithm but no type.
func (a Algorithm) DefaultType() string {
	if a == CRC64NVME {
		return FullObject
	}
	return Composite
}

// crcSpec describes a reflected CRC with all-ones init and final xor, the
// kind every S3 CRC is: its width in bits and its reflected polynomial.
type crcSpec struct {
	width uint
	poly  uint64
	// x2n[k] is x^(2^k) mod poly, reflected; enough entries for any length
	// of bytes (2^3 bits each) an int64 can count.
	x2n [67]uint64
}

func newCRCSpec(width uint, poly uint64) *crcSpec {
	s := &crcSpec{width: width, poly: poly}
	s.x2n[0] = 1 << (width - 2) // x^1: reflected, x^0 is the top bit
	for k := 1; k < len(s.x2n); k++ {
		s.x2n[k] = s.mulmod(s.x2n[k-1], s.x2n[k-1])
	}
	return s
}

var crcSpecs = map[Algorithm]*crcSpec{
	CRC32:     newCRCSpec(32, 0xedb88320),
	CRC32C:    newCRCSpec(32, 0x82f63b78),
	CRC64NVME: newCRCSpec(64, 0x9a6c9329ac4bc9b5),
}

// mulmod multiplies a(x) by b(x) modulo the polynomial, in the reflected
// bit order the CRC uses (the top bit is x^0).
func (s *crcSpec) mulmod(a, b uint64) uint64 {
	m := uint64(1) << (s.width - 1)
	var p uint64
	for ; m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ s.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// shift returns crc multiplied by x^(8n) modulo the polynomial: the
// effect of appending n zero bytes to the message, ignoring the init and
// final xor (which cancel between the two CRCs being combined).
func (s *crcSpec) shift(crc uint64, n int64) uint64 {
	for k := 3; n > 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			crc = s.mulmod(s.x2n[k], crc)
		}
	}
	return crc
}

// combine returns the CRC of A||B from crc(A), crc(B) and len(B).
func (s *crcSpec) combine(a, b uint64, lenB int64) uint64 {
	return s.shift(a, lenB) ^ b
}

func (s *crcSpec) decode(d []byte) (uint64, error) {
	if len(d) != int(s.width/8) {
		return 0, fmt.Errorf("checksum: digest of %d bytes, want %d", len(d), s.width/8)
	}
	if s.width == 32 {
		return uint64(binary.BigEndian.Uint32(d)), nil
	}
	return binary.BigEndian.Uint64(d), nil
}

func (s *crcSpec) encode(v uint64) []byte {
	if s.width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	return binary.BigEndian.AppendUint64(nil, v)
}

// Combine returns the digest of A||B given the digests of A and B (binary,
// big endian, as hash.Hash.Sum returns them) and the length of B, without
// the data: the zlib crc32_combine method, which holds for every reflected
// CRC with all-ones init and final xor. Only CRC32, CRC32C and CRC64NVME
// combine.
func Combine(alg Algorithm, a, b []byte, lenB int64) ([]byte, error) {
	s, ok := crcSpecs[alg]
	if !ok {
		return nil, fmt.Errorf("checksum: %s digests do not combine", alg)
	}
	if lenB < 0 {
		return nil, fmt.Errorf("checksum: negative length %d", lenB)
	}
	va, err := s.decode(a)
	if err != nil {
		return nil, err
	}
	vb, err := s.decode(b)
	if err != nil {
		return nil, err
	}
	return s.encode(s.combine(va, vb, lenB)), nil
}

// Multipart derives an object's checksum from its parts' digests, in part
// order, holding nothing per part.
type Multipart struct {
	alg Algorithm
	typ string
	n   int
	crc *crcSpec // FULL_OBJECT
	acc uint64   // FULL_OBJECT: the CRC so far
	h   hash.Hash
}

// NewMultipart starts an object checksum of the given algorithm and type
// (FULL_OBJECT or COMPOSITE, as S3 allows them).
func NewMultipart(alg Algorithm, typ string) (*Multipart, error) {
	if !alg.Supports(typ) {
		return nil, fmt.Errorf("checksum: %s does not allow type %q", alg, typ)
	}
	m := &Multipart{alg: alg, typ: typ}
	if typ == FullObject {
		m.crc = crcSpecs[alg]
		// The CRC of nothing is 0 for every S3 CRC (init and final xor
		// cancel), and combining with it is the identity.
	} else {
		m.h = alg.New()
	}
	return m, nil
}

// Add appends the next part: its binary digest and its size in bytes.
func (m *Multipart) Add(digest []byte, size int64) error {
	if len(digest) != m.alg.Size() {
		return fmt.Errorf("checksum: %s digest of %d bytes", m.alg, len(digest))
	}
	if m.crc != nil {
		v, err := m.crc.decode(digest)
		if err != nil {
			return err
		}
		if size < 0 {
			return fmt.Errorf("checksum: negative part size %d", size)
		}
		m.acc = m.crc.combine(m.acc, v, size)
	} else {
		m.h.Write(digest)
	}
	m.n++
	return nil
}

// Sum returns the object's checksum as S3 renders it: base64 of the
// digest, followed by "-N" for a COMPOSITE checksum of N parts.
func (m *Multipart) Sum() string {
	if m.crc != nil {
		return base64.StdEncoding.EncodeToString(m.crc.encode(m.acc))
	}
	return base64.StdEncoding.EncodeToString(m.h.Sum(nil)) + "-" + strconv.Itoa(m.n)
}
