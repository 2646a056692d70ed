package sts

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body. The largest request is a 20000-character
// token and a 2048-character ARN; JWTs need no percent-encoding.
const maxBody = 64 << 10

const formType = "application/x-www-form-urlencoded"

// IsRequest reports whether r, addressed to the service rather than to a
// bucket, is an STS request: a POST to / with a form body (S3 has no
// service-level POST), or any request to / with an Action parameter (S3
// has no such parameter). It does not read the body.
func IsRequest(r *http.Request) bool {
	if r.URL.Path != "/" {
		return false
	}
	if r.URL.Query().Has("Action") {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == formType
}

// ServeHTTP answers an STS request: GET with its parameters in the query
// string, or POST with them in a form body (and the query string; a
// parameter may appear once in all). Requests are not signed: the web
// identity token is the credential. The request id is the x-amz-request-id
// the gateway set on the response, or a fresh one.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := w.Header().Get("x-amz-request-id")
	if id == "" {
		id = newRequestID()
	}
	form, e := readForm(r)
	var c Credentials
	if e == nil {
		c, e = s.AssumeRoleWithWebIdentity(r.Context(), form)
	}
	if e != nil {
		if e.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		writeXML(w, id, e.Status, errorResponse{
			Error:     errorBody{Type: e.Type(), Code: e.Code, Message: e.Message},
			RequestID: id,
		})
		return
	}
	// The body holds a secret: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	writeXML(w, id, http.StatusOK, assumeRoleWithWebIdentityResponse{
		Result: assumeRoleWithWebIdentityResult{
			Credentials: credentialsXML{
				AccessKeyID:     c.AccessKeyID,
				SecretAccessKey: c.SecretAccessKey,
				SessionToken:    c.SessionToken,
				Expiration:      c.Expiration.UTC().Format(time.RFC3339),
			},
			SubjectFromWebIdentityToken: c.SubjectFromWebIdentityToken,
			AssumedRoleUser:             assumedRoleUser{AssumedRoleID: c.AssumedRoleID, ARN: c.AssumedRoleARN},
			Provider:                    c.Provider,
			Audience:                    c.Audience,
		},
		RequestID: id,
	})
}

// readForm gathers the parameters of the query string and, for POST, of
// the form body.
func readForm(r *http.Request) (url.Values, *Error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, newError(codeMethodNotAllowed, "STS requests are sent with POST (or GET), not %s.", truncate(r.Method))
	}
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, newError(codeValidation, "The query string is not well formed.")
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return form, nil
	}
	if r.ContentLength > maxBody {
		return nil, newError(codeValidation, "The request body is larger than %d bytes.", maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, newError(codeValidation, "The request body could not be read.")
	}
	if len(body) > maxBody {
		return nil, newError(codeValidation, "The request body is larger than %d bytes.", maxBody)
	}
	if len(body) == 0 {
		return form, nil
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != formType || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return nil, newError(codeValidation, "The request body must be %s (UTF-8).", formType)
	}
	fields, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, newError(codeValidation, "The request body is not a well-formed %s form.", formType)
	}
	for k, vs := range fields {
		form[k] = append(form[k], vs...)
	}
	return form, nil
}

type assumeRoleWithWebIdentityResponse struct {
	XMLName   xml.Name                        `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result    assumeRoleWithWebIdentityResult `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string                          `xml:"ResponseMetadata>RequestId"`
}

type assumeRoleWithWebIdentityResult struct {
	Credentials                 credentialsXML  `xml:"Credentials"`
	SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken"`
	AssumedRoleUser             assumedRoleUser `xml:"AssumedRoleUser"`
	Provider                    string          `xml:"Provider"`
	Audience                    string          `xml:"Audience"`
}

type credentialsXML struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	ARN           string `xml:"Arn"`
}

type errorResponse struct {
	XMLName   xml.Name  `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error     errorBody `xml:"Error"`
	RequestID string    `xml:"RequestId"`
}

type errorBody struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeXML sends v with the given status, as STS does: text/xml, and the
// request id in x-amzn-RequestId, where AWS SDKs look for STS's.
func writeXML(w http.ResponseWriter, id string, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		// Only a programming error can get here: every document is a
		// fixed struct of strings.
		panic(err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	h.Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(b)
}

// newRequestID returns a random UUID, the form of STS's request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
