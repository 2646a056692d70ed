package backends

import (
	"strings"
	"time"
)

// Conditions are the HTTP preconditions of a read (If-Match,
// If-None-Match, If-Modified-Since, If-Unmodified-Since). Zero values are
// unset.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// IsZero reports whether no condition is set.
func (c Conditions) IsZero() bool {
	return c.IfMatch == "" && c.IfNoneMatch == "" && c.IfModifiedSince.IsZero() && c.IfUnmodifiedSince.IsZero()
}

// Check evaluates the conditions against an existing object the way S3 (and
// RFC 9110 section 13.2.2) does: If-Match decides over If-Unmodified-Since
// and If-None-Match over If-Modified-Since. It returns ErrPreconditionFail,
// ErrNotModified or nil. Times compare at one-second resolution, the
// resolution of Last-Modified.
func (c Conditions) Check(etag string, modified time.Time) error {
	modified = modified.Truncate(time.Second)
	if c.IfMatch != "" {
		if !ETagListMatches(c.IfMatch, etag) {
			return ErrPreconditionFail
		}
	} else if !c.IfUnmodifiedSince.IsZero() && modified.After(c.IfUnmodifiedSince) {
		return ErrPreconditionFail
	}
	if c.IfNoneMatch != "" {
		if ETagListMatches(c.IfNoneMatch, etag) {
			return ErrNotModified
		}
	} else if !c.IfModifiedSince.IsZero() && !modified.After(c.IfModifiedSince) {
		return ErrNotModified
	}
	return nil
}

// CheckWrite evaluates the preconditions of a conditional write. exists
// tells whether the key currently holds an object and etag is its ETag.
// S3 answers a failed If-None-Match: * or If-Match with 412, and If-Match on
// a missing key with 404.
func CheckWrite(ifMatch, ifNoneMatch string, exists bool, etag string) error {
	if ifNoneMatch != "" && exists && ETagListMatches(ifNoneMatch, etag) {
		return ErrPreconditionFail
	}
	if ifMatch != "" {
		if !exists {
			return ErrNoSuchKey
		}
		if !ETagListMatches(ifMatch, etag) {
			return ErrPreconditionFail
		}
	}
	return nil
}

// ETagListMatches reports whether etag (unquoted) is in an If-Match style
// list: "*" or comma-separated entity tags, quoted or not, weak or strong.
func ETagListMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}
