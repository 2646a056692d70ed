package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/s3gate/s3gate/sigv4/sigv4test"
)

var streamCreds = sigv4test.Credentials{AccessKey: testAccessKey, SecretKey: testSecret, Region: testRegion}

// streamUpload is one aws-chunked upload made with sigv4test.
type streamUpload struct {
	mode     sigv4test.Mode
	chunk    int // 8 KiB when 0
	data     []byte
	trailers []sigv4test.Trailer
	faults   sigv4test.Faults
	header   map[string]string   // set before signing; "" leaves a header out
	edit     func([]byte) []byte // changes the encoded body after signing
}

const testURL = "http://127.0.0.1:9000/bucket/dir/key"

// build signs the upload and returns the request as a server receives it,
// and its body.
func (u streamUpload) build(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, testURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range u.header {
		req.Header.Set(k, v)
	}
	chunk := u.chunk
	if chunk == 0 {
		chunk = minChunkSize
	}
	enc := &sigv4test.Encoder{Mode: u.mode, ChunkSize: chunk, Trailers: u.trailers, Faults: u.faults}
	if err := sigv4test.Sign(req, streamCreds, signTime, enc, u.data); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if u.edit != nil {
		body = u.edit(body)
	}
	srv := httptest.NewRequest(http.MethodPut, req.URL.String(), bytes.NewReader(body))
	srv.Header = req.Header.Clone()
	return srv, body
}

// decodeAll reads body with small reads of varying size and reports what
// came out. It fails the test if io.EOF ever comes with or after an error,
// if an error is not sticky, or if more bytes come out than declared.
func decodeAll(t testing.TB, body io.Reader, declared int64) ([]byte, error) {
	t.Helper()
	var out []byte
	sizes := []int{1, 7, 4096, 100, 65536, 3}
	buf := make([]byte, 65536)
	for i := 0; ; i++ {
		n, err := body.Read(buf[:sizes[i%len(sizes)]])
		out = append(out, buf[:n]...)
		if int64(len(out)) > declared {
			t.Fatalf("decoded %d bytes, more than the %d declared", len(out), declared)
		}
		if err == nil {
			continue
		}
		if err == io.EOF {
			return out, nil
		}
		if n2, err2 := body.Read(make([]byte, 10)); n2 != 0 || err2 != err {
			t.Fatalf("read after %v = %d, %v; want the same error", err, n2, err2)
		}
		return out, err
	}
}

const crcTrailer = "x-amz-checksum-crc32"

// trailerOf is a CRC32 trailer with an arbitrary, fixed value: the decoder
// passes checksums on, it does not check them.
var trailerOf = []sigv4test.Trailer{{Name: crcTrailer, Value: "AAAAAA=="}}

// data of 3 full 8 KiB chunks and a short last one.
var hostileData = newPatternBytes(3*minChunkSize + 100)

func replaceNth(old, repl string, n int) func([]byte) []byte {
	return func(b []byte) []byte {
		s := string(b)
		at := -1
		for i := 0; i <= n; i++ {
			j := strings.Index(s[at+1:], old)
			if j < 0 {
				panic("replaceNth: " + old + " not found")
			}
			at += 1 + j
		}
		return []byte(s[:at] + repl + s[at+len(old):])
	}
}

func cutEnd(n int) func([]byte) []byte {
	return func(b []byte) []byte { return b[:len(b)-n] }
}

func TestChunkedHostile(t *testing.T) {
	n := int64(len(hostileData))
	full := int64(minChunkSize)
	type want struct {
		verify string            // error code of Verify
		code   string            // error code of the body; "" for a clean end
		before int64             // payload bytes returned before the error; -1 unchecked
		fields map[string]string // fields of the error; a value ending in "*" is a prefix
	}
	ok := want{before: n}
	cases := []struct {
		name string
		up   streamUpload
		want want
	}{
		// Correct bodies.
		{"signed", streamUpload{mode: sigv4test.Signed, data: hostileData}, ok},
		{"signed trailer", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf}, ok},
		{"unsigned trailer", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf}, ok},
		{"unsigned without trailers", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData}, ok},
		{"signed trailer without trailers", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData}, ok},
		{"signed empty", streamUpload{mode: sigv4test.Signed, data: []byte{}}, want{before: 0}},
		{"unsigned empty", streamUpload{mode: sigv4test.UnsignedTrailer, data: []byte{}, trailers: trailerOf}, want{before: 0}},
		{"one chunk", streamUpload{mode: sigv4test.Signed, data: hostileData, chunk: len(hostileData)}, ok},
		{"chunks of exactly 8 KiB", streamUpload{mode: sigv4test.Signed, data: hostileData[:2*minChunkSize]}, want{before: 2 * full}},
		{"upper-case hex size", streamUpload{mode: sigv4test.Signed, data: hostileData, chunk: 0x2abc, edit: replaceNth("2abc;", "2ABC;", 1)}, ok},
		{"unsigned chunk extension", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("64\r\n", "64;ext=1;x\r\n", 0)}, ok},
		{"leading zeros", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("64\r\n", "0000000000000064\r\n", 0)}, ok},
		{"no final CRLF, unsigned", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, edit: cutEnd(2)}, ok},
		{"no final CRLF, signed", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: cutEnd(2)}, ok},
		{"trailer line ending LF CRLF", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf,
			edit: replaceNth("AAAAAA==\r\n", "AAAAAA==\n\r\n", 0)}, ok},
		{"blanks around the trailer value", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf,
			edit: replaceNth(":AAAAAA==", " :\tAAAAAA== ", 0)}, ok},
		{"32 trailers", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: manyTrailers(31)}, ok},

		// Chunk signatures.
		{"bad first chunk signature", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{BadSignature: 1}},
			want{code: CodeSignatureDoesNotMatch, before: full, fields: map[string]string{
				"AWSAccessKeyId": testAccessKey, "StringToSign": "AWS4-HMAC-SHA256-PAYLOAD\n20240517T123045Z\n20240517/us-east-1/s3/aws4_request\n*",
				"CanonicalRequest": "PUT\n/bucket/dir/key\n*"}}},
		{"bad middle chunk signature", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{BadSignature: 3}},
			want{code: CodeSignatureDoesNotMatch, before: 3 * full}},
		{"bad final chunk signature", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{BadSignature: 5}},
			want{code: CodeSignatureDoesNotMatch, before: n}},
		{"bad chunk signature, trailer mode", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, faults: sigv4test.Faults{BadSignature: 2}},
			want{code: CodeSignatureDoesNotMatch, before: 2 * full}},
		{"replayed chunk", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{Replay: 2}},
			want{code: CodeSignatureDoesNotMatch, before: 3 * full}},
		{"reordered chunks", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{Swap: 1}},
			want{code: CodeSignatureDoesNotMatch, before: full}},
		{"chunk size one more than sent, signed", streamUpload{mode: sigv4test.Signed, data: hostileData, faults: sigv4test.Faults{SizeLie: 1}},
			want{code: CodeSignatureDoesNotMatch, before: full + 1}},
		{"second chunk extension, signed", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: replaceNth("chunk-signature=", "chunk-signature=abc;", 1)},
			want{code: CodeIncompleteBody, before: full}},
		{"short signature", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: setSignature(1, "abc")},
			want{code: CodeSignatureDoesNotMatch, before: 2 * full, fields: map[string]string{"SignatureProvided": "abc"}}},
		{"upper-case signature", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte {
			i := bytes.Index(b, []byte("chunk-signature=")) + len("chunk-signature=")
			copy(b[i:i+64], bytes.ToUpper(b[i:i+64]))
			return b
		}}, want{code: CodeSignatureDoesNotMatch, before: full}},
		{"signature of the wrong length", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: replaceNth("chunk-signature=", "chunk-signature=0", 0)},
			want{code: CodeSignatureDoesNotMatch, before: full}},
		{"empty signature", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte {
			return bytes.Replace(b, b[bytes.Index(b, []byte("chunk-signature=")):bytes.Index(b, []byte("\r\n"))], []byte("chunk-signature="), 1)
		}}, want{code: CodeIncompleteBody, before: 0}},
		{"no signature", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte {
			return bytes.Replace(b, b[bytes.Index(b, []byte(";")):bytes.Index(b, []byte("\r\n"))], nil, 1)
		}}, want{code: CodeIncompleteBody, before: 0}},

		// Framing.
		{"chunk size one more than sent, unsigned", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, faults: sigv4test.Faults{SizeLie: 1}},
			want{code: CodeIncompleteBody, before: full + 1}},
		{"replayed chunk, unsigned", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, faults: sigv4test.Faults{Replay: 3}},
			want{code: CodeIncompleteBody, before: 3 * full, fields: map[string]string{"NumberBytesExpected": itoa64(n), "NumberBytesProvided": itoa64(4 * full)}}},
		{"truncated in a chunk", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte { return b[:200] }},
			want{code: CodeIncompleteBody, before: -1}},
		{"truncated in a chunk header", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte { return b[:bytes.Index(b, []byte("2000;"))+6] }},
			want{code: CodeIncompleteBody, before: 0}},
		{"truncated after the data", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: cutEnd(len("\r\n0\r\n\r\n"))},
			want{code: CodeIncompleteBody, before: n}},
		{"no final chunk", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: cutEnd(len("0\r\n\r\n"))},
			want{code: CodeIncompleteBody, before: n}},
		{"bytes after the end", streamUpload{mode: sigv4test.Signed, data: hostileData, edit: func(b []byte) []byte { return append(b, 'x') }},
			want{code: CodeIncompleteBody, before: n}},
		{"chunk after the final chunk", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: func(b []byte) []byte { return append(b, "1\r\nx\r\n0\r\n\r\n"...) }},
			want{code: CodeIncompleteBody, before: n}},
		{"LF without CR", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "2000\n", 0)},
			want{code: CodeIncompleteBody, before: 0}},
		{"data not followed by CRLF", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("\r\n2000", "\n\n2000", 0)},
			want{code: CodeIncompleteBody, before: full}},
		{"blank in the size", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "2000 \r\n", 0)},
			want{code: CodeIncompleteBody, before: 0}},
		{"17 size digits", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "00000000000002000\r\n", 0)},
			want{code: CodeIncompleteBody, before: 0}},
		{"size beyond int64", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "ffffffffffffffff\r\n", 0)},
			want{code: CodeIncompleteBody, before: 0}},
		{"huge size", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "7fffffffffffffff\r\n", 0)},
			want{code: CodeIncompleteBody, before: 0, fields: map[string]string{"NumberBytesExpected": itoa64(n), "NumberBytesProvided": "9223372036854775807"}}},
		{"header line too long", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, edit: replaceNth("2000\r\n", "2000;"+strings.Repeat("x", maxLineLen)+"\r\n", 0)},
			want{code: CodeIncompleteBody, before: 0}},

		// Chunk sizes.
		{"chunk below 8 KiB, signed", streamUpload{mode: sigv4test.Signed, data: hostileData, chunk: minChunkSize - 1},
			want{code: CodeInvalidChunkSizeError, before: full - 1, fields: map[string]string{"Chunk": "2", "BadChunkSize": "8191"}}},
		{"chunk below 8 KiB, unsigned", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, chunk: 100, trailers: trailerOf},
			want{code: CodeInvalidChunkSizeError, before: 100, fields: map[string]string{"Chunk": "2", "BadChunkSize": "100"}}},

		// Decoded length.
		{"decoded length short", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerDecodedLength: itoa64(n - 1)}},
			want{code: CodeIncompleteBody, before: 3 * full, fields: map[string]string{"NumberBytesExpected": itoa64(n - 1), "NumberBytesProvided": itoa64(n)}}},
		{"decoded length long", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, header: map[string]string{headerDecodedLength: itoa64(n + 1)}},
			want{code: CodeIncompleteBody, before: n, fields: map[string]string{"NumberBytesExpected": itoa64(n + 1), "NumberBytesProvided": itoa64(n)}}},
		{"decoded length missing", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerDecodedLength: ""}},
			want{verify: CodeMissingContentLength}},
		{"decoded length not a number", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, header: map[string]string{headerDecodedLength: "abc"}},
			want{verify: CodeMissingContentLength}},
		{"decoded length negative", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerDecodedLength: "-1"}},
			want{verify: CodeMissingContentLength}},
		{"decoded length signed", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerDecodedLength: "+24676"}},
			want{verify: CodeMissingContentLength}},
		{"decoded length beyond int64", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerDecodedLength: "9223372036854775808"}},
			want{verify: CodeMissingContentLength}},

		// Trailers.
		{"declared trailer missing", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, header: map[string]string{headerTrailer: crcTrailer}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"undeclared trailer", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, header: map[string]string{headerTrailer: ""}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"other trailer than declared", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, header: map[string]string{headerTrailer: "x-amz-checksum-crc32c"}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer in the mode without trailers", streamUpload{mode: sigv4test.Signed, data: hostileData, trailers: trailerOf},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer declared in the mode without trailers", streamUpload{mode: sigv4test.Signed, data: hostileData, header: map[string]string{headerTrailer: crcTrailer}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer without colon", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, faults: sigv4test.Faults{MalformedTrailer: true}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer without name", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, edit: replaceNth(crcTrailer+":", ":", 0)},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer twice", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: append(trailerOf, trailerOf...), header: map[string]string{headerTrailer: crcTrailer}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"33 trailers", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: manyTrailers(33)},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer line too long", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: []sigv4test.Trailer{{Name: crcTrailer, Value: strings.Repeat("A", maxLineLen)}}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"control byte in a trailer", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: []sigv4test.Trailer{{Name: crcTrailer, Value: "AA\x00A"}}},
			want{code: CodeMalformedTrailerError, before: n}},
		{"blank line before the trailer", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, edit: replaceNth("0\r\n"+crcTrailer, "0\r\n\r\n"+crcTrailer, 0)},
			want{code: CodeMalformedTrailerError, before: n}},
		{"trailer cut short", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, edit: cutEnd(4)},
			want{code: CodeIncompleteBody, before: n}},
		{"bad trailer signature", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, faults: sigv4test.Faults{BadTrailerSignature: true}},
			want{code: CodeSignatureDoesNotMatch, before: n, fields: map[string]string{"StringToSign": "AWS4-HMAC-SHA256-TRAILER\n*"}}},
		{"trailer changed after signing", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, edit: replaceNth("AAAAAA==", "AAAAAB==", 0)},
			want{code: CodeSignatureDoesNotMatch, before: n}},
		{"trailer signature missing", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, faults: sigv4test.Faults{OmitTrailerSignature: true}},
			want{code: CodeIncompleteBody, before: n}},
		{"line after the trailer signature", streamUpload{mode: sigv4test.SignedTrailer, data: hostileData, trailers: trailerOf, edit: func(b []byte) []byte {
			return append(b[:len(b)-2], "x-amz-meta-a:b\r\n\r\n"...)
		}}, want{code: CodeMalformedTrailerError, before: n}},
		{"trailer signature in the unsigned mode", streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, trailers: trailerOf, edit: func(b []byte) []byte {
			return append(b[:len(b)-2], "x-amz-trailer-signature:"+strings.Repeat("0", 64)+"\r\n\r\n"...)
		}}, want{code: CodeMalformedTrailerError, before: n}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := c.up.build(t)
			res, err := newVerifier(testNow).Verify(r)
			if c.want.verify != "" {
				s3Error(t, err, c.want.verify)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, fieldsOf(err))
			}
			body, err := res.Body(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			out, err := decodeAll(t, body, res.DecodedLength)
			if c.want.before >= 0 && int64(len(out)) != c.want.before {
				t.Errorf("%d payload bytes came out before the end, want %d", len(out), c.want.before)
			}
			if c.want.code == "" {
				if err != nil {
					t.Fatalf("decode: %v\n%s", err, fieldsOf(err))
				}
				if !bytes.Equal(out, c.up.data) {
					t.Fatalf("payload bytes differ from those sent")
				}
				if got := body.(interface{ Trailer() http.Header }).Trailer(); len(got) != len(c.up.trailers) {
					t.Fatalf("trailers %v, want %v", got, c.up.trailers)
				}
				return
			}
			e := s3Error(t, err, c.want.code)
			for name, want := range c.want.fields {
				got, _ := e.Field(name)
				if p, ok := strings.CutSuffix(want, "*"); ok && strings.HasPrefix(got, p) || got == want {
					continue
				}
				t.Errorf("field %s = %q, want %q", name, got, want)
			}
		})
	}
}

// setSignature replaces the signature of chunk n (from 0).
func setSignature(n int, sig string) func([]byte) []byte {
	return func(b []byte) []byte {
		at := 0
		for i := 0; i <= n; i++ {
			at += bytes.Index(b[at:], []byte("chunk-signature=")) + len("chunk-signature=")
		}
		return append(append(append([]byte(nil), b[:at]...), sig...), b[at+64:]...)
	}
}

func manyTrailers(n int) []sigv4test.Trailer {
	var ts []sigv4test.Trailer
	for i := range n {
		ts = append(ts, sigv4test.Trailer{Name: "x-amz-meta-t" + strconv.Itoa(i), Value: "v"})
	}
	return ts
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestChunkedUnsignedNeedsChecksum documents what the unsigned mode cannot
// catch: chunks swapped in transit decode cleanly into other bytes of the
// same length. Only the trailing checksum, which the caller checks, tells.
func TestChunkedUnsignedNeedsChecksum(t *testing.T) {
	up := streamUpload{mode: sigv4test.UnsignedTrailer, data: hostileData, faults: sigv4test.Faults{Swap: 1}}
	r, _ := up.build(t)
	res, err := newVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := res.Body(r.Body)
	out, err := decodeAll(t, body, res.DecodedLength)
	if err != nil || len(out) != len(hostileData) || bytes.Equal(out, hostileData) {
		t.Fatalf("swapped unsigned chunks: %d bytes, %v", len(out), err)
	}
}

// TestChunkedErrorsPassThrough: a failure of the connection is returned as
// is, a body that ends early is IncompleteBody, whatever the read sizes.
func TestChunkedErrorsPassThrough(t *testing.T) {
	up := streamUpload{mode: sigv4test.Signed, data: hostileData}
	r, body := up.build(t)
	res, err := newVerifier(testNow).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("connection reset")
	for cut := 0; cut < len(body); cut += 997 {
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.DataErrReader, iotest.HalfReader} {
			b, err := res.Body(io.NopCloser(wrap(io.MultiReader(bytes.NewReader(body[:cut]), iotest.ErrReader(broken)))))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeAll(t, b, res.DecodedLength); !errors.Is(err, broken) {
				t.Fatalf("cut at %d: %v, want the read error", cut, err)
			}
			b, _ = res.Body(io.NopCloser(wrap(bytes.NewReader(body[:cut]))))
			_, err = decodeAll(t, b, res.DecodedLength)
			s3Error(t, err, CodeIncompleteBody)
		}
	}
}

// TestChunkedOverHTTP sends hostile uploads through net/http, client and
// server, as the gateway receives them.
func TestChunkedOverHTTP(t *testing.T) {
	srv, seen := newStreamServer(t, false, testNow)
	send := func(t *testing.T, up streamUpload, cut int) streamSeen {
		t.Helper()
		r, body := up.build(t)
		req, err := http.NewRequest(http.MethodPut, srv.URL+"/bucket/dir/key", bytes.NewReader(body[:len(body)-cut]))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = r.Header
		req.Host = r.Host
		if cut > 0 {
			// Promise more than is sent, then close: the server's body
			// fails with io.ErrUnexpectedEOF.
			req.ContentLength = int64(len(body))
		}
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return nextSeen(t, seen)
	}
	for _, mode := range []sigv4test.Mode{sigv4test.Signed, sigv4test.SignedTrailer, sigv4test.UnsignedTrailer} {
		t.Run(string(mode), func(t *testing.T) {
			up := streamUpload{mode: mode, data: hostileData}
			if mode != sigv4test.Signed {
				up.trailers = trailerOf
			}
			s := send(t, up, 0)
			if s.err != nil || s.n != int64(len(hostileData)) || s.mode != string(mode) {
				t.Fatalf("good upload: %s %d bytes, %v", s.mode, s.n, s.err)
			}
			if mode != sigv4test.Signed && s.trailer.Get(crcTrailer) != "AAAAAA==" {
				t.Fatalf("trailers %v", s.trailer)
			}
			s = send(t, up, 10)
			if !errors.Is(s.err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut upload: %v, want io.ErrUnexpectedEOF", s.err)
			}
			if mode != sigv4test.UnsignedTrailer {
				up.faults.BadSignature = 2
				s = send(t, up, 0)
				s3Error(t, s.err, CodeSignatureDoesNotMatch)
			}
		})
	}
}
