package s3

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
)

// objectMeta is what GET and HEAD answers have in common.
type objectMeta struct {
	etag          *string
	lastModified  *time.Time
	contentLength *int64
	contentRange  *string
	partsCount    *int32
	tagCount      *int32
	metadata      map[string]string
	headers       backends.ContentHeaders
	sums          sums
	checksumType  types.ChecksumType
}

func (m objectMeta) info(key string, opts backends.GetOptions) (backends.ObjectInfo, *backends.ContentRange) {
	info := backends.ObjectInfo{
		Key:            key,
		Size:           aws.ToInt64(m.contentLength),
		ETag:           unquote(m.etag),
		LastModified:   aws.ToTime(m.lastModified),
		ContentHeaders: m.headers,
		Metadata:       m.metadata,
		TagCount:       int(aws.ToInt32(m.tagCount)),
		PartsCount:     int(aws.ToInt32(m.partsCount)),
	}
	if n := partsFromETag(info.ETag); n > 0 {
		info.PartsCount = n
	} else {
		info.PartsCount = 0
	}
	var rng *backends.ContentRange
	if cr, ok := parseContentRange(aws.ToString(m.contentRange)); ok {
		rng = &cr
		info.Size = cr.Size
	}
	// A part's answer carries the part's checksum, not the object's;
	// part 1 of an object written in one PUT is the object.
	if opts.PartNumber == 0 || info.PartsCount == 0 {
		info.Checksum = checksumOf(m.sums, string(m.checksumType))
	}
	if opts.PartNumber > 0 && rng != nil {
		pr := *rng
		info.PartRange = &pr
	}
	if len(info.Metadata) == 0 {
		info.Metadata = nil
	}
	info.ContentEncoding = withoutChunked(info.ContentEncoding)
	if info.ContentType == defaultContentType {
		info.ContentType = "" // see contentType
	}
	return info, rng
}

// parseContentRange reads "bytes a-b/size".
func parseContentRange(v string) (backends.ContentRange, bool) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return backends.ContentRange{}, false
	}
	span, total, ok := strings.Cut(spec, "/")
	if !ok {
		return backends.ContentRange{}, false
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return backends.ContentRange{}, false
	}
	a, err1 := strconv.ParseInt(first, 10, 64)
	b, err2 := strconv.ParseInt(last, 10, 64)
	n, err3 := strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || a > b || b >= n {
		return backends.ContentRange{}, false
	}
	return backends.ContentRange{Start: a, End: b, Size: n}, true
}

// HeadObject forwards the conditions and part number to the backend and
// always asks for the stored checksum.
func (s *Store) HeadObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.ObjectInfo{}, err
	}
	return s.head(ctx, l, key, opts)
}

// head reads an object's description and evaluates the read conditions
// against it, as S3 defines them (backends.Conditions.Check): servers
// differ on ETag lists, on the precedence of the date conditions and on
// comparing dates at one-second resolution.
func (s *Store) head(ctx context.Context, l loc, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	info, err := s.headRaw(ctx, l, key, opts)
	if err != nil {
		return info, err
	}
	if err := opts.Conditions.Check(info.ETag, info.LastModified); err != nil {
		return backends.ObjectInfo{}, err
	}
	return info, nil
}

func (s *Store) headRaw(ctx context.Context, l loc, key string, opts backends.GetOptions) (backends.ObjectInfo, error) {
	in := &s3sdk.HeadObjectInput{
		Bucket:       aws.String(l.bucket),
		Key:          aws.String(l.key(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if opts.PartNumber > 0 {
		in.PartNumber = aws.Int32(int32(opts.PartNumber))
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.HeadObject(cctx, in)
	if err != nil {
		return backends.ObjectInfo{}, s.readErr(ctx, l, err, opts, true)
	}
	info, _ := objectMeta{
		etag: out.ETag, lastModified: out.LastModified, contentLength: out.ContentLength, contentRange: out.ContentRange,
		partsCount: out.PartsCount, tagCount: out.TagCount, metadata: out.Metadata,
		headers: backends.ContentHeaders{ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentLanguage: aws.ToString(out.ContentLanguage),
			CacheControl: aws.ToString(out.CacheControl), Expires: aws.ToString(out.ExpiresString)},
		sums:         sums{&out.ChecksumCRC32, &out.ChecksumCRC32C, &out.ChecksumCRC64NVME, &out.ChecksumSHA1, &out.ChecksumSHA256},
		checksumType: out.ChecksumType,
	}.info(key, opts)
	return info, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return aws.Time(t)
}

// readErr classifies a failed GET or HEAD: a part number past the last
// part is ErrInvalidPartNumber, and a 404 in a bucket that is gone is
// ErrNoSuchBucket.
func (s *Store) readErr(ctx context.Context, l loc, err error, opts backends.GetOptions, head bool) error {
	err = mapErr(ctx, err)
	if opts.PartNumber > 0 && (errors.Is(err, backends.ErrInvalidRange) || errors.Is(err, backends.ErrInvalidPartNumber)) {
		return classify(backends.ErrInvalidPartNumber, err)
	}
	if head && errors.Is(err, backends.ErrNoSuchKey) && !l.prefixed() {
		// A HEAD's 404 has no body to tell a missing key from a missing
		// bucket.
		if herr := s.headBucket(ctx, l); errors.Is(herr, backends.ErrNoSuchBucket) {
			return herr
		}
		return err
	}
	return s.objectErr(ctx, l, err)
}

// GetObject returns the backend's body as it comes, with the range and
// part number resolved by the backend. Read conditions are evaluated on
// the object's description (HEAD) and the GET is then pinned to the
// version evaluated with If-Match; an unconditional GET is one request.
// The body's reads are watched: a backend that sends nothing for Timeout
// fails the read.
func (s *Store) GetObject(ctx context.Context, bucket, key string, opts backends.GetOptions) (*backends.Object, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return nil, err
	}
	if err := backends.CheckKey(key); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		pin := ""
		if !opts.Conditions.IsZero() || opts.Range != nil && opts.Range.IsSuffix && opts.Range.Suffix == 0 {
			info, err := s.head(ctx, l, key, backends.GetOptions{Conditions: opts.Conditions, PartNumber: opts.PartNumber})
			if err != nil {
				return nil, err
			}
			if opts.PartNumber == 0 && opts.Range != nil && opts.Range.IsSuffix && opts.Range.Suffix == 0 {
				return nil, backends.ErrInvalidRange // "bytes=-0" selects nothing
			}
			pin = info.ETag
		}
		obj, err := s.get(ctx, l, key, opts, pin)
		if pin != "" && errors.Is(err, backends.ErrPreconditionFail) && attempt < 3 {
			continue // replaced since the HEAD: evaluate again
		}
		return obj, err
	}
}

func (s *Store) get(ctx context.Context, l loc, key string, opts backends.GetOptions, pin string) (*backends.Object, error) {
	in := &s3sdk.GetObjectInput{
		Bucket:       aws.String(l.bucket),
		Key:          aws.String(l.key(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if pin != "" {
		in.IfMatch = quote(pin)
	}
	switch {
	case opts.PartNumber > 0:
		in.PartNumber = aws.Int32(int32(opts.PartNumber))
	case opts.Range != nil:
		in.Range = aws.String(opts.Range.String())
	}
	cctx, cancel := context.WithCancel(ctx)
	w := newWatchdog(s.timeout, cancel)
	out, err := s.client.GetObject(cctx, in, noResponseValidation)
	w.pause()
	if err != nil {
		cancel()
		return nil, s.readErr(ctx, l, err, opts, false)
	}
	info, rng := objectMeta{
		etag: out.ETag, lastModified: out.LastModified, contentLength: out.ContentLength, contentRange: out.ContentRange,
		partsCount: out.PartsCount, tagCount: out.TagCount, metadata: out.Metadata,
		headers: backends.ContentHeaders{ContentType: aws.ToString(out.ContentType), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentLanguage: aws.ToString(out.ContentLanguage),
			CacheControl: aws.ToString(out.CacheControl), Expires: aws.ToString(out.ExpiresString)},
		sums:         sums{&out.ChecksumCRC32, &out.ChecksumCRC32C, &out.ChecksumCRC64NVME, &out.ChecksumSHA1, &out.ChecksumSHA256},
		checksumType: out.ChecksumType,
	}.info(key, opts)
	if opts.PartNumber == 0 && opts.Range == nil {
		rng = nil
	}
	body := &getBody{rc: out.Body, w: w, cancel: cancel}
	if opts.Range != nil && opts.PartNumber == 0 && rng == nil {
		// The backend answered the whole object (some do for a range
		// covering all of it): report the range S3 would, and cut the
		// body to it if it is less.
		cr, err := opts.Range.Resolve(info.Size)
		if err != nil {
			body.Close()
			return nil, err
		}
		rng = &cr
		if cr.Start > 0 {
			if _, err := io.CopyN(io.Discard, body, cr.Start); err != nil {
				body.Close()
				return nil, err
			}
		}
		if cr.Length() < info.Size-cr.Start {
			return &backends.Object{Info: info, Range: rng, Body: limitedBody{io.LimitReader(body, cr.Length()), body}}, nil
		}
	}
	return &backends.Object{Info: info, Range: rng, Body: body}, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// getBody is a GET's body straight from the backend's connection.
type getBody struct {
	rc     io.ReadCloser
	w      *watchdog
	cancel context.CancelFunc
}

func (b *getBody) Read(p []byte) (int, error) {
	b.w.resume()
	n, err := b.rc.Read(p)
	b.w.pause()
	if err != nil && err != io.EOF {
		err = errors.Join(backends.ErrBackendUnavailable, err)
	}
	return n, err
}

func (b *getBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel()
	return err
}
