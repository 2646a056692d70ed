// Package s3 is the s3gate backend that keeps buckets and objects in
// another S3 service: AWS S3, MinIO, Ceph RGW, versitygw. It implements
// backends.Backend and backends.Copier on aws-sdk-go-v2, and was proven
// against versitygw v1.8.0 (posix) with the shared acceptance suite.
//
// # Buckets and keys
//
// Options.Buckets maps each gateway bucket to a backend bucket and a key
// prefix; an unmapped bucket maps through the "*" entry (where "*" stands
// for its name: {Bucket: "tenant-*"} or {Bucket: "shared", Prefix:
// "buckets/*/"}), or else to the backend bucket of the same name. The
// prefix is added to every key sent and removed from every key, common
// prefix and marker that comes back. Mappings must not overlap, and a
// backend bucket that holds prefixed buckets is no gateway bucket of its
// own.
//
// A prefixed bucket exists while its marker does: the empty object whose
// key is the prefix itself (the gateway key "", which no client can
// use). CreateBucket writes it (If-None-Match: *), DeleteBucket removes
// it, listings start after it. Because the backend cannot tell a missing
// key in a missing prefixed bucket from any other, writes into a prefixed
// bucket read the marker first (one HEAD), and a 404 is checked against
// it. Deleting a prefixed bucket is two calls (emptiness, then the
// marker): a PUT racing it may land in between, which a whole backend
// bucket (deleted by the backend itself) does not allow.
//
// # Writes: streaming, held-back bytes, checksums
//
// A body of up to 256 KiB is read whole before it is sent: its checksum
// is then known and sent as a header, with its Content-MD5, the request
// may be retried, and a body that fails (or is empty) never reaches the
// backend half-sent.
//
// A larger body streams: bytes go to the backend as the caller's body
// yields them, straight into the transport's buffer, with an exact
// declared length. The final byte of the declared size is held back until
// the caller's body has returned io.EOF (every check passed: signature,
// checksum, Content-MD5, size) and the request's context is still alive.
// A body that fails instead, runs short or long, or whose request was
// cancelled (the client went away, the backend stalled) leaves the backend
// at least one byte short: the connection is closed and the backend
// commits nothing.
//
// Streamed bodies are always sent aws-chunked
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with the checksum in a trailer. A
// body cut short then breaks the framing and lacks its trailer, which
// matters: versitygw v1.8.0 stores a plain Content-Length body whose
// connection closes early as a complete, shorter object (the backend
// tests catch it every time when bodies are sent plain). The trailer's algorithm must be named before the
// body starts, so the caller sets PutOptions.Checksum.Algorithm early (the
// gateway knows it from the request's headers); its value arrives only
// at the end. s3gate hashes the bytes as they pass and, at the end,
// compares the caller's checksum with its own (ErrBadDigest on a
// mismatch, before the trailer goes); the trailer then carries the value
// both sides computed, and the backend verifies and stores it. A caller
// that names no algorithm gets CRC64NVME (S3's default); one that names it
// only at the end fails (the algorithm cannot be changed after the
// headers went). Parts use their upload's algorithm, read once from the
// backend (ListParts) and cached. A Content-MD5 the client sent
// (PutOptions.ContentMD5, PartOptions.ContentMD5) goes with a streamed
// body as its header, so the backend checks it as well.
//
// Streaming calls make one attempt (a streamed body cannot be replayed),
// as do conditional writes (a repeated If-None-Match: * would fail after
// a first attempt that succeeded unseen). Other calls retry transient
// failures (5xx, throttling, broken connections) up to three attempts.
//
// A body of unknown size (PutOptions.Size -1) that fits in one 8 MiB part
// is sent as one PUT; a longer one becomes a multipart upload of 8 MiB
// parts, one uploading while the next fills (two part buffers at most),
// completed only after the body ended cleanly and aborted otherwise. Such
// an object has a multipart ETag ("<md5>-N") and, for SHA algorithms, a
// COMPOSITE checksum.
//
// # Conditions
//
// Write conditions go to the backend, which checks them atomically with
// the commit: If-None-Match: * as it is, If-Match with one ETag as it is.
// If-Match: * and ETag lists, which servers handle unevenly, are first
// resolved to the current object's ETag (a HEAD; a missing key is
// ErrNoSuchKey) and then sent as that one ETag, so the backend still
// refuses an object replaced in between. DeleteObject with If-Match reads
// the object first the same way (S3 answers a conditional delete of a
// missing key with success).
//
// Read conditions are evaluated as backends.Conditions.Check defines them
// (servers differ on lists, on the precedence of the date conditions and
// on one-second resolution) against the object's HEAD, and the GET is
// then pinned to the version evaluated with If-Match. An unconditional GET
// is one request.
//
// # Reads
//
// GetObject returns the backend's response body as Object.Body, untouched
// (no copy, no hashing); Range and partNumber are the backend's, with its
// Content-Range as Object.Range and ObjectInfo.PartRange. Stored checksums
// are always asked for (x-amz-checksum-mode: ENABLED, on HEAD and GET) and
// returned; the SDK's own validation of them is off. A part's answer
// carries the part's checksum, so part reads of multipart objects report
// none for the object. Reads of the body are watched: a backend that sends
// nothing for Options.Timeout fails the read with ErrBackendUnavailable.
// ObjectInfo.PartsCount comes from the multipart ETag. Content-Type is
// sent as binary/octet-stream when the caller has none (servers store
// different defaults) and read back as none.
//
// # Errors and timeouts
//
// Backend answers map to the backends sentinels (NoSuchKey, NoSuchBucket,
// BucketNotEmpty, PreconditionFailed, NotModified, InvalidRange,
// NoSuchUpload, InvalidPart, ...). 5xx answers, refused or broken
// connections and timeouts are ErrBackendUnavailable, after the retries
// the call allows; the caller's own cancellation is its context's error.
// Non-streaming calls are bounded by Options.Timeout (copies and
// completions, whose time grows with the object, by 20 times it);
// streaming calls by the watchdog: no progress for Timeout. A completion
// that fails on a part names it (*backends.PartError), from a ListParts.
//
// # Connections
//
// One http.Transport per Store keeps up to Options.MaxIdleConnsPerHost
// (256) idle keep-alive connections to the backend, instead of Go's 2,
// whose churn makes busy gateways dial for most requests. Bodies of
// cancelled or abandoned requests are closed, so their connections are
// either reused or closed; nothing is left behind by clients that go
// away. The transport takes no proxy from the environment and asks for no
// transparent compression.
//
// Nothing reaches beyond Options.Endpoint unless asked: credentials are
// static or read from the AWS_* environment variables, and only
// Credentials "default" uses the SDK's default chain (shared files, SSO,
// instance metadata).
//
// # Capabilities
//
// Capabilities reports Options.Capabilities, or S3Capabilities: what the
// Store provides in front of a server that behaves as AWS S3 does.
// Conditional writes and deletes are supported; the Store's own limits
// are that listings carry no tag counts (NoListTagCounts, as in S3) and
// completed objects' part tables are not read (NoObjectParts).
// VersitygwCapabilities is what the Store proved against versitygw v1.8.0
// (posix), and adds that server's limits: keys are file-system paths
// (PathKeys), parts of uploads without a chosen algorithm keep no checksum
// (NoDefaultPartChecksums), and its completion and GET are not atomic
// with racing part uploads, aborts and overwrites (RacyComplete,
// RacyReads). NamedCapabilities maps the configuration's names (s3,
// versitygw) to them. Other versitygw quirks the Store
// smooths over: it refuses every upload-id-marker (the uploads of the
// marker key are listed separately), ignores encoding-type=url (names are
// decoded only when the answer says they were encoded), skips common
// prefixes before start-after (the prefix holding start-after is looked
// up), does not enforce consecutive part numbers or ascending order
// (checked here), requires every part's checksum at completion (filled in
// from ListParts), and answers a retried completion with other parts as a
// success (a completion of an upload that is gone succeeds only when the
// key holds the object those parts made).
package s3
