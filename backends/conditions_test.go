package backends

import (
	"errors"
	"testing"
	"time"
)

func TestConditionsCheck(t *testing.T) {
	const etag = "9e107d9d372bb6826bd81d3542a419d6"
	// Last-Modified has one-second resolution; the stored time need not.
	modified := time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)
	sec := modified.Truncate(time.Second)
	tests := []struct {
		name string
		c    Conditions
		want error
	}{
		{"none", Conditions{}, nil},
		{"if-match", Conditions{IfMatch: etag}, nil},
		{"if-match quoted", Conditions{IfMatch: `"` + etag + `"`}, nil},
		{"if-match weak", Conditions{IfMatch: `W/"` + etag + `"`}, nil},
		{"if-match list", Conditions{IfMatch: `"a", "` + etag + `"`}, nil},
		{"if-match star", Conditions{IfMatch: "*"}, nil},
		{"if-match other", Conditions{IfMatch: `"abc"`}, ErrPreconditionFail},
		{"if-none-match", Conditions{IfNoneMatch: `"` + etag + `"`}, ErrNotModified},
		{"if-none-match star", Conditions{IfNoneMatch: "*"}, ErrNotModified},
		{"if-none-match other", Conditions{IfNoneMatch: `"abc"`}, nil},
		{"if-modified-since same second", Conditions{IfModifiedSince: sec}, ErrNotModified},
		{"if-modified-since later", Conditions{IfModifiedSince: sec.Add(time.Second)}, ErrNotModified},
		{"if-modified-since earlier", Conditions{IfModifiedSince: sec.Add(-time.Second)}, nil},
		{"if-unmodified-since same second", Conditions{IfUnmodifiedSince: sec}, nil},
		{"if-unmodified-since later", Conditions{IfUnmodifiedSince: sec.Add(time.Second)}, nil},
		{"if-unmodified-since earlier", Conditions{IfUnmodifiedSince: sec.Add(-time.Second)}, ErrPreconditionFail},
		{"if-match overrides if-unmodified-since", Conditions{IfMatch: etag, IfUnmodifiedSince: sec.Add(-time.Hour)}, nil},
		{"if-none-match overrides if-modified-since", Conditions{IfNoneMatch: `"abc"`, IfModifiedSince: sec.Add(time.Hour)}, nil},
		{"if-match fails first", Conditions{IfMatch: `"abc"`, IfNoneMatch: etag}, ErrPreconditionFail},
		{"if-unmodified-since fails first", Conditions{IfUnmodifiedSince: sec.Add(-time.Hour), IfModifiedSince: sec.Add(time.Hour)}, ErrPreconditionFail},
		{"if-match then if-modified-since", Conditions{IfMatch: etag, IfModifiedSince: sec}, ErrNotModified},
	}
	for _, tc := range tests {
		if err := tc.c.Check(etag, modified); !errors.Is(err, tc.want) {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
		if tc.c.IsZero() != (tc.name == "none") {
			t.Errorf("%s: IsZero = %v", tc.name, tc.c.IsZero())
		}
	}
}

func TestCheckWrite(t *testing.T) {
	const etag = "abc123"
	tests := []struct {
		ifMatch, ifNoneMatch string
		exists               bool
		want                 error
	}{
		{"", "", false, nil},
		{"", "", true, nil},
		{"", "*", false, nil},
		{"", "*", true, ErrPreconditionFail},
		{"", `"abc123"`, true, ErrPreconditionFail},
		{"", `"other"`, true, nil},
		{etag, "", false, ErrNoSuchKey},
		{"*", "", false, ErrNoSuchKey},
		{etag, "", true, nil},
		{`"abc123"`, "", true, nil},
		{"*", "", true, nil},
		{`"other"`, "", true, ErrPreconditionFail},
		{etag, "*", true, ErrPreconditionFail},
	}
	for _, tc := range tests {
		e := ""
		if tc.exists {
			e = etag
		}
		if err := CheckWrite(tc.ifMatch, tc.ifNoneMatch, tc.exists, e); !errors.Is(err, tc.want) {
			t.Errorf("CheckWrite(%q, %q, exists %v) = %v, want %v", tc.ifMatch, tc.ifNoneMatch, tc.exists, err, tc.want)
		}
	}
}

func TestETagListMatches(t *testing.T) {
	tests := []struct {
		list string
		want bool
	}{
		{"abc", true},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{` "x" , "abc" `, true},
		{"*", true},
		{`"abcd"`, false},
		{`"ab"`, false},
		{"", false},
		{`"x", "y"`, false},
	}
	for _, tc := range tests {
		if got := ETagListMatches(tc.list, "abc"); got != tc.want {
			t.Errorf("ETagListMatches(%q, abc) = %v, want %v", tc.list, got, tc.want)
		}
	}
}
