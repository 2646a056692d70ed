package gateway

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/processors/events"
)

// maxDeleteKeys is S3's limit on keys in one DeleteObjects.
const maxDeleteKeys = 1000

// deleteRequest is the DeleteObjects document. Single-valued elements are
// decoded as lists so that a repeated one is refused, as S3's schema does,
// instead of the last one silently winning.
type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   []bool   `xml:"Quiet"`
	Objects []struct {
		Key       []string `xml:"Key"`
		VersionID []string `xml:"VersionId"`
		// ETag makes the delete of this key conditional, like If-Match.
		ETag []string `xml:"ETag"`
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
	up, err := g.uploadBody(r, "")
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := readXML(up.body, deleteLimits, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys || len(req.Quiet) > 1 {
		return s3Error("MalformedXML")
	}
	for _, o := range req.Objects {
		if len(o.Key) != 1 || len(o.VersionID) > 1 || len(o.ETag) > 1 {
			return s3Error("MalformedXML")
		}
		if len(o.ETag) == 1 && !g.backend.Capabilities(st.bucket).ConditionalDeletes {
			return conditionNotImplemented()
		}
	}
	quiet := len(req.Quiet) == 1 && req.Quiet[0]
	if err := g.bucketExists(r); err != nil {
		return err
	}
	// Every key is checked and judged first; the intents of the deletes
	// that will be tried are then recorded with one durable write.
	errs := make([]error, len(req.Objects))
	var keys []string
	for i, o := range req.Objects {
		key := o.Key[0]
		err := checkKey(key)
		if err == nil && len(o.VersionID) == 1 && o.VersionID[0] != "" && o.VersionID[0] != "null" {
			err = s3Error("NoSuchVersion")
		}
		if err == nil {
			// Judged key by key: denied keys are reported, the rest deleted.
			err = g.allowed(r, "s3:DeleteObject", st.bucket, key)
		}
		if errs[i] = err; err == nil {
			keys = append(keys, key)
		}
	}
	changes, err := g.mutateAll(r, events.ObjectRemovedDelete, keys)
	if err != nil {
		return err
	}
	res := deleteResult{}
	for i, o := range req.Objects {
		key := o.Key[0]
		err := errs[i]
		if err == nil {
			err = g.backend.DeleteObject(r.Context(), st.bucket, key, backends.DeleteOptions{IfMatch: strings.Join(o.ETag, "")})
			changes[0].done(backends.ObjectInfo{}, err)
			changes = changes[1:]
		}
		if err != nil {
			ae, internal := toAPIError(err, &request{bucket: st.bucket, key: key})
			if internal {
				g.log.ErrorContext(r.Context(), "delete failed", "request_id", st.id, "key", key, "err", err)
			}
			res.Errors = append(res.Errors, deleteError{Key: key, Code: ae.Code, Message: ae.Message})
			continue
		}
		if !quiet {
			res.Deleted = append(res.Deleted, deletedObject{Key: key})
		}
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}
