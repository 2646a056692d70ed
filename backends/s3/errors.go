package s3

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3gate/s3gate/backends"
)

// backendError is a backend failure classified as one of the backends
// sentinels; errors.Is matches the sentinel, and the backend's own error
// stays in the message for the logs.
type backendError struct {
	sentinel error
	cause    error
}

func (e *backendError) Error() string { return e.sentinel.Error() + " (" + e.cause.Error() + ")" }

func (e *backendError) Unwrap() []error { return []error{e.sentinel, e.cause} }

func classify(sentinel, cause error) error { return &backendError{sentinel: sentinel, cause: cause} }

// errNotImplemented: the backend does not implement the request.
var errNotImplemented = errors.New("not implemented by the backend")

// codes maps S3 error codes to sentinels.
var codes = map[string]error{
	"NoSuchBucket":                 backends.ErrNoSuchBucket,
	"NoSuchKey":                    backends.ErrNoSuchKey,
	"NotFound":                     backends.ErrNoSuchKey, // HEAD: no body, no code
	"BucketAlreadyExists":          backends.ErrBucketExists,
	"BucketAlreadyOwnedByYou":      backends.ErrBucketExists,
	"BucketNotEmpty":               backends.ErrBucketNotEmpty,
	"InvalidBucketName":            backends.ErrInvalidBucket,
	"PreconditionFailed":           backends.ErrPreconditionFail,
	"ConditionalRequestConflict":   backends.ErrPreconditionFail,
	"NotModified":                  backends.ErrNotModified,
	"InvalidRange":                 backends.ErrInvalidRange,
	"RequestedRangeNotSatisfiable": backends.ErrInvalidRange,
	"NoSuchUpload":                 backends.ErrNoSuchUpload,
	"InvalidPart":                  backends.ErrInvalidPart,
	"InvalidPartOrder":             backends.ErrInvalidPartOrder,
	"EntityTooSmall":               backends.ErrEntityTooSmall,
	"InvalidPartNumber":            backends.ErrInvalidPartNumber,
	"BadDigest":                    backends.ErrBadDigest,
	"XAmzContentChecksumMismatch":  backends.ErrBadDigest,
	"KeyTooLongError":              backends.ErrKeyTooLong,
	"IncompleteBody":               backends.ErrIncompleteBody,
	"NotImplemented":               errNotImplemented,
	// versitygw's posix backend: keys that cannot coexist as paths.
	"DirectoryObjectContainsData": backends.ErrInvalidKey,
	"ObjectParentIsFile":          backends.ErrInvalidKey,
	"ExistingObjectIsDirectory":   backends.ErrInvalidKey,
	"SlowDown":                    backends.ErrBackendUnavailable,
	"ServiceUnavailable":          backends.ErrBackendUnavailable,
	"InternalError":               backends.ErrBackendUnavailable,
	"RequestTimeout":              backends.ErrBackendUnavailable,
}

// mapErr classifies a failed SDK call. ctx is the caller's context: when
// it is done, its error is what happened. Everything that is not an
// answer from the backend (a refused or broken connection, a timeout) and
// every 5xx answer is ErrBackendUnavailable.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	code, msg, status := apiError(err)
	if code == "InvalidRequest" && strings.Contains(msg, "Checksum Type mismatch") {
		return classify(backends.ErrChecksumAlgorithm, err)
	}
	if sentinel, ok := codes[code]; ok {
		return classify(sentinel, err)
	}
	switch {
	case status == http.StatusNotModified:
		return classify(backends.ErrNotModified, err)
	case status == http.StatusPreconditionFailed:
		return classify(backends.ErrPreconditionFail, err)
	case status == http.StatusRequestedRangeNotSatisfiable:
		return classify(backends.ErrInvalidRange, err)
	case status == http.StatusNotFound:
		return classify(backends.ErrNoSuchKey, err)
	case status >= 500, status == 0:
		// No answer at all, or a server failure.
		return classify(backends.ErrBackendUnavailable, err)
	}
	return err
}

// apiError extracts the S3 error code, message and HTTP status of an SDK
// error (status 0: no response).
func apiError(err error) (code, msg string, status int) {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	return code, msg, status
}
