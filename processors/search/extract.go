package search

import (
	"bytes"
	"strings"
	"unicode/utf16"

	"golang.org/x/net/html"
)

// extractText returns the indexable text of a text-like object's first
// bytes: HTML without its markup, scripts and styles; anything else
// (plain text, Markdown, CSV, JSON, XML) as it is. UTF-16 with a byte
// order mark is decoded; invalid UTF-8 (such as a character cut at the
// end) becomes a space; runs of white space become one.
func extractText(b []byte, contentType string) string {
	b = decodeBOM(b)
	if contentType == "text/html" {
		b = htmlText(b)
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), " ")), " ")
}

// decodeBOM turns UTF-16 text that starts with a byte order mark (what
// Windows tools save as "Unicode") into UTF-8, and drops a UTF-8 one.
func decodeBOM(b []byte) []byte {
	var big bool
	switch {
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		return b[3:]
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		big = true
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
	default:
		return b
	}
	units := make([]uint16, 0, len(b)/2)
	for i := 2; i+1 < len(b); i += 2 {
		if big {
			units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			units = append(units, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	return []byte(string(utf16.Decode(units)))
}

// inline are the HTML elements that do not separate words: "<b>S</b>uper"
// is one word, "<p>a</p><p>b</p>" two.
var inline = map[string]bool{
	"a": true, "abbr": true, "b": true, "bdi": true, "bdo": true, "cite": true, "code": true,
	"data": true, "dfn": true, "em": true, "font": true, "i": true, "kbd": true, "mark": true,
	"q": true, "s": true, "samp": true, "small": true, "span": true, "strong": true,
	"sub": true, "sup": true, "time": true, "tt": true, "u": true, "var": true, "wbr": true,
}

// htmlText is the text of an HTML document: the text nodes outside
// script and style elements, and the title and alt attributes.
func htmlText(b []byte) []byte {
	var out bytes.Buffer
	z := html.NewTokenizer(bytes.NewReader(b))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out.Bytes()
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if tag == "script" || tag == "style" {
				skip++
			}
			if !inline[tag] {
				out.WriteByte(' ')
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if string(k) == "alt" || string(k) == "title" {
					out.WriteByte(' ')
					out.Write(v)
					out.WriteByte(' ')
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if (tag == "script" || tag == "style") && skip > 0 {
				skip--
			}
			if !inline[tag] {
				out.WriteByte(' ')
			}
		case html.TextToken:
			if skip == 0 {
				out.Write(z.Text())
			}
		case html.CommentToken, html.DoctypeToken:
			out.WriteByte(' ')
		}
	}
}
