package gateway

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/checksum"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/sigv4"
)

// checksumField names the element of an algorithm's value in S3 documents:
// ChecksumCRC32, ChecksumSHA256 ...
type checksumFields struct {
	CRC32     string `xml:"ChecksumCRC32,omitempty"`
	CRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	CRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	SHA1      string `xml:"ChecksumSHA1,omitempty"`
	SHA256    string `xml:"ChecksumSHA256,omitempty"`
}

// set puts value in the element of alg.
func (c *checksumFields) set(alg, value string) {
	switch checksum.Algorithm(alg) {
	case checksum.CRC32:
		c.CRC32 = value
	case checksum.CRC32C:
		c.CRC32C = value
	case checksum.CRC64NVME:
		c.CRC64NVME = value
	case checksum.SHA1:
		c.SHA1 = value
	case checksum.SHA256:
		c.SHA256 = value
	}
}

// get returns the value of alg's element.
func (c checksumFields) get(alg string) string {
	switch checksum.Algorithm(alg) {
	case checksum.CRC32:
		return c.CRC32
	case checksum.CRC32C:
		return c.CRC32C
	case checksum.CRC64NVME:
		return c.CRC64NVME
	case checksum.SHA1:
		return c.SHA1
	case checksum.SHA256:
		return c.SHA256
	}
	return ""
}

// count is how many elements are set.
func (c checksumFields) count() int {
	n := 0
	for _, v := range []string{c.CRC32, c.CRC32C, c.CRC64NVME, c.SHA1, c.SHA256} {
		if v != "" {
			n++
		}
	}
	return n
}

type initiateResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// uploadChecksum settles a new upload's checksum algorithm and type from
// x-amz-checksum-algorithm and x-amz-checksum-type, with S3's rules:
// CRC64NVME is FULL_OBJECT only, SHA1 and SHA256 COMPOSITE only, CRC32 and
// CRC32C either (COMPOSITE unless asked). Without an algorithm the upload
// gets CRC64NVME, FULL_OBJECT, as S3 does.
func uploadChecksum(h http.Header) (alg, typ string, deflt bool, err error) {
	a, t := h.Get("X-Amz-Checksum-Algorithm"), strings.ToUpper(h.Get("X-Amz-Checksum-Type"))
	if t != "" && t != backends.ChecksumFullObject && t != backends.ChecksumComposite {
		return "", "", false, s3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
	}
	if a == "" {
		if t != "" {
			return "", "", false, s3Error("InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return string(checksum.CRC64NVME), backends.ChecksumFullObject, true, nil
	}
	parsed, ok := checksum.Parse(a)
	if !ok {
		return "", "", false, s3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	switch {
	case t == "" && parsed == checksum.CRC64NVME:
		t = backends.ChecksumFullObject
	case t == "":
		t = backends.ChecksumComposite
	case t == backends.ChecksumComposite && parsed == checksum.CRC64NVME,
		t == backends.ChecksumFullObject && (parsed == checksum.SHA1 || parsed == checksum.SHA256):
		return "", "", false, s3Error("InvalidRequest", "The %s checksum type cannot be used with the %s checksum algorithm.", t, strings.ToLower(string(parsed)))
	}
	return string(parsed), t, false, nil
}

// createMultipartUpload is CreateMultipartUpload.
func (g *Gateway) createMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := checkKey(st.key); err != nil {
		return err
	}
	po, err := putOptions(r)
	if err != nil {
		return err
	}
	alg, typ, deflt, err := uploadChecksum(r.Header)
	if err != nil {
		return err
	}
	id, err := g.backend.CreateMultipartUpload(r.Context(), st.bucket, st.key, backends.UploadOptions{
		ContentHeaders:    po.ContentHeaders,
		Metadata:          po.Metadata,
		Tags:              po.Tags,
		ChecksumAlgorithm: alg,
		ChecksumType:      typ,
		ChecksumDefault:   deflt,
	})
	if err != nil {
		return err
	}
	if !deflt {
		w.Header().Set("x-amz-checksum-algorithm", alg)
		w.Header().Set("x-amz-checksum-type", typ)
	}
	writeXML(w, http.StatusOK, &initiateResult{Bucket: st.bucket, Key: st.key, UploadID: id})
	return nil
}

// partNumberParam reads ?partNumber of an upload request: 1 to 10000.
func partNumberParam(r *http.Request) (int, error) {
	v := query(r).Get("partNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > backends.MaxParts {
		return 0, s3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive").
			with("ArgumentName", "partNumber").with("ArgumentValue", v)
	}
	return n, nil
}

// uploadInfo looks an upload up before a part's body is read, so a part for
// an unknown upload is refused at once and the upload's checksum algorithm
// is known while the part streams.
func (g *Gateway) uploadInfo(r *http.Request) (backends.UploadInfo, error) {
	st := requestState(r.Context())
	page, err := g.backend.ListParts(r.Context(), st.bucket, st.key, query(r).Get("uploadId"), backends.ListPartsOptions{})
	return page.Upload, err
}

// uploadPart is UploadPart.
func (g *Gateway) uploadPart(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	n, err := partNumberParam(r)
	if err != nil {
		return err
	}
	info, err := g.uploadInfo(r)
	if err != nil {
		return err
	}
	up, err := g.uploadBody(r, checksum.Algorithm(info.ChecksumAlgorithm))
	if err != nil {
		return err
	}
	if err := partChecksumMatches(info, up.declared); err != nil {
		return err
	}
	if up.size > maxPutSize {
		return s3Error("EntityTooLarge").
			with("ProposedSize", strconv.FormatInt(up.size, 10)).
			with("MaxSizeAllowed", strconv.FormatInt(maxPutSize, 10))
	}
	part, err := g.backend.UploadPart(r.Context(), st.bucket, st.key, info.UploadID, n, up.body,
		backends.PartOptions{Size: up.size, Checksum: up.checksum, ContentMD5: r.Header.Get("Content-Md5")})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", `"`+part.ETag+`"`)
	if !info.ChecksumDefault {
		h.Set(checksum.Algorithm(part.Checksum.Algorithm).Header(), part.Checksum.Value)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// partChecksumMatches refuses a part whose checksum is of another algorithm
// than the upload's, when the client chose the upload's.
func partChecksumMatches(info backends.UploadInfo, declared checksum.Algorithm) error {
	if info.ChecksumDefault || declared == "" || string(declared) == info.ChecksumAlgorithm {
		return nil
	}
	return s3Error("InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
		strings.ToLower(info.ChecksumAlgorithm), strings.ToLower(string(declared)))
}

// completeRequest is the CompleteMultipartUpload document.
type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber []string `xml:"PartNumber"`
		ETag       []string `xml:"ETag"`
		checksumFields
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

// completeLimits bound CompleteMultipartUpload's document: 10000 parts with
// a number, an ETag and a checksum each.
var completeLimits = xmlLimits{bytes: 4 << 20, depth: 3, elements: 4*backends.MaxParts + 8}

// completeMultipartUpload is CompleteMultipartUpload.
func (g *Gateway) completeMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	uploadID := query(r).Get("uploadId")
	info, err := g.uploadInfo(r)
	if err != nil {
		return err
	}
	body, err := g.documentBody(r)
	if err != nil {
		return err
	}
	var req completeRequest
	if err := readXML(body, completeLimits, &req); err != nil {
		return err
	}
	if len(req.Parts) == 0 {
		return s3Error("MalformedXML")
	}
	parts := make([]backends.CompletedPart, len(req.Parts))
	for i, p := range req.Parts {
		if len(p.PartNumber) != 1 || len(p.ETag) != 1 || p.count() > 1 {
			return s3Error("MalformedXML")
		}
		n, err := strconv.Atoi(p.PartNumber[0])
		if err != nil || n < 1 || n > backends.MaxParts {
			return s3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
		}
		if i > 0 && n <= parts[i-1].Number {
			return s3Error("InvalidPartOrder").with("UploadId", uploadID)
		}
		sum := p.get(info.ChecksumAlgorithm)
		if !info.ChecksumDefault && sum == "" {
			return s3Error("InvalidRequest", "The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				strings.ToLower(info.ChecksumAlgorithm), n)
		}
		if p.count() == 1 && sum == "" {
			return s3Error("InvalidPart")
		}
		parts[i] = backends.CompletedPart{Number: n, ETag: strings.Trim(p.ETag[0], `"`), Checksum: sum}
	}
	opts := backends.CompleteOptions{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return s3Error("NotImplemented", "If-None-Match on a write accepts only *.")
	}
	if err := g.conditionalWrite(st.bucket, opts.IfMatch, opts.IfNoneMatch); err != nil {
		return err
	}
	if t := r.Header.Get("X-Amz-Checksum-Type"); t != "" && !info.ChecksumDefault && !strings.EqualFold(t, info.ChecksumType) {
		return s3Error("BadDigest", "The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", info.ChecksumType)
	}
	if info.ChecksumType == backends.ChecksumFullObject {
		opts.Checksum = r.Header.Get(checksum.Algorithm(info.ChecksumAlgorithm).Header())
	}
	done := make(chan completeOutcome, 1)
	go func() {
		obj, err := g.mutate(r, events.ObjectCreatedComplete, st.key, "", func() (backends.ObjectInfo, error) {
			return g.backend.CompleteMultipartUpload(r.Context(), st.bucket, st.key, uploadID, parts, opts)
		})
		done <- completeOutcome{obj, err}
	}()
	var out completeOutcome
	select {
	case out = <-done:
	case <-time.After(completeQuietPeriod):
		// Assembling a large object outlasts clients' read timeouts. As S3
		// does, answer 200 now, keep the connection alive with whitespace,
		// and send the result (or an error) as the document when it comes.
		return g.completeSlowly(w, r, done)
	}
	if out.err != nil {
		return out.err
	}
	writeXML(w, http.StatusOK, g.completeDocument(r, out.obj))
	return nil
}

// completeOutcome is what the backend's Complete returned.
type completeOutcome struct {
	obj backends.ObjectInfo
	err error
}

// completeQuietPeriod is how long Complete may take before s3gate starts
// its answer and keeps the connection alive; completeKeepAlive is how often
// it then sends a space.
var (
	completeQuietPeriod = 3 * time.Second
	completeKeepAlive   = 5 * time.Second
)

// completeSlowly answers a CompleteMultipartUpload that is still running:
// status 200 and the XML declaration at once, a space every
// completeKeepAlive, then the result document or, on failure, an S3 error
// document inside the 200 (clients look for one there).
func (g *Gateway) completeSlowly(w http.ResponseWriter, r *http.Request, done <-chan completeOutcome) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	rc.Flush()
	tick := time.NewTicker(completeKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			io.WriteString(w, " ")
			rc.Flush()
		case o := <-done:
			var doc any
			if err := o.err; err != nil {
				ae, internal := toAPIError(err, requestState(r.Context()))
				if internal {
					g.log.ErrorContext(r.Context(), "internal error", "request_id", requestState(r.Context()).id, "op", "CompleteMultipartUpload", "err", err)
				}
				requestState(r.Context()).errCode = ae.Code
				doc = g.errorDocument(r, ae)
			} else {
				doc = g.completeDocument(r, o.obj)
			}
			b, _ := xml.Marshal(doc)
			w.Write(b)
			return nil
		}
	}
}

// completeDocument is CompleteMultipartUpload's result for obj.
func (g *Gateway) completeDocument(r *http.Request, obj backends.ObjectInfo) *completeResult {
	st := requestState(r.Context())
	res := &completeResult{
		Location: g.location(r),
		Bucket:   st.bucket,
		Key:      st.key,
		ETag:     `"` + obj.ETag + `"`,
	}
	if !obj.Checksum.IsZero() {
		res.set(obj.Checksum.Algorithm, obj.Checksum.Value)
		res.ChecksumType = obj.Checksum.Type
	}
	return res
}

// location is the URL of the request's object, as S3 reports it.
func (g *Gateway) location(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	st := requestState(r.Context())
	if st.virtualHost {
		return scheme + "://" + r.Host + "/" + sigv4.EncodePath(st.key)
	}
	return scheme + "://" + r.Host + "/" + st.bucket + "/" + sigv4.EncodePath(st.key)
}

// abortMultipartUpload is AbortMultipartUpload.
func (g *Gateway) abortMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.backend.AbortMultipartUpload(r.Context(), st.bucket, st.key, query(r).Get("uploadId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadID             string     `xml:"UploadId"`
	Initiator            owner      `xml:"Initiator"`
	Owner                owner      `xml:"Owner"`
	StorageClass         string     `xml:"StorageClass"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	ChecksumAlgorithm    string     `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string     `xml:"ChecksumType,omitempty"`
	Parts                []partItem `xml:"Part"`
}

type partItem struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksumFields
}

// intParam reads an optional non-negative integer query parameter.
func intParam(r *http.Request, name string, def, max int) (int, error) {
	v, ok := query(r)[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, s3Error("InvalidArgument", "Provided %s not an integer or within integer range", name).
			with("ArgumentName", name).with("ArgumentValue", v[0])
	}
	return min(n, max), nil
}

// listParts is ListParts.
func (g *Gateway) listParts(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	maxParts, err := intParam(r, "max-parts", 1000, 1000)
	if err != nil {
		return err
	}
	marker, err := intParam(r, "part-number-marker", 0, backends.MaxParts)
	if err != nil {
		return err
	}
	page, err := g.backend.ListParts(r.Context(), st.bucket, st.key, query(r).Get("uploadId"),
		backends.ListPartsOptions{PartNumberMarker: marker, MaxParts: maxParts})
	if err != nil {
		return err
	}
	o := g.owner(r)
	res := listPartsResult{
		Bucket: st.bucket, Key: st.key, UploadID: page.Upload.UploadID,
		Initiator: o, Owner: o, StorageClass: "STANDARD",
		PartNumberMarker: marker, NextPartNumberMarker: page.NextPartNumberMarker,
		MaxParts: maxParts, IsTruncated: page.IsTruncated,
	}
	if !page.Upload.ChecksumDefault {
		res.ChecksumAlgorithm, res.ChecksumType = page.Upload.ChecksumAlgorithm, page.Upload.ChecksumType
	}
	for _, p := range page.Parts {
		item := partItem{PartNumber: p.Number, LastModified: s3Time(p.LastModified), ETag: `"` + p.ETag + `"`, Size: p.Size}
		if !page.Upload.ChecksumDefault {
			item.set(p.Checksum.Algorithm, p.Checksum.Value)
		}
		res.Parts = append(res.Parts, item)
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}

type listUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	Uploads            []uploadItem   `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

type uploadItem struct {
	Key               string `xml:"Key"`
	UploadID          string `xml:"UploadId"`
	Initiator         owner  `xml:"Initiator"`
	Owner             owner  `xml:"Owner"`
	StorageClass      string `xml:"StorageClass"`
	Initiated         string `xml:"Initiated"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

// listMultipartUploads is ListMultipartUploads.
func (g *Gateway) listMultipartUploads(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	p, err := parseListParams(r)
	if err != nil {
		return err
	}
	maxUploads, err := intParam(r, "max-uploads", 1000, 1000)
	if err != nil {
		return err
	}
	qs := query(r)
	keyMarker, idMarker := qs.Get("key-marker"), qs.Get("upload-id-marker")
	page, err := g.backend.ListMultipartUploads(r.Context(), st.bucket, backends.ListUploadsOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, UploadIDMarker: idMarker, MaxUploads: maxUploads,
	})
	if err != nil {
		return err
	}
	o := g.owner(r)
	res := listUploadsResult{
		Bucket: st.bucket, KeyMarker: p.encode(keyMarker), UploadIDMarker: idMarker,
		NextKeyMarker: p.encode(page.NextKeyMarker), NextUploadIDMarker: page.NextUploadIDMarker,
		Prefix: p.encode(p.prefix), Delimiter: p.encode(p.delimiter), MaxUploads: maxUploads,
		IsTruncated: page.IsTruncated, EncodingType: p.encodingType,
	}
	for _, u := range page.Uploads {
		item := uploadItem{Key: p.encode(u.Key), UploadID: u.UploadID, Initiator: o, Owner: o,
			StorageClass: "STANDARD", Initiated: s3Time(u.Initiated)}
		if !u.ChecksumDefault {
			item.ChecksumAlgorithm, item.ChecksumType = u.ChecksumAlgorithm, u.ChecksumType
		}
		res.Uploads = append(res.Uploads, item)
	}
	for _, cp := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: p.encode(cp)})
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}
