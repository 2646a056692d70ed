package sigv4

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"testing"

	"github.com/s3gate/s3gate/sigv4/sigv4test"
)

// fuzzMinChunk stands in for S3's 8 KiB chunk minimum so that small inputs
// make many chunks.
const fuzzMinChunk = 8

var fuzzModes = []sigv4test.Mode{sigv4test.Signed, sigv4test.SignedTrailer, sigv4test.UnsignedTrailer}

// FuzzChunkReader encodes data correctly, checks that it decodes to exactly
// data and its trailer, then changes the encoding (replaces, inserts or
// deletes one byte, or cuts it short) and decodes again, in pieces of
// varying size. Whatever the change, the decoder must not panic, must never
// return more bytes than declared nor io.EOF after an error, and may end
// cleanly only when the change did not matter: in the signed modes the
// payload and trailers must then be exactly the original ones; in the
// unsigned mode, where only the trailing checksum protects the data, a
// replaced byte may show in the payload or a trailer value, nothing else.
func FuzzChunkReader(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(0), uint8(4), uint8(0), uint16(30), byte('x'))
	f.Add(bytes.Repeat([]byte("abcdefgh"), 20), uint8(1), uint8(9), uint8(1), uint16(200), byte(' '))
	f.Add([]byte{}, uint8(2), uint8(0), uint8(3), uint16(3), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, mode, chunk, op uint8, pos uint16, val byte) {
		if len(data) > 4096 {
			return
		}
		m := fuzzModes[int(mode)%len(fuzzModes)]
		scope := Scope{Date: "20240517", Region: testRegion, Service: "s3"}
		res := &Result{
			PayloadHash:   string(m),
			AccessKey:     testAccessKey,
			Time:          signTime,
			Scope:         scope,
			Signature:     sha256Hex([]byte("seed")),
			SigningKey:    deriveKey(testSecret, scope),
			DecodedLength: int64(len(data)),
		}
		enc := &sigv4test.Encoder{Mode: m, ChunkSize: fuzzMinChunk + int(chunk)%56,
			Key: res.SigningKey, Seed: res.Signature, Time: res.Time, Scope: scope.String()}
		if m != sigv4test.Signed {
			enc.Trailers = []sigv4test.Trailer{{Name: crcTrailer, Value: checksumOf(data, crc32.IEEETable)}}
			res.Trailer = []string{crcTrailer}
		}
		good := enc.Encode(data)

		decode := func(body []byte) ([]byte, http.Header, error) {
			c := newChunkReader(io.NopCloser(&piecesReader{b: body, step: int(val)%13 + 1}), res)
			c.minChunk = fuzzMinChunk
			out, err := decodeAll(t, c, res.DecodedLength)
			return out, c.Trailer(), err
		}
		out, trailer, err := decode(good)
		if err != nil || !bytes.Equal(out, data) || !sameTrailers(trailer, enc.Trailers) {
			t.Fatalf("%s: correct encoding decoded to %d bytes, %v, %v\n%q", m, len(out), trailer, err, good)
		}

		bad, replaced := mutate(good, op, int(pos), val)
		out, trailer, err = decode(bad)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v is not an S3 error", err)
			}
			return
		}
		if _, ok := trailer[http.CanonicalHeaderKey(crcTrailer)]; len(out) != len(data) || len(trailer) != len(enc.Trailers) || len(trailer) > 0 && !ok {
			t.Fatalf("%s: changed encoding decoded to %d bytes, trailers %v\n%q", m, len(out), trailer, bad)
		}
		if m.Signed() {
			if !bytes.Equal(out, data) || !sameTrailers(trailer, enc.Trailers) {
				t.Fatalf("%s: changed encoding decoded cleanly to other data or trailers %v\n%q", m, trailer, bad)
			}
			return
		}
		diff := 0
		for i := range out {
			if out[i] != data[i] {
				diff++
			}
		}
		if diff > 1 || diff == 1 && !replaced || diff == 1 && !sameTrailers(trailer, enc.Trailers) {
			t.Fatalf("%s: changed encoding decoded cleanly with %d changed bytes, trailers %v\n%q", m, diff, trailer, bad)
		}
	})
}

// mutate changes one thing in b; replaced reports a same-length change.
func mutate(b []byte, op uint8, pos int, val byte) (out []byte, replaced bool) {
	out = bytes.Clone(b)
	switch op % 4 {
	case 0:
		out[pos%len(out)] = val
		return out, true
	case 1:
		i := pos % (len(out) + 1)
		return append(out[:i], append([]byte{val}, out[i:]...)...), false
	case 2:
		i := pos % len(out)
		return append(out[:i], out[i+1:]...), false
	default:
		return out[:pos%len(out)], false
	}
}

func sameTrailers(h http.Header, ts []sigv4test.Trailer) bool {
	if len(h) != len(ts) {
		return false
	}
	for _, t := range ts {
		if vs := h[http.CanonicalHeaderKey(t.Name)]; len(vs) != 1 || vs[0] != t.Value {
			return false
		}
	}
	return true
}

// piecesReader returns b a few bytes at a time.
type piecesReader struct {
	b    []byte
	step int
}

func (p *piecesReader) Read(buf []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(buf[:min(len(buf), p.step)], p.b)
	p.b = p.b[n:]
	return n, nil
}
