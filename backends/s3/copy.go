package s3

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
)

// copySource renders x-amz-copy-source: bucket/key, every byte of the key
// but unreserved ones and "/" percent-encoded.
func copySource(l loc, key string) *string {
	const hex = "0123456789ABCDEF"
	k := l.key(key)
	var b strings.Builder
	b.WriteString(l.bucket)
	b.WriteByte('/')
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return aws.String(b.String())
}

// copyErr reads a copy's failure: NotImplemented means the backend cannot
// copy this itself, and the gateway streams it instead.
func copyErr(err error) error {
	if errors.Is(err, errNotImplemented) {
		return backends.ErrCopyUnsupported
	}
	return err
}

// CopyObject copies within the backend (CopyObject), so the bytes never
// pass through s3gate: every gateway bucket of a Store lives in the same
// backend.
func (s *Store) CopyObject(ctx context.Context, src, dst backends.ObjectRef, opts backends.CopyOptions) (backends.ObjectInfo, error) {
	sl, err := s.bucket(src.Bucket)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	dl, err := s.bucket(dst.Bucket)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := backends.CheckKey(src.Key); err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := backends.CheckKey(dst.Key); err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := s.checkMarker(ctx, dl); err != nil {
		return backends.ObjectInfo{}, err
	}
	c := opts.Conditions
	in := &s3sdk.CopyObjectInput{
		Bucket:                      aws.String(dl.bucket),
		Key:                         aws.String(dl.key(dst.Key)),
		CopySource:                  copySource(sl, src.Key),
		CopySourceIfMatch:           etagList(c.IfMatch),
		CopySourceIfNoneMatch:       etagList(c.IfNoneMatch),
		CopySourceIfModifiedSince:   timeOrNil(c.IfModifiedSince),
		CopySourceIfUnmodifiedSince: timeOrNil(c.IfUnmodifiedSince),
		MetadataDirective:           types.MetadataDirectiveCopy,
		TaggingDirective:            types.TaggingDirectiveCopy,
	}
	var extra []func(*s3sdk.Options)
	if opts.ReplaceMetadata {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.Metadata = opts.Metadata
		in.ContentType = contentType(opts.ContentType)
		in.ContentEncoding = nonEmpty(opts.ContentEncoding)
		in.ContentDisposition = nonEmpty(opts.ContentDisposition)
		in.ContentLanguage = nonEmpty(opts.ContentLanguage)
		in.CacheControl = nonEmpty(opts.CacheControl)
		if opts.Expires != "" {
			extra = append(extra, withHeader("Expires", opts.Expires))
		}
	}
	if opts.ReplaceTags {
		in.TaggingDirective = types.TaggingDirectiveReplace
		in.Tagging = aws.String(encodeTags(opts.Tags))
	}
	if opts.ChecksumAlgorithm != "" {
		in.ChecksumAlgorithm = types.ChecksumAlgorithm(strings.ToUpper(opts.ChecksumAlgorithm))
	}
	cctx, cancel := s.call(ctx, copyTimeoutFactor)
	defer cancel()
	out, err := s.client.CopyObject(cctx, in, extra...)
	if err != nil {
		return backends.ObjectInfo{}, copyErr(s.objectErr(ctx, sl, mapErr(ctx, err)))
	}
	info := backends.ObjectInfo{Key: dst.Key}
	if r := out.CopyObjectResult; r != nil {
		info.ETag, info.LastModified = unquote(r.ETag), aws.ToTime(r.LastModified)
		info.Checksum = checksumOf(sums{&r.ChecksumCRC32, &r.ChecksumCRC32C, &r.ChecksumCRC64NVME, &r.ChecksumSHA1, &r.ChecksumSHA256}, string(r.ChecksumType))
		info.PartsCount = partsFromETag(info.ETag)
	}
	// The answer has no size or headers: read them back (best effort).
	if head, err := s.head(ctx, dl, dst.Key, backends.GetOptions{Conditions: backends.Conditions{IfMatch: info.ETag}}); err == nil {
		if head.Checksum.IsZero() {
			head.Checksum = info.Checksum
		}
		info = head
	}
	return info, nil
}

// CopyPart makes a part from (a range of) an object with UploadPartCopy.
func (s *Store) CopyPart(ctx context.Context, src backends.ObjectRef, rng *backends.Range, dst backends.ObjectRef, uploadID string, n int, opts backends.CopyOptions) (backends.PartInfo, error) {
	sl, err := s.bucket(src.Bucket)
	if err != nil {
		return backends.PartInfo{}, err
	}
	dl, err := s.bucket(dst.Bucket)
	if err != nil {
		return backends.PartInfo{}, err
	}
	if err := backends.CheckKey(src.Key); err != nil {
		return backends.PartInfo{}, err
	}
	if err := backends.CheckKey(dst.Key); err != nil {
		return backends.PartInfo{}, backends.ErrNoSuchUpload
	}
	// The source's size resolves the range and gives the part's size.
	head, err := s.head(ctx, sl, src.Key, backends.GetOptions{})
	if err != nil {
		return backends.PartInfo{}, err
	}
	cr := backends.ContentRange{Start: 0, End: head.Size - 1, Size: head.Size}
	if rng != nil {
		if cr, err = rng.Resolve(head.Size); err != nil {
			return backends.PartInfo{}, err
		}
	}
	c := opts.Conditions
	in := &s3sdk.UploadPartCopyInput{
		Bucket:                      aws.String(dl.bucket),
		Key:                         aws.String(dl.key(dst.Key)),
		UploadId:                    aws.String(uploadID),
		PartNumber:                  aws.Int32(int32(n)),
		CopySource:                  copySource(sl, src.Key),
		CopySourceIfMatch:           etagList(c.IfMatch),
		CopySourceIfNoneMatch:       etagList(c.IfNoneMatch),
		CopySourceIfModifiedSince:   timeOrNil(c.IfModifiedSince),
		CopySourceIfUnmodifiedSince: timeOrNil(c.IfUnmodifiedSince),
	}
	if rng != nil && head.Size > 0 {
		in.CopySourceRange = aws.String(backends.Range{Start: cr.Start, End: cr.End}.String())
	}
	cctx, cancel := s.call(ctx, copyTimeoutFactor)
	defer cancel()
	out, err := s.client.UploadPartCopy(cctx, in)
	if err != nil {
		return backends.PartInfo{}, copyErr(s.objectErr(ctx, dl, mapErr(ctx, err)))
	}
	p := backends.PartInfo{Number: n, Size: cr.Length()}
	if head.Size == 0 {
		p.Size = 0
	}
	if r := out.CopyPartResult; r != nil {
		p.ETag, p.LastModified = unquote(r.ETag), aws.ToTime(r.LastModified)
		p.Checksum = partChecksum(sums{&r.ChecksumCRC32, &r.ChecksumCRC32C, &r.ChecksumCRC64NVME, &r.ChecksumSHA1, &r.ChecksumSHA256})
	}
	return p, nil
}
