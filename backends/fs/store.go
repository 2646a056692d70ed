package fs

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/s3gate/s3gate/backends"
)

// ErrLocked is returned by Open when another process uses the data
// directory.
var ErrLocked = errors.New("fs: data directory is locked by another process")

// errNotDir: a path component is not a directory, which for a lookup
// means the same as a missing one.
var errNotDir error = syscall.ENOTDIR

// Options configure a Store.
type Options struct {
	// Fsync flushes each object file and its parent directory before a
	// write is acknowledged, so acknowledged writes survive a power loss.
	Fsync bool
}

// Store is a backends.Backend over a local directory. See the package
// documentation for the layout and the commit protocol.
type Store struct {
	root *os.Root
	lock *os.File
	opts Options
	seed maphash.Seed

	// Commits hold their bucket's stripe shared; DeleteBucket (and removal
	// of hashed directories) hold it exclusively.
	bucketLocks [64]sync.RWMutex
	// keyLocks serialise the check and rename of writes and deletes.
	keyLocks [256]sync.Mutex
	// uploadLocks serialise a multipart upload's part commits,
	// completion and abort. Order: upload, then bucket, then key.
	uploadLocks keyedMutex
}

var _ backends.Backend = (*Store)(nil)

// Open opens (creating if needed) the data directory dir. It takes an
// exclusive lock on dir/.lock, clears temp files left by a crash and
// finishes removing uploads that a crash left behind (see
// reconcileUploads).
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, opts: opts, seed: maphash.MakeSeed()}
	if err := s.init(); err != nil {
		s.Close()
		return nil, fmt.Errorf("fs: open %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) init() error {
	f, err := s.root.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		return err
	}
	s.lock = f
	// Anything in tmp belongs to a process that died mid-write.
	if err := s.root.RemoveAll(tmpDir); err != nil {
		return err
	}
	for _, d := range []string{tmpDir, bucketsDir, uploadsDir} {
		if err := s.root.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err := s.reconcileUploads(); err != nil {
		return err
	}
	// What reconcileUploads discarded went through tmp.
	return s.syncDir(uploadsDir)
}

// Close releases the data directory. The Store must not be used after.
func (s *Store) Close() error {
	var err error
	if s.lock != nil {
		err = s.lock.Close() // closing the descriptor drops the flock
	}
	return errors.Join(err, s.root.Close())
}

// Capabilities reports what the fs backend supports.
func (s *Store) Capabilities(string) backends.Capabilities {
	return backends.Capabilities{ConditionalWrites: true, ConditionalDeletes: true}
}

func (s *Store) bucketLock(bucket string) *sync.RWMutex {
	return &s.bucketLocks[maphash.String(s.seed, bucket)%uint64(len(s.bucketLocks))]
}

func (s *Store) keyLock(bucket, key string) *sync.Mutex {
	return &s.keyLocks[maphash.String(s.seed, bucket+"/"+key)%uint64(len(s.keyLocks))]
}

// osCreateExcl creates a new file for writing, failing if it exists.
const osCreateExcl = os.O_WRONLY | os.O_CREATE | os.O_EXCL

// tempName returns a fresh, unguessable path in the temp directory.
func tempName(suffix string) string {
	return tmpDir + "/" + rand.Text() + suffix
}

// syncDir fsyncs a directory so renames and unlinks in it are durable.
func (s *Store) syncDir(path string) error {
	if !s.opts.Fsync {
		return nil
	}
	d, err := s.root.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeObjectFile writes a new object (or part) file in tmp: fill writes
// its data (and a parts table, if any) and returns its metadata, then the
// footer follows and, with Options.Fsync, the file is synced. On any error
// the file is removed. It returns the file's path, to be renamed into place.
func (s *Store) writeObjectFile(suffix string, fill func(f *os.File) (*meta, error)) (_ string, _ *meta, err error) {
	tmp := tempName(suffix)
	f, err := s.root.OpenFile(tmp, osCreateExcl, 0o600)
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.root.Remove(tmp)
		}
	}()
	m, err := fill(f)
	if err != nil {
		return "", nil, err
	}
	footer, err := encodeFooter(m)
	if err != nil {
		return "", nil, err
	}
	if _, err := f.Write(footer); err != nil {
		return "", nil, err
	}
	if s.opts.Fsync {
		if err := f.Sync(); err != nil {
			return "", nil, err
		}
	}
	return tmp, m, nil
}
