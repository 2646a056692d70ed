package fs

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
)

type bucketInfo struct {
	Created int64 `json:"created"` // Unix nanoseconds
}

// CreateBucket prepares the bucket directory (with its info file) in tmp
// and renames it into place, so a bucket never appears half made.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	if !backends.ValidBucketName(bucket) {
		return backends.ErrInvalidBucket
	}
	if _, err := s.root.Lstat(bucketPath(bucket)); err == nil {
		return backends.ErrBucketExists
	}
	tmp := tempName(".bucket")
	if err := s.root.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer s.root.RemoveAll(tmp) // a no-op once renamed
	info, err := json.Marshal(bucketInfo{Created: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	if err := s.writeFile(tmp+"/"+bucketInfoFile, info); err != nil {
		return err
	}
	if err := s.syncDir(tmp); err != nil {
		return err
	}
	// The new directory is never empty, so rename cannot replace a bucket
	// created concurrently: it fails with EEXIST or ENOTEMPTY instead.
	if err := s.root.Rename(tmp, bucketPath(bucket)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return backends.ErrBucketExists
		}
		return err
	}
	return s.syncDir(bucketsDir)
}

// HeadBucket reports a bucket's creation time.
func (s *Store) HeadBucket(ctx context.Context, bucket string) (backends.BucketInfo, error) {
	if !backends.ValidBucketName(bucket) {
		return backends.BucketInfo{}, backends.ErrNoSuchBucket
	}
	st, err := s.root.Stat(bucketPath(bucket))
	if err != nil || !st.IsDir() {
		return backends.BucketInfo{}, bucketErr(err)
	}
	bi := backends.BucketInfo{Name: bucket, Created: st.ModTime().UTC()}
	var info bucketInfo
	if b, err := s.root.ReadFile(bucketPath(bucket) + "/" + bucketInfoFile); err == nil && json.Unmarshal(b, &info) == nil {
		bi.Created = time.Unix(0, info.Created).UTC()
	}
	return bi, nil
}

// ListBuckets returns every bucket, sorted by name.
func (s *Store) ListBuckets(ctx context.Context) ([]backends.BucketInfo, error) {
	d, err := s.root.Open(bucketsDir)
	if err != nil {
		return nil, err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []backends.BucketInfo
	for _, e := range entries {
		if !e.IsDir() || !backends.ValidBucketName(e.Name()) {
			continue
		}
		bi, err := s.HeadBucket(ctx, e.Name())
		if errors.Is(err, backends.ErrNoSuchBucket) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, bi)
	}
	slices.SortFunc(out, func(a, b backends.BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteBucket removes an empty bucket and, as S3 does, its multipart
// uploads in progress. It holds the bucket's lock exclusively, so no write
// can commit into it meanwhile, and renames the bucket directory, then the
// uploads directory, out of the namespace before removing them. A crash
// between the two renames leaves uploads without a bucket, which the next
// Open removes.
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	if !backends.ValidBucketName(bucket) {
		return backends.ErrNoSuchBucket
	}
	l := s.bucketLock(bucket)
	l.Lock()
	if err := s.checkBucket(bucket); err != nil {
		l.Unlock()
		return err
	}
	found, err := s.hasObject(&dirRef{s: s, path: bucketPath(bucket)}, 0)
	if err != nil || found {
		l.Unlock()
		if found {
			return backends.ErrBucketNotEmpty
		}
		return err
	}
	tmp, uploads := tempName(".deleted"), tempName(".deleted")
	err = s.root.Rename(bucketPath(bucket), tmp)
	if err == nil {
		err = s.syncDir(bucketsDir)
	}
	if err == nil {
		if err = s.root.Rename(uploadsPath(bucket), uploads); notExist(err) {
			err, uploads = nil, ""
		}
	}
	l.Unlock()
	if err != nil {
		return err
	}
	if uploads != "" {
		if err := s.syncDir(uploadsDir); err != nil {
			return err
		}
		s.root.RemoveAll(uploads)
	}
	return s.root.RemoveAll(tmp)
}

// checkBucket returns ErrNoSuchBucket unless the bucket directory exists.
func (s *Store) checkBucket(bucket string) error {
	st, err := s.root.Stat(bucketPath(bucket))
	if err != nil || !st.IsDir() {
		return bucketErr(err)
	}
	return nil
}

// bucketErr maps a failed lookup of a bucket directory.
func bucketErr(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return backends.ErrNoSuchBucket
	}
	return err
}

// writeFile creates a small file, flushed when Fsync is on.
func (s *Store) writeFile(path string, data []byte) error {
	f, err := s.root.OpenFile(path, osCreateExcl, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && s.opts.Fsync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
