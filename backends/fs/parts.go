package fs

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
)

// UploadPart streams the part into a temp file (data, then a footer with
// its number, size, MD5 and checksum) and, once the body returned io.EOF,
// renames it into the upload directory under the upload's lock, replacing
// any earlier part with that number.
func (s *Store) UploadPart(ctx context.Context, bucket, key, id string, n int, body io.Reader, opts backends.PartOptions) (backends.PartInfo, error) {
	if n < 1 || n > backends.MaxParts {
		return backends.PartInfo{}, fmt.Errorf("fs: part number %d out of range", n)
	}
	u, err := s.loadUpload(bucket, key, id)
	if err != nil {
		return backends.PartInfo{}, err
	}
	tmp, m, err := s.writePart(ctx, u, n, body, opts)
	if err != nil {
		return backends.PartInfo{}, err
	}
	defer s.root.Remove(tmp) // a no-op once renamed
	unlock := s.uploadLocks.lock(id)
	defer unlock()
	// Completed or aborted meanwhile: the part has nowhere to go.
	if _, err := s.loadUpload(bucket, key, id); err != nil {
		return backends.PartInfo{}, err
	}
	if err := s.root.Rename(tmp, uploadPath(bucket, id)+"/"+partName(n)); err != nil {
		if notExist(err) {
			return backends.PartInfo{}, backends.ErrNoSuchUpload
		}
		return backends.PartInfo{}, err
	}
	if err := s.syncDir(uploadPath(bucket, id)); err != nil {
		return backends.PartInfo{}, err
	}
	return partInfo(m), nil
}

// writePart writes a part file in tmp, computing its MD5 and its checksum
// in the upload's algorithm as bytes pass, and checks the client's
// checksum (if any) against the latter.
func (s *Store) writePart(ctx context.Context, u *upload, n int, body io.Reader, opts backends.PartOptions) (string, *meta, error) {
	return s.writeObjectFile(".part", func(f *os.File) (*meta, error) {
		return writePartData(ctx, f, u, n, body, opts)
	})
}

// writePartData streams a part's bytes into f and returns its metadata.
func writePartData(ctx context.Context, f *os.File, u *upload, n int, body io.Reader, opts backends.PartOptions) (*meta, error) {
	md, cs := md5.New(), u.alg().New()
	size, err := copyBody(ctx, f, io.MultiWriter(md, cs), body, opts.Size)
	if err != nil {
		return nil, err
	}
	m := &meta{
		Version:  footerVersion,
		Key:      u.Key,
		Size:     size,
		ETag:     hex.EncodeToString(md.Sum(nil)),
		Modified: time.Now().UnixNano(),
		Checksum: backends.Checksum{Algorithm: string(u.alg()), Value: base64.StdEncoding.EncodeToString(cs.Sum(nil))},
		Part:     n,
	}
	// Only now: a trailing checksum is set when the body ends.
	if c := opts.Checksum; c != nil && c.Value != "" {
		if !strings.EqualFold(c.Algorithm, m.Checksum.Algorithm) {
			return nil, backends.ErrChecksumAlgorithm
		}
		if c.Value != m.Checksum.Value {
			return nil, backends.ErrBadDigest
		}
	}
	return m, nil
}

func partInfo(m *meta) backends.PartInfo {
	return backends.PartInfo{
		Number:       m.Part,
		ETag:         m.ETag,
		Size:         m.Size,
		LastModified: time.Unix(0, m.Modified).UTC(),
		Checksum:     m.Checksum,
	}
}

// readPart reads the footer of part n of an upload.
func (s *Store) readPart(bucket, id string, n int) (*meta, error) {
	f, err := s.root.Open(uploadPath(bucket, id) + "/" + partName(n))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := readFooter(f)
	if err == nil && m.Part != n {
		err = fmt.Errorf("%w: part %d holds part %d", errCorrupt, n, m.Part)
	}
	return m, err
}

// partNumbers lists the numbers of an upload's parts, ascending.
func (s *Store) partNumbers(bucket, id string) ([]int, error) {
	d, err := s.root.Open(uploadPath(bucket, id))
	if err != nil {
		if notExist(err) {
			return nil, backends.ErrNoSuchUpload
		}
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, name := range names {
		if n, ok := parsePartName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// ListParts reads the upload directory's part names and the footers of
// the parts on the page.
func (s *Store) ListParts(ctx context.Context, bucket, key, id string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	u, err := s.loadUpload(bucket, key, id)
	if err != nil {
		return backends.PartsPage{}, err
	}
	page := backends.PartsPage{Upload: u.info(id)}
	if opts.MaxParts <= 0 {
		return page, nil
	}
	nums, err := s.partNumbers(bucket, id)
	if err != nil {
		return page, err
	}
	i, _ := slices.BinarySearch(nums, opts.PartNumberMarker+1)
	nums = nums[i:]
	if len(nums) > opts.MaxParts {
		nums, page.IsTruncated = nums[:opts.MaxParts], true
	}
	for _, n := range nums {
		m, err := s.readPart(bucket, id, n)
		if notExist(err) {
			return backends.PartsPage{}, backends.ErrNoSuchUpload // aborted or completed meanwhile
		}
		if err != nil {
			return backends.PartsPage{}, err
		}
		page.Parts = append(page.Parts, partInfo(m))
	}
	if len(nums) > 0 {
		page.NextPartNumberMarker = nums[len(nums)-1]
	}
	return page, nil
}
