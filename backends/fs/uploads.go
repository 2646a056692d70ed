package fs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

const (
	// uploadsDir holds multipart uploads in progress:
	// uploads/<bucket>/<upload id>/.
	uploadsDir = "uploads"
	// uploadFile, in an upload directory, is its descriptor.
	uploadFile    = "upload.json"
	partSuffix    = ".part"
	uploadVersion = 1
)

var errCorruptUpload = errors.New("fs: corrupt upload descriptor")

// idEncoding keeps byte order in string order (base32hex), and is URL-safe.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// uploadIDLen is the length of an upload id: 8 bytes of initiation time
// and 16 random ones, encoded.
var uploadIDLen = idEncoding.EncodedLen(8 + 16)

// newUploadID returns an unguessable id (128 random bits) that sorts, as
// a string, by initiation time: S3 lists a key's uploads in initiation
// order and resumes after the upload-id-marker by string order, and this
// makes the two agree.
func newUploadID(t time.Time) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
	b = append(b, make([]byte, 16)...)
	rand.Read(b[8:])
	return idEncoding.EncodeToString(b)
}

// validUploadID reports whether id could be one newUploadID made; only
// such ids ever become a path component.
func validUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'V') {
			return false
		}
	}
	_, err := idEncoding.DecodeString(id)
	return err == nil
}

func uploadsPath(bucket string) string    { return uploadsDir + "/" + bucket }
func uploadPath(bucket, id string) string { return uploadsPath(bucket) + "/" + id }

// partName is the file of part n: zero-padded, so names sort by number.
func partName(n int) string { return fmt.Sprintf("%05d%s", n, partSuffix) }

// parsePartName returns the part number of a part file name.
func parsePartName(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, partSuffix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > backends.MaxParts || partName(n) != name {
		return 0, false
	}
	return n, true
}

// upload is an upload's descriptor, written once when it is created.
type upload struct {
	Version   int    `json:"v"`
	Key       string `json:"key"`
	Initiated int64  `json:"initiated"` // Unix nanoseconds
	backends.ContentHeaders
	Metadata          map[string]string `json:"meta,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	ChecksumAlgorithm string            `json:"checksumAlgorithm,omitempty"`
	ChecksumType      string            `json:"checksumType,omitempty"`
	ChecksumDefault   bool              `json:"checksumDefault,omitempty"`
}

// alg is the algorithm every part's checksum is computed in. Uploads get
// one when created; CRC64NVME (S3's default) stands in for a missing one.
func (u *upload) alg() checksum.Algorithm {
	if u.ChecksumAlgorithm == "" {
		return checksum.CRC64NVME
	}
	return checksum.Algorithm(u.ChecksumAlgorithm)
}

// typ is the type of the object's checksum.
func (u *upload) typ() string {
	if u.ChecksumAlgorithm == "" || u.ChecksumType == "" {
		return u.alg().DefaultType()
	}
	return u.ChecksumType
}

func (u *upload) info(id string) backends.UploadInfo {
	return backends.UploadInfo{
		Key:               u.Key,
		UploadID:          id,
		Initiated:         time.Unix(0, u.Initiated).UTC(),
		ChecksumAlgorithm: string(u.alg()),
		ChecksumType:      u.typ(),
		ChecksumDefault:   u.ChecksumDefault,
	}
}

// CreateMultipartUpload prepares the upload directory (with its
// descriptor) in tmp and renames it into place, holding the bucket lock
// shared so the bucket cannot be deleted meanwhile.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts backends.UploadOptions) (string, error) {
	if err := backends.CheckKey(key); err != nil {
		return "", err
	}
	if !backends.ValidBucketName(bucket) {
		return "", backends.ErrNoSuchBucket
	}
	now := time.Now()
	u := &upload{
		Version:        uploadVersion,
		Key:            key,
		Initiated:      now.UnixNano(),
		ContentHeaders: opts.ContentHeaders,
		Metadata:       opts.Metadata,
		Tags:           nonEmpty(opts.Tags),
	}
	switch alg, ok := checksum.Parse(opts.ChecksumAlgorithm); {
	case ok:
		u.ChecksumAlgorithm, u.ChecksumType, u.ChecksumDefault = string(alg), opts.ChecksumType, opts.ChecksumDefault
		if u.ChecksumType == "" {
			u.ChecksumType = alg.DefaultType()
		}
		if !alg.Supports(u.ChecksumType) {
			return "", fmt.Errorf("fs: checksum type %q is not allowed for %s", u.ChecksumType, alg)
		}
	case opts.ChecksumAlgorithm == "" && opts.ChecksumType == "":
		u.ChecksumAlgorithm, u.ChecksumType, u.ChecksumDefault = string(checksum.CRC64NVME), checksum.FullObject, true
	default:
		return "", fmt.Errorf("fs: checksum algorithm %q, type %q", opts.ChecksumAlgorithm, opts.ChecksumType)
	}
	desc, err := json.Marshal(u)
	if err != nil {
		return "", err
	}
	tmp := tempName(".upload")
	if err := s.root.Mkdir(tmp, 0o700); err != nil {
		return "", err
	}
	defer s.root.RemoveAll(tmp) // a no-op once renamed
	if err := s.writeFile(tmp+"/"+uploadFile, desc); err != nil {
		return "", err
	}
	if err := s.syncDir(tmp); err != nil {
		return "", err
	}
	bl := s.bucketLock(bucket)
	bl.RLock()
	defer bl.RUnlock()
	if err := s.checkBucket(bucket); err != nil {
		return "", err
	}
	switch err := s.root.Mkdir(uploadsPath(bucket), 0o700); {
	case err == nil:
		if err := s.syncDir(uploadsDir); err != nil {
			return "", err
		}
	case !errors.Is(err, fs.ErrExist):
		return "", err
	}
	id := newUploadID(now)
	if err := s.root.Rename(tmp, uploadPath(bucket, id)); err != nil {
		return "", err
	}
	return id, s.syncDir(uploadsPath(bucket))
}

// loadUpload reads the descriptor of upload id, which must be for key.
func (s *Store) loadUpload(bucket, key, id string) (*upload, error) {
	if !backends.ValidBucketName(bucket) {
		return nil, backends.ErrNoSuchBucket
	}
	if err := backends.CheckKey(key); err != nil {
		return nil, err
	}
	if !validUploadID(id) {
		return nil, backends.ErrNoSuchUpload
	}
	u, err := s.readUpload(bucket, id)
	if notExist(err) {
		if err := s.checkBucket(bucket); err != nil {
			return nil, err
		}
		return nil, backends.ErrNoSuchUpload
	}
	if err != nil {
		return nil, err
	}
	if u.Key != key {
		return nil, backends.ErrNoSuchUpload
	}
	return u, nil
}

func (s *Store) readUpload(bucket, id string) (*upload, error) {
	b, err := s.root.ReadFile(uploadPath(bucket, id) + "/" + uploadFile)
	if err != nil {
		return nil, err
	}
	u := new(upload)
	if err := json.Unmarshal(b, u); err != nil || u.Version != uploadVersion {
		return nil, fmt.Errorf("%w %s/%s: %v", errCorruptUpload, bucket, id, err)
	}
	return u, nil
}

// AbortMultipartUpload removes the upload directory: renamed into tmp in
// one step (so no part can commit into it after), then removed there.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, id string) error {
	defer s.uploadLocks.lock(id)()
	if _, err := s.loadUpload(bucket, key, id); err != nil {
		return err
	}
	gone, err := s.unlinkUpload(bucket, id)
	if err != nil {
		return err
	}
	return s.root.RemoveAll(gone)
}

// unlinkUpload renames an upload directory into tmp and returns its new
// path; the caller holds the upload's lock. A directory already gone (its
// bucket deleted meanwhile) is ErrNoSuchUpload.
func (s *Store) unlinkUpload(bucket, id string) (string, error) {
	tmp := tempName(".gone")
	if err := s.root.Rename(uploadPath(bucket, id), tmp); err != nil {
		if notExist(err) {
			return "", backends.ErrNoSuchUpload
		}
		return "", err
	}
	return tmp, s.syncDir(uploadsPath(bucket))
}

// reconcileUploads runs at Open, before any request: it removes the
// uploads of buckets that no longer exist (a DeleteBucket cut short) and
// uploads whose object already carries their id (a completion cut short
// between the object's rename and the upload's removal).
func (s *Store) reconcileUploads() error {
	buckets, err := s.readDirNames(uploadsDir)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if !backends.ValidBucketName(b) {
			continue
		}
		if err := s.checkBucket(b); errors.Is(err, backends.ErrNoSuchBucket) {
			if err := s.discard(uploadsPath(b)); err != nil {
				return err
			}
			continue
		}
		ids, err := s.readDirNames(uploadsPath(b))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if !validUploadID(id) {
				continue
			}
			u, err := s.readUpload(b, id)
			if notExist(err) || (err == nil && s.completedFrom(b, u.Key, id)) {
				err = s.discard(uploadPath(b, id))
			}
			// A damaged descriptor is left for an operator to look at.
			if err != nil && !errors.Is(err, errCorruptUpload) {
				return err
			}
		}
	}
	return nil
}

// completedFrom reports whether the object at key was completed from
// upload id.
func (s *Store) completedFrom(bucket, key, id string) bool {
	if backends.CheckKey(key) != nil {
		return false
	}
	f, err := s.root.Open(mapKey(bucket, key).file)
	if err != nil {
		return false
	}
	defer f.Close()
	m, err := readFooter(f)
	return err == nil && m.Key == key && m.Upload == id
}

// discard renames path into tmp and removes it there, so a crash midway
// leaves nothing half-removed in place.
func (s *Store) discard(path string) error {
	tmp := tempName(".gone")
	if err := s.root.Rename(path, tmp); err != nil {
		return err
	}
	return s.root.RemoveAll(tmp)
}

// readDirNames lists a directory; a missing one is empty.
func (s *Store) readDirNames(path string) ([]string, error) {
	d, err := s.root.Open(path)
	if notExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// keyedMutex holds one mutex per name in use, so a long completion locks
// its own upload only.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

// lock locks name and returns the unlock function.
func (k *keyedMutex) lock(name string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*refMutex)
	}
	e := k.m[name]
	if e == nil {
		e = new(refMutex)
		k.m[name] = e
	}
	e.refs++
	k.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, name)
		}
		k.mu.Unlock()
	}
}
