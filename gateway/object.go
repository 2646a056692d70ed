package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/events"
)

// putObject is PutObject: the body streams through the signature and digest
// checks into the backend, which commits it only at a clean EOF.
func (g *Gateway) putObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := checkKey(st.key); err != nil {
		return err
	}
	opts, err := putOptions(r)
	if err != nil {
		return err
	}
	if err := g.conditionalWrite(st.bucket, opts.IfMatch, opts.IfNoneMatch); err != nil {
		return err
	}
	up, err := g.uploadBody(r, "")
	if err != nil {
		return err
	}
	if up.size > maxPutSize {
		return s3Error("EntityTooLarge").
			with("ProposedSize", strconv.FormatInt(up.size, 10)).
			with("MaxSizeAllowed", strconv.FormatInt(maxPutSize, 10))
	}
	opts.Size = up.size
	opts.Checksum = up.checksum
	opts.ContentMD5 = r.Header.Get("Content-Md5") // verified by up.body; the backend may check it too
	opts.ContentEncoding = storedContentEncoding(opts.ContentEncoding)
	body, sniffedType := g.sniffed(up.body)
	info, err := g.mutate(r, events.ObjectCreatedPut, st.key, opts.ContentType, func() (backends.ObjectInfo, error) {
		return g.backend.PutObject(r.Context(), st.bucket, st.key, body, opts)
	}, sniffedType)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", `"`+info.ETag+`"`)
	setChecksumHeaders(h, info.Checksum)
	w.WriteHeader(http.StatusOK)
	return nil
}

// checksumMode reports whether the client asked for the stored checksum.
func checksumMode(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED")
}

// partChecksum is the checksum a read returns: the object's for the whole
// object, the part's for ?partNumber (so a client downloading by parts can
// check each), none for a byte range, which has no checksum of its own.
func partChecksum(info backends.ObjectInfo, part int, whole bool) backends.Checksum {
	switch {
	case part == 0 && whole:
		return info.Checksum
	case part > 0 && info.PartsCount == 0:
		return info.Checksum // part 1 of a single-PUT object is all of it
	case part > 0 && part <= len(info.Parts):
		return info.Parts[part-1].Checksum
	}
	return backends.Checksum{}
}

// conditionalWrite refuses a conditional write the bucket's backend cannot
// make atomic: emulating it with a read before the write would race.
func (g *Gateway) conditionalWrite(bucket, ifMatch, ifNoneMatch string) error {
	if (ifMatch != "" || ifNoneMatch != "") && !g.backend.Capabilities(bucket).ConditionalWrites {
		return conditionNotImplemented()
	}
	return nil
}

func conditionNotImplemented() error {
	return s3Error("NotImplemented", "Conditional writes and deletes are not supported by this bucket's storage backend.")
}

// checkKey refuses keys S3 refuses, before any byte of a body is read.
func checkKey(key string) error {
	if len(key) > backends.MaxKeyLength {
		return backends.ErrKeyTooLong
	}
	return nil
}

// partNumber reads ?partNumber of a GET or HEAD into opts: the backend
// answers with that part's bytes (part 1 of an object written in one PUT is
// the whole object).
func partNumber(r *http.Request, opts *backends.GetOptions) error {
	if _, ok := query(r)["partNumber"]; !ok {
		return nil
	}
	n, err := partNumberParam(r)
	if err != nil {
		return err
	}
	if opts.Range != nil {
		return s3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
	}
	opts.PartNumber = n
	return nil
}

// getObject is GetObject: preconditions and range are resolved by the
// backend against the object it opens, then the body streams out.
// ?variant=NAME serves an image variant of the object instead.
func (g *Gateway) getObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	opts := getOptions(r)
	if err := partNumber(r, &opts); err != nil {
		return err
	}
	if name, ok := variantParam(r); ok {
		return g.getVariant(w, r, name, opts)
	}
	opts.WithParts = opts.PartNumber > 0 && checksumMode(r)
	obj, err := g.backend.GetObject(r.Context(), st.bucket, st.key, opts)
	if err != nil {
		return g.readError(w, r, err, opts, g.headStored)
	}
	return g.sendObject(w, r, obj, opts)
}

// headStored is the stored object's description, for a 304's validators.
func (g *Gateway) headStored(r *http.Request) (backends.ObjectInfo, error) {
	st := requestState(r.Context())
	return g.backend.HeadObject(r.Context(), st.bucket, st.key, backends.GetOptions{})
}

// sendObject answers a GET with obj: its headers, then its body.
func (g *Gateway) sendObject(w http.ResponseWriter, r *http.Request, obj *backends.Object, opts backends.GetOptions) error {
	st := requestState(r.Context())
	defer obj.Body.Close()
	setObjectHeaders(w, r, obj.Info)
	h := w.Header()
	status := http.StatusOK
	length := obj.Info.Size
	if obj.Range != nil {
		status = http.StatusPartialContent
		length = obj.Range.Length()
		h.Set("Content-Range", contentRange(obj.Range))
	}
	if opts.PartNumber > 0 && obj.Info.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(obj.Info.PartsCount))
	}
	if checksumMode(r) {
		setChecksumHeaders(h, partChecksum(obj.Info, opts.PartNumber, obj.Range == nil))
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	n, err := sendBody(w, obj.Body)
	if err != nil || n != length {
		// Too late for an error document: net/http closes the
		// connection because the body is short, so the client cannot
		// mistake it for the whole object.
		st.errCode = "ResponseIncomplete"
		g.log.WarnContext(r.Context(), "object body incomplete", "request_id", st.id, "sent", n, "want", length, "err", err)
	}
	return nil
}

// readError adds what S3 sends with a failed read: the requested range of
// an InvalidRange, and the validators (ETag, Last-Modified) of a 304.
func (g *Gateway) readError(w http.ResponseWriter, r *http.Request, err error, opts backends.GetOptions, head func(*http.Request) (backends.ObjectInfo, error)) error {
	switch {
	case errors.Is(err, backends.ErrInvalidRange) && opts.Range != nil:
		return s3Error("InvalidRange").with("RangeRequested", opts.Range.String())
	case errors.Is(err, backends.ErrNotModified):
		// The backend answered from the object it opened; a second look
		// for the validators is cheap and only on this path.
		if info, herr := head(r); herr == nil {
			w.Header().Set("ETag", `"`+info.ETag+`"`)
			w.Header().Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
	case errors.Is(err, backends.ErrPreconditionFail):
		cond := "If-Match"
		if r.Header.Get("If-Match") == "" {
			cond = "If-Unmodified-Since"
		}
		return s3Error("PreconditionFailed").with("Condition", cond)
	}
	return err
}

// contentRange renders a Content-Range header value.
func contentRange(c *backends.ContentRange) string {
	return "bytes " + strconv.FormatInt(c.Start, 10) + "-" + strconv.FormatInt(c.End, 10) + "/" + strconv.FormatInt(c.Size, 10)
}

// headObject is HeadObject: GetObject's headers without the body.
func (g *Gateway) headObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	opts := getOptions(r)
	if err := partNumber(r, &opts); err != nil {
		return err
	}
	if name, ok := variantParam(r); ok {
		return g.headVariantObject(w, r, name, opts)
	}
	opts.WithParts = opts.PartNumber > 0 && checksumMode(r)
	info, err := g.backend.HeadObject(r.Context(), st.bucket, st.key, opts)
	if err != nil {
		return g.readError(w, r, err, opts, g.headStored)
	}
	return g.sendHead(w, r, info, opts)
}

// sendHead answers a HEAD with info.
func (g *Gateway) sendHead(w http.ResponseWriter, r *http.Request, info backends.ObjectInfo, opts backends.GetOptions) error {
	setObjectHeaders(w, r, info)
	h := w.Header()
	length, status := info.Size, http.StatusOK
	if opts.PartNumber > 0 && info.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(info.PartsCount))
	}
	if pr := info.PartRange; pr != nil {
		// One part: its own length and range, as S3 answers.
		length, status = pr.Length(), http.StatusPartialContent
		h.Set("Content-Range", contentRange(pr))
	}
	if checksumMode(r) {
		setChecksumHeaders(h, partChecksum(info, opts.PartNumber, true))
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	return nil
}

// deleteObject is DeleteObject: 204 whether or not the key existed.
func (g *Gateway) deleteObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := checkKey(st.key); err != nil {
		return err
	}
	opts := backends.DeleteOptions{IfMatch: r.Header.Get("If-Match")}
	if opts.IfMatch != "" && !g.backend.Capabilities(st.bucket).ConditionalDeletes {
		return conditionNotImplemented()
	}
	_, err := g.mutate(r, events.ObjectRemovedDelete, st.key, "", func() (backends.ObjectInfo, error) {
		return backends.ObjectInfo{}, g.backend.DeleteObject(r.Context(), st.bucket, st.key, opts)
	})
	if err != nil {
		if errors.Is(err, backends.ErrPreconditionFail) {
			return s3Error("PreconditionFailed").with("Condition", "If-Match")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sendBufSize is the copy buffer of object bodies that cannot write
// themselves: a socket-to-socket copy costs two system calls per buffer,
// and net/http's own 32 KiB made them most of a large proxied GET's CPU.
const sendBufSize = 256 << 10

var sendBufs = sync.Pool{New: func() any { b := make([]byte, sendBufSize); return &b }}

// sendBody copies an object's body to the response. A body that writes
// itself (a file: sendfile) does; any other goes through a large pooled
// buffer.
func sendBody(w io.Writer, body io.Reader) (int64, error) {
	if _, ok := body.(io.WriterTo); ok {
		return io.Copy(w, body)
	}
	bp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bp)
	// Hide ReadFrom, which would bring back a small buffer.
	return io.CopyBuffer(struct{ io.Writer }{w}, body, *bp)
}
