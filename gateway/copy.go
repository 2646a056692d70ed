package gateway

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
	"github.com/s3gate/s3gate/processors/events"
)

// maxCopySize is S3's largest CopyObject source; larger objects are copied
// part by part with UploadPartCopy.
const maxCopySize = 5 << 30

// copySource is the object an x-amz-copy-source names.
type copySource struct {
	bucket, key string
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, optionally with "?versionId=". Objects here have one version,
// "null".
func parseCopySource(r *http.Request) (copySource, error) {
	raw := r.Header.Get("X-Amz-Copy-Source")
	path, rawQuery, _ := strings.Cut(raw, "?")
	path, err := url.PathUnescape(path)
	if err != nil {
		return copySource{}, s3Error("InvalidArgument", "Invalid copy source encoding").with("ArgumentName", "x-amz-copy-source")
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return copySource{}, s3Error("InvalidArgument", "Invalid copy source object key").with("ArgumentName", "x-amz-copy-source")
	}
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return copySource{}, s3Error("InvalidArgument", "Invalid copy source").with("ArgumentName", "x-amz-copy-source")
		}
		if v := q.Get("versionId"); v != "" && v != "null" {
			return copySource{}, s3Error("NoSuchVersion").with("Key", key).with("VersionId", v)
		}
	}
	if err := checkKey(key); err != nil {
		return copySource{}, err
	}
	return copySource{bucket: bucket, key: key}, nil
}

// copyConditions reads x-amz-copy-source-if-*. S3 answers every failed
// copy condition with 412, including the ones a GET answers with 304.
func copyConditions(h http.Header) backends.Conditions {
	return backends.Conditions{
		IfMatch:           h.Get("X-Amz-Copy-Source-If-Match"),
		IfNoneMatch:       h.Get("X-Amz-Copy-Source-If-None-Match"),
		IfModifiedSince:   httpTime(h.Get("X-Amz-Copy-Source-If-Modified-Since")),
		IfUnmodifiedSince: httpTime(h.Get("X-Amz-Copy-Source-If-Unmodified-Since")),
	}
}

// openSource opens the copy source (or a range of it) with the request's
// copy conditions.
func (g *Gateway) openSource(r *http.Request, src copySource, rng *backends.Range) (*backends.Object, error) {
	obj, err := g.backend.GetObject(r.Context(), src.bucket, src.key, backends.GetOptions{Range: rng, Conditions: copyConditions(r.Header)})
	if err != nil {
		return nil, copyError(err, src)
	}
	return obj, nil
}

// copyError names the source in errors about it, and turns every failed
// copy condition into 412, as S3 does.
func copyError(err error, src copySource) error {
	switch {
	case errors.Is(err, backends.ErrNotModified), errors.Is(err, backends.ErrPreconditionFail):
		return s3Error("PreconditionFailed")
	case errors.Is(err, backends.ErrNoSuchKey):
		return s3Error("NoSuchKey").with("Key", src.key)
	case errors.Is(err, backends.ErrNoSuchBucket):
		return s3Error("NoSuchBucket").with("BucketName", src.bucket)
	}
	return err
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
	checksumFields
}

// copyObject is CopyObject. The source streams through s3gate into the
// destination with the metadata and tags the directives ask for; the new
// object's checksum is computed as the bytes pass (the source's algorithm,
// or the one the request names).
func (g *Gateway) copyObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := checkKey(st.key); err != nil {
		return err
	}
	src, err := parseCopySource(r)
	if err != nil {
		return err
	}
	metaDirective, err := directive(r, "X-Amz-Metadata-Directive")
	if err != nil {
		return err
	}
	tagDirective, err := directive(r, "X-Amz-Tagging-Directive")
	if err != nil {
		return err
	}
	if src.bucket == st.bucket && src.key == st.key && metaDirective != "REPLACE" {
		return s3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	opts, err := putOptions(r)
	if err != nil {
		return err
	}
	alg := checksum.Algorithm("")
	if a := r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		parsed, ok := checksum.Parse(a)
		if !ok {
			return s3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		alg = parsed
	}
	out, err := g.mutate(r, events.ObjectCreatedCopy, st.key, "", func() (backends.ObjectInfo, error) {
		return g.copyInto(r, src, opts, alg, metaDirective, tagDirective)
	})
	if err != nil {
		return err
	}
	return writeCopyResult(w, out)
}

// copyInto copies src to the request's key: by the backend itself where it
// can, streamed through s3gate otherwise.
func (g *Gateway) copyInto(r *http.Request, src copySource, opts backends.PutOptions, alg checksum.Algorithm, metaDirective, tagDirective string) (backends.ObjectInfo, error) {
	st := requestState(r.Context())
	if c, ok := g.backend.(backends.Copier); ok {
		out, err := c.CopyObject(r.Context(), backends.ObjectRef{Bucket: src.bucket, Key: src.key}, backends.ObjectRef{Bucket: st.bucket, Key: st.key},
			backends.CopyOptions{
				Conditions:      copyConditions(r.Header),
				ReplaceMetadata: metaDirective == "REPLACE", ContentHeaders: opts.ContentHeaders, Metadata: opts.Metadata,
				ReplaceTags: tagDirective == "REPLACE", Tags: opts.Tags,
				ChecksumAlgorithm: string(alg),
			})
		if !errors.Is(err, backends.ErrCopyUnsupported) {
			if err != nil {
				return backends.ObjectInfo{}, copyError(err, src)
			}
			return out, nil
		}
	}
	obj, err := g.openSource(r, src, nil)
	if err != nil {
		return backends.ObjectInfo{}, err
	}
	defer obj.Body.Close()
	info := obj.Info
	if info.Size > maxCopySize {
		return backends.ObjectInfo{}, s3Error("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: %d", maxCopySize)
	}
	if metaDirective != "REPLACE" {
		opts.ContentHeaders, opts.Metadata = info.ContentHeaders, info.Metadata
	}
	if tagDirective != "REPLACE" {
		tags, err := g.backend.GetObjectTagging(r.Context(), src.bucket, src.key)
		if err != nil {
			return backends.ObjectInfo{}, err
		}
		opts.Tags = tags
	}
	if alg == "" {
		if a, ok := checksum.Parse(info.Checksum.Algorithm); ok {
			alg = a
		} else {
			alg = checksum.CRC64NVME
		}
	}
	body, sum := computing(obj.Body, alg)
	opts.Size, opts.Checksum = info.Size, sum
	return g.backend.PutObject(r.Context(), st.bucket, st.key, body, opts)
}

func writeCopyResult(w http.ResponseWriter, out backends.ObjectInfo) error {
	res := copyObjectResult{ETag: `"` + out.ETag + `"`, LastModified: s3Time(out.LastModified), ChecksumType: out.Checksum.Type}
	res.set(out.Checksum.Algorithm, out.Checksum.Value)
	writeXML(w, http.StatusOK, &res)
	return nil
}

// directive reads a COPY/REPLACE directive header; COPY when absent.
func directive(r *http.Request, name string) (string, error) {
	switch v := r.Header.Get(name); v {
	case "", "COPY":
		return "COPY", nil
	case "REPLACE":
		return v, nil
	default:
		return "", s3Error("InvalidArgument", "Unknown %s value: %s", strings.ToLower(name), v).with("ArgumentName", strings.ToLower(name))
	}
}

// uploadPartCopy is UploadPartCopy: a part made from (a range of) an
// existing object, streamed through s3gate.
func (g *Gateway) uploadPartCopy(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	n, err := partNumberParam(r)
	if err != nil {
		return err
	}
	src, err := parseCopySource(r)
	if err != nil {
		return err
	}
	upload, err := g.uploadInfo(r)
	if err != nil {
		return err
	}
	var rng *backends.Range
	if v := r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		rng = backends.ParseRange(v)
		if rng == nil || rng.IsSuffix || rng.End < 0 {
			return s3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy").
				with("ArgumentName", "x-amz-copy-source-range").with("ArgumentValue", v)
		}
	}
	badRange := func(size int64) error {
		return s3Error("InvalidArgument", "Range specified is not valid for source object of size: %d", size).
			with("ArgumentName", "x-amz-copy-source-range").with("ArgumentValue", r.Header.Get("X-Amz-Copy-Source-Range"))
	}
	if c, ok := g.backend.(backends.Copier); ok {
		part, err := c.CopyPart(r.Context(), backends.ObjectRef{Bucket: src.bucket, Key: src.key}, rng,
			backends.ObjectRef{Bucket: st.bucket, Key: st.key}, upload.UploadID, n,
			backends.CopyOptions{Conditions: copyConditions(r.Header), ChecksumAlgorithm: upload.ChecksumAlgorithm})
		if !errors.Is(err, backends.ErrCopyUnsupported) {
			if errors.Is(err, backends.ErrInvalidRange) {
				info, herr := g.backend.HeadObject(r.Context(), src.bucket, src.key, backends.GetOptions{})
				if herr != nil {
					return copyError(herr, src)
				}
				return badRange(info.Size)
			}
			if err != nil {
				return copyError(err, src)
			}
			return writePartCopyResult(w, part, upload)
		}
	}
	obj, err := g.openSource(r, src, rng)
	if errors.Is(err, backends.ErrInvalidRange) {
		info, herr := g.backend.HeadObject(r.Context(), src.bucket, src.key, backends.GetOptions{})
		if herr != nil {
			return herr
		}
		return badRange(info.Size)
	}
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	size := obj.Info.Size
	if obj.Range != nil {
		size = obj.Range.Length()
		if rng != nil && obj.Range.End != rng.End {
			// S3 refuses a range that runs past the source.
			return badRange(obj.Info.Size)
		}
	}
	if size > maxPutSize {
		return s3Error("InvalidRequest", "The specified copy range is larger than the maximum allowable part size: %d", maxPutSize)
	}
	body, sum := computing(obj.Body, checksum.Algorithm(upload.ChecksumAlgorithm))
	part, err := g.backend.UploadPart(r.Context(), st.bucket, st.key, upload.UploadID, n, body, backends.PartOptions{Size: size, Checksum: sum})
	if err != nil {
		return err
	}
	return writePartCopyResult(w, part, upload)
}

func writePartCopyResult(w http.ResponseWriter, part backends.PartInfo, upload backends.UploadInfo) error {
	res := copyPartResult{ETag: `"` + part.ETag + `"`, LastModified: s3Time(part.LastModified)}
	if !upload.ChecksumDefault {
		res.set(part.Checksum.Algorithm, part.Checksum.Value)
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}

// computing wraps a body read from the backend so that it computes alg's
// checksum (nothing is declared to verify it against) and fills it in at
// EOF, for the backend to store.
func computing(body io.Reader, alg checksum.Algorithm) (io.Reader, *backends.Checksum) {
	sum := &backends.Checksum{}
	v := &integrityReader{r: body, sum: sum}
	v.store(alg)
	return v, sum
}
