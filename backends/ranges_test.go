package backends

import (
	"errors"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in   string
		want *Range
	}{
		{"bytes=0-9", &Range{Start: 0, End: 9}},
		{"bytes=10-", &Range{Start: 10, End: -1}},
		{"bytes=-5", &Range{IsSuffix: true, Suffix: 5}},
		{"bytes=-0", &Range{IsSuffix: true, Suffix: 0}},
		{"bytes=7-7", &Range{Start: 7, End: 7}},
		{" bytes=1-2 ", &Range{Start: 1, End: 2}},
		{"bytes=0-9223372036854775807", &Range{Start: 0, End: 9223372036854775807}},
		// Ignored: the whole object is returned.
		{"", nil},
		{"bytes=", nil},
		{"bytes=-", nil},
		{"bytes=5-1", nil},
		{"bytes=a-b", nil},
		{"bytes=1-x", nil},
		{"bytes=1", nil},
		{"bytes=--1", nil},
		{"bytes=-1-2", nil},
		{"bytes=0-1,5-6", nil},
		{"items=0-1", nil},
		{"0-1", nil},
	}
	for _, tc := range tests {
		got := ParseRange(tc.in)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("ParseRange(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestRangeResolve(t *testing.T) {
	tests := []struct {
		r          Range
		size       int64
		start, end int64
		err        error
	}{
		{Range{Start: 0, End: 9}, 100, 0, 9, nil},
		{Range{Start: 0, End: -1}, 100, 0, 99, nil},
		{Range{Start: 90, End: 200}, 100, 90, 99, nil},
		{Range{Start: 99, End: -1}, 100, 99, 99, nil},
		{Range{Start: 0, End: 0}, 1, 0, 0, nil},
		{Range{IsSuffix: true, Suffix: 10}, 100, 90, 99, nil},
		{Range{IsSuffix: true, Suffix: 100}, 100, 0, 99, nil},
		{Range{IsSuffix: true, Suffix: 200}, 100, 0, 99, nil},
		{Range{Start: 100, End: -1}, 100, 0, 0, ErrInvalidRange},
		{Range{Start: 100, End: 150}, 100, 0, 0, ErrInvalidRange},
		{Range{IsSuffix: true, Suffix: 0}, 100, 0, 0, ErrInvalidRange},
		{Range{Start: 0, End: -1}, 0, 0, 0, ErrInvalidRange},
		{Range{IsSuffix: true, Suffix: 5}, 0, 0, 0, ErrInvalidRange},
	}
	for _, tc := range tests {
		got, err := tc.r.Resolve(tc.size)
		if !errors.Is(err, tc.err) {
			t.Errorf("%v.Resolve(%d) error = %v, want %v", tc.r, tc.size, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		want := ContentRange{Start: tc.start, End: tc.end, Size: tc.size}
		if got != want || got.Length() != tc.end-tc.start+1 {
			t.Errorf("%v.Resolve(%d) = %+v (length %d), want %+v", tc.r, tc.size, got, got.Length(), want)
		}
	}
}

func TestRangeStringRoundTrip(t *testing.T) {
	for _, r := range []Range{{Start: 0, End: 9}, {Start: 5, End: -1}, {IsSuffix: true, Suffix: 3}} {
		s := r.String()
		if got := ParseRange(s); got == nil || *got != r {
			t.Errorf("ParseRange(%q) = %+v, want %+v", s, got, r)
		}
	}
}
