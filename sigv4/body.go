package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
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
//     instead of io.EOF if the digest differs.
//   - UnsignedPayload: the body, unchanged.
//   - StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
//     the returned reader decodes the aws-chunked encoding and returns the
//     payload alone. It checks every chunk signature (and the trailer
//     signature) from the seed Signature with SigningKey, the framing, S3's
//     8 KiB minimum for chunks other than the last, the total against
//     DecodedLength, and that the trailers sent are exactly those declared in
//     Trailer. It also implements Trailer() http.Header, which returns the
//     trailers (canonical names, values as sent) once Read has returned
//     io.EOF; checking a trailing checksum against the payload is the
//     caller's job.
//   - the SigV4a streaming modes: NotImplemented.
//
// A reader of the body never sees a clean io.EOF after bad data, so it must
// not commit anything before reading to EOF. Failures are *Error values with
// S3's codes (SignatureDoesNotMatch, IncompleteBody, InvalidChunkSizeError,
// MalformedTrailerError ...); errors of the underlying body, such as
// io.ErrUnexpectedEOF from a connection cut short, pass through.
// Trailers declared for a payload that is not streamed are refused at once.
func (r *Result) Body(body io.ReadCloser) (io.ReadCloser, error) {
	if body == nil {
		body = http.NoBody
	}
	switch p := r.PayloadHash; {
	case p == StreamingPayload, p == StreamingPayloadTrailer, p == StreamingUnsignedTrailer:
		return r.chunkedBody(body)
	case p == StreamingECDSAPayload, p == StreamingECDSAPayloadTrailer:
		return nil, newError(CodeNotImplemented, "The AWS4-ECDSA-P256-SHA256 streaming payload is not supported.")
	case !validPayloadHash(p):
		return nil, badPayloadHash(p)
	case len(r.Trailer) > 0:
		return nil, malformedTrailer()
	case p == UnsignedPayload:
		return body, nil
	default:
		want, _ := hex.DecodeString(p)
		return &hashReader{body: body, hash: sha256.New(), want: want}, nil
	}
}

// chunkedBody returns the decoder of an aws-chunked body.
func (r *Result) chunkedBody(body io.ReadCloser) (io.ReadCloser, error) {
	if r.DecodedLength < 0 {
		return nil, missingLength()
	}
	if r.PayloadHash != StreamingUnsignedTrailer && (len(r.SigningKey) != sha256.Size || len(r.Signature) != sigLen) {
		return nil, internalError(errors.New("sigv4: signed streaming payload without a verified seed signature"))
	}
	return newChunkReader(body, r), nil
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
