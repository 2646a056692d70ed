// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests the
// way Amazon S3 does: the Authorization header form and presigned URLs.
//
// A Verifier checks the signature of a request's method, path, query and
// signed headers and returns a Result; Result.Body then wraps the request
// body so that its SHA-256 is checked as it streams. Every failure is an
// *Error carrying S3's error code, message and extra XML fields, except
// ErrNoAuth, which marks an anonymous request.
//
// The package imports only the standard library and never logs or returns a
// secret key.
package sigv4
