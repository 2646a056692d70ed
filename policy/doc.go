// Package policy judges every authenticated S3 request with a Rego policy,
// evaluated in-process by OPA.
//
// # The policy contract
//
// A policy is a set of Rego (v1 syntax) modules in package s3gate.authz,
// with data documents beside them. It defines:
//
//   - allow: a boolean, false when undefined. Only true allows.
//   - deny: a set of reasons (strings). Any deny wins over allow. A deny
//     of another shape denies too when it is not empty, false or null (an
//     object, as deny[msg] if ... makes, gives its keys as the reasons).
//   - reasons: optional, a set of strings explaining an allow.
//   - readable: a set of objects {"bucket": b, "prefix": p} saying where
//     input.principal may read, with bucket "*" for every bucket and
//     prefix "" for a whole bucket. Engine.Readable evaluates it with the
//     input {"principal": ...} alone, for ListBuckets and for filtering
//     catalogue and search results; Decide still judges every read. A
//     policy that adds deny rules on reads should narrow readable too.
//
// The decision: Decision.Allow is allow && count(deny) == 0. Its Reasons are
// the deny messages (sorted) when a deny fired, "no policy allows <action>
// on <arn>" when nothing allowed, and otherwise the reasons set. Everything
// is denied by default.
//
// The input is the JSON of Input:
//
//	{
//	  "version": 1,
//	  "principal": {"id", "display_name", "roles": [], "groups": [], "claims": {}, "auth"},
//	  "action": "s3:GetObject",
//	  "resource": {"bucket", "key", "arn"},
//	  "request": {"method", "source_ip", "time", "content_type", "content_length",
//	              "prefix", "delimiter", "copy_source", "tags", "existing_tags"}
//	}
//
// Fields that JSON omits when empty (display_name, claims, bucket, key and
// the request's optional facts) are absent, not "". Roles and groups are
// always arrays. auth is sigv4, presigned, jwt, sts or anonymous. time is
// RFC 3339 in UTC with whole seconds: the engine truncates it, and
// time.now_ns() in a policy returns the same instant, so a time-window rule
// sees one time per request and is judged alike whether the decision was
// cached or not. copy_source is "bucket/key".
//
// Actions are AWS IAM action names: s3:GetObject (also HEAD), s3:PutObject
// (also copies, multipart parts and completion, browser form uploads),
// s3:DeleteObject, s3:GetObjectTagging, s3:PutObjectTagging,
// s3:GetObjectAttributes, s3:ListBucket (also HEAD bucket),
// s3:ListAllMyBuckets, s3:ListMultipartUploadParts, s3:AbortMultipartUpload,
// s3:ListBucketMultipartUploads, s3:CreateBucket, s3:DeleteBucket,
// s3:GetBucketLocation, s3:PutBucketCORS, s3:GetBucketCORS,
// s3:PutBucketTagging, s3:GetBucketTagging and the rest of S3's; and
// s3gate:CreateAccessKey, s3gate:ListAccessKeys, s3gate:GetAccessKey,
// s3gate:DisableAccessKey, s3gate:EnableAccessKey and
// s3gate:DeleteAccessKey, s3gate:ListObjects, s3gate:Search, s3gate:Reindex,
// s3gate:ListDeadLetters, s3gate:ReplayDeadLetters, s3gate:Backfill and
// s3gate:GetStats for the admin routes.
//
// # Loading
//
// Options.Dir is read as OPA's loader reads a directory (opa eval -d,
// opa test): every .rego module, and every .json and .yaml document,
// mounted under data at its directory's path relative to Dir, so that
// Dir/home.json {"home": {...}} is data.home and Dir/teams/x.json
// {"a": 1} is data.teams.a. Files named *_test.rego are Rego tests, run by
// Test and not loaded by the engine; names starting with "." are skipped
// (editor files, the ..data links of a Kubernetes ConfigMap volume). A
// policy that does not compile is an error of New, with the compiler's
// messages; on Reload it is logged and counted and the running policy
// stays. Watch reloads when the set, size, mode or modification time of
// those files changes. With Dir "" the engine runs the embedded default
// policy, default/roles.rego: role-based, as examples/policies/roles.rego.
//
// # Caching
//
// Decisions are cached (Options.CacheSize entries, least recently used
// first out, each for Options.CacheTTL) and the cache is emptied on every
// successful reload. The key is the canonical JSON of the input as the
// policy sees it: the engine finds, when it compiles a policy, which input
// fields its rules refer to (input.principal.roles, input.request.source_ip,
// ...; a reference to input or input.request as a whole takes all under
// it) and builds the input of those fields only. So a request differing
// only in what the policy never reads (often the key, the source address,
// the time) shares a cached decision, while one differing in what it reads
// (its source address for an IP rule, its time for a time-window rule, to
// the second) does not. A policy calling time.now_ns has the request time
// in its key as well. Built-in functions that give a different answer each
// time (http.send, rand.intn) are answered from the cache for CacheTTL.
//
// Evaluating a reasons rule costs about as much as allow: the default
// policy defines none.
package policy
