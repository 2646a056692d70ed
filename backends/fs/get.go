package fs

import (
	"context"
	"io"
	"os"

	"github.com/s3gate/s3gate/backends"
)

// GetObject opens the object file once; the footer, the conditions and the
// range are all evaluated against that open file, which keeps its inode
// even if the key is overwritten or deleted meanwhile.
func (s *Store) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	f, m, err := s.openObject(bucket, key, opts.Conditions)
	if err != nil {
		return nil, err
	}
	info, err := describe(f, m, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	obj := &backends.Object{Info: info, Range: info.PartRange}
	if opts.PartNumber == 0 && opts.Range != nil {
		cr, err := opts.Range.Resolve(m.Size)
		if err != nil {
			f.Close()
			return nil, err
		}
		obj.Range = &cr
	}
	start, length := int64(0), m.Size
	if obj.Range != nil {
		start, length = obj.Range.Start, obj.Range.Length()
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	obj.Body = &body{f: f, r: io.LimitedReader{R: f, N: length}}
	return obj, nil
}

// HeadObject reads the footer and evaluates the conditions.
func (s *Store) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	f, m, err := s.openObject(bucket, key, opts.Conditions)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	defer f.Close()
	return describe(f, m, opts)
}

// describe returns the object's info with what opts ask for besides: the
// byte range of the part PartNumber selects, and the parts table.
func describe(f *os.File, m *meta, opts backends.GetOptions) (backends.ObjectInfo, error) {
	info := m.info()
	if opts.PartNumber != 0 {
		cr, err := partRange(f, m, opts.PartNumber)
		if err != nil {
			return backends.ObjectInfo{}, err
		}
		info.PartRange = cr
	}
	if opts.WithParts {
		parts, err := readParts(f, m)
		if err != nil {
			return backends.ObjectInfo{}, err
		}
		info.Parts = parts
	}
	return info, nil
}

// partRange resolves part n (1-based) of the object: a range of a
// multipart object's data from its parts table, or the whole of an object
// written in one PUT for part 1. An empty object has no range to name; an
// empty part of a non-empty one is not satisfiable.
func partRange(f *os.File, m *meta, n int) (*backends.ContentRange, error) {
	if n < 1 || n > max(m.Parts, 1) {
		return nil, backends.ErrInvalidPartNumber
	}
	start, length := int64(0), m.Size
	if m.Parts > 0 {
		r, err := readPartRec(f, m, n-1)
		if err != nil {
			return nil, err
		}
		start, length = r.Offset, r.Size
	}
	switch {
	case m.Size == 0:
		return nil, nil
	case length == 0:
		return nil, backends.ErrInvalidRange
	}
	return &backends.ContentRange{Start: start, End: start + length - 1, Size: m.Size}, nil
}

func (s *Store) openObject(bucket, key string, cond backends.Conditions) (*os.File, *meta, error) {
	if err := backends.CheckKey(key); err != nil {
		return nil, nil, err
	}
	if !backends.ValidBucketName(bucket) {
		return nil, nil, backends.ErrNoSuchBucket
	}
	f, err := s.root.Open(mapKey(bucket, key).file)
	if err != nil {
		if !notExist(err) {
			return nil, nil, err
		}
		if err := s.checkBucket(bucket); err != nil {
			return nil, nil, err
		}
		return nil, nil, backends.ErrNoSuchKey
	}
	m, err := readFooter(f)
	if err == nil && m.Key != key {
		err = errCorrupt
	}
	if err == nil {
		err = cond.Check(m.ETag, m.info().LastModified)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, m, nil
}

// body is the data region of an open object file.
type body struct {
	f *os.File
	r io.LimitedReader // over f, positioned at the range start
}

func (b *body) Read(p []byte) (int, error) { return b.r.Read(p) }

// WriteTo hands the writer an io.LimitedReader over the *os.File, the
// shape net/http's connection needs to use sendfile.
func (b *body) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &b.r) }

func (b *body) Close() error { return b.f.Close() }
