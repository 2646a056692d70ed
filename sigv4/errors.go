package sigv4

import (
	"errors"
	"strings"
)

// ErrNoAuth is returned by Verify when a request carries no SigV4
// authentication at all; the caller decides whether anonymous access is
// allowed.
var ErrNoAuth = errors.New("sigv4: request is not signed")

// ErrUnknownAccessKey is the error a Verifier's Secret function wraps when it
// does not know an access key.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Error is an S3 authentication error. Code is S3's error code, which the
// caller maps to an HTTP status; Fields are the extra elements S3 puts in the
// XML error body, in order.
type Error struct {
	Code    string
	Message string
	Fields  []Field

	cause error // only for InternalError: what went wrong on our side
}

// Field is one extra element of an S3 XML error body.
type Field struct{ Name, Value string }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause of an InternalError, such as the
// error from a failed secret lookup.
func (e *Error) Unwrap() error { return e.cause }

// Field returns the value of the named extra field.
func (e *Error) Field(name string) (string, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// S3 error codes used by this package.
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeInternalError                     = "InternalError"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeInvalidChunkSizeError             = "InvalidChunkSizeError"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeMalformedTrailerError             = "MalformedTrailerError"
	CodeMissingContentLength              = "MissingContentLength"
	CodeNotImplemented                    = "NotImplemented"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
)

func newError(code, msg string, fields ...Field) *Error {
	return &Error{Code: code, Message: msg, Fields: fields}
}

func internalError(cause error) *Error {
	return &Error{
		Code:    CodeInternalError,
		Message: "We encountered an internal error. Please try again.",
		cause:   cause,
	}
}

func sigV4aNotImplemented() *Error {
	return newError(CodeNotImplemented, "The AWS4-ECDSA-P256-SHA256 signing algorithm is not supported.")
}

const (
	msgUnsupportedAuth = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
	msgOneAuth         = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
	msgNoDate          = "AWS authentication requires a valid Date or x-amz-date header"
	msgSignature       = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgUnknownKey      = "The AWS Access Key Id you provided does not exist in our records."
	msgUnsigned        = "There were headers present in the request which were not signed"
	msgSkewed          = "The difference between the request time and the current time is too large."
	msgMissingSHA256   = "Missing required header for this request: x-amz-content-sha256"
	msgBadSHA256       = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
	msgSHA256Mismatch  = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgQueryParams     = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	msgExpired         = "Request has expired"
	msgNotYetValid     = "Request is not valid yet"
)
