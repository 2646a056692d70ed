// Package sniff tells an object's media type from its first bytes. The
// gateway sniffs uploads as they stream through it and puts the answer in
// their events, so that hooks need not read the object again to know it.
package sniff

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
)

// Len is how many leading bytes sniffing reads: as many as
// http.DetectContentType considers.
const Len = 512

// Type returns the media type an object's first bytes suggest, lower case
// and without parameters: http.DetectContentType's answer (the WHATWG
// sniffing rules), taught a few image formats it does not know (TIFF,
// HEIC/HEIF, AVIF, SVG). Unknown binary data is application/octet-stream;
// no bytes at all is "".
func Type(head []byte) string {
	if len(head) == 0 {
		return ""
	}
	if len(head) > Len {
		head = head[:Len]
	}
	switch {
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff"
	}
	if t := isoBMFF(head); t != "" {
		return t
	}
	t, _, _ := strings.Cut(http.DetectContentType(head), ";")
	t = strings.TrimSpace(t)
	if (t == "text/xml" || t == "text/plain") && bytes.Contains(bytes.ToLower(head), []byte("<svg")) {
		return "image/svg+xml"
	}
	return t
}

// isoBMFF recognises the still-image members of the ISO base media file
// family by the brands of their leading ftyp box; "" for anything else
// (video among it, which DetectContentType knows).
func isoBMFF(b []byte) string {
	if len(b) < 16 || string(b[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(b[:4]))
	if size < 16 || size > len(b) {
		size = len(b) - len(b)%4
	}
	brands := []string{string(b[8:12])} // the major brand, then the compatible ones
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, string(b[i:i+4]))
	}
	has := func(names ...string) bool {
		for _, br := range brands {
			for _, n := range names {
				if br == n {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("avif", "avis"):
		return "image/avif"
	case has("heic", "heix", "heim", "heis"):
		return "image/heic"
	case has("hevc", "hevx"):
		return "image/heic-sequence"
	case has("mif1", "msf1"):
		return "image/heif"
	}
	return ""
}

// Reader passes a stream through unchanged and keeps its first Len bytes.
type Reader struct {
	r    io.Reader
	head []byte
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

func (s *Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if keep := min(n, Len-len(s.head)); keep > 0 {
		s.head = append(s.head, p[:keep]...)
	}
	return n, err
}

// Type is the media type of the bytes read so far ("" when none were).
func (s *Reader) Type() string { return Type(s.head) }
