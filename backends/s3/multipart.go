package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
)

// defaultUpload describes an upload created without an algorithm: S3's
// default, CRC64NVME FULL_OBJECT.
var defaultUpload = uploadSettings{alg: "CRC64NVME", typ: backends.ChecksumFullObject, deflt: true}

// CreateMultipartUpload starts an upload in the backend and passes its id
// through. An upload without a client-chosen algorithm is created without
// one: the backend applies its default.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts backends.UploadOptions) (string, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return "", err
	}
	if err := backends.CheckKey(key); err != nil {
		return "", err
	}
	if err := s.checkMarker(ctx, l); err != nil {
		return "", err
	}
	return s.createUpload(ctx, l, key, opts)
}

func (s *Store) createUpload(ctx context.Context, l loc, key string, opts backends.UploadOptions) (string, error) {
	in := &s3sdk.CreateMultipartUploadInput{
		Bucket:             aws.String(l.bucket),
		Key:                aws.String(l.key(key)),
		Metadata:           opts.Metadata,
		ContentType:        contentType(opts.ContentType),
		ContentEncoding:    nonEmpty(opts.ContentEncoding),
		ContentDisposition: nonEmpty(opts.ContentDisposition),
		ContentLanguage:    nonEmpty(opts.ContentLanguage),
		CacheControl:       nonEmpty(opts.CacheControl),
	}
	if len(opts.Tags) > 0 {
		in.Tagging = aws.String(encodeTags(opts.Tags))
	}
	u := defaultUpload
	if !opts.ChecksumDefault && opts.ChecksumAlgorithm != "" {
		a, ok := checksum.Parse(opts.ChecksumAlgorithm)
		if !ok {
			return "", backends.ErrChecksumAlgorithm
		}
		u = uploadSettings{alg: string(a), typ: opts.ChecksumType}
		if u.typ == "" {
			u.typ = a.DefaultType()
		}
		in.ChecksumAlgorithm = types.ChecksumAlgorithm(u.alg)
		in.ChecksumType = types.ChecksumType(u.typ)
	}
	var extra []func(*s3sdk.Options)
	if opts.Expires != "" {
		extra = append(extra, withHeader("Expires", opts.Expires))
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.CreateMultipartUpload(cctx, in, extra...)
	if err != nil {
		return "", s.objectErr(ctx, l, mapErr(ctx, err))
	}
	id := aws.ToString(out.UploadId)
	s.cacheUpload(id, u)
	return id, nil
}

// settings returns an upload's checksum settings: cached, or from the
// backend's ListParts.
func (s *Store) settings(ctx context.Context, l loc, key, id string) (uploadSettings, error) {
	if u, ok := s.cachedUpload(id); ok {
		return u, nil
	}
	page, err := s.listParts(ctx, l, key, id, backends.ListPartsOptions{})
	if err != nil {
		return uploadSettings{}, err
	}
	up := page.Upload
	return uploadSettings{alg: up.ChecksumAlgorithm, typ: up.ChecksumType, deflt: up.ChecksumDefault}, nil
}

func partSums(in *s3sdk.UploadPartInput) sums {
	return sums{&in.ChecksumCRC32, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ChecksumSHA1, &in.ChecksumSHA256}
}

// UploadPart streams a part to the backend the way PutObject streams an
// object. Its checksum is computed here in the upload's algorithm and, for
// an upload whose client chose the algorithm, forwarded for the backend to
// verify and store.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, body io.Reader, opts backends.PartOptions) (backends.PartInfo, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.PartInfo{}, err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.PartInfo{}, backends.ErrNoSuchUpload
	}
	u, err := s.settings(ctx, l, key, uploadID)
	if err != nil {
		return backends.PartInfo{}, err
	}
	a, _ := checksum.Parse(u.alg)
	if opts.Size < 0 || opts.Size <= inlineMax {
		data, release, err := readPart(body, opts.Size)
		if err != nil {
			return backends.PartInfo{}, err
		}
		defer release()
		h := a.New()
		h.Write(data)
		value := base64.StdEncoding.EncodeToString(h.Sum(nil))
		if err := checkPartChecksum(opts.Checksum, a, value); err != nil {
			return backends.PartInfo{}, err
		}
		return s.uploadPartInline(ctx, l, key, uploadID, n, data, a, value, u.deflt)
	}
	return s.uploadPartStream(ctx, l, key, uploadID, n, body, opts, a, u.deflt)
}

// readPart reads a small part whole; a part of unknown size may take up
// to partSize bytes.
func readPart(body io.Reader, size int64) ([]byte, func(), error) {
	if size >= 0 {
		bp := inlinePool.Get().(*[]byte)
		data, err := readExactly(body, *bp, size)
		if err != nil {
			inlinePool.Put(bp)
			return nil, nil, err
		}
		return data, func() { inlinePool.Put(bp) }, nil
	}
	buf := make([]byte, partSize)
	n, err := io.ReadFull(body, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return buf[:n], func() {}, nil
	case err != nil:
		return nil, nil, err
	}
	src := newSource(body, 0)
	if err := src.confirmEOF(); err != nil {
		if errors.Is(err, backends.ErrSizeMismatch) {
			return nil, nil, errors.New("s3: a part of unknown length may not exceed 8 MiB")
		}
		return nil, nil, err
	}
	return buf, func() {}, nil
}

// checkPartChecksum compares the client's part checksum, if any, with the
// one computed in the upload's algorithm.
func checkPartChecksum(cs *backends.Checksum, a checksum.Algorithm, value string) error {
	if cs == nil || cs.IsZero() {
		return nil
	}
	if !strings.EqualFold(cs.Algorithm, string(a)) {
		return backends.ErrChecksumAlgorithm
	}
	if cs.Value != value {
		return backends.ErrBadDigest
	}
	return nil
}

// uploadPartInline sends a part held in memory, with its MD5 and (unless
// the upload has the backend's default algorithm) its checksum in headers.
// It may be retried.
func (s *Store) uploadPartInline(ctx context.Context, l loc, key, id string, n int, data []byte, a checksum.Algorithm, value string, deflt bool) (backends.PartInfo, error) {
	in := &s3sdk.UploadPartInput{
		Bucket:        aws.String(l.bucket),
		Key:           aws.String(l.key(key)),
		UploadId:      aws.String(id),
		PartNumber:    aws.Int32(int32(n)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	sum := md5.Sum(data)
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	if !deflt {
		partSums(in).set(string(a), value)
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.UploadPart(cctx, in)
	if err != nil {
		return backends.PartInfo{}, s.objectErr(ctx, l, mapErr(ctx, err))
	}
	return backends.PartInfo{Number: n, ETag: unquote(out.ETag), Size: int64(len(data)), LastModified: serverTime(out.ResultMetadata),
		Checksum: backends.Checksum{Algorithm: string(a), Value: value}}, nil
}

func (s *Store) uploadPartStream(ctx context.Context, l loc, key, id string, n int, body io.Reader, opts backends.PartOptions, a checksum.Algorithm, deflt bool) (backends.PartInfo, error) {
	src := newSource(body, opts.Size)
	f := streamChecksum(src, opts.Checksum, string(a), backends.ErrChecksumAlgorithm)
	framed, length, sopt := streamBody(src, f, "")
	in := &s3sdk.UploadPartInput{
		Bucket:        aws.String(l.bucket),
		Key:           aws.String(l.key(key)),
		UploadId:      aws.String(id),
		PartNumber:    aws.Int32(int32(n)),
		ContentLength: aws.Int64(length),
	}
	if opts.ContentMD5 != "" {
		in.ContentMD5 = aws.String(opts.ContentMD5) // checked by the backend too
	}
	var out *s3sdk.UploadPartOutput
	err := s.stream(ctx, src, framed, func(cctx context.Context, b io.Reader) error {
		in.Body = b
		var err error
		out, err = s.client.UploadPart(cctx, in, sopt)
		return err
	})
	if err != nil {
		return backends.PartInfo{}, s.objectErr(ctx, l, err)
	}
	return backends.PartInfo{Number: n, ETag: unquote(out.ETag), Size: opts.Size, LastModified: serverTime(out.ResultMetadata),
		Checksum: backends.Checksum{Algorithm: string(a), Value: f.value}}, nil
}

// CompleteMultipartUpload checks the part list (ascending numbers; 1, 2,
// 3... when the client chose the algorithm) and has the backend assemble
// the object, with the write conditions forwarded.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []backends.CompletedPart, opts backends.CompleteOptions) (backends.ObjectInfo, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.ObjectInfo{}, backends.ErrNoSuchUpload
	}
	u, err := s.settings(ctx, l, key, uploadID)
	if err == nil {
		var info backends.ObjectInfo
		info, err = s.complete(ctx, l, key, uploadID, parts, opts, u)
		if err == nil {
			return info, nil
		}
	}
	if errors.Is(err, backends.ErrNoSuchUpload) {
		// A retried completion (its answer lost) succeeds again while the
		// key holds the object those parts made, as in S3.
		if info, ok := s.completedBefore(ctx, l, key, parts); ok {
			return info, nil
		}
	}
	return backends.ObjectInfo{}, err
}

// completedBefore reports whether key holds the object made of parts (by
// its multipart ETag).
func (s *Store) completedBefore(ctx context.Context, l loc, key string, parts []backends.CompletedPart) (backends.ObjectInfo, bool) {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(b) != md5.Size {
			return backends.ObjectInfo{}, false
		}
		h.Write(b)
	}
	want := hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	info, err := s.headRaw(ctx, l, key, backends.GetOptions{})
	if err != nil || info.ETag != want {
		return backends.ObjectInfo{}, false
	}
	return info, true
}

func (s *Store) complete(ctx context.Context, l loc, key, id string, parts []backends.CompletedPart, opts backends.CompleteOptions, u uploadSettings) (backends.ObjectInfo, error) {
	if len(parts) == 0 {
		return backends.ObjectInfo{}, backends.ErrInvalidPart
	}
	for i, p := range parts {
		if i > 0 && p.Number <= parts[i-1].Number || !u.deflt && p.Number != i+1 {
			return backends.ObjectInfo{}, backends.ErrInvalidPartOrder
		}
	}
	if !u.deflt && slices.ContainsFunc(parts, func(p backends.CompletedPart) bool { return p.Checksum == "" }) {
		// The backend wants every part's checksum; the contract lets
		// the caller list none: take the stored ones.
		have, err := s.allParts(ctx, l, key, id)
		if err != nil {
			return backends.ObjectInfo{}, err
		}
		parts = slices.Clone(parts)
		for i, p := range parts {
			if p.Checksum == "" {
				parts[i].Checksum = have[p.Number].Checksum.Value
			}
		}
	}
	ifMatch, err := s.resolveIfMatch(ctx, l, key, opts.IfMatch)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	opts.IfMatch = ifMatch
	list := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		list[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: quote(strings.Trim(p.ETag, `"`))}
		if !u.deflt && p.Checksum != "" {
			cp := &list[i]
			sums{&cp.ChecksumCRC32, &cp.ChecksumCRC32C, &cp.ChecksumCRC64NVME, &cp.ChecksumSHA1, &cp.ChecksumSHA256}.set(u.alg, p.Checksum)
		}
	}
	in := &s3sdk.CompleteMultipartUploadInput{
		Bucket:          aws.String(l.bucket),
		Key:             aws.String(l.key(key)),
		UploadId:        aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: list},
		IfMatch:         etagList(opts.IfMatch),
		IfNoneMatch:     etagList(opts.IfNoneMatch),
	}
	if opts.Checksum != "" {
		sums{&in.ChecksumCRC32, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME, &in.ChecksumSHA1, &in.ChecksumSHA256}.set(u.alg, opts.Checksum)
		if !u.deflt {
			in.ChecksumType = types.ChecksumType(u.typ)
		}
	}
	var extra []func(*s3sdk.Options)
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		extra = append(extra, oneAttempt)
	}
	cctx, cancel := s.call(ctx, copyTimeoutFactor)
	defer cancel()
	out, err := s.client.CompleteMultipartUpload(cctx, in, extra...)
	if err != nil {
		err = s.objectErr(ctx, l, mapErr(ctx, err))
		if errors.Is(err, backends.ErrInvalidPart) || errors.Is(err, backends.ErrEntityTooSmall) {
			return backends.ObjectInfo{}, s.partError(ctx, l, key, id, parts, u, err)
		}
		return backends.ObjectInfo{}, err
	}
	s.forgetUpload(id)
	info := backends.ObjectInfo{Key: key, ETag: unquote(out.ETag), LastModified: serverTime(out.ResultMetadata),
		PartsCount: len(parts),
		Checksum:   checksumOf(sums{&out.ChecksumCRC32, &out.ChecksumCRC32C, &out.ChecksumCRC64NVME, &out.ChecksumSHA1, &out.ChecksumSHA256}, string(out.ChecksumType))}
	// The answer carries no size: read it (and the rest) back.
	if head, err := s.head(ctx, l, key, backends.GetOptions{Conditions: backends.Conditions{IfMatch: info.ETag}}); err == nil {
		head.PartsCount = max(head.PartsCount, info.PartsCount)
		if head.Checksum.IsZero() {
			head.Checksum = info.Checksum
		}
		info = head
	}
	return info, nil
}

// partError names the part a completion failed on, as the contract asks;
// the backend does not say, so the upload's parts are compared with the
// list.
func (s *Store) partError(ctx context.Context, l loc, key, id string, parts []backends.CompletedPart, u uploadSettings, err error) error {
	have, lerr := s.allParts(ctx, l, key, id)
	if errors.Is(lerr, backends.ErrNoSuchUpload) {
		return lerr // aborted meanwhile
	}
	if lerr != nil {
		return err
	}
	for _, p := range parts {
		h, ok := have[p.Number]
		if !ok || h.ETag != strings.Trim(p.ETag, `"`) || (!u.deflt && p.Checksum != "" && h.Checksum.Value != "" && h.Checksum.Value != p.Checksum) {
			return &backends.PartError{Err: backends.ErrInvalidPart, Number: p.Number, ETag: p.ETag}
		}
	}
	for _, p := range parts[:len(parts)-1] {
		if h := have[p.Number]; h.Size < backends.MinPartSize {
			return &backends.PartError{Err: backends.ErrEntityTooSmall, Number: p.Number, ETag: p.ETag, Size: h.Size}
		}
	}
	return err
}

// allParts lists every part of an upload, by number.
func (s *Store) allParts(ctx context.Context, l loc, key, id string) (map[int]backends.PartInfo, error) {
	have := map[int]backends.PartInfo{}
	opts := backends.ListPartsOptions{MaxParts: 1000}
	for {
		page, err := s.listParts(ctx, l, key, id, opts)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Parts {
			have[p.Number] = p
		}
		if !page.IsTruncated {
			return have, nil
		}
		opts.PartNumberMarker = page.NextPartNumberMarker
	}
}

// AbortMultipartUpload aborts the upload in the backend.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	l, err := s.bucket(bucket)
	if err != nil {
		return err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.ErrNoSuchUpload
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	_, err = s.client.AbortMultipartUpload(cctx, &s3sdk.AbortMultipartUploadInput{
		Bucket: aws.String(l.bucket), Key: aws.String(l.key(key)), UploadId: aws.String(uploadID)})
	if err != nil {
		return s.objectErr(ctx, l, mapErr(ctx, err))
	}
	s.forgetUpload(uploadID)
	return nil
}

// ListParts lists an upload's parts.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.PartsPage{}, err
	}
	if err := backends.CheckKey(key); err != nil {
		return backends.PartsPage{}, backends.ErrNoSuchUpload
	}
	return s.listParts(ctx, l, key, uploadID, opts)
}

func (s *Store) listParts(ctx context.Context, l loc, key, id string, opts backends.ListPartsOptions) (backends.PartsPage, error) {
	in := &s3sdk.ListPartsInput{
		Bucket:   aws.String(l.bucket),
		Key:      aws.String(l.key(key)),
		UploadId: aws.String(id),
		// MaxParts 0 asks for the description only; backends differ on
		// max-parts=0, so ask for one part and drop it.
		MaxParts: aws.Int32(int32(max(1, min(opts.MaxParts, 1000)))),
	}
	if opts.PartNumberMarker > 0 {
		in.PartNumberMarker = aws.String(strconv.Itoa(opts.PartNumberMarker))
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.ListParts(cctx, in)
	if err != nil {
		return backends.PartsPage{}, s.objectErr(ctx, l, mapErr(ctx, err))
	}
	u := uploadSettingsOf(string(out.ChecksumAlgorithm), string(out.ChecksumType))
	s.cacheUpload(id, u)
	page := backends.PartsPage{Upload: backends.UploadInfo{Key: key, UploadID: id,
		ChecksumAlgorithm: u.alg, ChecksumType: u.typ, ChecksumDefault: u.deflt}}
	if opts.MaxParts <= 0 {
		return page, nil
	}
	for _, p := range out.Parts {
		page.Parts = append(page.Parts, backends.PartInfo{
			Number: int(aws.ToInt32(p.PartNumber)), ETag: unquote(p.ETag), Size: aws.ToInt64(p.Size),
			LastModified: aws.ToTime(p.LastModified),
			Checksum:     partChecksum(sums{&p.ChecksumCRC32, &p.ChecksumCRC32C, &p.ChecksumCRC64NVME, &p.ChecksumSHA1, &p.ChecksumSHA256}),
		})
	}
	page.IsTruncated = aws.ToBool(out.IsTruncated)
	if len(page.Parts) > 0 {
		page.NextPartNumberMarker = page.Parts[len(page.Parts)-1].Number
	}
	return page, nil
}

func partChecksum(f sums) backends.Checksum {
	alg, v := f.get()
	return backends.Checksum{Algorithm: alg, Value: v}
}

// uploadSettingsOf reads an upload's algorithm and type as a backend
// reports them; none (or versitygw's "null") is the default.
func uploadSettingsOf(alg, typ string) uploadSettings {
	a, ok := checksum.Parse(strings.ToUpper(alg))
	if !ok {
		return defaultUpload
	}
	if typ == "" || strings.EqualFold(typ, "null") {
		typ = a.DefaultType()
	}
	return uploadSettings{alg: string(a), typ: strings.ToUpper(typ)}
}
