package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/s3gate/s3gate/checksum"
)

// digestCheck is one digest the client declared for the body.
type digestCheck struct {
	h    hash.Hash
	want []byte
	fail *APIError
}

// integrityReader hashes the body as it streams and, at EOF, compares every
// declared digest (Content-MD5, x-amz-checksum-*). On a mismatch it returns
// BadDigest instead of io.EOF, so the backend never commits the object.
type integrityReader struct {
	r      io.Reader
	checks []digestCheck
	w      io.Writer
	done   error
}

// Checksum is the declared x-amz-checksum-* of a request, if any.
type declaredChecksum struct {
	alg   checksum.Algorithm
	value string
}

// newIntegrityReader wraps body with the checks the request's headers
// declare. It returns body unchanged when there are none.
func newIntegrityReader(body io.Reader, h http.Header) (io.Reader, *declaredChecksum, error) {
	var checks []digestCheck
	if v, ok := h["Content-Md5"]; ok {
		want, err := base64.StdEncoding.DecodeString(v[0])
		if err != nil || len(want) != md5.Size {
			return nil, nil, s3Error("InvalidDigest")
		}
		checks = append(checks, digestCheck{h: md5.New(), want: want, fail: s3Error("BadDigest")})
	}
	var declared *declaredChecksum
	for _, alg := range checksum.All {
		v := h.Get(alg.Header())
		if v == "" {
			continue
		}
		if declared != nil {
			return nil, nil, s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != alg.Size() {
			return nil, nil, s3Error("InvalidRequest", "Value for %s header is invalid.", alg.Header())
		}
		declared = &declaredChecksum{alg: alg, value: v}
		checks = append(checks, digestCheck{h: alg.New(), want: want,
			fail: s3Error("BadDigest", "The %s you specified did not match the calculated checksum.", alg)})
	}
	if sdk := h.Get("x-amz-sdk-checksum-algorithm"); sdk != "" {
		alg, ok := checksum.Parse(sdk)
		if !ok {
			return nil, nil, s3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		if declared == nil && !strings.Contains(strings.ToLower(h.Get("x-amz-trailer")), "x-amz-checksum-") {
			return nil, nil, s3Error("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
		}
		if declared != nil && declared.alg != alg {
			return nil, nil, s3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
	}
	if len(checks) == 0 {
		return body, nil, nil
	}
	ws := make([]io.Writer, len(checks))
	for i := range checks {
		ws[i] = checks[i].h
	}
	return &integrityReader{r: body, checks: checks, w: io.MultiWriter(ws...)}, declared, nil
}

func (v *integrityReader) Read(p []byte) (int, error) {
	if v.done != nil {
		return 0, v.done
	}
	n, err := v.r.Read(p)
	v.w.Write(p[:n])
	if err == io.EOF {
		for _, c := range v.checks {
			if !bytes.Equal(c.h.Sum(nil), c.want) {
				v.done = c.fail
				return n, v.done
			}
		}
		v.done = io.EOF
	}
	return n, err
}
