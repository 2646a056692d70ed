package backends

import "errors"

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
)

// MaxKeyLength is S3's limit on an object key, in bytes of UTF-8.
const MaxKeyLength = 1024
