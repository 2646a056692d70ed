// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests the
// way Amazon S3 does: the Authorization header form and presigned URLs.
//
// A Verifier checks the signature of a request's method, path, query and
// signed headers and returns a Result; Result.Body then wraps the request
// body so that its payload is verified as it streams. Every failure is an
// *Error carrying S3's error code, message and extra XML fields, except
// ErrNoAuth, which marks an anonymous request.
//
// # Streaming uploads
//
// The AWS SDKs and CLIs send upload bodies in the aws-chunked encodings
// named by x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD (every
// chunk signed, each signature chained to the one before, starting from the
// request's own), its -TRAILER variant (trailer lines after the final chunk,
// covered by x-amz-trailer-signature), and STREAMING-UNSIGNED-PAYLOAD-TRAILER
// (no signatures; a checksum trailer protects the data). Body decodes them
// and hands on the payload alone, as it arrives; the trailers are available
// from the reader's Trailer method once it has returned io.EOF. The SigV4a
// (ECDSA) variants answer NotImplemented.
//
// What is checked, and the S3 error for each failure, as S3 answers:
//   - x-amz-decoded-content-length is required and must be a decimal
//     number: MissingContentLength (status 411), from Verify.
//   - every chunk signature and the trailer signature:
//     SignatureDoesNotMatch, with the string to sign and the seed request's
//     canonical request among its fields.
//   - the framing (hex sizes, CRLFs, the final chunk, the end of the body):
//     IncompleteBody "The request body terminated unexpectedly". A missing
//     or empty chunk-signature, or one followed by another extension, is
//     framing too.
//   - the decoded total against x-amz-decoded-content-length, in both
//     directions: IncompleteBody with NumberBytesExpected and
//     NumberBytesProvided. Too many bytes are refused at the chunk header
//     that announces them, before any of them is returned.
//   - chunk sizes: every chunk but the last carries at least 8 KiB, in the
//     unsigned mode too: InvalidChunkSizeError, whose Chunk field numbers
//     (from 1) the chunk whose header showed the small one was not the last,
//     and BadChunkSize its size. S3 answers it with status 403.
//   - trailers: each line "name:value" (blanks around both are allowed),
//     exactly the names x-amz-trailer declared, none repeated, none in the
//     mode without trailers, and none at all for a payload that is not
//     streamed: MalformedTrailerError. x-amz-trailer-signature must be the
//     last line of a signed trailer; without it the body is IncompleteBody.
//
// Where S3 is lenient, s3gate follows it: the body may end right after the
// final chunk's line or the last trailer line instead of an empty line, a
// trailer line may end in LF CRLF (minio-go does this), and the unsigned mode
// ignores chunk extensions. Where S3 is lenient in ways no client relies on,
// s3gate is strict: bytes after the end of the encoding, and a trailer sent
// twice (S3 keeps the last), are refused.
//
// Everything a client controls is bounded: a chunk header or trailer line
// to 4 KiB, a chunk size to 16 hex digits within int64, the trailer section
// to 32 lines and 16 KiB. A decoding reader holds a 4 KiB buffer and no
// chunk data; errors are sticky, and io.EOF comes only after the final chunk,
// the trailers, every signature and the length have been checked, so a
// consumer that commits only at io.EOF never keeps bad data. Errors of the
// underlying body, such as io.ErrUnexpectedEOF from a connection cut short,
// pass through unchanged.
//
// Checking a trailing checksum against the payload is the caller's job, and
// the unsigned mode depends on it: nothing else there detects changed or
// reordered data of the right length.
//
// Package sigv4test builds these encodings, correct or hostile, for tests.
//
// The package imports only the standard library and never logs or returns a
// secret key.
package sigv4
