package checksum

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"strconv"
	"testing"
)

var combinable = []Algorithm{CRC32, CRC32C, CRC64NVME}

// reference computes a CRC with the standard library alone, independently
// of Algorithm.New (which uses crc64nvme for CRC64NVME).
func reference(alg Algorithm, data []byte) []byte {
	switch alg {
	case CRC32:
		return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case CRC32C:
		return binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case CRC64NVME:
		return binary.BigEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(0x9a6c9329ac4bc9b5)))
	}
	panic(alg)
}

func digest(alg Algorithm, data []byte) []byte {
	h := alg.New()
	h.Write(data)
	return h.Sum(nil)
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	rand.NewChaCha8(seed).Read(b)
	return b
}

// lengths covers the edges: empty, tiny, around word and block sizes,
// S3's minimum part size plus one, and odd sizes between.
var lengths = []int{0, 1, 2, 3, 7, 8, 9, 63, 64, 255, 4 << 10, 4<<10 + 1, 65537, 5<<20 + 1}

func TestCombineMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, alg := range combinable {
		for _, la := range lengths {
			for _, lb := range lengths {
				if la+lb > 6<<20 && la != lb {
					continue // keep the run short; the big pair is tested once
				}
				a, b := randomBytes(r, la), randomBytes(r, lb)
				got, err := Combine(alg, reference(alg, a), reference(alg, b), int64(lb))
				if err != nil {
					t.Fatal(err)
				}
				want := reference(alg, append(a, b...))
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: Combine(len %d, len %d) = %x, want %x", alg, la, lb, got, want)
				}
			}
		}
	}
}

// Combining digests from the algorithm's own hash agrees with the
// standard library's CRC of the concatenation.
func TestCombineWithAlgorithmHashes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, alg := range combinable {
		data := randomBytes(r, 100_000)
		for _, cut := range []int{0, 1, 4096, 50_000, 99_999, 100_000} {
			got, err := Combine(alg, digest(alg, data[:cut]), digest(alg, data[cut:]), int64(len(data)-cut))
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(alg, data); !bytes.Equal(got, want) {
				t.Errorf("%s cut %d: %x, want %x", alg, cut, got, want)
			}
		}
	}
}

func TestCombineRejects(t *testing.T) {
	if _, err := Combine(SHA256, digest(SHA256, nil), digest(SHA256, nil), 0); err == nil {
		t.Error("SHA256 digests combined")
	}
	if _, err := Combine(CRC32, []byte{1, 2, 3}, []byte{1, 2, 3, 4}, 4); err == nil {
		t.Error("short digest accepted")
	}
	if _, err := Combine(CRC64NVME, make([]byte, 8), make([]byte, 8), -1); err == nil {
		t.Error("negative length accepted")
	}
}

// A FULL_OBJECT checksum of parts equals the CRC of the whole object.
func TestMultipartFullObject(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	sizes := []int{5<<20 + 1, 0, 1, 4 << 10, 65537, 3}
	var whole []byte
	parts := make([][]byte, len(sizes))
	for i, n := range sizes {
		parts[i] = randomBytes(r, n)
		whole = append(whole, parts[i]...)
	}
	for _, alg := range combinable {
		m, err := NewMultipart(alg, FullObject)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if err := m.Add(digest(alg, p), int64(len(p))); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := m.Sum(), base64.StdEncoding.EncodeToString(reference(alg, whole)); got != want {
			t.Errorf("%s FULL_OBJECT = %s, want %s", alg, got, want)
		}
		// No parts at all: the CRC of nothing.
		empty, _ := NewMultipart(alg, FullObject)
		if got, want := empty.Sum(), base64.StdEncoding.EncodeToString(reference(alg, nil)); got != want {
			t.Errorf("%s FULL_OBJECT of no parts = %s, want %s", alg, got, want)
		}
	}
}

// A COMPOSITE checksum is the digest of the concatenated part digests,
// base64, with "-N".
func TestMultipartComposite(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	parts := [][]byte{randomBytes(r, 5<<20), randomBytes(r, 10), randomBytes(r, 0)}
	for _, alg := range []Algorithm{CRC32, CRC32C, SHA1, SHA256} {
		m, err := NewMultipart(alg, Composite)
		if err != nil {
			t.Fatal(err)
		}
		var cat []byte
		for _, p := range parts {
			d := digest(alg, p)
			cat = append(cat, d...)
			if err := m.Add(d, int64(len(p))); err != nil {
				t.Fatal(err)
			}
		}
		want := base64.StdEncoding.EncodeToString(digest(alg, cat)) + "-" + strconv.Itoa(len(parts))
		if got := m.Sum(); got != want {
			t.Errorf("%s COMPOSITE = %s, want %s", alg, got, want)
		}
	}
}

// Known answers, computed with Python's zlib: the CRC32 COMPOSITE of the
// parts "hello" and " world" (crc32 0x3610a686 and 0x4a3b42cb), and their
// FULL_OBJECT checksum, the CRC32 of "hello world".
func TestKnownMultipartAnswers(t *testing.T) {
	parts := []struct {
		crc  []byte
		size int64
	}{{[]byte{0x36, 0x10, 0xa6, 0x86}, 5}, {[]byte{0x4a, 0x3b, 0x42, 0xcb}, 6}}
	for typ, want := range map[string]string{Composite: "otMqCw==-2", FullObject: "DUoRhQ=="} {
		m, err := NewMultipart(CRC32, typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if err := m.Add(p.crc, p.size); err != nil {
				t.Fatal(err)
			}
		}
		if got := m.Sum(); got != want {
			t.Errorf("%s = %s, want %s", typ, got, want)
		}
	}
}

func TestTypes(t *testing.T) {
	allowed := map[Algorithm][2]bool{ // FULL_OBJECT, COMPOSITE
		CRC32: {true, true}, CRC32C: {true, true}, CRC64NVME: {true, false},
		SHA1: {false, true}, SHA256: {false, true},
	}
	for alg, want := range allowed {
		if alg.Supports(FullObject) != want[0] || alg.Supports(Composite) != want[1] {
			t.Errorf("%s supports FULL_OBJECT %v, COMPOSITE %v; want %v", alg,
				alg.Supports(FullObject), alg.Supports(Composite), want)
		}
		if !alg.Supports(alg.DefaultType()) {
			t.Errorf("%s default type %s is not allowed", alg, alg.DefaultType())
		}
		if _, err := NewMultipart(alg, FullObject); (err == nil) != want[0] {
			t.Errorf("NewMultipart(%s, FULL_OBJECT) error = %v", alg, err)
		}
	}
	if CRC64NVME.DefaultType() != FullObject || CRC32.DefaultType() != Composite {
		t.Error("default types")
	}
	if CRC32.Supports("") || CRC32.Supports("full_object") {
		t.Error("unknown type accepted")
	}
	m, _ := NewMultipart(SHA256, Composite)
	if err := m.Add([]byte{1, 2, 3}, 3); err == nil {
		t.Error("short digest accepted")
	}
}
