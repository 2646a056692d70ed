package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
)

const (
	metaPrefix = "X-Amz-Meta-"
	// maxUserMetadata is S3's limit on user metadata: the bytes of every
	// name and value together.
	maxUserMetadata = 2 << 10
	// maxPutSize is S3's largest single PUT.
	maxPutSize = 5 << 30
	// defaultContentType is what S3 reports for objects stored without one.
	defaultContentType = "binary/octet-stream"
)

// unsupportedPutHeaders imply features s3gate does not have yet. Silently
// ignoring them would store an object the client believes is encrypted,
// locked or tagged.
var unsupportedPutHeaders = []string{
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Server-Side-Encryption-Customer-Algorithm",
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Object-Lock-Mode",
	"X-Amz-Object-Lock-Retain-Until-Date",
	"X-Amz-Object-Lock-Legal-Hold",
	"X-Amz-Website-Redirect-Location",
	"X-Amz-Grant-Full-Control",
	"X-Amz-Grant-Read",
	"X-Amz-Grant-Read-Acp",
	"X-Amz-Grant-Write-Acp",
}

// putOptions reads what a PutObject stores besides the body.
func putOptions(r *http.Request) (backends.PutOptions, error) {
	o, err := putOptionsFrom(r.Header)
	o.Size = r.ContentLength
	return o, err
}

// putOptionsFrom reads stored headers, metadata, tags and write conditions
// from request headers (or a POST form's fields presented as headers).
func putOptionsFrom(h http.Header) (backends.PutOptions, error) {
	for _, name := range unsupportedPutHeaders {
		if _, ok := h[name]; ok {
			return backends.PutOptions{}, s3Error("NotImplemented", "The %s header is not supported yet.", strings.ToLower(name))
		}
	}
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		return backends.PutOptions{}, s3Error("NotImplemented", "Storage class %s is not supported; s3gate stores STANDARD only.", sc)
	}
	o := backends.PutOptions{
		ContentHeaders: backends.ContentHeaders{
			ContentType:        h.Get("Content-Type"),
			ContentEncoding:    h.Get("Content-Encoding"),
			ContentDisposition: h.Get("Content-Disposition"),
			ContentLanguage:    h.Get("Content-Language"),
			CacheControl:       h.Get("Cache-Control"),
			Expires:            h.Get("Expires"),
		},
		IfMatch:     h.Get("If-Match"),
		IfNoneMatch: h.Get("If-None-Match"),
	}
	tags, err := parseTaggingHeader(h)
	if err != nil {
		return o, err
	}
	o.Tags = tags
	if o.IfNoneMatch != "" && o.IfNoneMatch != "*" {
		return o, s3Error("NotImplemented", "If-None-Match on a write accepts only *.")
	}
	size := 0
	for name, values := range h {
		if !strings.HasPrefix(name, metaPrefix) {
			continue
		}
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		k := strings.ToLower(name[len(metaPrefix):])
		v := strings.Join(values, ",")
		o.Metadata[k] = v
		size += len(k) + len(v)
	}
	if size > maxUserMetadata {
		return o, s3Error("MetadataTooLarge").with("Size", strconv.Itoa(size)).with("MaxSizeAllowed", strconv.Itoa(maxUserMetadata))
	}
	return o, nil
}

// getOptions reads a GET or HEAD's range and preconditions.
func getOptions(r *http.Request) backends.GetOptions {
	h := r.Header
	return backends.GetOptions{
		Range: backends.ParseRange(h.Get("Range")),
		Conditions: backends.Conditions{
			IfMatch:           h.Get("If-Match"),
			IfNoneMatch:       h.Get("If-None-Match"),
			IfModifiedSince:   httpTime(h.Get("If-Modified-Since")),
			IfUnmodifiedSince: httpTime(h.Get("If-Unmodified-Since")),
		},
	}
}

// httpTime parses an HTTP date; an unparsable one is ignored, as RFC 9110
// asks.
func httpTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// responseOverrides maps the query parameters a signed GET may use to
// replace response headers.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// setObjectHeaders writes an object's stored headers, then any
// response-* overrides of the request.
func setObjectHeaders(w http.ResponseWriter, r *http.Request, info backends.ObjectInfo) {
	h := w.Header()
	h.Set("ETag", `"`+info.ETag+`"`)
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	for name, v := range map[string]string{
		"Content-Encoding":    info.ContentEncoding,
		"Content-Disposition": info.ContentDisposition,
		"Content-Language":    info.ContentLanguage,
		"Cache-Control":       info.CacheControl,
		"Expires":             info.Expires,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	if info.TagCount > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(info.TagCount))
	}
	for k, v := range info.Metadata {
		// S3 sends user metadata names in lower case; bypass canonicalisation.
		h["x-amz-meta-"+k] = []string{v}
	}
	for param, header := range responseOverrides {
		if v := query(r).Get(param); v != "" {
			h.Set(header, v)
		}
	}
}
