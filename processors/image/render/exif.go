package render

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// A small EXIF reader for the few tags Info reports. It follows only the
// IFD0 -> Exif IFD and IFD0 -> GPS IFD pointers, once each, and checks
// every offset against the buffer, so hostile data can neither loop nor
// read out of bounds.

// exifData is what parseEXIF found.
type exifData struct {
	orientation       int
	make, model, lens string
	takenAt           time.Time
	gps               *GPS
}

// EXIF tags and types used.
const (
	tagMake            = 0x010f
	tagModel           = 0x0110
	tagOrientation     = 0x0112
	tagExifIFD         = 0x8769
	tagGPSIFD          = 0x8825
	tagDateTimeOrig    = 0x9003
	tagOffsetTimeOrig  = 0x9011
	tagLensModel       = 0xa434
	tagGPSLatitudeRef  = 1
	tagGPSLatitude     = 2
	tagGPSLongitudeRef = 3
	tagGPSLongitude    = 4

	typeASCII    = 2
	typeShort    = 3
	typeLong     = 4
	typeRational = 5

	maxIFDEntries = 1024
	maxASCII      = 256
)

// jpegEXIF returns the TIFF structure inside a JPEG's APP1 Exif segment,
// or nil. It reads the markers before the first scan only.
func jpegEXIF(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return nil
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xff {
			return nil
		}
		m := data[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m == 0xd9 || m == 0xda { // end of image, start of scan
			return nil
		}
		if m == 0x01 || (m >= 0xd0 && m <= 0xd7) { // no length
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil
		}
		seg := data[i+4 : i+2+n]
		if m == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// ifdEntry is one tag's type and raw value bytes.
type ifdEntry struct {
	typ   uint16
	count uint32
	val   []byte
}

type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

// parseEXIF reads a TIFF-structured EXIF block; nil if it is not one.
// Orientation is 1 unless a valid value (1 to 8) is recorded.
func parseEXIF(b []byte, wantGPS bool) *exifData {
	if len(b) < 8 {
		return nil
	}
	t := tiffReader{b: b}
	switch string(b[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return nil
	}
	if t.bo.Uint16(b[2:]) != 42 {
		return nil
	}
	ifd0 := t.ifd(t.bo.Uint32(b[4:]))
	x := &exifData{orientation: 1}
	if o, ok := t.uint(ifd0[tagOrientation]); ok && o >= 1 && o <= 8 {
		x.orientation = int(o)
	}
	x.make = t.ascii(ifd0[tagMake])
	x.model = t.ascii(ifd0[tagModel])
	if off, ok := t.uint(ifd0[tagExifIFD]); ok {
		ex := t.ifd(off)
		x.lens = t.ascii(ex[tagLensModel])
		x.takenAt = parseEXIFTime(t.ascii(ex[tagDateTimeOrig]), t.ascii(ex[tagOffsetTimeOrig]))
	}
	if off, ok := t.uint(ifd0[tagGPSIFD]); ok && wantGPS {
		g := t.ifd(off)
		lat, ok1 := t.degrees(g[tagGPSLatitude])
		lon, ok2 := t.degrees(g[tagGPSLongitude])
		if ok1 && ok2 && lat <= 90 && lon <= 180 {
			if t.ascii(g[tagGPSLatitudeRef]) == "S" {
				lat = -lat
			}
			if t.ascii(g[tagGPSLongitudeRef]) == "W" {
				lon = -lon
			}
			x.gps = &GPS{Lat: lat, Lon: lon}
		}
	}
	return x
}

// ifd reads the directory at off; nil if it does not fit.
func (t tiffReader) ifd(off uint32) map[uint16]ifdEntry {
	if uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := int(t.bo.Uint16(t.b[off:]))
	if n > maxIFDEntries || uint64(off)+2+12*uint64(n) > uint64(len(t.b)) {
		return nil
	}
	m := make(map[uint16]ifdEntry, n)
	for i := range n {
		e := t.b[int(off)+2+12*i:][:12]
		typ, count := t.bo.Uint16(e[2:]), t.bo.Uint32(e[4:])
		var size uint64
		switch typ {
		case typeASCII:
			size = 1
		case typeShort:
			size = 2
		case typeLong:
			size = 4
		case typeRational:
			size = 8
		default:
			continue
		}
		size *= uint64(count)
		var val []byte
		if size <= 4 {
			val = e[8 : 8+size]
		} else {
			at := uint64(t.bo.Uint32(e[8:]))
			if at+size > uint64(len(t.b)) {
				continue
			}
			val = t.b[at : at+size]
		}
		m[t.bo.Uint16(e)] = ifdEntry{typ: typ, count: count, val: val}
	}
	return m
}

// uint reads a single SHORT or LONG.
func (t tiffReader) uint(e ifdEntry) (uint32, bool) {
	switch {
	case e.count != 1:
		return 0, false
	case e.typ == typeShort:
		return uint32(t.bo.Uint16(e.val)), true
	case e.typ == typeLong:
		return t.bo.Uint32(e.val), true
	}
	return 0, false
}

// ascii reads a text value, up to its NUL, trimmed and made valid UTF-8.
func (t tiffReader) ascii(e ifdEntry) string {
	if e.typ != typeASCII {
		return ""
	}
	v := e.val
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	if len(v) > maxASCII {
		v = v[:maxASCII]
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(v), string(utf8.RuneError)))
	return s
}

// degrees reads three RATIONALs: degrees, minutes, seconds.
func (t tiffReader) degrees(e ifdEntry) (float64, bool) {
	if e.typ != typeRational || e.count != 3 {
		return 0, false
	}
	var v [3]float64
	for i := range v {
		num, den := t.bo.Uint32(e.val[8*i:]), t.bo.Uint32(e.val[8*i+4:])
		if den == 0 {
			return 0, false
		}
		v[i] = float64(num) / float64(den)
	}
	d := v[0] + v[1]/60 + v[2]/3600
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, false
	}
	return d, true
}

// parseEXIFTime parses "2006:01:02 15:04:05" in the offset "+01:00" when
// given, else UTC; zero time if malformed.
func parseEXIFTime(s, offset string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if offset != "" {
		if t, err := time.Parse("2006:01:02 15:04:05-07:00", s+offset); err == nil {
			return t
		}
	}
	t, err := time.Parse("2006:01:02 15:04:05", s)
	if err != nil {
		return time.Time{}
	}
	return t
}
