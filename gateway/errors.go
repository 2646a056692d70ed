package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/processors/image"
	"github.com/s3gate/s3gate/sigv4"
)

// APIError is an S3 error response: code, message, HTTP status and the extra
// elements S3 adds for some codes (BucketName, Key, Condition ...).
type APIError struct {
	Code    string
	Message string
	Status  int
	Fields  []sigv4.Field
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// with returns a copy of e carrying one more element.
func (e *APIError) with(name, value string) *APIError {
	c := *e
	c.Fields = append(append([]sigv4.Field(nil), e.Fields...), sigv4.Field{Name: name, Value: value})
	return &c
}

// errorCode is the status and default message of one S3 error code.
type errorCode struct {
	status  int
	message string
}

// codes lists every error code s3gate sends, with S3's status and message.
var codes = map[string]errorCode{
	"AccessDenied":                       {403, "Access Denied"},
	"AccessForbidden":                    {403, "CORSResponse: This CORS request is not allowed."},
	"AuthorizationHeaderMalformed":       {400, "The authorization header is malformed."},
	"AuthorizationQueryParametersError":  {400, "Error parsing the query parameters of a presigned request."},
	"BadRequest":                         {400, "Bad Request"},
	"BadDigest":                          {400, "The Content-MD5 you specified did not match what we received."},
	"BucketAlreadyExists":                {409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	"BucketAlreadyOwnedByYou":            {409, "Your previous request to create the named bucket succeeded and you already own it."},
	"BucketNotEmpty":                     {409, "The bucket you tried to delete is not empty"},
	"EntityTooSmall":                     {400, "Your proposed upload is smaller than the minimum allowed object size."},
	"EntityTooLarge":                     {400, "Your proposed upload exceeds the maximum allowed object size."},
	"IllegalLocationConstraintException": {400, "The location constraint is incompatible for the region specific endpoint this request was sent to."},
	"IncompleteBody":                     {400, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	"InternalError":                      {500, "We encountered an internal error. Please try again."},
	"ServiceUnavailable":                 {503, "Please reduce your request rate."},
	"InvalidToken":                       {400, "The provided token is malformed or otherwise invalid."},
	"ExpiredToken":                       {400, "The provided token has expired."},
	"InvalidAccessKeyId":                 {403, "The AWS Access Key Id you provided does not exist in our records."},
	"InvalidArgument":                    {400, "Invalid Argument"},
	"InvalidBucketName":                  {400, "The specified bucket is not valid."},
	"InvalidChunkSizeError":              {403, "Only the last chunk is allowed to have a size less than 8192 bytes"},
	"InvalidDigest":                      {400, "The Content-MD5 you specified is not valid."},
	"InvalidLocationConstraint":          {400, "The specified location-constraint is not valid"},
	"InvalidPart":                        {400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
	"InvalidPartOrder":                   {400, "The list of parts was not in ascending order. Parts must be ordered by part number."},
	"InvalidPartNumber":                  {416, "The requested partnumber is not satisfiable"},
	"InvalidPolicyDocument":              {400, "The content of the form does not meet the conditions specified in the policy document."},
	"InvalidRange":                       {416, "The requested range is not satisfiable"},
	"InvalidRequest":                     {400, "Invalid Request"},
	"InvalidTag":                         {400, "The tag provided was not a valid tag."},
	"InvalidURI":                         {400, "Couldn't parse the specified URI."},
	"InvalidStorageClass":                {400, "The storage class you specified is not valid"},
	"KeyTooLongError":                    {400, "Your key is too long"},
	"MalformedPOSTRequest":               {400, "The body of your POST request is not well-formed multipart/form-data."},
	"MalformedTrailerError":              {400, "The request contained trailing data that was not well-formed or did not conform to our published schema."},
	"MalformedXML":                       {400, "The XML you provided was not well-formed or did not validate against our published schema"},
	"MaxMessageLengthExceeded":           {400, "Your request was too big."},
	"MetadataTooLarge":                   {400, "Your metadata headers exceed the maximum allowed metadata size."},
	"MethodNotAllowed":                   {405, "The specified method is not allowed against this resource."},
	"MissingContentLength":               {411, "You must provide the Content-Length HTTP header."},
	"NoSuchBucket":                       {404, "The specified bucket does not exist"},
	"NoSuchKey":                          {404, "The specified key does not exist."},
	"NoSuchVersion":                      {404, "The specified version does not exist."},
	"NoSuchUpload":                       {404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	"NotImplemented":                     {501, "A header or query you provided implies functionality that is not implemented."},
	"PreconditionFailed":                 {412, "At least one of the pre-conditions you specified did not hold"},
	"RequestHeaderSectionTooLarge":       {400, "Your request header section exceeds the maximum allowed size."},
	"RequestTimeout":                     {400, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."},
	"RequestTimeTooSkewed":               {403, "The difference between the request time and the server's time is too large."},
	"SignatureDoesNotMatch":              {403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	"SlowDown":                           {503, "Please reduce your request rate."},
	"XAmzContentSHA256Mismatch":          {400, "The provided 'x-amz-content-sha256' header does not match what was computed."},

	// Answers for bucket features that are not configured.
	"NoSuchCORSConfiguration":                        {404, "The CORS configuration does not exist"},
	"NoSuchBucketPolicy":                             {404, "The bucket policy does not exist"},
	"NoSuchTagSet":                                   {404, "The TagSet does not exist"},
	"NoSuchLifecycleConfiguration":                   {404, "The lifecycle configuration does not exist"},
	"ServerSideEncryptionConfigurationNotFoundError": {404, "The server side encryption configuration was not found"},
	"NoSuchWebsiteConfiguration":                     {404, "The specified bucket does not have a website configuration"},
	"ObjectLockConfigurationNotFoundError":           {404, "Object Lock configuration does not exist for this bucket"},
	"NoSuchObjectLockConfiguration":                  {404, "The specified object does not have a ObjectLock configuration"},
	"ReplicationConfigurationNotFoundError":          {404, "The replication configuration was not found"},
	"OwnershipControlsNotFoundError":                 {404, "The bucket ownership controls were not found"},
	"NoSuchPublicAccessBlockConfiguration":           {404, "The public access block configuration was not found"},
}

// s3Error builds the APIError for code with S3's default message, or msg when
// given.
func s3Error(code string, msg ...any) *APIError {
	c, ok := codes[code]
	if !ok {
		panic("gateway: unknown S3 error code " + code)
	}
	m := c.message
	if len(msg) > 0 {
		m = fmt.Sprintf(msg[0].(string), msg[1:]...)
	}
	return &APIError{Code: code, Message: m, Status: c.status}
}

// toAPIError classifies any error a handler returns. Errors it does not know
// become InternalError; their text is logged, never sent.
func toAPIError(err error, st *request) (apiErr *APIError, internal bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae, false
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		c, ok := codes[se.Code]
		if !ok {
			return s3Error("InternalError"), true
		}
		return &APIError{Code: se.Code, Message: se.Message, Status: c.status, Fields: se.Fields}, false
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, backends.ErrNoSuchBucket):
		return s3Error("NoSuchBucket").with("BucketName", st.bucket), false
	case errors.Is(err, backends.ErrNoSuchKey):
		return s3Error("NoSuchKey").with("Key", st.key), false
	case errors.Is(err, backends.ErrBucketExists):
		return s3Error("BucketAlreadyOwnedByYou").with("BucketName", st.bucket), false
	case errors.Is(err, backends.ErrBucketNotEmpty):
		return s3Error("BucketNotEmpty").with("BucketName", st.bucket), false
	case errors.Is(err, backends.ErrInvalidBucket):
		return s3Error("InvalidBucketName").with("BucketName", st.bucket), false
	case errors.Is(err, backends.ErrKeyTooLong):
		return s3Error("KeyTooLongError").with("Size", fmt.Sprint(len(st.key))).with("MaxSizeAllowed", fmt.Sprint(backends.MaxKeyLength)), false
	case errors.Is(err, backends.ErrInvalidKey):
		return s3Error("InvalidURI"), false
	case errors.Is(err, backends.ErrPreconditionFail):
		return s3Error("PreconditionFailed"), false
	case errors.Is(err, backends.ErrInvalidRange):
		return s3Error("InvalidRange"), false
	case errors.Is(err, backends.ErrIncompleteBody), errors.Is(err, io.ErrUnexpectedEOF):
		return s3Error("IncompleteBody"), false
	case errors.Is(err, backends.ErrNoSuchUpload):
		return s3Error("NoSuchUpload").with("UploadId", query0(st, "uploadId")), false
	case errors.Is(err, backends.ErrInvalidPart):
		ae := s3Error("InvalidPart")
		var pe *backends.PartError
		if errors.As(err, &pe) {
			ae = ae.with("UploadId", query0(st, "uploadId")).with("PartNumber", strconv.Itoa(pe.Number)).with("ETag", pe.ETag)
		}
		return ae, false
	case errors.Is(err, backends.ErrInvalidPartOrder):
		return s3Error("InvalidPartOrder"), false
	case errors.Is(err, backends.ErrEntityTooSmall):
		ae := s3Error("EntityTooSmall")
		var pe *backends.PartError
		if errors.As(err, &pe) {
			ae = ae.with("ProposedSize", strconv.FormatInt(pe.Size, 10)).with("MinSizeAllowed", strconv.Itoa(backends.MinPartSize)).
				with("PartNumber", strconv.Itoa(pe.Number)).with("ETag", pe.ETag)
		}
		return ae, false
	case errors.Is(err, backends.ErrChecksumAlgorithm):
		return s3Error("InvalidRequest", "Checksum Type mismatch occurred: the part's checksum is not of the upload's algorithm."), false
	case errors.Is(err, backends.ErrInvalidPartNumber):
		return s3Error("InvalidPartNumber"), false
	case errors.Is(err, backends.ErrBadDigest):
		return s3Error("BadDigest", "The checksum of the whole object you specified did not match the calculated checksum."), false
	case errors.Is(err, backends.ErrBackendUnavailable):
		// Transient by nature: clients retry SlowDown with backoff.
		return s3Error("SlowDown", "The storage behind s3gate is unavailable; please retry."), false
	case errors.Is(err, image.ErrNotMade):
		return s3Error("NoSuchKey", "This image variant has not been made yet; variants are made shortly after an upload.").with("Key", st.key), false
	case errors.Is(err, image.ErrNotImage):
		return s3Error("InvalidRequest", "No image variant is made of this object: it is not an image of a type the preset applies to, or it cannot be decoded."), false
	case errors.Is(err, image.ErrUnknownPreset):
		return s3Error("InvalidArgument", "No image variant preset of that name applies to this bucket."), false
	case errors.Is(err, backends.ErrReservedKey):
		return s3Error("AccessDenied", "Keys under this prefix are reserved for the objects s3gate makes itself (image variants)."), false
	case errors.Is(err, backends.ErrSizeMismatch):
		return s3Error("InvalidRequest", "The request body is longer than its declared length."), false
	case errors.As(err, &tooBig):
		return s3Error("MaxMessageLengthExceeded"), false
	case errors.Is(err, context.Canceled):
		return &APIError{Code: "RequestCanceled", Message: "The client closed the request.", Status: 499}, false
	}
	return s3Error("InternalError"), true
}

// catalogError maps the catalogue's errors to the gateway's.
func catalogError(err error) error {
	switch {
	case errors.Is(err, catalog.ErrNoSuchBucket):
		return backends.ErrNoSuchBucket
	case errors.Is(err, catalog.ErrBucketExists):
		return backends.ErrBucketExists
	case errors.Is(err, catalog.ErrNoSuchCORSConfiguration):
		return s3Error("NoSuchCORSConfiguration")
	case errors.Is(err, catalog.ErrNoSuchTagSet):
		return s3Error("NoSuchTagSet")
	}
	return err
}

// query0 is a query parameter of the request st describes, for error
// details ("" outside a request).
func query0(st *request, name string) string {
	if st.query == nil {
		return ""
	}
	return st.query.Get(name)
}

// errorBody is S3's error document (it has no XML namespace).
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Fields    []xmlField
	Resource  string
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// writeError renders err as S3 does: the XML document for every method but
// HEAD, which gets the status alone.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := requestState(r.Context())
	if errors.Is(err, backends.ErrNotModified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	ae, internal := toAPIError(err, st)
	st.errCode = ae.Code
	if internal {
		g.log.ErrorContext(r.Context(), "internal error", "request_id", st.id, "op", st.op, "err", err)
	}
	if errors.Is(err, backends.ErrBackendUnavailable) {
		g.log.WarnContext(r.Context(), "storage backend unavailable", "request_id", st.id, "op", st.op, "bucket", st.bucket, "err", err)
	}
	if ae.Status == 499 {
		// The client is gone; there is nobody to answer.
		return
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(ae.Status)
		return
	}
	if ae.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeXML(w, ae.Status, g.errorDocument(r, ae))
}

// errorDocument is the S3 error document for ae.
func (g *Gateway) errorDocument(r *http.Request, ae *APIError) *errorBody {
	body := &errorBody{
		Code:      ae.Code,
		Message:   ae.Message,
		Resource:  r.URL.Path,
		RequestID: requestState(r.Context()).id,
		HostID:    g.hostID,
	}
	for _, f := range ae.Fields {
		body.Fields = append(body.Fields, xmlField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	return body
}
