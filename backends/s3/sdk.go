package s3

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3gate/s3gate/backends"
)

// sums points at the five checksum fields S3's SDK types carry.
type sums struct{ crc32, crc32c, crc64, sha1, sha256 **string }

func (f sums) field(alg string) **string {
	switch alg {
	case "CRC32":
		return f.crc32
	case "CRC32C":
		return f.crc32c
	case "CRC64NVME":
		return f.crc64
	case "SHA1":
		return f.sha1
	case "SHA256":
		return f.sha256
	}
	return nil
}

// set stores value in alg's field; unknown algorithms are ignored.
func (f sums) set(alg, value string) {
	if p := f.field(alg); p != nil && value != "" {
		*p = aws.String(value)
	}
}

// get returns the first checksum present.
func (f sums) get() (alg, value string) {
	for _, a := range []string{"CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256"} {
		if p := f.field(a); p != nil && *p != nil && **p != "" {
			return a, **p
		}
	}
	return "", ""
}

// checksumOf builds a backends.Checksum from response fields.
func checksumOf(f sums, typ string) backends.Checksum {
	alg, v := f.get()
	if v == "" {
		return backends.Checksum{}
	}
	if typ == "" {
		typ = backends.ChecksumFullObject
		if strings.Contains(v, "-") {
			typ = backends.ChecksumComposite
		}
	}
	return backends.Checksum{Algorithm: alg, Value: v, Type: typ}
}

// encodeTags renders tags as the x-amz-tagging header: a URL query with
// %20 for spaces, in a stable order.
func encodeTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escapeTag(k))
		b.WriteByte('=')
		b.WriteString(escapeTag(tags[k]))
	}
	return b.String()
}

func escapeTag(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// unquote strips an ETag's quotes.
func unquote(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

func quote(etag string) *string {
	if etag == "" || etag == "*" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
		return aws.String(etag)
	}
	return aws.String(`"` + etag + `"`)
}

// etagList quotes each entity tag of an If-Match style list.
func etagList(list string) *string {
	if list == "" {
		return nil
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = *quote(strings.TrimSpace(p))
	}
	return aws.String(strings.Join(parts, ", "))
}

// partsFromETag reads the part count from a multipart ETag ("<md5>-N").
func partsFromETag(etag string) int {
	_, n, ok := strings.Cut(etag, "-")
	if !ok {
		return 0
	}
	c := 0
	for _, r := range n {
		if r < '0' || r > '9' {
			return 0
		}
		c = c*10 + int(r-'0')
		if c > backends.MaxParts {
			return 0
		}
	}
	return c
}

// serverTime is the Date of a response, the backend's clock at the
// commit; the local clock when it is missing.
func serverTime(md middleware.Metadata) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok && !t.IsZero() {
		return t.UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}

// withHeader sets a raw request header (for values the SDK would reformat,
// such as Expires).
func withHeader(name, value string) func(*s3sdk.Options) {
	return func(o *s3sdk.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue(name, value))
	}
}

// oneAttempt disables retries, for calls whose body cannot be replayed or
// whose repetition would not be idempotent (conditional writes).
func oneAttempt(o *s3sdk.Options) { o.Retryer = aws.NopRetryer{} }

// noResponseValidation returns response bodies as they come: s3gate asks
// for stored checksums to report them, not to have the SDK hash every
// download.
func noResponseValidation(o *s3sdk.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		st.Deserialize.Remove("AWSChecksum:ValidateOutputPayloadChecksum")
		return nil
	})
}

// streamingPayload sends a body the SDK must not read ahead: unsigned
// (UNSIGNED-PAYLOAD, or STREAMING-UNSIGNED-PAYLOAD-TRAILER for an
// aws-chunked body), with extra headers, in one attempt.
func streamingPayload(payloadHash string, headers map[string]string) func(*s3sdk.Options) {
	return func(o *s3sdk.Options) {
		o.Retryer = aws.NopRetryer{}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("s3gate:StreamingPayload",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						for k, v := range headers {
							req.Header.Set(k, v)
						}
					}
					return next.HandleFinalize(v4.SetPayloadHash(ctx, payloadHash), in)
				}), "ComputePayloadHash", middleware.Before)
		})
	}
}

// defaultContentType is S3's type for an object stored without one.
const defaultContentType = "binary/octet-stream"

// contentType is the Content-Type sent for an object: servers store
// different defaults for none (versitygw: application/octet-stream for a
// PUT), so s3gate sends S3's own default, and reads it back as "none",
// which the gateway reports as that same default.
func contentType(t string) *string {
	if t == "" {
		return aws.String(defaultContentType)
	}
	return aws.String(t)
}

// withoutChunked drops the aws-chunked token some servers store with the
// Content-Encoding of a body sent aws-chunked: it described the transfer,
// not the object.
func withoutChunked(v string) string {
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !strings.EqualFold(p, "aws-chunked") {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}
