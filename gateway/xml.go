package gateway

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// xmlLimits bound a request document. encoding/xml's memory grows with
// nesting, attributes and element counts that no S3 document needs, so a
// document is checked against these before it is decoded.
type xmlLimits struct {
	bytes    int64 // the whole document
	depth    int   // element nesting, the root being 1
	elements int   // start tags in all
}

// maxXMLTag bounds one tag, attributes included; S3's documents have at
// most a namespace declaration.
const maxXMLTag = 4 << 10

// maxXMLBody bounds the largest request document, DeleteObjects: 1000 keys
// of 1024 bytes each, escaped, with the optional per-object elements.
const maxXMLBody = 8 << 20

var (
	deleteLimits = xmlLimits{bytes: maxXMLBody, depth: 3, elements: 7*maxDeleteKeys + 8}
	// CreateBucketConfiguration.
	bucketConfigLimits = xmlLimits{bytes: 64 << 10, depth: 3, elements: 64}
)

// readXML reads a request document whole (it is small and bounded, and a
// signed payload is verified only at its end), checks it against lim and
// decodes it into v. A failure of the body itself (signature, truncation)
// is returned as is; anything wrong with the document is MalformedXML.
func readXML(body io.Reader, lim xmlLimits, v any) error {
	doc, err := io.ReadAll(io.LimitReader(body, lim.bytes+1))
	if err != nil {
		return err
	}
	if int64(len(doc)) > lim.bytes {
		return s3Error("MaxMessageLengthExceeded")
	}
	if !xmlShapeOK(doc, lim) {
		return s3Error("MalformedXML")
	}
	if err := xml.Unmarshal(doc, v); err != nil {
		return s3Error("MalformedXML")
	}
	return nil
}

// xmlShapeOK scans a document's markup without decoding it: one root
// element, no text outside it, no DTD (so no entity tricks), and depth,
// element count and tag sizes within lim. Comments, processing instructions
// and CDATA are skipped whole.
func xmlShapeOK(doc []byte, lim xmlLimits) bool {
	depth, elements, roots := 0, 0, 0
	for i := 0; i < len(doc); {
		c := doc[i]
		if c == '&' && !charRefOK(doc[i:]) {
			return false
		}
		if c != '<' {
			if depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				return false
			}
			i++
			continue
		}
		rest := doc[i:]
		skipTo := func(open, end string) bool {
			j := bytes.Index(rest[len(open):], []byte(end))
			if j < 0 {
				return false
			}
			i += len(open) + j + len(end)
			return true
		}
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			if !skipTo("<!--", "-->") {
				return false
			}
			continue
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			if depth == 0 || !skipTo("<![CDATA[", "]]>") {
				return false
			}
			continue
		case bytes.HasPrefix(rest, []byte("<?")):
			if !skipTo("<?", "?>") {
				return false
			}
			continue
		case bytes.HasPrefix(rest, []byte("<!")):
			return false // DOCTYPE, ENTITY: S3 documents have none
		}
		j := bytes.IndexByte(rest, '>')
		if j < 0 || j > maxXMLTag {
			return false
		}
		tag := rest[1:j]
		switch {
		case len(tag) > 0 && tag[0] == '/':
			depth--
			if depth < 0 {
				return false
			}
			if depth == 0 {
				roots++
			}
		default:
			if depth == 0 && roots > 0 {
				return false // a second root
			}
			elements++
			selfClosing := len(tag) > 0 && tag[len(tag)-1] == '/'
			switch {
			case selfClosing && depth == 0:
				roots++
			case !selfClosing:
				depth++
				if depth > lim.depth {
					return false
				}
			}
		}
		if elements > lim.elements {
			return false
		}
		i += j + 1
	}
	return depth == 0 && roots == 1
}

// charRefOK checks a character reference (&#N; or &#xN;) at the start of
// b names a character XML allows: encoding/xml would turn a surrogate or a
// control character into U+FFFD, a different key. Other references are
// left to the decoder.
func charRefOK(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("&#")) {
		return true
	}
	end := bytes.IndexByte(b, ';')
	if end < 0 || end > 12 {
		return false
	}
	num, base := string(b[2:end]), 10
	if strings.HasPrefix(num, "x") {
		num, base = num[1:], 16
	}
	r, err := strconv.ParseUint(num, base, 32)
	if err != nil {
		return false
	}
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// s3Time formats times in listings as S3 does.
func s3Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}
