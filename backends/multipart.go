package backends

import (
	"context"
	"io"
	"time"
)

// Multipart is the multipart-upload half of the Backend contract. Parts
// stream to storage like PutObject bodies (a part commits only at a clean
// io.EOF); the object appears only at CompleteMultipartUpload, atomically,
// and an upload survives a restart of s3gate until it is completed or
// aborted.
type Multipart interface {
	// CreateMultipartUpload starts an upload and returns its id.
	CreateMultipartUpload(ctx context.Context, bucket, key string, opts UploadOptions) (string, error)
	// UploadPart stores (or replaces) part number n of an upload.
	UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, opts PartOptions) (PartInfo, error)
	// CompleteMultipartUpload assembles the listed parts, in order, into
	// the object and removes the upload. Each listed part must have been
	// uploaded with the listed ETag (and checksum, when the upload has an
	// algorithm and the part lists one), else ErrInvalidPart; numbers must
	// ascend, and run 1, 2, 3... when the client chose the checksum
	// algorithm, as S3 requires (ErrInvalidPartOrder); every part but the
	// last must be at least MinPartSize (ErrEntityTooSmall). The part
	// errors come as a *PartError naming the part. The object's ETag is the MD5 of the
	// parts' binary MD5s, hex, with "-N" for N parts; its checksum is
	// derived from the parts' checksums without re-reading the data: of
	// the upload's algorithm and type, or for an upload without one a
	// CRC64NVME FULL_OBJECT checksum (S3's default). opts.IfMatch and
	// opts.IfNoneMatch are checked and the object committed atomically,
	// as PutObject does. A completion retried after it succeeded (its
	// answer lost) succeeds again with the same parts, as long as the key
	// still holds the object it made.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart, opts CompleteOptions) (ObjectInfo, error)
	// AbortMultipartUpload removes an upload and its parts.
	//
	// Every method but CreateMultipartUpload returns ErrNoSuchUpload for an
	// upload that does not exist (or was started for another key), and
	// ErrNoSuchBucket when the bucket is missing.
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	// ListParts lists an upload's parts in ascending order.
	ListParts(ctx context.Context, bucket, key, uploadID string, opts ListPartsOptions) (PartsPage, error)
	// ListMultipartUploads lists a bucket's uploads in progress, by key
	// (UTF-8 binary order) and then by initiation time.
	ListMultipartUploads(ctx context.Context, bucket string, opts ListUploadsOptions) (UploadsPage, error)
}

// Checksum types.
const (
	ChecksumFullObject = "FULL_OBJECT"
	ChecksumComposite  = "COMPOSITE"
)

// UploadOptions are what CreateMultipartUpload fixes for the object to be.
type UploadOptions struct {
	ContentHeaders
	Metadata map[string]string
	Tags     map[string]string
	// ChecksumAlgorithm and ChecksumType, when set, hold for every part
	// and for the object. The gateway validates the combination (see
	// checksum.Algorithm.Supports); an algorithm without a type gets S3's
	// default type for it.
	ChecksumAlgorithm string
	ChecksumType      string
	// ChecksumDefault marks an algorithm s3gate chose because the client
	// named none (CRC64NVME, FULL_OBJECT, as S3 does): parts need not
	// carry checksums, nor Complete list them. Options naming no
	// algorithm at all are taken as that default.
	ChecksumDefault bool
}

// PartOptions carry what UploadPart stores besides the body.
type PartOptions struct {
	// Size is the body's length; -1 when unknown.
	Size int64
	// Checksum, when not nil, is the checksum the client sent for the
	// part, set by the body before it returns io.EOF (as
	// PutOptions.Checksum); leave it zero when the client sent none. The
	// backend computes the part's checksum itself in the upload's
	// algorithm (CRC64NVME for an upload without one): a client checksum
	// of another algorithm is ErrChecksumAlgorithm, another value
	// ErrBadDigest.
	Checksum *Checksum
	// ContentMD5 is the Content-MD5 the client sent for the part (base64),
	// if any; as PutOptions.ContentMD5.
	ContentMD5 string
}

// PartInfo describes one uploaded part.
type PartInfo struct {
	Number       int
	ETag         string // hex MD5 of the part, unquoted
	Size         int64
	LastModified time.Time
	// Checksum is the part's digest (Algorithm and Value; no Type) in the
	// upload's algorithm, or CRC64NVME for an upload without one.
	Checksum Checksum
}

// CompletedPart is one entry of a CompleteMultipartUpload request.
type CompletedPart struct {
	Number int
	ETag   string // unquoted
	// Checksum is the base64 value the client lists for the part, if any.
	Checksum string
}

// CompleteOptions are the conditions and checks of a completion.
type CompleteOptions struct {
	IfMatch     string
	IfNoneMatch string
	// Checksum, when set, is the whole object's checksum the client
	// declared (FULL_OBJECT uploads; for COMPOSITE ones with or without
	// the "-N"); a mismatch is ErrBadDigest.
	Checksum string
}

// ListPartsOptions select one page of ListParts. MaxParts 0 returns no
// parts, only the upload's description (a cheap existence check).
type ListPartsOptions struct {
	PartNumberMarker int // parts after this number
	// MaxParts bounds the page; 0 returns an empty, untruncated page.
	MaxParts int
}

// UploadInfo describes an upload in progress. Its checksum fields are
// UploadOptions', after defaults: ChecksumAlgorithm is always set.
type UploadInfo struct {
	Key               string
	UploadID          string
	Initiated         time.Time
	ChecksumAlgorithm string
	ChecksumType      string
	ChecksumDefault   bool
}

// PartsPage is one page of ListParts.
type PartsPage struct {
	Upload      UploadInfo
	Parts       []PartInfo
	IsTruncated bool
	// NextPartNumberMarker is the last part's number on the page (0 for
	// none); when IsTruncated, the next page starts after it.
	NextPartNumberMarker int
}

// ListUploadsOptions select one page of ListMultipartUploads.
type ListUploadsOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker and UploadIDMarker resume after an upload: uploads of
	// keys after KeyMarker, and of KeyMarker itself after UploadIDMarker
	// (all of KeyMarker's when UploadIDMarker is empty are skipped).
	// As with ListOptions.StartAfter, a KeyMarker that is a common prefix
	// returned by an earlier page skips the keys under it.
	KeyMarker      string
	UploadIDMarker string
	// MaxUploads bounds uploads plus common prefixes; 0 returns an empty,
	// untruncated page.
	MaxUploads int
}

// UploadsPage is one page of ListMultipartUploads.
type UploadsPage struct {
	Uploads        []UploadInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextKeyMarker and NextUploadIDMarker are the last upload's key and
	// id on the page, or the last common prefix and "" if that came last;
	// when IsTruncated, the next page starts after them.
	NextKeyMarker      string
	NextUploadIDMarker string
}
