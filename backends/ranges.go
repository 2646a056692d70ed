package backends

import (
	"strconv"
	"strings"
)

// Range is one byte range of a GET, as the Range header names it:
// "bytes=Start-End", "bytes=Start-" (End -1) or "bytes=-Suffix" (IsSuffix).
type Range struct {
	Start, End int64
	Suffix     int64
	IsSuffix   bool
}

// ContentRange is a range resolved against an object's size; End is
// inclusive.
type ContentRange struct {
	Start, End, Size int64
}

// Length is the number of bytes in the range.
func (c ContentRange) Length() int64 { return c.End - c.Start + 1 }

// ParseRange parses a Range header value. It returns nil (and no error) for
// values S3 ignores: an empty header, units other than bytes, several
// ranges, or syntax it does not understand, in which case the whole object
// is returned.
func ParseRange(h string) *Range {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil
		}
		return &Range{IsSuffix: true, Suffix: n}
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return nil
	}
	end := int64(-1)
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return nil
		}
	}
	return &Range{Start: start, End: end}
}

// Resolve fits the range to an object of the given size. It returns
// ErrInvalidRange when no byte of the object is in the range.
func (r Range) Resolve(size int64) (ContentRange, error) {
	if r.IsSuffix {
		if r.Suffix == 0 || size == 0 {
			return ContentRange{}, ErrInvalidRange
		}
		return ContentRange{Start: max(size-r.Suffix, 0), End: size - 1, Size: size}, nil
	}
	if r.Start >= size {
		return ContentRange{}, ErrInvalidRange
	}
	end := r.End
	if end < 0 || end >= size {
		end = size - 1
	}
	return ContentRange{Start: r.Start, End: end, Size: size}, nil
}

// String renders the range as a Range header value.
func (r Range) String() string {
	switch {
	case r.IsSuffix:
		return "bytes=-" + strconv.FormatInt(r.Suffix, 10)
	case r.End < 0:
		return "bytes=" + strconv.FormatInt(r.Start, 10) + "-"
	default:
		return "bytes=" + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.End, 10)
	}
}
