package backends

import (
	"context"
	"errors"
)

// Copier is implemented by backends that copy within themselves without
// the bytes passing through s3gate (S3's CopyObject and UploadPartCopy).
// The gateway streams GET -> PUT through s3gate when a backend is not a
// Copier, or when a Copier answers ErrCopyUnsupported (the source and the
// destination live on different backends, say).
type Copier interface {
	CopyObject(ctx context.Context, src, dst ObjectRef, opts CopyOptions) (ObjectInfo, error)
	// CopyPart makes part n of an upload of dst from src, or from the
	// range rng of it.
	CopyPart(ctx context.Context, src ObjectRef, rng *Range, dst ObjectRef, uploadID string, n int, opts CopyOptions) (PartInfo, error)
}

// ObjectRef names an object.
type ObjectRef struct {
	Bucket, Key string
}

// CopyOptions describe a copy.
type CopyOptions struct {
	// Conditions apply to the source (x-amz-copy-source-if-*); a failed one
	// is ErrPreconditionFail.
	Conditions Conditions
	// ReplaceMetadata takes ContentHeaders and Metadata from here instead
	// of the source; ReplaceTags likewise Tags.
	ReplaceMetadata bool
	ContentHeaders
	Metadata    map[string]string
	ReplaceTags bool
	Tags        map[string]string
	// ChecksumAlgorithm is the algorithm of the copy's checksum; "" keeps
	// the source's.
	ChecksumAlgorithm string
}

// ErrCopyUnsupported says a Copier cannot do this copy itself; the caller
// streams it instead.
var ErrCopyUnsupported = errors.New("copy not supported within the backend")
