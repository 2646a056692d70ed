// Package backends defines the storage contract every s3gate backend
// implements: the Backend interface, the option and result types that cross
// it, and the sentinel errors the gateway maps to S3 error codes.
//
// Implementations live in subpackages (backends/fs, and later backends/s3);
// the shared acceptance suite that each of them must pass lives in
// backends/backendtest. This package imports only the standard library.
package backends

import (
	"context"
	"io"
	"time"
)

// Backend stores buckets and objects. Every method streams: object bodies
// pass through as readers and are never held whole in memory.
//
// A PutObject commits only when body returns io.EOF. Any other error from
// body (a failed signature or checksum, a client that went away) aborts the
// write: the key keeps whatever it held before, and the error is returned
// unchanged so the caller can report it.
type Backend interface {
	ListBuckets(ctx context.Context) ([]BucketInfo, error)
	// CreateBucket returns ErrBucketExists if the bucket is already there.
	CreateBucket(ctx context.Context, bucket string) error
	HeadBucket(ctx context.Context, bucket string) (BucketInfo, error)
	// DeleteBucket returns ErrBucketNotEmpty if any object remains.
	// Multipart uploads in progress do not keep a bucket alive (as in S3):
	// they are removed with it.
	DeleteBucket(ctx context.Context, bucket string) error

	PutObject(ctx context.Context, bucket, key string, body io.Reader, opts PutOptions) (ObjectInfo, error)
	// GetObject evaluates opts.Conditions against the stored object before
	// any byte is sent and resolves opts.Range against its size.
	GetObject(ctx context.Context, bucket, key string, opts GetOptions) (*Object, error)
	// HeadObject is GetObject without the body; opts.Range is ignored,
	// opts.PartNumber is not (see ObjectInfo.PartRange).
	HeadObject(ctx context.Context, bucket, key string, opts GetOptions) (ObjectInfo, error)
	// DeleteObject succeeds when the key does not exist (S3 deletes are
	// idempotent) but fails with ErrNoSuchBucket for a missing bucket.
	// With opts.IfMatch it deletes only the object with that ETag: a
	// mismatch is ErrPreconditionFail, a missing key ErrNoSuchKey, and the
	// check and the delete are atomic.
	DeleteObject(ctx context.Context, bucket, key string, opts DeleteOptions) error
	// ListObjects returns keys in UTF-8 binary order.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListPage, error)

	// GetObjectTagging returns an object's tags (empty, not nil, when it
	// has none).
	GetObjectTagging(ctx context.Context, bucket, key string) (map[string]string, error)
	// PutObjectTagging replaces an object's tags; nil or empty removes
	// them. The object's bytes, ETag and LastModified do not change.
	PutObjectTagging(ctx context.Context, bucket, key string, tags map[string]string) error

	Multipart

	// Capabilities says what optional behaviour the backend supports for
	// a bucket. The gateway answers NotImplemented for the rest rather
	// than emulate it behind the client's back.
	Capabilities(bucket string) Capabilities
}

// Capabilities declares what optional behaviour a backend supports, so the
// gateway and the acceptance suite know which cases apply.
type Capabilities struct {
	// ConditionalWrites: PutOptions.IfMatch / IfNoneMatch and
	// CompleteOptions' conditions are honoured atomically.
	ConditionalWrites bool
	// ConditionalDeletes: DeleteOptions.IfMatch is honoured atomically.
	ConditionalDeletes bool

	// Limits are where the backend falls short of S3.
	Limits Limits
}

// Limits are where a backend that stores through another service (such
// as backends/s3 in front of a file-system-based S3 server) falls short
// of S3. The zero value claims none: the acceptance suite tests each
// behaviour unless its limit is declared.
type Limits struct {
	// PathKeys: keys map onto file-system paths, so not every set of S3
	// keys can coexist: "a" and "a/b" cannot both exist, a key ending in
	// "/" holds no bytes, and keys with empty, "." or ".." segments, NUL
	// bytes or segments over 255 bytes are refused (ErrInvalidKey). Writes
	// racing deletes of keys (or of the bucket) in the same "directory"
	// may fail.
	PathKeys bool
	// NoListTagCounts: ListObjects leaves TagCount zero (S3's own
	// listings carry no tag counts).
	NoListTagCounts bool
	// NoObjectParts: GetOptions.WithParts leaves ObjectInfo.Parts empty.
	NoObjectParts bool
	// NoDefaultPartChecksums: the parts of an upload created without a
	// checksum algorithm carry no checksum (ListParts lists none), and
	// CompleteMultipartUpload of such an upload checks neither the part
	// checksums listed nor a declared whole-object checksum.
	NoDefaultPartChecksums bool
	// RacyComplete: CompleteMultipartUpload is not atomic with an
	// UploadPart or AbortMultipartUpload of the same upload racing it.
	RacyComplete bool
	// RacyReads: a GetObject racing an overwrite of its key may return
	// the bytes of one version with the description (ETag, size) of
	// another; the bytes themselves are always one whole version.
	RacyReads bool
}

// BucketInfo describes one bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ContentHeaders are the standard HTTP headers S3 stores with an object and
// returns on GET and HEAD.
type ContentHeaders struct {
	ContentType        string `json:"contentType,omitempty"`
	ContentEncoding    string `json:"contentEncoding,omitempty"`
	ContentDisposition string `json:"contentDisposition,omitempty"`
	ContentLanguage    string `json:"contentLanguage,omitempty"`
	CacheControl       string `json:"cacheControl,omitempty"`
	Expires            string `json:"expires,omitempty"`
}

// ObjectInfo is what a backend knows about a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag is the entity tag without quotes: the hex MD5 of the body for
	// objects written in one PUT.
	ETag         string
	LastModified time.Time
	ContentHeaders
	// Metadata holds user metadata (x-amz-meta-*) with lower-case names and
	// without the prefix.
	Metadata map[string]string
	// Checksum is the additional checksum stored with the object, if any.
	Checksum Checksum
	// TagCount is the number of tags the object carries.
	TagCount int
	// PartsCount is the number of parts of an object completed from a
	// multipart upload, 0 for one written in one PUT.
	PartsCount int
	// PartRange is the byte range of the part GetOptions.PartNumber
	// selected (GetObject's Object.Range is the same); nil otherwise, and
	// for an empty object.
	PartRange *ContentRange
	// Parts describes each part; filled only when GetOptions.WithParts
	// asks for it.
	Parts []PartInfo
}

// Checksum is an object's additional checksum, as S3's x-amz-checksum-*
// headers carry it.
type Checksum struct {
	// Algorithm as S3 spells it: CRC32, CRC32C, CRC64NVME, SHA1, SHA256.
	Algorithm string `json:"algorithm,omitempty"`
	// Value is the base64 digest.
	Value string `json:"value,omitempty"`
	// Type is FULL_OBJECT (a digest of the whole object) or COMPOSITE (a
	// digest of part digests, from multipart uploads).
	Type string `json:"type,omitempty"`
}

// IsZero reports whether no checksum is set.
func (c Checksum) IsZero() bool { return c.Value == "" }

// PutOptions carry what a PUT stores besides the body.
type PutOptions struct {
	// Size is the body's length, or -1 when unknown. A body that ends
	// before or runs past a known size fails with ErrIncompleteBody or
	// ErrSizeMismatch and commits nothing.
	Size int64
	ContentHeaders
	Metadata map[string]string
	// IfMatch commits only if the current object's ETag matches;
	// IfNoneMatch ("*") commits only if no object exists. The check and the
	// commit are atomic.
	IfMatch     string
	IfNoneMatch string
	// Tags are stored with the object (x-amz-tagging).
	Tags map[string]string
	// Checksum, when not nil, is stored with the object once it is set.
	// The gateway verifies it as the body streams and, when the client
	// sends it as a trailer, fills it in only just before the body returns
	// io.EOF: read its Value after the body ended, never before. Its
	// Algorithm (and Type) may be set before the body is read, when the
	// caller knows which checksum it will store (the gateway always
	// does): a backend that must name the algorithm before it sends a
	// body it streams on (backends/s3) relies on that.
	Checksum *Checksum
	// ContentMD5 is the Content-MD5 the client sent (base64), if any. The
	// gateway verifies it as the body streams; a backend may pass it on
	// so that the service behind it checks the body too.
	ContentMD5 string
}

// DeleteOptions are the preconditions of a delete.
type DeleteOptions struct {
	IfMatch string
}

// GetOptions select what part of an object to read and when.
type GetOptions struct {
	Range      *Range
	Conditions Conditions
	// PartNumber selects one part of an object written by a multipart
	// upload (1-based, the part's position in the object; 0: the whole
	// object). For an object written in one PUT, part 1 is the whole
	// object. A part that does not exist is ErrInvalidPartNumber. It
	// excludes Range: when both are set, Range is ignored. The selected
	// bytes are returned as a range (Object.Range, ObjectInfo.PartRange),
	// which S3 answers with 206 and Content-Range.
	PartNumber int
	// WithParts fills ObjectInfo.Parts.
	WithParts bool
}

// Object is an open object body. The caller must Close it.
type Object struct {
	Info ObjectInfo
	// Range is the resolved byte range being returned (of GetOptions.Range
	// or PartNumber), nil for the whole object.
	Range *ContentRange
	Body  io.ReadCloser
}

// ListOptions select one page of a bucket listing.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// StartAfter skips every key <= StartAfter. When StartAfter is itself a
	// common prefix returned by an earlier page, the keys under it are
	// skipped too, so pages resume after a rolled-up prefix.
	StartAfter string
	// MaxKeys bounds objects plus common prefixes; 0 returns an empty,
	// untruncated page (S3's answer to max-keys=0).
	MaxKeys int
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextStartAfter is the last key or common prefix of this page, set
	// when IsTruncated.
	NextStartAfter string
}
