package metadata

import (
	"bytes"
	"testing"
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

func TestSniff(t *testing.T) {
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
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}
