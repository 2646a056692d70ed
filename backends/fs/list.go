package fs

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"

	"github.com/s3gate/s3gate/backends"
)

// errPageFull stops the walk once the page is complete.
var errPageFull = errors.New("page full")

// ListObjects walks the bucket directory in key order. Within a directory,
// an object sorts by its segment and a directory by its segment plus "/",
// which is exactly where its keys fall in UTF-8 binary order, so a
// depth-first walk over sorted entries yields keys in S3 order.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts backends.ListOptions) (backends.ListPage, error) {
	if !backends.ValidBucketName(bucket) {
		return backends.ListPage{}, backends.ErrNoSuchBucket
	}
	if err := s.checkBucket(bucket); err != nil {
		return backends.ListPage{}, err
	}
	l := &lister{s: s, ctx: ctx, opts: opts}
	if opts.MaxKeys <= 0 || len(opts.Prefix) > backends.MaxKeyLength {
		return l.page, nil
	}
	// Start at the deepest directory the prefix names; its last, partial
	// segment filters that directory's entries.
	segs := strings.Split(opts.Prefix, "/")
	dir, keyPrefix := bucketPath(bucket), ""
	for _, seg := range segs[:len(segs)-1] {
		dir += "/" + entryName(seg, dirSuffix)
		keyPrefix += seg + "/"
	}
	err := l.walk(&dirRef{s: s, path: dir}, 0, keyPrefix, segs[len(segs)-1])
	if err != nil && !errors.Is(err, errPageFull) {
		return backends.ListPage{}, err
	}
	if !l.page.IsTruncated {
		l.page.NextStartAfter = ""
	}
	return l.page, nil
}

type lister struct {
	s     *Store
	ctx   context.Context
	opts  backends.ListOptions
	page  backends.ListPage
	count int
	// lastCP is the last common prefix emitted; the keys under it follow
	// it directly in key order and are skipped.
	lastCP string
}

type entry struct {
	name    string // file name
	seg     string // key segment
	sortKey string // seg, plus "/" for a directory
	dir     bool
	meta    *meta // already read, for hashed object names
}

func (l *lister) walk(d *dirRef, depth int, keyPrefix, partial string) error {
	defer d.release()
	entries, err := l.readDir(d, keyPrefix, partial)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		if e.dir {
			// Keep d's handle unless this is its last entry.
			keep := i < len(entries)-1 && depth < maxHeldDirs
			err = l.dir(d, e.name, keyPrefix+e.seg+"/", depth, keep)
		} else {
			err = l.object(d, e.name, keyPrefix+e.seg, e.meta)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// commonPrefix returns the common prefix a key (or every key beginning
// with it) rolls up into, if any.
func (l *lister) commonPrefix(k string) (string, bool) {
	d := l.opts.Delimiter
	if d == "" {
		return "", false
	}
	rest := k[len(l.opts.Prefix):]
	i := strings.Index(rest, d)
	if i < 0 {
		return "", false
	}
	return l.opts.Prefix + rest[:i+len(d)], true
}

// dir visits the subdirectory name of parent, whose keys all begin with
// dk.
func (l *lister) dir(parent *dirRef, name, dk string, depth int, keep bool) error {
	sa := l.opts.StartAfter
	if dk <= sa && !strings.HasPrefix(sa, dk) {
		return nil // every key under it is <= StartAfter
	}
	if l.lastCP != "" && strings.HasPrefix(dk, l.lastCP) {
		return nil
	}
	cp, rollup := l.commonPrefix(dk)
	if rollup && cp == sa {
		return nil
	}
	d, err := parent.child(name, keep)
	if err != nil {
		return skipMissing(err)
	}
	// When the whole directory rolls up into cp, one object anywhere below
	// is enough to emit cp, unless StartAfter falls inside it.
	if rollup && !strings.HasPrefix(sa, dk) {
		found, err := l.s.hasObject(d, depth+1)
		if err != nil || !found {
			return err
		}
		return l.emit(cp, nil)
	}
	return l.walk(d, depth+1, dk, "")
}

func (l *lister) object(parent *dirRef, name, k string, m *meta) error {
	if k <= l.opts.StartAfter || (l.lastCP != "" && strings.HasPrefix(k, l.lastCP)) {
		return nil
	}
	if cp, ok := l.commonPrefix(k); ok {
		if cp == l.opts.StartAfter {
			return nil
		}
		return l.emit(cp, nil)
	}
	if m == nil {
		var err error
		if m, err = readMetaIn(parent, name); err != nil {
			return skipMissing(err)
		}
	}
	if m.Key != k {
		return nil // not ours: skip
	}
	return l.emit(k, m)
}

// emit adds an object (m != nil) or a common prefix to the page.
func (l *lister) emit(name string, m *meta) error {
	if l.count == l.opts.MaxKeys {
		l.page.IsTruncated = true
		return errPageFull
	}
	l.count++
	l.page.NextStartAfter = name
	if m == nil {
		l.lastCP = name
		l.page.CommonPrefixes = append(l.page.CommonPrefixes, name)
	} else {
		l.page.Objects = append(l.page.Objects, m.info())
	}
	return nil
}

// readDir returns the entries of dir that are keys, their segments beginning
// with partial, in key order. Anything else (temp names, foreign files,
// symlinks, names that are not canonical) is ignored.
func (l *lister) readDir(d *dirRef, keyPrefix, partial string) ([]entry, error) {
	r, err := d.root()
	if err != nil {
		return nil, skipMissing(err)
	}
	f, err := r.Open(".")
	if err != nil {
		return nil, skipMissing(err)
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, skipMissing(err)
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		e := entry{name: de.Name()}
		var suffix string
		switch {
		case strings.HasSuffix(e.name, objSuffix) && de.Type().IsRegular():
			suffix = objSuffix
		case strings.HasSuffix(e.name, dirSuffix) && de.IsDir():
			suffix, e.dir = dirSuffix, true
		default:
			continue
		}
		ok, err := l.segment(&e, r, keyPrefix, suffix)
		if err != nil {
			return nil, err
		}
		if !ok || !strings.HasPrefix(e.seg, partial) {
			continue
		}
		e.sortKey = e.seg
		if e.dir {
			e.sortKey += "/"
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	return entries, nil
}

// segment recovers an entry's key segment: from its name, or for a hashed
// name from the directory's segment file or the object's footer.
func (l *lister) segment(e *entry, r *os.Root, keyPrefix, suffix string) (bool, error) {
	base := strings.TrimSuffix(e.name, suffix)
	switch {
	case !isHashed(base):
		seg, ok := unescape(base)
		if !ok {
			return false, nil
		}
		e.seg = seg
	case e.dir:
		b, err := r.ReadFile(e.name + "/" + segmentFile)
		if err != nil {
			return false, skipMissing(err)
		}
		e.seg = string(b)
	default:
		m, err := readMeta(r, e.name)
		if err != nil {
			return false, skipMissing(err)
		}
		seg, ok := strings.CutPrefix(m.Key, keyPrefix)
		if !ok || strings.Contains(seg, "/") {
			return false, nil
		}
		e.seg, e.meta = seg, m
	}
	return entryName(e.seg, suffix) == e.name, nil
}

// readMeta reads the footer of the object file name in r.
func readMeta(r *os.Root, name string) (*meta, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readFooter(f)
}

func readMetaIn(d *dirRef, name string) (*meta, error) {
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	return readMeta(r, name)
}

// skipMissing drops errors a listing tolerates: entries removed since the
// directory was read, and corrupt object files, which stay invisible (GET
// reports them) rather than failing every listing of the bucket.
func skipMissing(err error) error {
	if notExist(err) || errors.Is(err, errCorrupt) {
		return nil
	}
	return err
}
