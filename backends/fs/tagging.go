package fs

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"

	"github.com/s3gate/s3gate/backends"
)

// maxTagTries bounds how often PutObjectTagging starts over because the
// object was overwritten while its copy was being made.
const maxTagTries = 10

// errChanged: the object was replaced after it was read.
var errChanged = errors.New("fs: object changed")

// GetObjectTagging reads the tags from the object's footer.
func (s *Store) GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error) {
	f, m, err := s.openObject(bucket, key, backends.Conditions{})
	if err != nil {
		return nil, err
	}
	f.Close()
	tags := make(map[string]string, len(m.Tags))
	maps.Copy(tags, m.Tags)
	return tags, nil
}

// PutObjectTagging writes a new object file in tmp, the same data (and
// parts table) copied with copy_file_range followed by a footer with the
// new tags, and renames it over the key if the key still holds the file
// that was copied: the ETag and LastModified do not change, and a write
// that lands meanwhile is never undone. The source stays open until the
// rename, so its inode cannot be reused by a newer object.
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error {
	for try := 1; ; try++ {
		err := s.retag(ctx, bucket, key, tags)
		if !errors.Is(err, errChanged) || try == maxTagTries {
			return err
		}
	}
}

func (s *Store) retag(ctx context.Context, bucket, key string, tags map[string]string) error {
	f, m, err := s.openObject(bucket, key, backends.Conditions{})
	if err != nil {
		return err
	}
	defer f.Close()
	src, err := f.Stat()
	if err != nil {
		return err
	}
	m.Tags = nonEmpty(tags)
	tmp, err := s.rewrite(f, m)
	if err != nil {
		return err
	}
	same := func(path string) error {
		cur, err := s.root.Stat(path)
		switch {
		case notExist(err):
			return backends.ErrNoSuchKey
		case err != nil:
			return err
		case !os.SameFile(src, cur):
			return errChanged
		}
		return nil
	}
	if err := s.commit(ctx, bucket, key, tmp, same, nil); err != nil {
		s.root.Remove(tmp)
		return err
	}
	return nil
}

// rewrite copies the data region and parts table of the open object file
// src into a new temp file and appends the footer of m.
func (s *Store) rewrite(src *os.File, m *meta) (string, error) {
	tl, err := m.tableLen()
	if err != nil {
		return "", err
	}
	tmp, _, err := s.writeObjectFile(".tag", func(f *os.File) (*meta, error) {
		// src's offset is 0: openObject reads the footer with pread.
		n, err := io.Copy(f, &io.LimitedReader{R: src, N: m.Size + tl})
		if err != nil {
			return nil, err
		}
		if n != m.Size+tl {
			return nil, errCorrupt
		}
		return m, nil
	})
	return tmp, err
}
