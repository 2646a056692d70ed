package gateway

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"time"
)

// s3NS is the namespace of every S3 response document except errors.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML sends v as an XML document with the given status.
func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		// Only a programming error can get here: every document is a
		// fixed struct.
		panic(err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(b)))
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(b)
}

// maxXMLBody bounds request documents. The largest S3 takes is a
// DeleteObjects of 1000 keys of 1024 bytes each, escaped.
const maxXMLBody = 4 << 20

// readXML decodes a request document of at most limit bytes into v and
// reads the body to its end, so a signed payload is verified in full before
// the document is acted on. A failure of the body itself (signature,
// truncation) is returned as is; anything wrong with the document is
// MalformedXML.
func readXML(body io.Reader, limit int64, v any) error {
	src := &errRecorder{r: &io.LimitedReader{R: body, N: limit + 1}}
	err := xml.NewDecoder(src).Decode(v)
	if err == nil {
		_, err = io.Copy(io.Discard, src)
	}
	switch {
	case src.r.N <= 0:
		return s3Error("MaxMessageLengthExceeded")
	case src.err != nil:
		return src.err
	case err != nil:
		return s3Error("MalformedXML")
	}
	return nil
}

// errRecorder remembers the first error (other than EOF) its reader gave.
type errRecorder struct {
	r   *io.LimitedReader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// s3Time formats times in listings as S3 does.
func s3Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}
