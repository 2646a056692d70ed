package fs

import (
	"errors"
	"io"
	"os"
	"strings"
)

// maxHeldDirs bounds the directory handles one walk keeps open. os.Root
// resolves a path one component at a time, so reaching a directory by path
// costs its depth; walks hold a handle per level instead (opening a child
// is then one step), up to this many, which keeps a 1024-level key both
// cheap and within the process's descriptor limit.
const maxHeldDirs = 32

// dirRef is a directory being walked: its path from the data root and,
// while held, an open handle on it.
type dirRef struct {
	s    *Store
	path string
	r    *os.Root
}

// root returns the handle, reopening it by path if it was released.
func (d *dirRef) root() (*os.Root, error) {
	if d.r == nil {
		r, err := d.s.root.OpenRoot(d.path)
		if err != nil {
			return nil, err
		}
		d.r = r
	}
	return d.r, nil
}

func (d *dirRef) release() {
	if d.r != nil {
		d.r.Close()
		d.r = nil
	}
}

// child opens the subdirectory name. Unless keep is set, d's own handle is
// released first: a walk that will not come back to d (its last entry, or
// past maxHeldDirs) holds no descriptor for it.
func (d *dirRef) child(name string, keep bool) (*dirRef, error) {
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	cr, err := r.OpenRoot(name)
	if !keep {
		d.release()
	}
	if err != nil {
		return nil, err
	}
	return &dirRef{s: d.s, path: d.path + "/" + name, r: cr}, nil
}

// sync fsyncs the directory when Options.Fsync is set.
func (d *dirRef) sync() error {
	if !d.s.opts.Fsync {
		return nil
	}
	r, err := d.root()
	if err != nil {
		return err
	}
	f, err := r.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// hasObject reports whether any object file exists in d or below it.
// Corrupt object files count: DeleteBucket never discards data silently.
func (s *Store) hasObject(d *dirRef, depth int) (bool, error) {
	defer d.release()
	r, err := d.root()
	if err != nil {
		return false, skipMissing(err)
	}
	f, err := r.Open(".")
	if err != nil {
		return false, skipMissing(err)
	}
	var subdirs []string
	for {
		des, err := f.ReadDir(256)
		for _, de := range des {
			switch name := de.Name(); {
			case plausible(name, objSuffix) && de.Type().IsRegular() && hashedOurs(r, name, false):
				f.Close()
				return true, nil
			case plausible(name, dirSuffix) && de.IsDir() && hashedOurs(r, name, true):
				subdirs = append(subdirs, name)
			}
		}
		if err != nil || len(des) == 0 {
			f.Close()
			if err != nil && !errors.Is(err, io.EOF) {
				return false, skipMissing(err)
			}
			break
		}
	}
	for i, name := range subdirs {
		c, err := d.child(name, i < len(subdirs)-1 && depth < maxHeldDirs)
		if err != nil {
			if err = skipMissing(err); err != nil {
				return false, err
			}
			continue
		}
		if found, err := s.hasObject(c, depth+1); found || err != nil {
			return found, err
		}
	}
	return false, nil
}

// removeEmptyDirs removes the key's parent directories from the deepest
// up, stopping at the first that is not empty. It works through at most
// maxHeldDirs levels at a time, holding a handle on each. The removals
// need no fsync: an empty directory that reappears after a crash is
// harmless.
func (s *Store) removeEmptyDirs(bucket string, kp keyPath) {
	for n := len(kp.dirs); n > 0; {
		lo := max(n-maxHeldDirs, 0)
		// chain[j] is the directory kp.dir(bucket, lo+j).
		chain := []*dirRef{{s: s, path: kp.dir(bucket, lo)}}
		for j := lo; j < n-1; j++ {
			c, err := chain[len(chain)-1].child(kp.dirs[j], true)
			if err != nil {
				break
			}
			chain = append(chain, c)
		}
		done := len(chain) < n-lo
		for i := lo + len(chain); i > lo && !done; i-- {
			done = !s.removeDir(bucket, chain[i-1-lo], kp.dirs[i-1])
		}
		for _, d := range chain {
			d.release()
		}
		if done {
			return
		}
		n = lo
	}
}

// hashedOurs reports whether a plausible entry of r is one a key maps to.
// Only hashed names need a look inside: at the segment file of a
// directory, or the footer of an object file. An unreadable object file
// counts as ours.
func hashedOurs(r *os.Root, name string, dir bool) bool {
	if !isHashed(name) {
		return true
	}
	if dir {
		seg, err := r.ReadFile(name + "/" + segmentFile)
		return err == nil && entryName(string(seg), dirSuffix) == name
	}
	m, err := readMeta(r, name)
	if err != nil {
		return !notExist(err)
	}
	return entryName(m.Key[strings.LastIndex(m.Key, "/")+1:], objSuffix) == name
}

// removeDir removes the empty directory name inside parent. A hashed
// directory still holds its segment file: holding the bucket lock
// exclusively (so no write commits into it), it is renamed into tmp in one
// step and removed there, so it never exists without its segment file.
func (s *Store) removeDir(bucket string, parent *dirRef, name string) bool {
	r, err := parent.root()
	if err != nil {
		return false
	}
	if !isHashed(name) {
		return r.Remove(name) == nil
	}
	l := s.bucketLock(bucket)
	l.Lock()
	defer l.Unlock()
	f, err := r.Open(name)
	if err != nil {
		return false
	}
	names, err := f.Readdirnames(2)
	f.Close()
	if (err != nil && !errors.Is(err, io.EOF)) || len(names) != 1 || names[0] != segmentFile {
		return false
	}
	tmp := tempName(".rmdir")
	if s.root.Rename(parent.path+"/"+name, tmp) != nil {
		return false
	}
	return s.root.RemoveAll(tmp) == nil
}
