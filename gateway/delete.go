package gateway

import (
	"encoding/xml"
	"net/http"
)

// maxDeleteKeys is S3's limit on keys in one DeleteObjects.
const maxDeleteKeys = 1000

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       *string `xml:"Key"`
		VersionID string  `xml:"VersionId"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key string `xml:"Key"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// deleteObjects is DeleteObjects: up to 1000 keys, each reported on its own.
// The document is read and verified whole (it is small and bounded) before
// any key is deleted.
func (g *Gateway) deleteObjects(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	body, err := g.body(r)
	if err != nil {
		return err
	}
	verified, _, err := newIntegrityReader(body, r.Header)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := readXML(verified, maxXMLBody, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return s3Error("MalformedXML")
	}
	for _, o := range req.Objects {
		if o.Key == nil {
			return s3Error("MalformedXML")
		}
	}
	if err := g.bucketExists(r); err != nil {
		return err
	}
	res := deleteResult{}
	for _, o := range req.Objects {
		key := *o.Key
		err := checkKey(key)
		if err == nil && o.VersionID != "" && o.VersionID != "null" {
			err = s3Error("NoSuchVersion")
		}
		if err == nil {
			err = g.backend.DeleteObject(r.Context(), st.bucket, key)
		}
		if err != nil {
			ae, internal := toAPIError(err, &request{bucket: st.bucket, key: key})
			if internal {
				g.log.ErrorContext(r.Context(), "delete failed", "request_id", st.id, "key", key, "err", err)
			}
			res.Errors = append(res.Errors, deleteError{Key: key, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedObject{Key: key})
		}
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}
