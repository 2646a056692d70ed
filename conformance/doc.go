// Package conformance drives a real s3gate process with real S3 clients:
// aws-sdk-go-v2, minio-go, the aws CLI, rclone, s3cmd and boto3. It builds
// ./cmd/s3gate once, starts one process per test on loopback ports with its
// own data directory, and checks every round trip byte for byte.
//
// Clients choose their upload encoding by scheme, so the upload tests run
// over plain http and over https (a CA and certificate each test makes for
// itself): signed payload hashes, UNSIGNED-PAYLOAD, and the aws-chunked
// encodings, signed and unsigned, with trailing checksums. Each asserts from
// s3gate's access log how the body actually arrived, so that no test can
// pass on the wrong path.
//
// The package talks HTTP and runs processes only; it imports no s3gate
// package. It has no non-test code besides this comment.
//
// A test whose client tool is missing skips, except when CI=true, where it
// fails and names the tool (.ci/run installs them all).
//
// S3GATE_TEST_BINARY=/path/to/s3gate runs the suite against a prebuilt
// binary instead of building ./cmd/s3gate.
package conformance
