package fs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// maxCommitTries bounds retries when a concurrent delete removes a parent
// directory between our mkdir and rename.
const maxCommitTries = 100

var bufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// PutObject streams body into a temp file (data, then the footer), and
// commits it with one rename once body has returned io.EOF.
func (s *Store) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	if err := backends.CheckKey(key); err != nil {
		return backends.ObjectInfo{}, err
	}
	if !backends.ValidBucketName(bucket) {
		return backends.ObjectInfo{}, backends.ErrNoSuchBucket
	}
	// Fail early; the commit checks again under the bucket lock.
	if err := s.checkBucket(bucket); err != nil {
		return backends.ObjectInfo{}, err
	}
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		// Fail before streaming a body that cannot commit; the check under
		// the key lock at commit is the one that counts.
		if err := s.checkWrite(mapKey(bucket, key).file, opts.IfMatch, opts.IfNoneMatch); err != nil {
			return backends.ObjectInfo{}, err
		}
	}
	tmp, m, err := s.writeTemp(ctx, key, body, opts)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := s.commit(ctx, bucket, key, tmp, s.preconditionsFor(opts.IfMatch, opts.IfNoneMatch), nil); err != nil {
		s.root.Remove(tmp)
		return backends.ObjectInfo{}, err
	}
	return m.info(), nil
}

// writeTemp writes the object file in tmp and returns its path.
func (s *Store) writeTemp(ctx context.Context, key string, body io.Reader, opts backends.PutOptions) (string, *meta, error) {
	return s.writeObjectFile(".put", func(f *os.File) (*meta, error) {
		return writeObjectData(ctx, f, key, body, opts)
	})
}

// writeObjectData streams a PUT's body into f and returns its metadata.
func writeObjectData(ctx context.Context, f *os.File, key string, body io.Reader, opts backends.PutOptions) (*meta, error) {
	h := md5.New()
	n, err := copyBody(ctx, f, h, body, opts.Size)
	if err != nil {
		return nil, err
	}
	m := &meta{
		Version:        footerVersion,
		Key:            key,
		Size:           n,
		ETag:           hex.EncodeToString(h.Sum(nil)),
		Modified:       time.Now().UnixNano(),
		ContentHeaders: opts.ContentHeaders,
		Metadata:       opts.Metadata,
		Tags:           nonEmpty(opts.Tags),
	}
	if opts.Checksum != nil {
		// Only now: a trailing checksum is set when the body ends.
		m.Checksum = *opts.Checksum
	}
	return m, nil
}

// copyBody copies body to f through a bounded buffer, hashing as bytes
// pass. It reads until body returns io.EOF, even when size is known, so an
// error reported at the very end still aborts the write.
func copyBody(ctx context.Context, f *os.File, h io.Writer, body io.Reader, size int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := body.Read(buf)
		if k > 0 {
			if size >= 0 && n+int64(k) > size {
				return n, backends.ErrSizeMismatch
			}
			if _, err := f.Write(buf[:k]); err != nil {
				return n, err
			}
			h.Write(buf[:k])
			n += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("fs: reading body: %w", rerr)
		}
	}
	if size >= 0 && n < size {
		return n, backends.ErrIncompleteBody
	}
	return n, nil
}

// commit renames the temp file over the key, holding the bucket lock
// shared (so the bucket cannot vanish) and the key lock, under which check
// (if any) vets the current object at path before the rename, so a
// conditional write's check and rename are atomic, and after (if any)
// runs once the rename is durable, before any other write of the key.
func (s *Store) commit(ctx context.Context, bucket, key, tmp string, check func(path string) error, after func()) error {
	bl := s.bucketLock(bucket)
	bl.RLock()
	defer bl.RUnlock()
	if err := s.checkBucket(bucket); err != nil {
		return err
	}
	kl := s.keyLock(bucket, key)
	kl.Lock()
	defer kl.Unlock()
	kp := mapKey(bucket, key)
	if check != nil {
		if err := check(kp.file); err != nil {
			return err
		}
	}
	// A client that went away before the rename gets nothing committed.
	if err := ctx.Err(); err != nil {
		return err
	}
	for try := 1; ; try++ {
		if err := s.mkdirs(bucket, kp); err != nil {
			return err
		}
		err := s.root.Rename(tmp, kp.file)
		if err == nil {
			break
		}
		// A concurrent delete removed an empty parent after our mkdir.
		if !errors.Is(err, fs.ErrNotExist) || try == maxCommitTries {
			return err
		}
	}
	if err := s.syncDir(kp.dir(bucket, len(kp.dirs))); err != nil {
		return err
	}
	if after != nil {
		after()
	}
	return nil
}

// preconditionsFor returns the check of a conditional write, nil if none.
func (s *Store) preconditionsFor(ifMatch, ifNoneMatch string) func(string) error {
	if ifMatch == "" && ifNoneMatch == "" {
		return nil
	}
	return func(path string) error { return s.checkWrite(path, ifMatch, ifNoneMatch) }
}

// nonEmpty returns m, or nil when it is empty, so empty maps are not
// stored.
func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// checkWrite evaluates a write's or a delete's preconditions against the
// object now stored at path.
func (s *Store) checkWrite(path, ifMatch, ifNoneMatch string) error {
	exists, etag := false, ""
	f, err := s.root.Open(path)
	switch {
	case err == nil:
		m, err := readFooter(f)
		f.Close()
		if err != nil {
			return err
		}
		exists, etag = true, m.ETag
	case !notExist(err):
		return err
	}
	return backends.CheckWrite(ifMatch, ifNoneMatch, exists, etag)
}

// mkdirs creates the key's parent directories, stepping down one handle
// at a time. Hashed directories are prepared in tmp with their segment
// file and renamed into place, so they never appear without it.
func (s *Store) mkdirs(bucket string, kp keyPath) error {
	d := &dirRef{s: s, path: bucketPath(bucket)}
	defer func() { d.release() }()
	for i, name := range kp.dirs {
		r, err := d.root()
		if err != nil {
			return err
		}
		if isHashed(name) {
			err = s.mkdirHashed(r, d.path, name, kp.segs[i])
		} else {
			err = r.Mkdir(name, 0o700)
		}
		switch {
		case err == nil:
			if err := d.sync(); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		case notExist(err):
			// A concurrent delete removed d just now; the caller's rename
			// fails and retries.
			return nil
		default:
			return err
		}
		c, err := d.child(name, false)
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		d = c
	}
	return nil
}

func (s *Store) mkdirHashed(parent *os.Root, parentPath, name, seg string) error {
	if _, err := parent.Lstat(name); err == nil {
		return fs.ErrExist
	}
	tmp := tempName(".dir")
	if err := s.root.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer s.root.RemoveAll(tmp) // a no-op once renamed
	if err := s.writeFile(tmp+"/"+segmentFile, []byte(seg)); err != nil {
		return err
	}
	if err := s.syncDir(tmp); err != nil {
		return err
	}
	return s.root.Rename(tmp, parentPath+"/"+name)
}

// notExist reports whether a lookup failed because the path (or one of its
// parents) is missing.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir)
}
