package gateway

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/backends"
)

type objectAttributes struct {
	XMLName      xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string          `xml:"ETag,omitempty"`
	Checksum     *attributeSum   `xml:"Checksum,omitempty"`
	ObjectParts  *attributeParts `xml:"ObjectParts,omitempty"`
	StorageClass string          `xml:"StorageClass,omitempty"`
	ObjectSize   *int64          `xml:"ObjectSize,omitempty"`
}

type attributeSum struct {
	checksumFields
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type attributeParts struct {
	TotalPartsCount      int             `xml:"PartsCount"`
	PartNumberMarker     int             `xml:"PartNumberMarker"`
	NextPartNumberMarker int             `xml:"NextPartNumberMarker"`
	MaxParts             int             `xml:"MaxParts"`
	IsTruncated          bool            `xml:"IsTruncated"`
	Parts                []attributePart `xml:"Part"`
}

type attributePart struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	checksumFields
}

// getObjectAttributes is GetObjectAttributes: the attributes named in
// x-amz-object-attributes (ETag, Checksum, ObjectParts, StorageClass,
// ObjectSize), parts paged with x-amz-max-parts and
// x-amz-part-number-marker.
func (g *Gateway) getObjectAttributes(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	want := map[string]bool{}
	for _, v := range r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			want[strings.TrimSpace(a)] = true
		}
	}
	for a := range want {
		switch a {
		case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
		default:
			return s3Error("InvalidArgument", "Invalid attribute name specified.").with("ArgumentName", "x-amz-object-attributes")
		}
	}
	if len(want) == 0 {
		return s3Error("InvalidArgument", "Invalid attribute name specified.").with("ArgumentName", "x-amz-object-attributes")
	}
	maxParts, err := headerInt(r, "X-Amz-Max-Parts", 1000)
	if err != nil {
		return err
	}
	marker, err := headerInt(r, "X-Amz-Part-Number-Marker", 0)
	if err != nil {
		return err
	}
	info, err := g.backend.HeadObject(r.Context(), st.bucket, st.key, backends.GetOptions{
		Conditions: getOptions(r).Conditions, WithParts: want["ObjectParts"]})
	if err != nil {
		return g.readError(w, r, err, backends.GetOptions{}, g.headStored)
	}
	var res objectAttributes
	if want["ETag"] {
		res.ETag = info.ETag
	}
	if want["Checksum"] && !info.Checksum.IsZero() {
		res.Checksum = &attributeSum{ChecksumType: info.Checksum.Type}
		res.Checksum.set(info.Checksum.Algorithm, info.Checksum.Value)
	}
	if want["ObjectParts"] && info.PartsCount > 0 {
		op := &attributeParts{TotalPartsCount: info.PartsCount, PartNumberMarker: marker, MaxParts: maxParts}
		for _, p := range info.Parts {
			if p.Number <= marker {
				continue
			}
			if len(op.Parts) == maxParts {
				op.IsTruncated = true
				break
			}
			ap := attributePart{PartNumber: p.Number, Size: p.Size}
			if info.Checksum.Type == backends.ChecksumComposite {
				ap.set(p.Checksum.Algorithm, p.Checksum.Value)
			}
			op.Parts = append(op.Parts, ap)
			op.NextPartNumberMarker = p.Number
		}
		res.ObjectParts = op
	}
	if want["StorageClass"] {
		res.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		res.ObjectSize = &info.Size
	}
	w.Header().Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	writeXML(w, http.StatusOK, &res)
	return nil
}

// headerInt reads an optional non-negative integer header.
func headerInt(r *http.Request, name string, def int) (int, error) {
	v := r.Header.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, s3Error("InvalidArgument", "Provided %s not an integer or within integer range", strings.ToLower(name)).
			with("ArgumentName", strings.ToLower(name)).with("ArgumentValue", v)
	}
	return n, nil
}
