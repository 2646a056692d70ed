package sniff

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// ftyp builds an ISO BMFF ftyp box with the given major and compatible
// brands, followed by some other box.
func ftyp(major string, compatible ...string) []byte {
	size := 16 + 4*len(compatible)
	b := []byte{0, 0, 0, byte(size)}
	b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
	for _, c := range compatible {
		b = append(b, c...)
	}
	return append(b, "\x00\x00\x00\x08mdat"...)
}

// pngBytes is the start of a PNG file: signature and IHDR of a 3x2 image.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x02\x00\x00\x00"),
	bytes.Repeat([]byte{0x42}, 1000)...)

func TestType(t *testing.T) {
	cases := []struct {
		name string
		head []byte
		want string
	}{
		{"empty", nil, ""},
		{"png", pngBytes, "image/png"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"tiff little-endian", []byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{"tiff big-endian", []byte("MM\x00*\x00\x00\x00\x08"), "image/tiff"},
		{"avif", ftyp("avif", "mif1", "miaf"), "image/avif"},
		{"avif by compatible brand", ftyp("mif1", "avif"), "image/avif"},
		{"heic", ftyp("heic", "mif1", "heic"), "image/heic"},
		{"heif", ftyp("mif1", "mif1"), "image/heif"},
		{"mp4 stays video", ftyp("isom", "isom", "mp41"), "video/mp4"},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), "image/svg+xml"},
		{"bare svg", []byte(`<svg width="1" height="1"></svg>`), "image/svg+xml"},
		{"xml", []byte(`<?xml version="1.0"?><feed/>`), "text/xml"},
		{"html", []byte("<!DOCTYPE html><html><body>hi"), "text/html"},
		{"text drops its charset", []byte("just words\n"), "text/plain"},
		{"pdf", []byte("%PDF-1.7\n"), "application/pdf"},
		{"binary", []byte{0, 1, 2, 3, 0xfe}, "application/octet-stream"},
		{"truncated ftyp", []byte("\x00\x00\x00\x20ftypavif"), "application/octet-stream"},
		{"long input", append(bytes.Repeat([]byte(" "), 600), "<svg"...), "text/plain"},
	}
	for _, tc := range cases {
		if got := Type(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestReader: the stream passes unchanged, in reads of any size, and only
// its first Len bytes are kept and sniffed.
func TestReader(t *testing.T) {
	body := append(append([]byte{}, pngBytes...), bytes.Repeat([]byte("x"), 3000)...)
	for _, chunk := range []int{1, 7, 511, 512, 513, 4096} {
		r := NewReader(iotest.OneByteReader(bytes.NewReader(body)))
		if chunk > 1 {
			r = NewReader(&chunked{b: body, n: chunk})
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("chunk %d: stream changed (%v)", chunk, err)
		}
		if len(r.head) != Len || r.Type() != "image/png" {
			t.Fatalf("chunk %d: kept %d bytes, type %q", chunk, len(r.head), r.Type())
		}
	}
	if r := NewReader(bytes.NewReader(nil)); r.Type() != "" {
		t.Fatalf("empty stream sniffed as %q", r.Type())
	}
}

type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}
