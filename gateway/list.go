package gateway

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/sigv4"
)

// maxListKeys is S3's page size cap.
const maxListKeys = 1000

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
	// ChecksumAlgorithm and ChecksumType name the object's stored
	// checksum, as S3 lists them.
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listObjectsV1Result struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []listEntry    `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

type listObjectsV2Result struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []listEntry    `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// listParams are the parameters both listing versions share.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            func(string) string
	encodingType      string
}

func parseListParams(r *http.Request) (listParams, error) {
	qs := query(r)
	p := listParams{prefix: qs.Get("prefix"), delimiter: qs.Get("delimiter"), maxKeys: maxListKeys, encode: func(s string) string { return s }}
	if v, ok := qs["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return p, s3Error("InvalidArgument", "Provided max-keys not an integer or within integer range").
				with("ArgumentName", "max-keys").with("ArgumentValue", v[0])
		}
		p.maxKeys = min(n, maxListKeys)
	}
	switch et := qs.Get("encoding-type"); et {
	case "":
	case "url":
		p.encodingType = "url"
		p.encode = sigv4.EncodePath
	default:
		return p, s3Error("InvalidArgument", "Invalid Encoding Method specified in Request").
			with("ArgumentName", "encoding-type").with("ArgumentValue", et)
	}
	return p, nil
}

// list fetches one page and converts it to XML entries.
func (g *Gateway) list(r *http.Request, p listParams, startAfter string, withOwner bool) (backends.ListPage, []listEntry, []commonPrefix, error) {
	st := requestState(r.Context())
	page, err := g.backend.ListObjects(r.Context(), st.bucket, backends.ListOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: startAfter, MaxKeys: p.maxKeys,
	})
	if err != nil {
		return page, nil, nil, err
	}
	var o *owner
	if withOwner {
		ow := g.owner(r)
		o = &ow
	}
	entries := make([]listEntry, len(page.Objects))
	for i, obj := range page.Objects {
		entries[i] = listEntry{
			Key:               p.encode(obj.Key),
			LastModified:      s3Time(obj.LastModified),
			ETag:              `"` + obj.ETag + `"`,
			Size:              obj.Size,
			Owner:             o,
			StorageClass:      "STANDARD",
			ChecksumAlgorithm: obj.Checksum.Algorithm,
			ChecksumType:      obj.Checksum.Type,
		}
	}
	prefixes := make([]commonPrefix, len(page.CommonPrefixes))
	for i, cp := range page.CommonPrefixes {
		prefixes[i] = commonPrefix{Prefix: p.encode(cp)}
	}
	return page, entries, prefixes, nil
}

// listObjectsV1 is ListObjects (version 1): marker paging, owners always.
func (g *Gateway) listObjectsV1(w http.ResponseWriter, r *http.Request) error {
	p, err := parseListParams(r)
	if err != nil {
		return err
	}
	marker := query(r).Get("marker")
	page, entries, prefixes, err := g.list(r, p, marker, true)
	if err != nil {
		return err
	}
	res := listObjectsV1Result{
		Name:           requestState(r.Context()).bucket,
		Prefix:         p.encode(p.prefix),
		Marker:         p.encode(marker),
		MaxKeys:        p.maxKeys,
		Delimiter:      p.encode(p.delimiter),
		IsTruncated:    page.IsTruncated,
		EncodingType:   p.encodingType,
		Contents:       entries,
		CommonPrefixes: prefixes,
	}
	if page.IsTruncated {
		// S3 documents NextMarker for delimited listings only; sending it
		// always costs nothing and saves clients a guess.
		res.NextMarker = p.encode(page.NextStartAfter)
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}

// listObjectsV2 is ListObjectsV2: opaque continuation tokens, start-after,
// owners only with fetch-owner=true.
func (g *Gateway) listObjectsV2(w http.ResponseWriter, r *http.Request) error {
	p, err := parseListParams(r)
	if err != nil {
		return err
	}
	qs := query(r)
	token, hasToken := qs["continuation-token"]
	startAfter := qs.Get("start-after")
	from := startAfter
	if hasToken {
		b, err := base64.RawURLEncoding.DecodeString(token[0])
		if err != nil || token[0] == "" {
			return s3Error("InvalidArgument", "The continuation token provided is incorrect").
				with("ArgumentName", "continuation-token")
		}
		from = string(b)
	}
	page, entries, prefixes, err := g.list(r, p, from, qs.Get("fetch-owner") == "true")
	if err != nil {
		return err
	}
	res := listObjectsV2Result{
		Name:           requestState(r.Context()).bucket,
		Prefix:         p.encode(p.prefix),
		StartAfter:     p.encode(startAfter),
		KeyCount:       len(entries) + len(prefixes),
		MaxKeys:        p.maxKeys,
		Delimiter:      p.encode(p.delimiter),
		IsTruncated:    page.IsTruncated,
		EncodingType:   p.encodingType,
		Contents:       entries,
		CommonPrefixes: prefixes,
	}
	if hasToken {
		res.ContinuationToken = token[0]
	}
	if page.IsTruncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(page.NextStartAfter))
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}
