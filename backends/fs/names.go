package fs

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	objSuffix = ".o"
	dirSuffix = ".d"
	// nameMax is NAME_MAX on the filesystems we run on.
	nameMax = 255
	// hashLen hex digits (128 bits of SHA-256) name a long segment.
	hashLen = 32
	// segmentFile, inside a hashed directory, holds the directory's full
	// key segment; it ends in neither suffix, so listings never see it.
	segmentFile = "segment"
	// bucketInfoFile, inside a bucket directory, holds its creation time.
	bucketInfoFile = ".bucket"

	bucketsDir = "buckets"
	tmpDir     = "tmp"
	lockFile   = ".lock"
)

// safe reports whether a byte is kept as is in an escaped segment.
func safe(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// escape percent-encodes every byte of seg outside [A-Za-z0-9._-].
func escape(seg string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

// unescape reverses escape. Callers check the result is canonical by
// mapping it back with entryName.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

// entryName is the file name of a key segment: its escaped form plus
// suffix, or, when that would exceed NAME_MAX, a truncated escaped prefix,
// "~" and a hash of the segment. "~" is always escaped otherwise, so only
// hashed names contain it.
func entryName(seg, suffix string) string {
	esc := escape(seg)
	if len(esc)+len(suffix) <= nameMax {
		return esc + suffix
	}
	cut := nameMax - len(suffix) - 1 - hashLen
	// Don't split a %XX escape; it keeps the prefix readable.
	if esc[cut-1] == '%' {
		cut--
	} else if esc[cut-2] == '%' {
		cut -= 2
	}
	sum := sha256.Sum256([]byte(seg))
	return esc[:cut] + "~" + hex.EncodeToString(sum[:])[:hashLen] + suffix
}

func isHashed(name string) bool { return strings.Contains(name, "~") }

// plausible reports whether name could be an entry with suffix, judging by
// the name alone: an ordinary name must be canonical; a hashed one needs
// its segment file or footer to tell.
func plausible(name, suffix string) bool {
	base, ok := strings.CutSuffix(name, suffix)
	if !ok {
		return false
	}
	if isHashed(base) {
		return true
	}
	seg, ok := unescape(base)
	return ok && entryName(seg, suffix) == name
}

// keyPath is where a key lives inside its bucket directory.
type keyPath struct {
	segs []string // key segments, split on "/"
	dirs []string // entry names of the parent directories, outermost first
	file string   // path of the object file, relative to the data root
}

func mapKey(bucket, key string) keyPath {
	segs := strings.Split(key, "/")
	p := keyPath{segs: segs, dirs: make([]string, len(segs)-1)}
	for i, s := range segs[:len(segs)-1] {
		p.dirs[i] = entryName(s, dirSuffix)
	}
	p.file = p.dir(bucket, len(p.dirs)) + "/" + entryName(segs[len(segs)-1], objSuffix)
	return p
}

// dir is the path of the n-th ancestor directory (0 is the bucket
// directory itself), relative to the data root.
func (p keyPath) dir(bucket string, n int) string {
	parts := append([]string{bucketsDir, bucket}, p.dirs[:n]...)
	return strings.Join(parts, "/")
}

func bucketPath(bucket string) string { return bucketsDir + "/" + bucket }
