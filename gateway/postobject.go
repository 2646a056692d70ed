package gateway

import (
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/sigv4"
)

// Bounds on the form fields that precede the file of a POST upload.
const (
	maxFormField  = 64 << 10
	maxFormFields = 256
)

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postObject is POST Object: a browser's HTML form upload. The form's
// fields, up to the file, are read (bounded); the policy's signature is
// checked, then its expiry and every condition; then the file streams into
// the backend, its length checked against content-length-range as it goes.
func (g *Gateway) postObject(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	mr, err := r.MultipartReader()
	if err != nil {
		return s3Error("MalformedPOSTRequest")
	}
	fields, file, err := readFormFields(mr)
	if err != nil {
		return err
	}
	defer file.Close()

	st.securityToken = fields["x-amz-security-token"]
	res, err := g.verifier.VerifyPOST(r.Context(), sigv4.POSTForm{
		Algorithm:     fields["x-amz-algorithm"],
		Credential:    fields["x-amz-credential"],
		Date:          fields["x-amz-date"],
		Signature:     fields["x-amz-signature"],
		Policy:        fields["policy"],
		SecurityToken: fields["x-amz-security-token"],
	})
	if st.authErr != nil {
		return st.authErr
	}
	if err != nil {
		return err
	}
	st.auth, st.accessKey, st.authKind = res, res.AccessKey, identity.AuthSigV4
	if st.securityToken != "" {
		st.authKind = identity.AuthSTS
	}
	policy, err := parsePostPolicy(fields["policy"])
	if err != nil {
		return err
	}
	key, ok := fields["key"]
	if !ok {
		return s3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.").
			with("ArgumentName", "key")
	}
	key = strings.ReplaceAll(key, "${filename}", file.FileName())
	fields["key"] = key
	st.key = key
	if err := checkKey(key); err != nil {
		return err
	}
	if err := policy.check(fields, st.bucket, g.now()); err != nil {
		return err
	}
	if err := g.allowed(r, "s3:PutObject", st.bucket, key); err != nil {
		return err
	}

	opts, err := formPutOptions(fields)
	if err != nil {
		return err
	}
	v := &integrityReader{r: &lengthChecker{r: file, min: policy.minLength, max: policy.maxLength}}
	sum := &backends.Checksum{}
	v.sum = sum
	if err := v.expectChecksum(formHeader(fields), &sigv4.Result{}, nil); err != nil {
		return err
	}
	v.store("")
	st.checksum, st.checksumFrom = string(v.alg), v.from
	opts.Size, opts.Checksum = -1, sum
	body, sniffedType := g.sniffed(v)
	info, err := g.mutate(r, events.ObjectCreatedPost, key, opts.ContentType, func() (backends.ObjectInfo, error) {
		return g.backend.PutObject(r.Context(), st.bucket, key, body, opts)
	}, sniffedType)
	if err != nil {
		return err
	}
	return g.postAnswer(w, r, fields, info)
}

// readFormFields reads the fields before the file part, with lower-case
// names. Fields after the file are ignored, as S3 does.
func readFormFields(mr *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := map[string]string{}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, s3Error("InvalidArgument", "POST requires exactly one file upload per request.").with("ArgumentName", "file")
		}
		if err != nil {
			return nil, nil, s3Error("MalformedPOSTRequest")
		}
		name := strings.ToLower(part.FormName())
		if name == "file" {
			return fields, part, nil
		}
		if n >= maxFormFields {
			return nil, nil, s3Error("MaxMessageLengthExceeded")
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return nil, nil, s3Error("MalformedPOSTRequest")
		}
		if len(b) > maxFormField {
			return nil, nil, s3Error("MaxMessageLengthExceeded")
		}
		if _, dup := fields[name]; dup {
			return nil, nil, s3Error("InvalidArgument", "Bucket POST contains the field '%s' more than once.", name).with("ArgumentName", name)
		}
		fields[name] = string(b)
	}
}

// formHeader presents form fields as request headers, so that the header
// parsing of PutObject applies to them.
func formHeader(fields map[string]string) http.Header {
	h := http.Header{}
	for k, v := range fields {
		h.Set(k, v)
	}
	return h
}

// formPutOptions reads the stored headers, metadata and tags of a form.
func formPutOptions(fields map[string]string) (backends.PutOptions, error) {
	h := formHeader(fields)
	// Tags arrive as a Tagging document in the "tagging" field.
	h.Del("Tagging")
	o, err := putOptionsFrom(h)
	if err != nil {
		return o, err
	}
	if doc, ok := fields["tagging"]; ok {
		tags, err := parseTaggingDoc(strings.NewReader(doc))
		if err != nil {
			return o, err
		}
		o.Tags = tags
	}
	return o, nil
}

// postAnswer answers a stored form upload as the form asked:
// success_action_redirect (303 to it with bucket, key and etag),
// success_action_status 200 or 201 (a PostResponse document), or 204.
func (g *Gateway) postAnswer(w http.ResponseWriter, r *http.Request, fields map[string]string, info backends.ObjectInfo) error {
	st := requestState(r.Context())
	etag := `"` + info.ETag + `"`
	w.Header().Set("ETag", etag)
	location := g.location(r)
	w.Header().Set("Location", location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.IsAbs() {
		q := u.Query()
		q.Set("bucket", st.bucket)
		q.Set("key", st.key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch status, _ := strconv.Atoi(fields["success_action_status"]); status {
	case http.StatusOK:
		w.WriteHeader(http.StatusOK)
	case http.StatusCreated:
		writeXML(w, http.StatusCreated, &postResponse{Location: location, Bucket: st.bucket, Key: st.key, ETag: etag})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}
