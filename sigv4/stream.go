package sigv4

import (
	"net/http"
	"strconv"
	"strings"
)

// The aws-chunked upload encodings, as S3 documents and enforces them:
//
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD          size;chunk-signature=SIG CRLF data CRLF ... 0;chunk-signature=SIG CRLF CRLF
//	STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  the same, then trailer lines and x-amz-trailer-signature:SIG CRLF CRLF
//	STREAMING-UNSIGNED-PAYLOAD-TRAILER          size CRLF data CRLF ... 0 CRLF trailer lines CRLF
//
// Limits on what a client controls in such a body.
const (
	minChunkSize    = 8 << 10 // S3 refuses a chunk below 8 KiB that is not the last one
	maxLineLen      = 4 << 10 // a chunk header or trailer line, CRLF included
	maxSizeDigits   = 16      // hex digits of a chunk size
	maxTrailerBytes = 16 << 10
	maxTrailerLines = 32
)

const (
	headerDecodedLength = "X-Amz-Decoded-Content-Length"
	headerTrailer       = "X-Amz-Trailer"
	trailerSignature    = "x-amz-trailer-signature"
)

const (
	msgIncompleteBody   = "The request body terminated unexpectedly"
	msgLengthMismatch   = "You did not provide the number of bytes specified by the Content-Length HTTP header"
	msgChunkSize        = "Only the last chunk is allowed to have a size less than 8192 bytes"
	msgMalformedTrailer = "The request contained trailing data that was not well-formed or did not conform to our published schema."
	msgMissingLength    = "You must provide the Content-Length HTTP header."
)

// isStreaming reports whether a payload hash names an aws-chunked encoding.
func isStreaming(p string) bool {
	switch p {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer,
		StreamingECDSAPayload, StreamingECDSAPayloadTrailer:
		return true
	}
	return false
}

// readBodyHeaders records the headers that describe the body: the declared
// trailers always, and for the streaming modes the decoded length, which S3
// requires before it reads anything.
func (res *Result) readBodyHeaders(r *http.Request) *Error {
	res.DecodedLength = -1
	res.Trailer = declaredTrailers(r.Header.Values(headerTrailer))
	if !isStreaming(res.PayloadHash) {
		return nil
	}
	vs := r.Header.Values(headerDecodedLength)
	if len(vs) != 1 {
		return missingLength()
	}
	n, ok := parseDecimal(vs[0])
	if !ok {
		return missingLength()
	}
	res.DecodedLength = n
	return nil
}

// parseDecimal parses a non-negative base-10 int64 of digits only: no sign,
// no spaces.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// declaredTrailers splits x-amz-trailer values on commas into trimmed,
// lower-case names, dropping empty elements.
func declaredTrailers(values []string) []string {
	var names []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.Trim(name, " \t"); name != "" {
				names = append(names, strings.ToLower(name))
			}
		}
	}
	return names
}

func missingLength() *Error { return newError(CodeMissingContentLength, msgMissingLength) }

func incompleteBody() *Error { return newError(CodeIncompleteBody, msgIncompleteBody) }

func malformedTrailer() *Error { return newError(CodeMalformedTrailerError, msgMalformedTrailer) }

// lengthMismatch reports a decoded payload whose size differs from
// x-amz-decoded-content-length. provided is unsigned so that a lying chunk
// size added to what came before cannot overflow.
func lengthMismatch(expected int64, provided uint64) *Error {
	return newError(CodeIncompleteBody, msgLengthMismatch,
		Field{"NumberBytesExpected", strconv.FormatInt(expected, 10)},
		Field{"NumberBytesProvided", strconv.FormatUint(provided, 10)})
}

// chunkTooSmall reports, as S3 does, the number of the chunk whose header
// showed that the chunk before it was not the last, and that chunk's size.
func chunkTooSmall(chunk int, size int64) *Error {
	return newError(CodeInvalidChunkSizeError, msgChunkSize,
		Field{"Chunk", strconv.Itoa(chunk)},
		Field{"BadChunkSize", strconv.FormatInt(size, 10)})
}
