package checksum

import (
	"encoding/binary"
	"encoding/hex"
	"hash/crc64"
	"testing"
)

// The check values are the published ones for the input "123456789"
// (CRC catalogue) and the SHA test vectors for the same input.
func TestKnownAnswers(t *testing.T) {
	cases := []struct {
		alg  Algorithm
		want string
	}{
		{CRC32, "cbf43926"},
		{CRC32C, "e3069283"},
		{CRC64NVME, "ae8b14860a799888"},
		{SHA1, "f7c3bc1d808e04732adf679965ccc34ca7ae3441"},
		{SHA256, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
	}
	for _, c := range cases {
		h := c.alg.New()
		h.Write([]byte("123456789"))
		if got := hex.EncodeToString(h.Sum(nil)); got != c.want {
			t.Errorf("%s(123456789) = %s, want %s", c.alg, got, c.want)
		}
		if c.alg.Size() != len(c.want)/2 {
			t.Errorf("%s.Size() = %d", c.alg, c.alg.Size())
		}
	}
}

// The CRC-64/NVME implementation agrees with the reference definition
// (reflected polynomial 0x9a6c9329ac4bc9b5, all-ones init and final xor,
// which hash/crc64 computes from a reversed-polynomial table) on inputs of
// every length around its block sizes.
func TestCRC64NVMEMatchesReference(t *testing.T) {
	ref := crc64.MakeTable(0x9a6c9329ac4bc9b5)
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	for n := 0; n <= len(buf); n += 1 + n/16 {
		h := CRC64NVME.New()
		h.Write(buf[:n/2])
		h.Write(buf[n/2 : n])
		if got, want := binary.BigEndian.Uint64(h.Sum(nil)), crc64.Checksum(buf[:n], ref); got != want {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, a := range All {
		for _, s := range []string{string(a), string(a) + "", lower(string(a))} {
			if got, ok := Parse(s); !ok || got != a {
				t.Errorf("Parse(%q) = %q, %v", s, got, ok)
			}
		}
	}
	if _, ok := Parse("MD5"); ok {
		t.Error("Parse accepted MD5")
	}
	if CRC64NVME.Header() != "x-amz-checksum-crc64nvme" {
		t.Errorf("header %q", CRC64NVME.Header())
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
