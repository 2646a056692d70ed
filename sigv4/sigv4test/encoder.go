// Package sigv4test produces the aws-chunked upload encodings that S3
// clients send, correct or deliberately broken, for tests of servers that
// decode them. It is independent of package sigv4 and imports only the
// standard library.
//
// Encoder encodes a body for a given signing key, seed signature, time and
// scope; its Faults knobs produce hostile variants. Sign does the rest for a
// whole request: it sets the streaming headers, computes the seed signature
// from the credentials and attaches the encoded body.
package sigv4test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"time"
)

// Mode is an aws-chunked encoding, named by its x-amz-content-sha256 value.
type Mode string

// The aws-chunked encodings.
const (
	Signed          Mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	SignedTrailer   Mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	UnsignedTrailer Mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Signed reports whether the mode carries chunk signatures.
func (m Mode) Signed() bool { return m != UnsignedTrailer }

// Trailer is one trailer line sent after the final chunk, such as
// {"x-amz-checksum-crc32", "NhCmhg=="}.
type Trailer struct{ Name, Value string }

// Faults turn an encoding into a hostile one. Chunks are numbered from 1 in
// the order of the data; the final, empty chunk is the last number. The zero
// value is a correct encoding.
type Faults struct {
	// BadSignature changes one hex digit of this chunk's signature.
	BadSignature int
	// Replay sends this chunk twice in a row.
	Replay int
	// Swap sends this chunk after the one that follows it.
	Swap int
	// SizeLie makes this chunk's size line claim one byte more than the
	// chunk carries.
	SizeLie int
	// BadTrailerSignature changes one hex digit of x-amz-trailer-signature.
	BadTrailerSignature bool
	// OmitTrailerSignature leaves the x-amz-trailer-signature line out.
	OmitTrailerSignature bool
	// MalformedTrailer sends the first trailer without its colon.
	MalformedTrailer bool
}

// Encoder encodes bodies in one aws-chunked mode. Chunks carry ChunkSize
// bytes (64 KiB when 0), the last one what remains; Trailers are written
// after the final chunk in every mode, so that giving them to Signed makes a
// hostile body. Key, Seed, Time and Scope sign the chunks of the signed
// modes: the derived signing key, the request's own signature, the request
// time and the credential scope "YYYYMMDD/region/service/aws4_request".
// Sign fills them in.
type Encoder struct {
	Mode      Mode
	ChunkSize int
	Trailers  []Trailer
	Faults    Faults

	Key   []byte
	Seed  string
	Time  time.Time
	Scope string
}

// DefaultChunkSize is the chunk size of aws-sdk-go-v2 and minio-go.
const DefaultChunkSize = 64 << 10

// Encode returns the encoding of data.
func (e *Encoder) Encode(data []byte) []byte {
	b, _ := io.ReadAll(e.Reader(bytes.NewReader(data)))
	return b
}

// Reader returns the encoding of what data yields, produced one chunk at a
// time. A read error of data is returned as is.
func (e *Encoder) Reader(data io.Reader) io.Reader {
	size := e.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	return &encReader{e: e, src: data, buf: make([]byte, size), prev: e.Seed}
}

type encReader struct {
	e       *Encoder
	src     io.Reader
	buf     []byte
	n       int          // chunks produced
	prev    string       // signature of the chunk before
	held    bytes.Buffer // a chunk that Swap delays
	out     bytes.Buffer
	done    bool
	srcDone bool
}

func (r *encReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.step(); err != nil {
			return 0, err
		}
	}
	return r.out.Read(p)
}

// step appends the next chunk, or the final chunk and the trailers, to out.
func (r *encReader) step() error {
	if r.srcDone {
		r.final()
		return nil
	}
	n, err := io.ReadFull(r.src, r.buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.srcDone = true
	case err != nil:
		return err
	}
	if n == 0 {
		r.final()
		return nil
	}
	r.chunk(r.buf[:n])
	return nil
}

// chunk encodes one data chunk, applying the faults that concern it.
func (r *encReader) chunk(data []byte) {
	r.n++
	f := r.e.Faults
	var enc bytes.Buffer
	size := len(data)
	if f.SizeLie == r.n {
		size++
	}
	enc.WriteString(strconv.FormatInt(int64(size), 16))
	if r.e.Mode.Signed() {
		sig := r.e.chunkSignature(r.prev, data)
		r.prev = sig
		if f.BadSignature == r.n {
			sig = corrupt(sig)
		}
		enc.WriteString(";chunk-signature=")
		enc.WriteString(sig)
	}
	enc.WriteString("\r\n")
	enc.Write(data)
	enc.WriteString("\r\n")

	switch {
	case f.Swap == r.n:
		r.held.Write(enc.Bytes())
		return
	case f.Replay == r.n:
		r.out.Write(enc.Bytes())
	}
	r.out.Write(enc.Bytes())
	r.flushHeld()
}

func (r *encReader) flushHeld() {
	if r.held.Len() > 0 {
		r.out.Write(r.held.Bytes())
		r.held.Reset()
	}
}

// final encodes the empty chunk, the trailers and the end.
func (r *encReader) final() {
	r.n++
	r.done = true
	e, f := r.e, r.e.Faults
	r.out.WriteString("0")
	if e.Mode.Signed() {
		sig := e.chunkSignature(r.prev, nil)
		r.prev = sig
		if f.BadSignature == r.n {
			sig = corrupt(sig)
		}
		r.out.WriteString(";chunk-signature=" + sig)
	}
	r.out.WriteString("\r\n")
	r.flushHeld()
	for i, t := range e.Trailers {
		sep := ":"
		if i == 0 && f.MalformedTrailer {
			sep = ""
		}
		r.out.WriteString(t.Name + sep + t.Value + "\r\n")
	}
	if e.Mode == SignedTrailer && !f.OmitTrailerSignature {
		sig := e.trailerSignature(r.prev)
		if f.BadTrailerSignature {
			sig = corrupt(sig)
		}
		r.out.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
	}
	r.out.WriteString("\r\n")
}

// chunkSignature signs a chunk after the one signed prev.
func (e *Encoder) chunkSignature(prev string, data []byte) string {
	sum := sha256.Sum256(data)
	empty := sha256.Sum256(nil)
	return e.sign("AWS4-HMAC-SHA256-PAYLOAD\n" + e.Time.UTC().Format(amzDate) + "\n" + e.Scope + "\n" +
		prev + "\n" + hex.EncodeToString(empty[:]) + "\n" + hex.EncodeToString(sum[:]))
}

// trailerSignature signs the trailers after the final chunk, signed prev:
// the hash covers "name:value\n" per trailer, names lower-case, or a lone
// newline when there is none.
func (e *Encoder) trailerSignature(prev string) string {
	var canon strings.Builder
	for _, t := range e.Trailers {
		canon.WriteString(strings.ToLower(t.Name) + ":" + t.Value + "\n")
	}
	if canon.Len() == 0 {
		canon.WriteString("\n")
	}
	sum := sha256.Sum256([]byte(canon.String()))
	return e.sign("AWS4-HMAC-SHA256-TRAILER\n" + e.Time.UTC().Format(amzDate) + "\n" + e.Scope + "\n" +
		prev + "\n" + hex.EncodeToString(sum[:]))
}

func (e *Encoder) sign(stringToSign string) string {
	m := hmac.New(sha256.New, e.Key)
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// corrupt changes the first hex digit of a signature.
func corrupt(sig string) string {
	if sig == "" {
		return "0"
	}
	c := byte('0')
	if sig[0] == '0' {
		c = '1'
	}
	return string(c) + sig[1:]
}

const amzDate = "20060102T150405Z"
