package sqlstore

import (
	"strings"
	"testing"
)

// PrefixEnd bounds exactly the strings with the prefix, in byte order.
func TestPrefixEnd(t *testing.T) {
	alphabet := []string{"a", "b", "\x7f", "\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff", "%", "_"}
	var strs []string
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		strs = append(strs, prefix)
		if depth == 0 {
			return
		}
		for _, r := range alphabet {
			gen(prefix+r, depth-1)
		}
	}
	gen("", 3)
	for _, p := range strs {
		if p == "" || len(p) > 8 {
			continue
		}
		end, ok := PrefixEnd(p)
		for _, s := range strs {
			in := s >= p && (!ok || s < end)
			if in != strings.HasPrefix(s, p) {
				t.Fatalf("prefix %+q, end %+q (%v): %+q in range %v", p, end, ok, s, in)
			}
		}
	}
	if _, ok := PrefixEnd("\U0010ffff\U0010ffff"); ok {
		t.Error("a bound for a prefix of only U+10FFFF")
	}
	if end, _ := PrefixEnd("a\ud7ff"); end != "a\ue000" {
		t.Errorf("bound skips into the surrogates: %+q", end)
	}
}
