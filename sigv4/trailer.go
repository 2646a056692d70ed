package sigv4

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
)

// trailerField is one trailer line after the final chunk.
type trailerField struct{ name, value string }

// readTrailers reads the lines after the final chunk up to the empty line
// that ends the encoding, or up to the end of the body at a line boundary,
// which S3 accepts too. It returns the trailers and, in the signed trailer
// mode, the x-amz-trailer-signature value, which must be the last line.
func (c *chunkReader) readTrailers() (fields []trailerField, sig []byte, err error) {
	signedTrailers := c.signer != nil && c.trailers
	size := 0
	for n := 0; ; n++ {
		line, end, err := c.readTrailerLine()
		if err != nil {
			return nil, nil, err
		}
		if end || len(line) == 0 {
			return fields, sig, nil
		}
		size += len(line)
		if n >= maxTrailerLines || size > maxTrailerBytes || sig != nil {
			return nil, nil, malformedTrailer()
		}
		name, value, ok := parseTrailerLine(line)
		if !ok {
			return nil, nil, malformedTrailer()
		}
		if signedTrailers && name == trailerSignature {
			sig = []byte(value)
			continue
		}
		if slices.ContainsFunc(fields, func(f trailerField) bool { return f.name == name }) {
			return nil, nil, malformedTrailer()
		}
		fields = append(fields, trailerField{name, value})
	}
}

// readTrailerLine returns the next trailer line without its terminator, or
// end when the body ended exactly at a line boundary. A line ends in CRLF;
// LF CRLF is one terminator too, because minio-go and AWS's own example
// end trailer lines that way.
func (c *chunkReader) readTrailerLine() (line []byte, end bool, err error) {
	raw, err := c.br.ReadSlice('\n')
	switch {
	case err == io.EOF && len(raw) == 0:
		return nil, true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, false, malformedTrailer()
	case err != nil:
		return nil, false, bodyEnded(err)
	}
	if n := len(raw); n >= 2 && raw[n-2] == '\r' {
		return raw[:n-2], false, nil
	}
	// Keep the line: Peek may move the buffer under it.
	c.line = append(c.line[:0], raw[:len(raw)-1]...)
	next, err := c.br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if len(next) < 2 || next[0] != '\r' || next[1] != '\n' {
		return nil, false, incompleteBody()
	}
	c.br.Discard(2)
	return c.line, false, nil
}

// parseTrailerLine splits "name:value", trimming blanks around both as S3
// does. The name is returned lower-case.
func parseTrailerLine(line []byte) (name, value string, ok bool) {
	n, v, found := bytes.Cut(line, []byte{':'})
	if !found {
		return "", "", false
	}
	name = string(bytes.Trim(n, " \t"))
	v = bytes.Trim(v, " \t")
	if !validHeaderName(name) {
		return "", "", false
	}
	for _, b := range v {
		if b < ' ' && b != '\t' || b == 0x7f {
			return "", "", false
		}
	}
	return strings.ToLower(name), string(v), true
}

// canonicalTrailers is what the trailer signature covers: "name:value\n" for
// each trailer, in the order sent. With no trailers it is a single newline.
func canonicalTrailers(fields []trailerField) []byte {
	if len(fields) == 0 {
		return []byte("\n")
	}
	var b []byte
	for _, f := range fields {
		b = append(b, f.name...)
		b = append(b, ':')
		b = append(b, f.value...)
		b = append(b, '\n')
	}
	return b
}

// checkDeclared requires the trailers sent to be exactly those declared in
// x-amz-trailer, and none at all in the mode without trailers.
func (c *chunkReader) checkDeclared(fields []trailerField) error {
	if !c.trailers {
		if len(fields) > 0 || len(c.declared) > 0 {
			return malformedTrailer()
		}
		return nil
	}
	for _, f := range fields {
		if !slices.Contains(c.declared, f.name) {
			return malformedTrailer()
		}
	}
	for _, name := range c.declared {
		if !slices.ContainsFunc(fields, func(f trailerField) bool { return f.name == name }) {
			return malformedTrailer()
		}
	}
	return nil
}
