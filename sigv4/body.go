package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
)

// Values of x-amz-content-sha256 (and of the payload line of the canonical
// request) other than a hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// SigV4a streaming variants, recognised but not supported.
	StreamingECDSAPayload        = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	StreamingECDSAPayloadTrailer = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
)

// validPayloadHash reports whether v is a lower-case hex SHA-256 or one of
// the known constants.
func validPayloadHash(v string) bool {
	switch v {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer,
		StreamingECDSAPayload, StreamingECDSAPayloadTrailer:
		return true
	}
	return isSHA256Hex(v)
}

func isSHA256Hex(v string) bool {
	if len(v) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Body wraps a request body so that the payload is verified as it streams,
// according to PayloadHash:
//   - a hex SHA-256: the returned reader hashes the bytes as they pass and,
//     at the end, returns an *Error with code XAmzContentSHA256Mismatch
//     instead of io.EOF if the digest differs. A reader of the body never
//     sees a clean EOF after bad data, so it must not commit anything before
//     reading to EOF.
//   - UnsignedPayload: the body, unchanged.
//   - the aws-chunked streaming modes: NotImplemented for now.
func (r *Result) Body(body io.ReadCloser) (io.ReadCloser, error) {
	if body == nil {
		body = http.NoBody
	}
	switch p := r.PayloadHash; {
	case p == UnsignedPayload:
		return body, nil
	case isSHA256Hex(p):
		want, _ := hex.DecodeString(p)
		return &hashReader{body: body, hash: sha256.New(), want: want}, nil
	case p == StreamingPayload, p == StreamingPayloadTrailer, p == StreamingUnsignedTrailer,
		p == StreamingECDSAPayload, p == StreamingECDSAPayloadTrailer:
		return nil, newError(CodeNotImplemented, "aws-chunked uploads are not supported yet")
	default:
		return nil, badPayloadHash(p)
	}
}

// hashReader checks the SHA-256 of everything read through it against want.
type hashReader struct {
	body io.ReadCloser
	hash hash.Hash
	want []byte
	err  error // sticky result once the body has ended or failed
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.body.Read(p)
	h.hash.Write(p[:n])
	switch {
	case err == io.EOF:
		h.err = h.verdict()
	case err != nil:
		h.err = err
	}
	return n, h.err
}

func (h *hashReader) verdict() error {
	got := h.hash.Sum(nil)
	if subtle.ConstantTimeCompare(got, h.want) == 1 {
		return io.EOF
	}
	return newError(CodeXAmzContentSHA256Mismatch, msgSHA256Mismatch,
		Field{"ClientComputedContentSHA256", hex.EncodeToString(h.want)},
		Field{"S3ComputedContentSHA256", hex.EncodeToString(got)})
}

func (h *hashReader) Close() error { return h.body.Close() }
