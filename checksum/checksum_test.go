package checksum

import (
	"encoding/hex"
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
