package fs

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

// CompleteMultipartUpload holds the upload's lock throughout, so no part
// is replaced and no abort or other completion runs meanwhile. It checks
// the listed parts against their footers, derives the ETag and checksum
// from the recorded digests, concatenates the parts' data into a new
// object file in tmp (io.Copy between files: copy_file_range, no bytes
// through user space), appends the parts table and the footer, and
// commits like a PUT. Under the key lock, right after the rename, the
// upload directory is moved into tmp, so no other write of the key can
// slip in between; a crash in that window leaves an object whose footer
// names the upload, and Open removes the upload.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, id string, parts []backends.CompletedPart, opts backends.CompleteOptions) (backends.ObjectInfo, error) {
	defer s.uploadLocks.lock(id)()
	u, err := s.loadUpload(bucket, key, id)
	if errors.Is(err, backends.ErrNoSuchUpload) {
		// A retried completion (its answer lost) gets the same answer.
		if info, ok := s.completedAs(bucket, key, id, parts); ok {
			return info, nil
		}
	}
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	recs, err := s.checkParts(u, bucket, id, parts)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	m, err := objectMeta(u, id, recs, opts.Checksum)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	check := s.preconditionsFor(opts.IfMatch, opts.IfNoneMatch)
	if check != nil {
		// Fail before copying; the check under the key lock counts.
		if err := check(mapKey(bucket, key).file); err != nil {
			return backends.ObjectInfo{}, err
		}
	}
	tmp, err := s.assemble(ctx, bucket, id, recs, m)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	var gone string
	var goneErr error
	err = s.commit(ctx, bucket, key, tmp, check, func() { gone, goneErr = s.unlinkUpload(bucket, id) })
	if err != nil {
		s.root.Remove(tmp)
		return backends.ObjectInfo{}, err
	}
	// The object is committed whatever happens to the upload now; one
	// that could not be unlinked is removed by the next Open.
	if goneErr == nil {
		s.root.RemoveAll(gone)
	}
	return m.info(), nil
}

// completedAs reports whether the object at key was completed from upload
// id with exactly these parts, and returns its info if so.
func (s *Store) completedAs(bucket, key, id string, parts []backends.CompletedPart) (backends.ObjectInfo, bool) {
	f, err := s.root.Open(mapKey(bucket, key).file)
	if err != nil {
		return backends.ObjectInfo{}, false
	}
	defer f.Close()
	m, err := readFooter(f)
	if err != nil || m.Key != key || m.Upload != id || m.Parts != len(parts) {
		return backends.ObjectInfo{}, false
	}
	for i, p := range parts {
		r, err := readPartRec(f, m, i)
		if err != nil || r.Number != p.Number || !strings.EqualFold(hex.EncodeToString(r.MD5[:]), unquote(p.ETag)) {
			return backends.ObjectInfo{}, false
		}
	}
	return m.info(), true
}

func unquote(etag string) string { return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`) }

// checkParts vets the completion's part list against the parts stored and
// returns their records, with offsets in the object to be.
func (s *Store) checkParts(u *upload, bucket, id string, parts []backends.CompletedPart) ([]partRec, error) {
	if len(parts) == 0 {
		return nil, backends.ErrInvalidPart
	}
	// Parts that carry checksums of an algorithm the client chose must
	// run 1, 2, 3... (S3's rule).
	consecutive := !u.ChecksumDefault
	for i, p := range parts {
		switch {
		case p.Number < 1 || p.Number > backends.MaxParts:
			return nil, partErr(backends.ErrInvalidPart, p, 0)
		case i > 0 && p.Number <= parts[i-1].Number:
			return nil, backends.ErrInvalidPartOrder
		case consecutive && p.Number != i+1:
			return nil, backends.ErrInvalidPartOrder
		}
	}
	recs := make([]partRec, len(parts))
	var off int64
	for i, p := range parts {
		m, err := s.readPart(bucket, id, p.Number)
		if notExist(err) {
			return nil, partErr(backends.ErrInvalidPart, p, 0)
		}
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(unquote(p.ETag), m.ETag) || (p.Checksum != "" && p.Checksum != m.Checksum.Value) {
			return nil, partErr(backends.ErrInvalidPart, p, m.Size)
		}
		if i < len(parts)-1 && m.Size < backends.MinPartSize {
			return nil, partErr(backends.ErrEntityTooSmall, p, m.Size)
		}
		r := partRec{Number: p.Number, Size: m.Size, Offset: off}
		sum, err1 := hex.DecodeString(m.ETag)
		digest, err2 := base64.StdEncoding.DecodeString(m.Checksum.Value)
		if err1 != nil || len(sum) != md5.Size || err2 != nil || len(digest) != u.alg().Size() ||
			m.Checksum.Algorithm != string(u.alg()) {
			return nil, fmt.Errorf("%w: part %d footer", errCorrupt, p.Number)
		}
		copy(r.MD5[:], sum)
		r.Sum = digest
		recs[i] = r
		off += m.Size
	}
	return recs, nil
}

func partErr(err error, p backends.CompletedPart, size int64) error {
	return &backends.PartError{Err: err, Number: p.Number, ETag: p.ETag, Size: size}
}

// objectMeta derives the object's footer from the upload and the part
// records: the ETag from the parts' MD5s and the checksum from their
// digests, none of it re-reading data. declared is the whole-object
// checksum the client sent, if any.
func objectMeta(u *upload, id string, recs []partRec, declared string) (*meta, error) {
	md := md5.New()
	cs, err := checksum.NewMultipart(u.alg(), u.typ())
	if err != nil {
		return nil, err
	}
	var size int64
	for _, r := range recs {
		md.Write(r.MD5[:])
		if err := cs.Add(r.Sum, r.Size); err != nil {
			return nil, err
		}
		size += r.Size
	}
	m := &meta{
		Version:        footerVersion,
		Key:            u.Key,
		Size:           size,
		ETag:           hex.EncodeToString(md.Sum(nil)) + "-" + strconv.Itoa(len(recs)),
		Modified:       time.Now().UnixNano(),
		ContentHeaders: u.ContentHeaders,
		Metadata:       u.Metadata,
		Checksum:       backends.Checksum{Algorithm: string(u.alg()), Value: cs.Sum(), Type: u.typ()},
		Tags:           u.Tags,
		Parts:          len(recs),
		Upload:         id,
	}
	if declared != "" && declared != m.Checksum.Value {
		// A COMPOSITE value may be declared without its "-N".
		bare, _, _ := strings.Cut(m.Checksum.Value, "-")
		if u.typ() != checksum.Composite || declared != bare {
			return nil, backends.ErrBadDigest
		}
	}
	return m, nil
}

// assemble writes the object file in tmp: the parts' data, the parts
// table and the footer.
func (s *Store) assemble(ctx context.Context, bucket, id string, recs []partRec, m *meta) (string, error) {
	tmp, _, err := s.writeObjectFile(".mpu", func(f *os.File) (*meta, error) {
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := s.appendPart(f, bucket, id, r); err != nil {
				return nil, err
			}
		}
		recLen, err := m.partRecLen()
		if err != nil {
			return nil, err
		}
		table := make([]byte, 0, len(recs)*recLen)
		for _, r := range recs {
			table = r.append(table)
		}
		_, err = f.Write(table)
		return m, err
	})
	return tmp, err
}

// appendPart copies a part's data region to the end of f. Both are
// *os.File and the source a LimitedReader over one, so io.Copy uses
// copy_file_range.
func (s *Store) appendPart(f *os.File, bucket, id string, r partRec) error {
	pf, err := s.root.Open(uploadPath(bucket, id) + "/" + partName(r.Number))
	if err != nil {
		return err
	}
	defer pf.Close()
	n, err := io.Copy(f, &io.LimitedReader{R: pf, N: r.Size})
	if err == nil && n != r.Size {
		err = fmt.Errorf("%w: part %d is short", errCorrupt, r.Number)
	}
	return err
}
