package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/backends"
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
	up, err := g.uploadBody(r)
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
	opts.ContentEncoding = storedContentEncoding(opts.ContentEncoding)
	info, err := g.backend.PutObject(r.Context(), st.bucket, st.key, up.body, opts)
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
// S3 returns it for whole objects only: a range has no checksum of its own.
func checksumMode(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("x-amz-checksum-mode"), "ENABLED")
}

// checkKey refuses keys S3 refuses, before any byte of a body is read.
func checkKey(key string) error {
	if len(key) > backends.MaxKeyLength {
		return backends.ErrKeyTooLong
	}
	return nil
}

// partNumber reads ?partNumber. s3gate stores every object as one part, so
// part 1 is the whole object and any other part does not exist.
func partNumber(r *http.Request, opts *backends.GetOptions) (bool, error) {
	v, ok := query(r)["partNumber"]
	if !ok {
		return false, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 1 || n > 10000 {
		return false, s3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive").
			with("ArgumentName", "partNumber").with("ArgumentValue", v[0])
	}
	if opts.Range != nil {
		return false, s3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
	}
	if n != 1 {
		return false, s3Error("InvalidPartNumber")
	}
	return true, nil
}

// getObject is GetObject: preconditions and range are resolved by the
// backend against the object it opens, then the body streams out.
func (g *Gateway) getObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	opts := getOptions(r)
	part, err := partNumber(r, &opts)
	if err != nil {
		return err
	}
	obj, err := g.backend.GetObject(r.Context(), st.bucket, st.key, opts)
	if err != nil {
		return g.readError(w, r, err, opts)
	}
	defer obj.Body.Close()
	setObjectHeaders(w, r, obj.Info)
	h := w.Header()
	status := http.StatusOK
	length := obj.Info.Size
	if obj.Range != nil {
		status = http.StatusPartialContent
		length = obj.Range.Length()
		h.Set("Content-Range", "bytes "+strconv.FormatInt(obj.Range.Start, 10)+"-"+
			strconv.FormatInt(obj.Range.End, 10)+"/"+strconv.FormatInt(obj.Range.Size, 10))
	}
	if part {
		h.Set("x-amz-mp-parts-count", "1")
	}
	if obj.Range == nil && checksumMode(r) {
		setChecksumHeaders(h, obj.Info.Checksum)
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	n, err := io.Copy(w, obj.Body)
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
func (g *Gateway) readError(w http.ResponseWriter, r *http.Request, err error, opts backends.GetOptions) error {
	st := requestState(r.Context())
	switch {
	case errors.Is(err, backends.ErrInvalidRange) && opts.Range != nil:
		return s3Error("InvalidRange").with("RangeRequested", opts.Range.String())
	case errors.Is(err, backends.ErrNotModified):
		// The backend answered from the object it opened; a second look
		// for the validators is cheap and only on this path.
		if info, herr := g.backend.HeadObject(r.Context(), st.bucket, st.key, backends.GetOptions{}); herr == nil {
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

// headObject is HeadObject: GetObject's headers without the body.
func (g *Gateway) headObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	opts := getOptions(r)
	part, err := partNumber(r, &opts)
	if err != nil {
		return err
	}
	info, err := g.backend.HeadObject(r.Context(), st.bucket, st.key, opts)
	if err != nil {
		return g.readError(w, r, err, opts)
	}
	setObjectHeaders(w, r, info)
	if part {
		w.Header().Set("x-amz-mp-parts-count", "1")
	}
	if checksumMode(r) {
		setChecksumHeaders(w.Header(), info.Checksum)
	}
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteObject is DeleteObject: 204 whether or not the key existed.
func (g *Gateway) deleteObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := checkKey(st.key); err != nil {
		return err
	}
	opts := backends.DeleteOptions{IfMatch: r.Header.Get("If-Match")}
	if err := g.backend.DeleteObject(r.Context(), st.bucket, st.key, opts); err != nil {
		if errors.Is(err, backends.ErrPreconditionFail) {
			return s3Error("PreconditionFailed").with("Condition", "If-Match")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
