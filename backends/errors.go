package backends

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends return (or wrap) these; the gateway maps each to
// its S3 error code and status.
var (
	ErrNoSuchBucket     = errors.New("no such bucket")
	ErrBucketExists     = errors.New("bucket already exists")
	ErrBucketNotEmpty   = errors.New("bucket not empty")
	ErrInvalidBucket    = errors.New("invalid bucket name")
	ErrNoSuchKey        = errors.New("no such key")
	ErrInvalidKey       = errors.New("invalid object key")
	ErrKeyTooLong       = errors.New("object key too long")
	ErrInvalidRange     = errors.New("requested range not satisfiable")
	ErrNotModified      = errors.New("not modified")
	ErrPreconditionFail = errors.New("precondition failed")
	// ErrIncompleteBody: the body ended before the declared size.
	ErrIncompleteBody = errors.New("body shorter than declared size")
	// ErrSizeMismatch: the body ran past the declared size.
	ErrSizeMismatch = errors.New("body longer than declared size")

	// Multipart uploads.
	ErrNoSuchUpload      = errors.New("no such upload")
	ErrInvalidPart       = errors.New("a listed part was not uploaded, or its ETag or checksum differs")
	ErrInvalidPartOrder  = errors.New("parts are not listed in ascending order")
	ErrEntityTooSmall    = errors.New("a part other than the last is smaller than the minimum part size")
	ErrInvalidPartNumber = errors.New("no such part")
	// ErrBadDigest: a checksum the client declared does not match.
	ErrBadDigest = errors.New("checksum mismatch")
	// ErrChecksumAlgorithm: a part's checksum is not of the upload's
	// algorithm (S3's InvalidRequest "Checksum Type mismatch occurred").
	ErrChecksumAlgorithm = errors.New("checksum algorithm differs from the upload's")

	// ErrBackendUnavailable: the storage behind s3gate failed (a 5xx, a
	// timeout, a broken connection) after the retries an idempotent call
	// allows. The gateway answers 503 SlowDown, which clients retry.
	ErrBackendUnavailable = errors.New("storage backend unavailable")

	// ErrReservedKey: the key lies under a prefix s3gate keeps for its own
	// objects (image variants); clients may not write there.
	ErrReservedKey = errors.New("key under a prefix reserved for s3gate's own objects")
)

// PartError names the part a completion failed on. It wraps
// ErrInvalidPart or ErrEntityTooSmall (errors.Is matches those), so the
// gateway can add S3's details: PartNumber, ETag, ProposedSize.
type PartError struct {
	Err    error
	Number int
	// ETag is the part's ETag as the request listed it.
	ETag string
	// Size is the stored part's size (for ErrEntityTooSmall).
	Size int64
}

func (e *PartError) Error() string { return fmt.Sprintf("part %d: %v", e.Number, e.Err) }

func (e *PartError) Unwrap() error { return e.Err }

// MinPartSize is S3's smallest part, the last one excepted.
const MinPartSize = 5 << 20

// MaxParts is S3's largest part number.
const MaxParts = 10000

// MaxKeyLength is S3's limit on an object key, in bytes of UTF-8.
const MaxKeyLength = 1024
