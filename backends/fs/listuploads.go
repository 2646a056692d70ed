package fs

import (
	"context"
	"slices"
	"strings"

	"github.com/s3gate/s3gate/backends"
)

// ListMultipartUploads reads every descriptor of the bucket's uploads,
// sorts them by key and then id (which sorts by initiation time), and
// pages through them. A page therefore costs time and memory in
// proportion to the bucket's uploads in progress.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	var page backends.UploadsPage
	if !backends.ValidBucketName(bucket) {
		return page, backends.ErrNoSuchBucket
	}
	if err := s.checkBucket(bucket); err != nil {
		return page, err
	}
	if opts.MaxUploads <= 0 {
		return page, nil
	}
	ids, err := s.readDirNames(uploadsPath(bucket))
	if err != nil {
		return page, err
	}
	var all []backends.UploadInfo
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return page, err
		}
		if !validUploadID(id) {
			continue
		}
		u, err := s.readUpload(bucket, id)
		if err != nil {
			continue // removed meanwhile, or damaged: not listed
		}
		if strings.HasPrefix(u.Key, opts.Prefix) {
			all = append(all, u.info(id))
		}
	}
	slices.SortFunc(all, func(a, b backends.UploadInfo) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.UploadID, b.UploadID)
	})
	l := uploadLister{opts: opts, page: &page}
	for _, up := range all {
		if !l.add(up) {
			break
		}
	}
	return page, nil
}

type uploadLister struct {
	opts  backends.ListUploadsOptions
	page  *backends.UploadsPage
	count int
}

// commonPrefix returns the common prefix key rolls up into, if any.
func (l *uploadLister) commonPrefix(key string) (string, bool) {
	d := l.opts.Delimiter
	if d == "" {
		return "", false
	}
	rest := key[len(l.opts.Prefix):]
	i := strings.Index(rest, d)
	if i < 0 {
		return "", false
	}
	return l.opts.Prefix + rest[:i+len(d)], true
}

// add considers the next upload in order; it returns false once the page
// is full.
func (l *uploadLister) add(up backends.UploadInfo) bool {
	km := l.opts.KeyMarker
	switch {
	case km == "":
	case up.Key < km:
		return true
	case up.Key == km && (l.opts.UploadIDMarker == "" || up.UploadID <= l.opts.UploadIDMarker):
		return true
	}
	cp, rollup := l.commonPrefix(up.Key)
	if rollup {
		// Resuming after a common prefix skips the keys under it; so does
		// having just emitted it.
		if cp == km || (len(l.page.CommonPrefixes) > 0 && l.page.CommonPrefixes[len(l.page.CommonPrefixes)-1] == cp) {
			return true
		}
	}
	if l.count == l.opts.MaxUploads {
		l.page.IsTruncated = true
		return false
	}
	l.count++
	if rollup {
		l.page.CommonPrefixes = append(l.page.CommonPrefixes, cp)
		l.page.NextKeyMarker, l.page.NextUploadIDMarker = cp, ""
	} else {
		l.page.Uploads = append(l.page.Uploads, up)
		l.page.NextKeyMarker, l.page.NextUploadIDMarker = up.Key, up.UploadID
	}
	return true
}
