package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math"
	"net/http"
)

// chunkReader decodes an aws-chunked body as it streams. Chunk data passes
// through as it arrives; a signed chunk's signature is checked when its data
// has been read, before any byte of the next chunk is returned. Errors are
// sticky, and io.EOF comes only after the final chunk, the trailers, every
// signature and the decoded length have all been checked.
type chunkReader struct {
	body     io.ReadCloser
	br       *bufio.Reader // its size bounds a chunk header or trailer line
	signer   *chunkSigner  // nil in the unsigned mode
	hash     hash.Hash     // SHA-256 of the current chunk's data, signed modes
	trailers bool          // the mode carries trailers after the final chunk
	declared []string      // x-amz-trailer
	want     int64         // x-amz-decoded-content-length
	minChunk int64

	chunks   int    // chunk headers read
	size     int64  // size of the current chunk
	left     int64  // data of the current chunk not yet read
	total    int64  // payload bytes read
	provided []byte // signature sent for the current chunk
	sigBuf   [sigLen]byte
	sumBuf   [sha256.Size]byte
	line     []byte // copy of a trailer line

	trailer http.Header // set at the clean end
	err     error       // sticky
}

func newChunkReader(body io.ReadCloser, res *Result) *chunkReader {
	c := &chunkReader{
		body:     body,
		br:       bufio.NewReaderSize(body, maxLineLen),
		trailers: res.PayloadHash != StreamingPayload,
		declared: res.Trailer,
		want:     res.DecodedLength,
		minChunk: minChunkSize,
	}
	c.provided = c.sigBuf[:0]
	if res.PayloadHash != StreamingUnsignedTrailer {
		c.signer = newChunkSigner(res)
		c.hash = sha256.New()
	}
	return c
}

// Read returns payload bytes.
func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err == nil && len(p) == 0 {
		return 0, nil
	}
	for c.err == nil && c.left == 0 {
		c.err = c.next()
	}
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	c.total += int64(n)
	if c.hash != nil {
		c.hash.Write(p[:n])
	}
	if err != nil {
		c.err = bodyEnded(err)
	}
	return n, c.err
}

// Close closes the underlying body.
func (c *chunkReader) Close() error { return c.body.Close() }

// Trailer returns the trailers that came after the final chunk, with
// canonical names and values as sent, once Read has returned io.EOF; nil
// before that.
func (c *chunkReader) Trailer() http.Header { return c.trailer }

// bodyEnded turns the end of the underlying body in the middle of the
// encoding into IncompleteBody; other errors, such as a connection that
// failed, pass through.
func bodyEnded(err error) error {
	if err == io.EOF {
		return incompleteBody()
	}
	return err
}

// next ends the chunk just read, if any, and starts the next one. It returns
// io.EOF when the body ended cleanly.
func (c *chunkReader) next() error {
	if c.chunks > 0 {
		if err := c.endChunk(); err != nil {
			return err
		}
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return incompleteBody()
		}
		return bodyEnded(err)
	}
	size, err := c.parseHeader(line)
	if err != nil {
		return err
	}
	c.chunks++
	if size > 0 && c.chunks > 1 && c.size < c.minChunk {
		return chunkTooSmall(c.chunks, c.size)
	}
	if size > c.want-c.total {
		return lengthMismatch(c.want, uint64(c.total)+uint64(size))
	}
	c.size, c.left = size, size
	if c.hash != nil {
		c.hash.Reset()
	}
	if size == 0 {
		return c.finish()
	}
	return nil
}

// parseHeader parses "hex-size" CRLF, or "hex-size;chunk-signature=SIG" CRLF
// in the signed modes. The unsigned mode ignores chunk extensions.
func (c *chunkReader) parseHeader(line []byte) (int64, error) {
	line, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return 0, incompleteBody()
	}
	digits, ext, hasExt := bytes.Cut(line, []byte{';'})
	size, ok := parseHexSize(digits)
	if !ok {
		return 0, incompleteBody()
	}
	if c.signer == nil {
		return size, nil
	}
	sig, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
	if !hasExt || !ok || len(sig) == 0 || bytes.IndexByte(sig, ';') >= 0 {
		return 0, incompleteBody()
	}
	// A signature of the wrong length is kept too: it fails, as in S3, as a
	// SignatureDoesNotMatch that shows it.
	c.provided = append(c.sigBuf[:0], sig...)
	return size, nil
}

// parseHexSize parses 1 to 16 hex digits into a non-negative int64.
func parseHexSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxSizeDigits {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// endChunk checks a data chunk whose data has been read: its signature, then
// the CRLF after the data.
func (c *chunkReader) endChunk() error {
	if c.signer != nil {
		if err := c.signer.verifyChunk(c.hash.Sum(c.sumBuf[:0]), c.provided); err != nil {
			return err
		}
	}
	crlf, err := c.br.Peek(2)
	if err != nil {
		return bodyEnded(err)
	}
	if crlf[0] != '\r' || crlf[1] != '\n' {
		return incompleteBody()
	}
	c.br.Discard(2)
	return nil
}

// finish handles the final, empty chunk: its signature, the decoded length,
// the trailer section, and the end of the body.
func (c *chunkReader) finish() error {
	if c.signer != nil {
		if err := c.signer.verifyChunk(c.hash.Sum(c.sumBuf[:0]), c.provided); err != nil {
			return err
		}
	}
	if c.total != c.want {
		return lengthMismatch(c.want, uint64(c.total))
	}
	fields, sig, err := c.readTrailers()
	if err != nil {
		return err
	}
	if c.signer != nil && c.trailers {
		if sig == nil {
			return incompleteBody()
		}
		if err := c.signer.verifyTrailer(canonicalTrailers(fields), sig); err != nil {
			return err
		}
	}
	if err := c.checkDeclared(fields); err != nil {
		return err
	}
	// Nothing may follow the encoding.
	if _, err := c.br.ReadByte(); err != io.EOF {
		if err == nil {
			return incompleteBody()
		}
		return err
	}
	c.trailer = make(http.Header, len(fields))
	for _, f := range fields {
		c.trailer[http.CanonicalHeaderKey(f.name)] = []string{f.value}
	}
	return io.EOF
}
