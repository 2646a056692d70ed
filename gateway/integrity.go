package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
	"github.com/s3gate/s3gate/sigv4"
)

// Where a request's checksum came from, as the access log records it.
const (
	fromHeader  = "header"
	fromTrailer = "trailer"
	fromDefault = "default"
)

// upload is a request body on its way to the backend, wrapped so that every
// digest the client declared is verified as the bytes pass.
type upload struct {
	body io.Reader
	// size is the object's length: Content-Length, or the decoded length
	// of an aws-chunked body.
	size int64
	// checksum is set when the body has ended and every check passed; the
	// backend stores it.
	checksum *backends.Checksum
	// declared is the algorithm of the checksum the client sent, if any.
	declared checksum.Algorithm
}

// uploadBody verifies the request's signature framing, sizes the object and
// wraps the body with its digest checks: Content-MD5 and the one
// x-amz-checksum-* the client sent in a header or a trailer. The checksum
// stored is store's when given (a multipart upload's algorithm), else the
// client's, else CRC64NVME, as S3 does for every upload.
func (g *Gateway) uploadBody(r *http.Request, store checksum.Algorithm) (*upload, error) {
	st := requestState(r.Context())
	body, err := g.body(r)
	if err != nil {
		return nil, err
	}
	up := &upload{size: r.ContentLength, checksum: &backends.Checksum{}}
	if st.auth.DecodedLength >= 0 {
		up.size = st.auth.DecodedLength
	} else if r.ContentLength < 0 {
		return nil, s3Error("MissingContentLength")
	}
	v := &integrityReader{r: body, sum: up.checksum}
	if err := v.expectMD5(r.Header); err != nil {
		return nil, err
	}
	if err := v.expectChecksum(r.Header, st.auth, body); err != nil {
		return nil, err
	}
	up.declared = v.alg
	v.store(store)
	st.checksum, st.checksumFrom = string(v.alg), v.from
	up.body = v
	return up, nil
}

// documentBody is the body of a request document whose x-amz-checksum-*
// headers describe something else (CompleteMultipartUpload's describe the
// whole object): only the signature and Content-MD5 are checked.
func (g *Gateway) documentBody(r *http.Request) (io.Reader, error) {
	body, err := g.body(r)
	if err != nil {
		return nil, err
	}
	v := &integrityReader{r: body, sum: &backends.Checksum{}}
	if err := v.expectMD5(r.Header); err != nil {
		return nil, err
	}
	v.store("")
	return v, nil
}

// integrityReader hashes the body as it streams and, at EOF, compares every
// declared digest. On a mismatch it returns the S3 error instead of io.EOF,
// so the backend never commits the object.
type integrityReader struct {
	r io.Reader
	w io.Writer

	md5     hash.Hash
	md5Want []byte

	// alg is the declared checksum's algorithm (or the stored one when
	// none was declared), h its running hash, from where it came from.
	alg  checksum.Algorithm
	h    hash.Hash
	from string
	// want is the declared digest; for a trailer, trailer supplies it at
	// EOF. Nil: nothing to verify, only to compute.
	want    []byte
	trailer interface{ Trailer() http.Header }

	// storeAlg and storeH compute the checksum to store when it is not
	// the declared one.
	storeAlg checksum.Algorithm
	storeH   hash.Hash

	sum  *backends.Checksum
	done error
}

func (v *integrityReader) expectMD5(h http.Header) error {
	vals, ok := h["Content-Md5"]
	if !ok {
		return nil
	}
	want, err := base64.StdEncoding.DecodeString(vals[0])
	if err != nil || len(want) != md5.Size {
		return s3Error("InvalidDigest")
	}
	v.md5, v.md5Want = md5.New(), want
	return nil
}

// expectChecksum finds the checksum the request declares: an
// x-amz-checksum-* header, or an x-amz-trailer naming one (aws-chunked
// bodies only), never both and never two.
func (v *integrityReader) expectChecksum(h http.Header, auth *sigv4.Result, body io.Reader) error {
	for _, alg := range checksum.All {
		vals, ok := h[http.CanonicalHeaderKey(alg.Header())]
		if !ok {
			continue
		}
		if v.alg != "" {
			return s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		// An empty value is a malformed checksum, not a missing one.
		want, err := base64.StdEncoding.DecodeString(vals[0])
		if err != nil || len(want) != alg.Size() {
			return s3Error("InvalidRequest", "Value for %s header is invalid.", alg.Header())
		}
		v.alg, v.want, v.from = alg, want, fromHeader
	}
	for _, name := range auth.Trailer {
		alg, ok := checksumHeader(name)
		if !ok {
			return s3Error("InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
		}
		if v.alg != "" {
			return s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		t, ok := body.(interface{ Trailer() http.Header })
		if !ok {
			return s3Error("InvalidRequest", "x-amz-trailer is only valid with an aws-chunked trailer encoding.")
		}
		v.alg, v.trailer, v.from = alg, t, fromTrailer
	}
	if sdk := h.Get("x-amz-sdk-checksum-algorithm"); sdk != "" {
		alg, ok := checksum.Parse(sdk)
		if !ok || (v.alg != "" && v.alg != alg) {
			return s3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		if v.alg == "" {
			return s3Error("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
		}
	}
	return nil
}

// store settles which checksum is stored: want's algorithm when given,
// else the declared one, else CRC64NVME. When the stored algorithm is not
// the declared one, both are computed.
func (v *integrityReader) store(want checksum.Algorithm) {
	switch {
	case v.alg == "" && want == "":
		v.alg, v.from = checksum.CRC64NVME, fromDefault
	case v.alg == "":
		v.alg, v.from = want, fromDefault
	case want != "" && want != v.alg:
		v.storeAlg, v.storeH = want, want.New()
	}
	v.h = v.alg.New()
	ws := []io.Writer{v.h}
	if v.storeH != nil {
		ws = append(ws, v.storeH)
	}
	if v.md5 != nil {
		ws = append(ws, v.md5)
	}
	v.w = io.MultiWriter(ws...)
	// The algorithm is known now, the value only at the end: a backend that
	// must name the algorithm before it sends the body (a trailer to
	// another S3 service) reads it here.
	stored := v.alg
	if v.storeAlg != "" {
		stored = v.storeAlg
	}
	*v.sum = backends.Checksum{Algorithm: string(stored), Type: backends.ChecksumFullObject}
}

// checksumHeader returns the algorithm an x-amz-checksum-* header name
// stands for.
func checksumHeader(name string) (checksum.Algorithm, bool) {
	rest, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-checksum-")
	if !ok {
		return "", false
	}
	return checksum.Parse(rest)
}

func (v *integrityReader) Read(p []byte) (int, error) {
	if v.done != nil {
		return 0, v.done
	}
	n, err := v.r.Read(p)
	v.w.Write(p[:n])
	if err == io.EOF {
		v.done = v.verify()
		return n, v.done
	}
	return n, err
}

// verify runs at the end of the body. It fills in the checksum the backend
// stores only when every digest matched.
func (v *integrityReader) verify() error {
	if v.md5 != nil && !bytes.Equal(v.md5.Sum(nil), v.md5Want) {
		return s3Error("BadDigest")
	}
	got := v.h.Sum(nil)
	want := v.want
	if v.trailer != nil {
		val := v.trailer.Trailer().Get(v.alg.Header())
		w, err := base64.StdEncoding.DecodeString(val)
		if err != nil || len(w) != v.alg.Size() {
			return s3Error("InvalidRequest", "Value for %s trailing header is invalid.", v.alg.Header())
		}
		want = w
	}
	if want != nil && !bytes.Equal(got, want) {
		return s3Error("BadDigest", "The %s you specified did not match the calculated checksum.", v.alg)
	}
	alg := v.alg
	if v.storeH != nil {
		alg, got = v.storeAlg, v.storeH.Sum(nil)
	}
	*v.sum = backends.Checksum{Algorithm: string(alg), Value: base64.StdEncoding.EncodeToString(got), Type: backends.ChecksumFullObject}
	return io.EOF
}

// setChecksumHeaders adds an object's checksum to a response, as S3 does
// for PutObject and, with x-amz-checksum-mode: ENABLED, for whole-object
// GET and HEAD.
func setChecksumHeaders(h http.Header, c backends.Checksum) {
	alg, ok := checksum.Parse(c.Algorithm)
	if !ok || c.IsZero() {
		return
	}
	h.Set(alg.Header(), c.Value)
	if c.Type != "" {
		h.Set("x-amz-checksum-type", c.Type)
	}
}

// storedContentEncoding drops the aws-chunked framing token: it describes
// how the body travelled, not what the object is.
func storedContentEncoding(v string) string {
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "aws-chunked") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}
