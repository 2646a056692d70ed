package sqlstore

import "unicode/utf8"

// PrefixEnd is the least string greater than every string that starts
// with p: p cut after its last code point below U+10FFFF, that code point
// incremented. UTF-8 orders by code point bytewise, so the range
// [p, PrefixEnd(p)) holds exactly the strings with prefix p: a prefix
// filter answered from an index, without LIKE's metacharacters or case
// folding. ok is false when there is no such bound (p is only U+10FFFF).
func PrefixEnd(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i] + 1
		if r == 0xD800 { // surrogates are not text
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			rs[i] = r
			return string(rs[:i+1]), true
		}
	}
	return "", false
}
