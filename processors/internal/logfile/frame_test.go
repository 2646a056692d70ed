package logfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
)

func frame(payload string) []byte {
	b, start := BeginFrame(nil)
	b = append(b, payload...)
	return EndFrame(b, start)
}

// The byte layout is what files already on disk hold: it must not change.
func TestFrameLayout(t *testing.T) {
	for _, c := range []struct{ payload, want string }{
		{"", "00000000c74b6748"},
		{"s3gate", "0600000095fe0eb3733367617465"},
		{"123456789", "0900000078d21757313233343536373839"},
	} {
		if got := hex.EncodeToString(frame(c.payload)); got != c.want {
			t.Errorf("frame of %q = %s, want %s", c.payload, got, c.want)
		}
	}
	// A frame appended after other bytes leaves them alone.
	b, start := BeginFrame([]byte("head"))
	b = EndFrame(append(b, "s3gate"...), start)
	if want := append([]byte("head"), frame("s3gate")...); !bytes.Equal(b, want) {
		t.Fatalf("appended frame = %x, want %x", b, want)
	}
}

// payloads returns payloads of assorted sizes, one larger than the
// reader's buffer.
func payloads() [][]byte {
	var ps [][]byte
	for i, n := range []int{0, 1, 7, 100, readBufSize - FrameHeader, 3 * readBufSize, 5} {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*31 + j*7)
		}
		ps = append(ps, p)
	}
	return ps
}

func encode(ps [][]byte) (file []byte, offsets []int64) {
	for _, p := range ps {
		offsets = append(offsets, int64(len(file)))
		b, start := BeginFrame(file)
		file = EndFrame(append(b, p...), start)
	}
	return file, offsets
}

func TestRoundTrip(t *testing.T) {
	ps := payloads()
	file, offsets := encode(ps)
	const head = 3 // frames need not start at the beginning of the file
	file = append([]byte("hdr"), file...)

	var fr Reader
	fr.Reset(bytes.NewReader(file), head, int64(len(file)))
	for i, want := range ps {
		if got := fr.Offset(); got != head+offsets[i] {
			t.Fatalf("frame %d: offset %d, want %d", i, got, head+offsets[i])
		}
		got, err := fr.Next(4 * readBufSize)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: read %d bytes that differ from the %d written", i, len(got), len(want))
		}
	}
	if _, err := fr.Next(4 * readBufSize); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	if fr.Offset() != int64(len(file)) {
		t.Fatalf("offset at the end %d, want %d", fr.Offset(), len(file))
	}

	rest := file[head:]
	for i, want := range ps {
		got, r, err := ParseFrame(rest, len(want))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ParseFrame of frame %d: %d bytes, %v", i, len(got), err)
		}
		rest = r
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left after the last frame", len(rest))
	}
}

// Every cut of the last frame is detected, the frames before it still
// read, and the reader stays at the torn frame, where a file is
// truncated.
func TestTornFrame(t *testing.T) {
	ps := [][]byte{[]byte("first"), bytes.Repeat([]byte("second "), 50)}
	file, offsets := encode(ps)
	for cut := offsets[1] + 1; cut < int64(len(file)); cut++ {
		var fr Reader
		fr.Reset(bytes.NewReader(file[:cut]), 0, cut)
		if got, err := fr.Next(1 << 10); err != nil || !bytes.Equal(got, ps[0]) {
			t.Fatalf("cut at %d: first frame %q, %v", cut, got, err)
		}
		if _, err := fr.Next(1 << 10); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("cut at %d: %v, want ErrBadFrame", cut, err)
		}
		if fr.Offset() != offsets[1] {
			t.Fatalf("cut at %d: offset %d after the torn frame, want %d", cut, fr.Offset(), offsets[1])
		}
		if _, _, err := ParseFrame(file[offsets[1]:cut], 1<<10); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("cut at %d: ParseFrame: %v, want ErrBadFrame", cut, err)
		}
	}
}

// A changed byte anywhere in a frame, length included, is detected.
func TestCorruptFrame(t *testing.T) {
	good := frame("an intact record of a few bytes")
	for i := range good {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(good)
			bad[i] ^= flip
			var fr Reader
			fr.Reset(bytes.NewReader(bad), 0, int64(len(bad)))
			if p, err := fr.Next(1 << 10); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("byte %d ^ %#x: read %q, %v; want ErrBadFrame", i, flip, p, err)
			}
			if _, _, err := ParseFrame(bad, 1<<10); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("byte %d ^ %#x: ParseFrame: %v, want ErrBadFrame", i, flip, err)
			}
		}
	}
}

// A length over maxPayload is refused before the buffer grows to it.
func TestMaxPayload(t *testing.T) {
	const size = 5 * readBufSize
	file := frame(string(make([]byte, size)))
	var fr Reader
	fr.Reset(bytes.NewReader(file), 0, int64(len(file)))
	if _, err := fr.Next(size - 1); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("%v, want ErrBadFrame", err)
	}
	if len(fr.buf) != readBufSize {
		t.Fatalf("buffer grew to %d for a refused frame", len(fr.buf))
	}
	if _, _, err := ParseFrame(file, size-1); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("ParseFrame: %v, want ErrBadFrame", err)
	}
	if p, err := fr.Next(size); err != nil || len(p) != size {
		t.Fatalf("with room: %d bytes, %v", len(p), err)
	}
	// A buffer grown that far for one frame is let go on Reset.
	fr.Reset(bytes.NewReader(nil), 0, 0)
	if len(fr.buf) != readBufSize {
		t.Fatalf("buffer of %d bytes after Reset, want %d", len(fr.buf), readBufSize)
	}
}

// A file shorter than the region it is said to hold reads as a torn
// frame.
func TestShortFile(t *testing.T) {
	file := frame("payload")
	var fr Reader
	fr.Reset(bytes.NewReader(file[:len(file)-2]), 0, int64(len(file)))
	if _, err := fr.Next(1 << 10); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("%v, want ErrBadFrame", err)
	}
}

type failingReader struct{ err error }

func (r failingReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

// A read error is the file's, not a bad frame: nothing may be truncated
// for it.
func TestReadError(t *testing.T) {
	boom := fmt.Errorf("disk on fire")
	var fr Reader
	fr.Reset(failingReader{boom}, 0, 100)
	if _, err := fr.Next(1 << 10); !errors.Is(err, boom) || errors.Is(err, ErrBadFrame) {
		t.Fatalf("%v, want the read error", err)
	}
	if fr.Offset() != 0 {
		t.Fatalf("offset %d after a failed read", fr.Offset())
	}
}

// SetEnd lets a reader go on into bytes appended since Reset.
func TestSetEnd(t *testing.T) {
	file := append(frame("one"), frame("two")...)
	first := int64(len(frame("one")))
	var fr Reader
	fr.Reset(bytes.NewReader(file), 0, first)
	if p, err := fr.Next(16); err != nil || string(p) != "one" {
		t.Fatalf("%q, %v", p, err)
	}
	if _, err := fr.Next(16); err != io.EOF {
		t.Fatalf("at the end of the region: %v, want io.EOF", err)
	}
	fr.SetEnd(int64(len(file)))
	if p, err := fr.Next(16); err != nil || string(p) != "two" {
		t.Fatalf("after SetEnd: %q, %v", p, err)
	}
	if _, err := fr.Next(16); err != io.EOF {
		t.Fatalf("%v, want io.EOF", err)
	}
}

// FuzzFrameReader reads arbitrary bytes as frames: the reader must not
// fail other than with ErrBadFrame, must agree with ParseFrame, and what
// it returns must be exactly the frames it stepped over.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(frame(""))
	f.Add(append(frame("one"), frame("two")...))
	f.Add(append(frame("whole"), frame("torn")[:6]...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxPayload = 1 << 10
		var fr Reader
		fr.Reset(bytes.NewReader(data), 0, int64(len(data)))
		rest := data
		for {
			off := fr.Offset()
			p, err := fr.Next(maxPayload)
			want, r, perr := ParseFrame(rest, maxPayload)
			if err == io.EOF {
				if off != int64(len(data)) {
					t.Fatalf("io.EOF at %d of %d bytes", off, len(data))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadFrame) || !errors.Is(perr, ErrBadFrame) {
					t.Fatalf("at %d: reader %v, ParseFrame %v", off, err, perr)
				}
				if fr.Offset() != off {
					t.Fatalf("reader moved from %d to %d on a bad frame", off, fr.Offset())
				}
				return
			}
			if perr != nil || !bytes.Equal(p, want) {
				t.Fatalf("at %d: reader %q, ParseFrame %q, %v", off, p, want, perr)
			}
			if !bytes.Equal(frame(string(p)), data[off:fr.Offset()]) {
				t.Fatalf("at %d: payload %q does not re-encode to the bytes read", off, p)
			}
			rest = r
		}
	})
}
