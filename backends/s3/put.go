package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

// inlineMax is the largest body read whole before it is sent: its
// checksum is then known up front (a header), the request can be retried,
// and an empty or failing body never reaches the backend. Larger bodies
// stream.
const inlineMax = 256 << 10

// partSize is the part size of uploads of unknown length.
const partSize = 8 << 20

var inlinePool = sync.Pool{New: func() any { b := make([]byte, inlineMax); return &b }}

// errLateAlgorithm: a checksum whose algorithm was not known before a
// streamed body started cannot be forwarded.
var errLateAlgorithm = errors.New("s3: the body's checksum algorithm must be set in the Checksum before the body is read")

// readExactly reads a whole body of the declared size into buf (which
// must hold size bytes) and confirms it ends there.
func readExactly(r io.Reader, buf []byte, size int64) ([]byte, error) {
	buf = buf[:size]
	switch _, err := io.ReadFull(r, buf); {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return nil, backends.ErrIncompleteBody
	case err != nil:
		return nil, err
	}
	src := newSource(r, size)
	src.n = size
	if err := src.confirmEOF(); err != nil {
		return nil, err
	}
	return buf, nil
}

// putInput fills what a PutObject stores besides the body.
func putInput(l loc, key string, opts backends.PutOptions) (*s3sdk.PutObjectInput, []func(*s3sdk.Options)) {
	in := &s3sdk.PutObjectInput{
		Bucket:             aws.String(l.bucket),
		Key:                aws.String(l.key(key)),
		Metadata:           opts.Metadata,
		IfMatch:            etagList(opts.IfMatch),
		IfNoneMatch:        etagList(opts.IfNoneMatch),
		ContentType:        contentType(opts.ContentType),
		ContentEncoding:    nonEmpty(opts.ContentEncoding),
		ContentDisposition: nonEmpty(opts.ContentDisposition),
		ContentLanguage:    nonEmpty(opts.ContentLanguage),
		CacheControl:       nonEmpty(opts.CacheControl),
	}
	if len(opts.Tags) > 0 {
		in.Tagging = aws.String(encodeTags(opts.Tags))
	}
	var extra []func(*s3sdk.Options)
	if opts.Expires != "" {
		extra = append(extra, withHeader("Expires", opts.Expires))
	}
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		extra = append(extra, oneAttempt)
	}
	return in, extra
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func putSums(in *s3sdk.PutObjectInput) sums {
	return sums{&in.ChecksumCRC32, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ChecksumSHA1, &in.ChecksumSHA256}
}

// PutObject streams body to the backend. Bodies up to inlineMax are read
// first and sent whole; larger ones stream with their final byte held
// back until body ends cleanly; bodies of unknown size become a multipart
// upload when they outgrow one part. See the package documentation.
func (s *Store) PutObject(ctx context.Context, bucket, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := s.checkMarker(ctx, l); err != nil {
		return backends.ObjectInfo{}, err
	}
	if opts.IfMatch, err = s.resolveIfMatch(ctx, l, key, opts.IfMatch); err != nil {
		return backends.ObjectInfo{}, err
	}
	switch {
	case opts.Size < 0:
		return s.putUnknown(ctx, l, key, body, opts)
	case opts.Size <= inlineMax:
		bp := inlinePool.Get().(*[]byte)
		defer inlinePool.Put(bp)
		data, err := readExactly(body, *bp, opts.Size)
		if err != nil {
			return backends.ObjectInfo{}, err
		}
		return s.putInline(ctx, l, key, data, opts)
	}
	return s.putStream(ctx, l, key, body, opts)
}

// putInline sends a body already read whole, with its checksum and MD5 in
// headers; it may be retried.
func (s *Store) putInline(ctx context.Context, l loc, key string, data []byte, opts backends.PutOptions) (backends.ObjectInfo, error) {
	in, extra := putInput(l, key, opts)
	in.Body = bytes.NewReader(data)
	in.ContentLength = aws.Int64(int64(len(data)))
	sum := md5.Sum(data)
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	var want backends.Checksum
	if opts.Checksum != nil && !opts.Checksum.IsZero() {
		want = *opts.Checksum
		putSums(in).set(want.Algorithm, want.Value)
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.PutObject(cctx, in, extra...)
	if err != nil {
		return backends.ObjectInfo{}, s.objectErr(ctx, l, mapErr(ctx, err))
	}
	return putResult(key, int64(len(data)), out, want, opts), nil
}

func putResult(key string, size int64, out *s3sdk.PutObjectOutput, want backends.Checksum, opts backends.PutOptions) backends.ObjectInfo {
	info := backends.ObjectInfo{
		Key: key, Size: size, ETag: unquote(out.ETag), LastModified: serverTime(out.ResultMetadata),
		ContentHeaders: opts.ContentHeaders, Metadata: opts.Metadata, TagCount: len(opts.Tags),
		Checksum: checksumOf(sums{&out.ChecksumCRC32, &out.ChecksumCRC32C, &out.ChecksumCRC64NVME, &out.ChecksumSHA1, &out.ChecksumSHA256}, string(out.ChecksumType)),
	}
	if info.Checksum.IsZero() {
		info.Checksum = want
	}
	return info
}

// forward is the checksum s3gate sends with a streamed body: it hashes the
// bytes as they pass and, at the body's clean end, checks the caller's
// checksum (if it set one) against them, so the trailer carries a value
// both s3gate and the backend verify.
type forward struct {
	alg   checksum.Algorithm
	value string
}

// streamChecksum prepares the checksum of a streamed body. The algorithm
// must be known before the first byte: the caller's Checksum.Algorithm if
// set early, else want (an upload's algorithm), else CRC64NVME (S3's
// default). If the caller's checksum turns out to be of another algorithm,
// the body fails with err.
func streamChecksum(src *source, cs *backends.Checksum, want string, mismatch error) *forward {
	alg := want
	if cs != nil && cs.Algorithm != "" && alg == "" {
		alg = cs.Algorithm
	}
	a, ok := checksum.Parse(alg)
	if !ok {
		a = checksum.CRC64NVME
	}
	f := &forward{alg: a}
	src.h = a.New()
	src.onEOF = func() error {
		f.value = base64.StdEncoding.EncodeToString(src.h.Sum(nil))
		if cs == nil || cs.IsZero() {
			return nil
		}
		if !strings.EqualFold(cs.Algorithm, string(a)) {
			return mismatch
		}
		if cs.Value != f.value {
			return backends.ErrBadDigest
		}
		return nil
	}
	return f
}

// streamBody frames src for the request: aws-chunked, with the checksum
// in a trailer. It returns the body, its Content-Length and the
// SDK options that send it.
func streamBody(src *source, f *forward, contentEncoding string) (io.Reader, int64, func(*s3sdk.Options)) {
	name := f.alg.Header()
	valueLen := base64.StdEncoding.EncodedLen(f.alg.Size())
	enc := "aws-chunked"
	if contentEncoding != "" {
		enc += "," + contentEncoding
	}
	headers := map[string]string{
		"Content-Encoding":             enc,
		"X-Amz-Decoded-Content-Length": strconv.FormatInt(src.size, 10),
		"X-Amz-Trailer":                name,
	}
	body := newChunked(src, name, func() string { return f.value })
	return body, encodedLength(src.size, awsChunkSize, name, valueLen), streamingPayload("STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers)
}

// stream runs a streaming call: the call gets its own context, cancelled
// when the backend stalls for Timeout (watchdog) and when the call
// returns. The caller's body failure, if any, wins over the backend's
// error.
func (s *Store) stream(ctx context.Context, src *source, body io.Reader, call func(context.Context, io.Reader) error) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src.ctx = cctx
	w := newWatchdog(s.timeout, cancel)
	defer w.stop()
	err := call(cctx, &watchedBody{r: body, w: w})
	berr := src.detach()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the caller gave up
	case berr != nil && !errors.Is(berr, context.Canceled):
		return berr // the caller's body failed: its error, unchanged
	}
	return mapErr(ctx, err) // the backend failed, or stalled (watchdog)
}

// putStream sends a body larger than inlineMax as it arrives.
func (s *Store) putStream(ctx context.Context, l loc, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	src := newSource(body, opts.Size)
	// Always framed with a trailing checksum (CRC64NVME when the caller
	// stores none): a server that takes a body cut short as complete
	// (versitygw does, now and then, for a plain Content-Length body)
	// still finds the framing and the checksum broken.
	f := streamChecksum(src, opts.Checksum, "", errLateAlgorithm)
	in, extra := putInput(l, key, opts)
	framed, length, sopt := streamBody(src, f, opts.ContentEncoding)
	in.ContentLength = aws.Int64(length)
	in.ContentEncoding = nil // set with the framing
	if opts.ContentMD5 != "" {
		// The backend checks the client's Content-MD5 too (s3gate has
		// verified it before the final byte leaves).
		in.ContentMD5 = aws.String(opts.ContentMD5)
	}
	var out *s3sdk.PutObjectOutput
	err := s.stream(ctx, src, framed, func(cctx context.Context, b io.Reader) error {
		in.Body = b
		var err error
		out, err = s.client.PutObject(cctx, in, append(extra, sopt)...)
		return err
	})
	if err != nil {
		return backends.ObjectInfo{}, s.objectErr(ctx, l, err)
	}
	want := backends.Checksum{Algorithm: string(f.alg), Value: f.value, Type: backends.ChecksumFullObject}
	return putResult(key, opts.Size, out, want, opts), nil
}

// putUnknown stores a body of unknown length: one PUT if it fits in a part,
// else a multipart upload of partSize parts, at most two of them in memory
// (one uploading, one filling). The upload completes only after the body
// ended cleanly, and is aborted otherwise.
func (s *Store) putUnknown(ctx context.Context, l loc, key string, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	// Most such bodies (browser form uploads) are small: try the pooled
	// buffer before allocating parts.
	bp := inlinePool.Get().(*[]byte)
	defer inlinePool.Put(bp)
	n, err := io.ReadFull(body, *bp)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		opts.Size = int64(n)
		return s.putInline(ctx, l, key, (*bp)[:n], opts)
	case err != nil:
		return backends.ObjectInfo{}, err
	}
	first := make([]byte, partSize)
	copy(first, *bp)
	k, err := io.ReadFull(body, first[n:])
	n += k
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		opts.Size = int64(n)
		return s.putInline(ctx, l, key, first[:n], opts)
	case err != nil:
		return backends.ObjectInfo{}, err
	}
	second := make([]byte, partSize)
	m, err := io.ReadFull(body, second)
	ended := err == io.EOF || err == io.ErrUnexpectedEOF
	switch {
	case err == io.EOF:
		opts.Size = int64(n)
		return s.putInline(ctx, l, key, first, opts)
	case err != nil && !ended:
		return backends.ObjectInfo{}, err
	}
	// More than a part: a multipart upload in the algorithm the checksum
	// will have (known now only if the caller set it early).
	a := checksum.CRC64NVME
	if opts.Checksum != nil {
		if p, ok := checksum.Parse(opts.Checksum.Algorithm); ok {
			a = p
		}
	}
	typ := a.DefaultType()
	if a.Supports(backends.ChecksumFullObject) {
		typ = backends.ChecksumFullObject
	}
	uo := backends.UploadOptions{ContentHeaders: opts.ContentHeaders, Metadata: opts.Metadata, Tags: opts.Tags,
		ChecksumAlgorithm: string(a), ChecksumType: typ}
	id, err := s.createUpload(ctx, l, key, uo)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	info, err := s.uploadParts(ctx, l, key, id, a, typ, [2][]byte{first, second[:m]}, ended, body, opts)
	if err != nil {
		actx, cancel := s.call(context.WithoutCancel(ctx), 1)
		defer cancel()
		s.client.AbortMultipartUpload(actx, &s3sdk.AbortMultipartUploadInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key(key)), UploadId: aws.String(id)})
		s.forgetUpload(id)
		return backends.ObjectInfo{}, err
	}
	return info, nil
}

// uploadParts uploads bufs[0] and bufs[1] (the body's first bytes; ended
// says the body ended after them), then the rest of body, one part
// uploading while the next fills, and completes the upload.
func (s *Store) uploadParts(ctx context.Context, l loc, key, id string, a checksum.Algorithm, typ string, bufs [2][]byte, ended bool, body io.Reader, opts backends.PutOptions) (backends.ObjectInfo, error) {
	whole := a.New()
	var parts []backends.CompletedPart
	var size int64
	var inflight chan error
	wait := func() error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		return err
	}
	start := func(data []byte) error {
		if len(parts) == backends.MaxParts {
			return fmt.Errorf("s3: body of unknown length exceeds %d parts of %d bytes", backends.MaxParts, partSize)
		}
		whole.Write(data)
		h := a.New()
		h.Write(data)
		size += int64(len(data))
		parts = append(parts, backends.CompletedPart{Number: len(parts) + 1})
		cp := &parts[len(parts)-1]
		num, value := cp.Number, base64.StdEncoding.EncodeToString(h.Sum(nil))
		ch := make(chan error, 1)
		inflight = ch
		go func() {
			p, err := s.uploadPartInline(ctx, l, key, id, num, data, a, value, false)
			cp.ETag, cp.Checksum = p.ETag, p.Checksum.Value
			ch <- err
		}()
		return nil
	}
	if err := start(bufs[0]); err != nil {
		return backends.ObjectInfo{}, err
	}
	cur := 1
	for {
		// bufs[cur] holds the next part; the other buffer is uploading.
		if err := wait(); err != nil {
			return backends.ObjectInfo{}, err
		}
		if len(bufs[cur]) > 0 {
			if err := start(bufs[cur]); err != nil {
				return backends.ObjectInfo{}, err
			}
		}
		if ended {
			break
		}
		other := 1 - cur
		n, err := io.ReadFull(body, bufs[other][:cap(bufs[other])])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			ended = true
		case err != nil:
			wait()
			return backends.ObjectInfo{}, err
		}
		bufs[other] = bufs[other][:n]
		cur = other
	}
	if err := wait(); err != nil {
		return backends.ObjectInfo{}, err
	}
	// The body ended cleanly: its checksum is final now.
	var declared string
	if opts.Checksum != nil && !opts.Checksum.IsZero() {
		if !strings.EqualFold(opts.Checksum.Algorithm, string(a)) {
			return backends.ObjectInfo{}, errLateAlgorithm
		}
		ours := base64.StdEncoding.EncodeToString(whole.Sum(nil))
		if opts.Checksum.Value != ours {
			return backends.ObjectInfo{}, backends.ErrBadDigest
		}
		if typ == backends.ChecksumFullObject {
			declared = ours
		}
	}
	info, err := s.complete(ctx, l, key, id, parts, backends.CompleteOptions{IfMatch: opts.IfMatch, IfNoneMatch: opts.IfNoneMatch, Checksum: declared},
		uploadSettings{alg: string(a), typ: typ})
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	info.Size = size
	return info, nil
}

// resolveIfMatch turns a write's If-Match into one every backend checks
// atomically with the commit: "*" and lists become the current object's
// ETag, read first (a missing key is ErrNoSuchKey; no match,
// ErrPreconditionFail); a single ETag goes as it is. The backend still
// decides: an object replaced in between fails the write.
func (s *Store) resolveIfMatch(ctx context.Context, l loc, key, ifMatch string) (string, error) {
	if ifMatch == "" || ifMatch != "*" && !strings.Contains(ifMatch, ",") {
		return ifMatch, nil
	}
	info, err := s.headRaw(ctx, l, key, backends.GetOptions{})
	if err != nil {
		return "", err
	}
	if !backends.ETagListMatches(ifMatch, info.ETag) {
		return "", backends.ErrPreconditionFail
	}
	return info.ETag, nil
}
