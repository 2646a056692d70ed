package fs

import (
	"context"

	"github.com/s3gate/s3gate/backends"
)

// DeleteObject removes the object file, then (best effort) the parent
// directories it leaves empty.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string, opts backends.DeleteOptions) error {
	if err := backends.CheckKey(key); err != nil {
		return err
	}
	if !backends.ValidBucketName(bucket) {
		return backends.ErrNoSuchBucket
	}
	kp := mapKey(bucket, key)
	removed, err := s.removeObject(bucket, key, kp, opts)
	if err != nil || !removed {
		return err
	}
	// A concurrent delete of the last sibling may already have removed the
	// directory; then there is nothing left to sync.
	if err := s.syncDir(kp.dir(bucket, len(kp.dirs))); err != nil && !notExist(err) {
		return err
	}
	s.removeEmptyDirs(bucket, kp)
	return nil
}

func (s *Store) removeObject(bucket, key string, kp keyPath, opts backends.DeleteOptions) (bool, error) {
	bl := s.bucketLock(bucket)
	bl.RLock()
	defer bl.RUnlock()
	if err := s.checkBucket(bucket); err != nil {
		return false, err
	}
	kl := s.keyLock(bucket, key)
	kl.Lock()
	defer kl.Unlock()
	if opts.IfMatch != "" {
		if err := s.checkWrite(kp.file, opts.IfMatch, ""); err != nil {
			return false, err
		}
	}
	err := s.root.Remove(kp.file)
	if notExist(err) {
		return false, nil
	}
	return err == nil, err
}
