package s3

import (
	"context"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3gate/s3gate/backends"
)

// maxPage is S3's largest listing page.
const maxPage = 1000

// decodeName undoes encoding-type=url (listings ask for it so that keys
// with bytes XML cannot carry survive): percent escapes, and "+" for a
// space as S3 writes it. Servers that ignore the request say so by not
// echoing the encoding type; their names come as they are.
func decodeName(v *string, enc types.EncodingType) (string, bool) {
	if enc != types.EncodingTypeUrl {
		return aws.ToString(v), true
	}
	s, err := url.QueryUnescape(aws.ToString(v))
	return s, err == nil
}

// item is one entry of a listing page: an object or upload, or a common
// prefix.
type item struct {
	name   string
	prefix bool
	obj    *backends.ObjectInfo
	upload *backends.UploadInfo
}

// mergePage joins a backend page's entries (each list sorted) in name
// order, drops the common prefix equal to the marker (the contract skips
// a marker that is a common prefix returned before; S3 would list it
// again), and cuts the page at limit.
func mergePage(objs, cps []item, marker string, limit int, truncated bool) ([]item, bool) {
	all := make([]item, 0, len(objs)+len(cps))
	i, j := 0, 0
	for i < len(objs) || j < len(cps) {
		if j == len(cps) || i < len(objs) && objs[i].name <= cps[j].name {
			all = append(all, objs[i])
			i++
			continue
		}
		if cps[j].name != marker {
			all = append(all, cps[j])
		}
		j++
	}
	if len(all) > limit {
		return all[:limit], true
	}
	return all, truncated
}

// ListObjects lists a bucket through ListObjectsV2, the mapping's prefix
// added to the request and removed from the answer. StartAfter and
// MaxKeys map to start-after and max-keys (one more, in case the marker's
// common prefix comes back).
func (s *Store) ListObjects(ctx context.Context, bucket string, opts backends.ListOptions) (backends.ListPage, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.ListPage{}, err
	}
	return s.listObjects(ctx, l, opts)
}

func (s *Store) listObjects(ctx context.Context, l loc, opts backends.ListOptions) (backends.ListPage, error) {
	limit := opts.MaxKeys
	after := opts.StartAfter
	lead, err := s.leadPrefix(ctx, l, opts)
	if err != nil {
		return backends.ListPage{}, err
	}
	for {
		in := &s3sdk.ListObjectsV2Input{
			Bucket:       aws.String(l.bucket),
			Prefix:       nonEmpty(l.prefix + opts.Prefix),
			Delimiter:    nonEmpty(opts.Delimiter),
			MaxKeys:      aws.Int32(int32(min(max(limit, 0)+1, maxPage))),
			EncodingType: types.EncodingTypeUrl,
		}
		switch {
		case after != "":
			in.StartAfter = aws.String(l.key(after))
		case l.prefixed():
			in.StartAfter = aws.String(l.marker()) // skip the marker itself
		}
		cctx, cancel := s.call(ctx, 1)
		out, err := s.client.ListObjectsV2(cctx, in)
		cancel()
		if err != nil {
			return backends.ListPage{}, s.objectErr(ctx, l, mapErr(ctx, err))
		}
		var objs, cps []item
		for _, o := range out.Contents {
			k, ok := decodeName(o.Key, out.EncodingType)
			if !ok {
				continue
			}
			k, ok = strings.CutPrefix(k, l.prefix)
			if !ok || k == "" {
				continue
			}
			info := backends.ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), ETag: unquote(o.ETag), LastModified: aws.ToTime(o.LastModified)}
			info.PartsCount = partsFromETag(info.ETag)
			if len(o.ChecksumAlgorithm) > 0 {
				info.Checksum = backends.Checksum{Algorithm: string(o.ChecksumAlgorithm[0]), Type: string(o.ChecksumType)}
			}
			objs = append(objs, item{name: k, obj: &info})
		}
		for _, cp := range out.CommonPrefixes {
			p, ok := decodeName(cp.Prefix, out.EncodingType)
			if !ok {
				continue
			}
			if p, ok = strings.CutPrefix(p, l.prefix); ok && p != "" {
				cps = append(cps, item{name: p, prefix: true})
			}
		}
		if limit <= 0 {
			if len(objs)+len(cps) == 0 {
				return backends.ListPage{}, s.checkMarker(ctx, l)
			}
			return backends.ListPage{}, nil
		}
		if lead != "" && (len(cps) == 0 || cps[0].name != lead) {
			cps = append([]item{{name: lead, prefix: true}}, cps...)
		}
		lead = ""
		items, truncated := mergePage(objs, cps, opts.StartAfter, limit, aws.ToBool(out.IsTruncated))
		if len(items) == 0 && truncated {
			// Only the marker's own common prefix came back: go on after
			// the backend's last entry.
			last := lastName(objs, cps)
			if last == "" || last == after {
				return backends.ListPage{}, nil
			}
			after = last
			continue
		}
		var page backends.ListPage
		for _, it := range items {
			if it.prefix {
				page.CommonPrefixes = append(page.CommonPrefixes, it.name)
			} else {
				page.Objects = append(page.Objects, *it.obj)
			}
		}
		if truncated && len(items) > 0 {
			page.IsTruncated = true
			page.NextStartAfter = items[len(items)-1].name
		}
		if len(items) == 0 && l.prefixed() {
			return page, s.checkMarker(ctx, l)
		}
		return page, nil
	}
}

// leadPrefix returns the common prefix that holds StartAfter, when
// StartAfter lies strictly inside it and keys after StartAfter remain in
// it: S3 lists that prefix first, but some servers (versitygw) skip every
// prefix before StartAfter.
func (s *Store) leadPrefix(ctx context.Context, l loc, opts backends.ListOptions) (string, error) {
	if opts.Delimiter == "" || opts.StartAfter == "" || opts.MaxKeys <= 0 {
		return "", nil
	}
	rest, ok := strings.CutPrefix(opts.StartAfter, opts.Prefix)
	i := strings.Index(rest, opts.Delimiter)
	if !ok || i < 0 {
		return "", nil
	}
	cp := opts.Prefix + rest[:i+len(opts.Delimiter)]
	if cp == opts.StartAfter {
		return "", nil
	}
	cctx, cancel := s.call(ctx, 1)
	defer cancel()
	out, err := s.client.ListObjectsV2(cctx, &s3sdk.ListObjectsV2Input{Bucket: aws.String(l.bucket),
		Prefix: aws.String(l.key(cp)), StartAfter: aws.String(l.key(opts.StartAfter)), MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", s.objectErr(ctx, l, mapErr(ctx, err))
	}
	if len(out.Contents) == 0 {
		return "", nil
	}
	return cp, nil
}

func lastName(a, b []item) string {
	last := ""
	if len(a) > 0 {
		last = a[len(a)-1].name
	}
	if len(b) > 0 && b[len(b)-1].name > last {
		last = b[len(b)-1].name
	}
	return last
}

// ListMultipartUploads lists a bucket's uploads through the backend's,
// the mapping's prefix added and removed as for ListObjects.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	l, err := s.bucket(bucket)
	if err != nil {
		return backends.UploadsPage{}, err
	}
	return s.listUploads(ctx, l, opts)
}

func (s *Store) listUploads(ctx context.Context, l loc, opts backends.ListUploadsOptions) (backends.UploadsPage, error) {
	limit := opts.MaxUploads
	keyMarker, idMarker := opts.KeyMarker, opts.UploadIDMarker
	for {
		in := &s3sdk.ListMultipartUploadsInput{
			Bucket:       aws.String(l.bucket),
			Prefix:       nonEmpty(l.prefix + opts.Prefix),
			Delimiter:    nonEmpty(opts.Delimiter),
			MaxUploads:   aws.Int32(int32(min(max(limit, 0)+1, maxPage))),
			EncodingType: types.EncodingTypeUrl,
		}
		var ups, cps []item
		if keyMarker != "" {
			in.KeyMarker = aws.String(l.key(keyMarker))
			if idMarker != "" {
				// Servers differ on upload-id-marker (versitygw refuses
				// every one): take the marker key's later uploads from a
				// listing of that key, and the rest from key-marker alone.
				rest, err := s.uploadsAfter(ctx, l, keyMarker, idMarker)
				if err != nil {
					return backends.UploadsPage{}, err
				}
				ups = rest
			}
		}
		cctx, cancel := s.call(ctx, 1)
		out, err := s.client.ListMultipartUploads(cctx, in)
		cancel()
		if err != nil {
			return backends.UploadsPage{}, s.objectErr(ctx, l, mapErr(ctx, err))
		}
		for _, u := range out.Uploads {
			k, ok := decodeName(u.Key, out.EncodingType)
			if !ok {
				continue
			}
			if k, ok = strings.CutPrefix(k, l.prefix); !ok || k == "" {
				continue
			}
			ups = append(ups, uploadItem(k, u))
		}
		for _, cp := range out.CommonPrefixes {
			p, ok := decodeName(cp.Prefix, out.EncodingType)
			if !ok {
				continue
			}
			if p, ok = strings.CutPrefix(p, l.prefix); ok && p != "" {
				cps = append(cps, item{name: p, prefix: true})
			}
		}
		if limit <= 0 {
			if len(ups)+len(cps) == 0 {
				return backends.UploadsPage{}, s.checkMarker(ctx, l)
			}
			return backends.UploadsPage{}, nil
		}
		marker := ""
		if opts.UploadIDMarker == "" {
			marker = opts.KeyMarker
		}
		items, truncated := mergePage(ups, cps, marker, limit, aws.ToBool(out.IsTruncated))
		if len(items) == 0 && truncated {
			last := lastName(ups, cps)
			if last == "" || last == keyMarker {
				return backends.UploadsPage{}, nil
			}
			keyMarker, idMarker = last, ""
			if len(ups) > 0 && ups[len(ups)-1].name == last {
				idMarker = ups[len(ups)-1].upload.UploadID
			}
			continue
		}
		var page backends.UploadsPage
		for _, it := range items {
			if it.prefix {
				page.CommonPrefixes = append(page.CommonPrefixes, it.name)
			} else {
				page.Uploads = append(page.Uploads, *it.upload)
			}
		}
		if truncated && len(items) > 0 {
			last := items[len(items)-1]
			page.IsTruncated = true
			page.NextKeyMarker = last.name
			if last.upload != nil {
				page.NextUploadIDMarker = last.upload.UploadID
			}
		}
		if len(items) == 0 && l.prefixed() {
			return page, s.checkMarker(ctx, l)
		}
		return page, nil
	}
}

func uploadItem(key string, u types.MultipartUpload) item {
	st := uploadSettingsOf(string(u.ChecksumAlgorithm), string(u.ChecksumType))
	return item{name: key, upload: &backends.UploadInfo{Key: key, UploadID: aws.ToString(u.UploadId),
		Initiated: aws.ToTime(u.Initiated), ChecksumAlgorithm: st.alg, ChecksumType: st.typ, ChecksumDefault: st.deflt}}
}

// uploadsAfter lists the uploads of key that come after upload id in the
// backend's order (none if id is not one of them).
func (s *Store) uploadsAfter(ctx context.Context, l loc, key, id string) ([]item, error) {
	var all []item
	in := &s3sdk.ListMultipartUploadsInput{Bucket: aws.String(l.bucket), Prefix: aws.String(l.key(key)),
		MaxUploads: aws.Int32(maxPage), EncodingType: types.EncodingTypeUrl}
	for {
		cctx, cancel := s.call(ctx, 1)
		out, err := s.client.ListMultipartUploads(cctx, in)
		cancel()
		if err != nil {
			return nil, s.objectErr(ctx, l, mapErr(ctx, err))
		}
		done := !aws.ToBool(out.IsTruncated)
		for _, u := range out.Uploads {
			k, ok := decodeName(u.Key, out.EncodingType)
			if !ok || k != l.key(key) {
				// The key itself sorts before every longer key.
				done = true
				break
			}
			all = append(all, uploadItem(key, u))
		}
		if done || out.NextKeyMarker == nil {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	for i, it := range all {
		if it.upload.UploadID == id {
			return all[i+1:], nil
		}
	}
	return nil, nil
}
