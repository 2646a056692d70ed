package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/s3gate/s3gate/checksum"
	"github.com/s3gate/s3gate/sigv4/sigv4test"
)

// chunked describes an aws-chunked PUT: the encoder (mode, chunk size,
// trailers, faults), headers set before signing (an empty value leaves the
// header out), and an edit of the encoded body after signing.
type hostileChunked struct {
	enc    sigv4test.Encoder
	header map[string]string
	edit   func(body []byte) []byte
	// cut, when set, sends the body raw and hangs up after cut bytes.
	cut int
}

// hostileChunkedData is the object the chunked cases upload: three data chunks of
// 8 KiB, 8 KiB and 3 KiB, then the final chunk (number 4).
var hostileChunkedData = hostileBytes("aws-chunked", 19<<10)

const hostileChunkSize = 8 << 10

// send signs and sends the upload to the key.
func (c hostileChunked) send(t *testing.T, h *hostileEnv, key string) *http.Response {
	t.Helper()
	hr, err := http.NewRequest("PUT", h.url+"/"+hostileBucket+"/"+key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		hr.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	enc := c.enc
	if enc.ChunkSize == 0 {
		enc.ChunkSize = hostileChunkSize
	}
	creds := sigv4test.Credentials{AccessKey: testAccessKey, SecretKey: testSecret, Region: testRegion}
	if err := sigv4test.Sign(hr, creds, time.Now(), &enc, hostileChunkedData); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	if c.edit != nil {
		body = c.edit(body)
	}
	if c.cut > 0 {
		var head bytes.Buffer
		hr.ContentLength = int64(len(body))
		hr.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if err := hr.Header.Write(&head); err != nil {
			t.Fatal(err)
		}
		line := "PUT " + hr.URL.RequestURI() + " HTTP/1.1\r\nHost: " + hr.URL.Host + "\r\n"
		return h.sendRaw(t, hangHalf, []byte(line), head.Bytes(), []byte("\r\n"), body[:c.cut])
	}
	hr.Body = io.NopCloser(bytes.NewReader(body))
	hr.ContentLength = int64(len(body))
	hr.GetBody = nil
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// replaceOnce replaces the first old in b with new; it fails loudly (by
// returning nil, which the server refuses) if old is absent.
func hostileReplace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte {
		if !bytes.Contains(b, []byte(old)) {
			return []byte("edit target " + strconv.Quote(old) + " not in the encoding")
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
}

// TestHostileChunkedBodies: aws-chunked uploads whose chunk signatures,
// chunk sizes, trailers or declared lengths lie. None may store anything.
func TestHostileChunkedBodies(t *testing.T) {
	h := newHostileEnv(t)
	keep := h.seed(t, hostileObject{hostileBucket, "k", []byte("previous version of k")})
	crc := hostileChecksum(checksum.CRC32, hostileChunkedData)
	wrongCRC := hostileChecksum(checksum.CRC32, []byte("other bytes"))
	crcTrailer := []sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: crc}}
	modes := []sigv4test.Mode{sigv4test.Signed, sigv4test.SignedTrailer, sigv4test.UnsignedTrailer}

	// The same uploads without the faults succeed: each case below fails
	// for its fault alone.
	for _, m := range modes {
		t.Run("control "+string(m), func(t *testing.T) {
			sh := h.with(t)
			c := hostileChunked{enc: sigv4test.Encoder{Mode: m}}
			if m != sigv4test.Signed {
				c.enc.Trailers = crcTrailer
			}
			resp := c.send(t, sh, "control")
			expectStatus(t, resp, 200)
			if got := sh.get(hostileBucket, "control"); !bytes.Equal(got, hostileChunkedData) {
				t.Fatalf("stored %d bytes, want the %d sent", len(got), len(hostileChunkedData))
			}
			if m != sigv4test.Signed && resp.Header.Get("x-amz-checksum-crc32") != crc {
				t.Errorf("x-amz-checksum-crc32 answered %q, want %q", resp.Header.Get("x-amz-checksum-crc32"), crc)
			}
			expectStatus(t, sh.do(req{method: "DELETE", path: "/" + hostileBucket + "/control"}), 204)
		})
	}

	var cases []hostileCase
	add := func(name string, c hostileChunked, status int, code string) {
		cases = append(cases, hostileCase{name: name, status: status, code: code,
			send: func(t *testing.T, h *hostileEnv) *http.Response { return c.send(t, h, "k") }})
	}
	signed := func(f sigv4test.Faults) hostileChunked {
		return hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.Signed, Faults: f}}
	}
	// Chunk signatures.
	for _, n := range []int{1, 2, 3, 4} {
		add("signature of chunk "+strconv.Itoa(n)+" wrong", signed(sigv4test.Faults{BadSignature: n}), 403, "SignatureDoesNotMatch")
	}
	add("chunk 1 replayed", signed(sigv4test.Faults{Replay: 1}), 403, "SignatureDoesNotMatch")
	// Chunk 2 again would take the payload past its declared length,
	// which is found at the chunk's header, before its signature.
	add("chunk 2 replayed", signed(sigv4test.Faults{Replay: 2}), 400, "IncompleteBody")
	add("chunks 1 and 2 swapped", signed(sigv4test.Faults{Swap: 1}), 403, "SignatureDoesNotMatch")
	add("chunks 2 and 3 swapped", signed(sigv4test.Faults{Swap: 2}), 403, "SignatureDoesNotMatch")
	add("chunk signature missing", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.Signed},
		edit: hostileReplace("2000;chunk-signature=", "2000;x=")}, 400, "IncompleteBody")
	add("chunk signature truncated", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.Signed},
		edit: func(b []byte) []byte {
			i := bytes.Index(b, []byte("chunk-signature=")) + len("chunk-signature=")
			return append(append(append([]byte{}, b[:i+10]...), '\r', '\n'), b[i+66:]...)
		}}, 403, "SignatureDoesNotMatch")

	// Chunk sizes that lie. The data itself is intact.
	for _, m := range modes {
		ms := string(m)
		var tr []sigv4test.Trailer
		if m != sigv4test.Signed {
			tr = crcTrailer
		}
		enc := func(f sigv4test.Faults) sigv4test.Encoder {
			return sigv4test.Encoder{Mode: m, Trailers: tr, Faults: f}
		}
		larger := 400
		code := "IncompleteBody"
		if m.Signed() {
			larger, code = 403, "SignatureDoesNotMatch"
		}
		add(ms+": chunk 1 size one byte larger than its data", hostileChunked{enc: enc(sigv4test.Faults{SizeLie: 1})}, larger, code)
		// Chunk 3 claims more than the declared length leaves.
		add(ms+": chunk 3 size one byte larger than its data", hostileChunked{enc: enc(sigv4test.Faults{SizeLie: 3})}, 400, "IncompleteBody")
		add(ms+": chunk 1 size one byte smaller than its data", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "1fff")}, larger, code)
		add(ms+": chunk 1 size not hex", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "2z00")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size negative", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "-2000")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size with a plus sign", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "+2000")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size overflowing int64", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "ffffffffffffffff")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size of 17 digits", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "00000000000002000")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size huge", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "7fffffffffffffff")}, 400, "IncompleteBody")
		add(ms+": chunk 1 size empty", hostileChunked{enc: enc(sigv4test.Faults{}), edit: hostileReplace("2000", "")}, 400, "IncompleteBody")
		// A final chunk with data makes chunk 3 (3 KiB) a short chunk
		// that is not the last. S3 answers InvalidChunkSizeError with 403
		// (as captured from S3 in aws-sdk-cpp issues 2727 and 3132).
		add(ms+": final chunk claims data", hostileChunked{enc: enc(sigv4test.Faults{}), edit: func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("\r\n0"))
			return append(append(append([]byte{}, b[:i+2]...), '1'), b[i+3:]...)
		}}, 403, "InvalidChunkSizeError")
		add(ms+": chunk of 100 bytes before the last", hostileChunked{enc: sigv4test.Encoder{Mode: m, Trailers: tr, ChunkSize: 100}}, 403, "InvalidChunkSizeError")
		add(ms+": decoded length one more than sent", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(len(hostileChunkedData) + 1)}}, 400, "IncompleteBody")
		add(ms+": decoded length one less than sent", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(len(hostileChunkedData) - 1)}}, 400, "IncompleteBody")
		add(ms+": decoded length zero", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": "0"}}, 400, "IncompleteBody")
		add(ms+": decoded length missing", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": ""}}, 411, "MissingContentLength")
		add(ms+": decoded length negative", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": "-1"}}, 411, "MissingContentLength")
		add(ms+": decoded length over 5 GiB", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(5<<30 + 1)}}, 400, "EntityTooLarge")
		add(ms+": body cut mid-chunk", hostileChunked{enc: enc(sigv4test.Faults{}), cut: 5000}, 400, "IncompleteBody")
		add(ms+": body cut before the final chunk", hostileChunked{enc: enc(sigv4test.Faults{}), edit: func(b []byte) []byte {
			return b[:bytes.LastIndex(b, []byte("\r\n0"))+2]
		}}, 400, "IncompleteBody")
		add(ms+": bytes after the encoding", hostileChunked{enc: enc(sigv4test.Faults{}), edit: func(b []byte) []byte {
			return append(b, "extra"...)
		}}, 400, "IncompleteBody")
		add(ms+": Content-MD5 of other bytes", hostileChunked{enc: enc(sigv4test.Faults{}), header: map[string]string{"Content-MD5": hostileMD5([]byte("other"))}}, 400, "BadDigest")
	}

	// Trailers.
	for _, m := range []sigv4test.Mode{sigv4test.SignedTrailer, sigv4test.UnsignedTrailer} {
		ms := string(m)
		enc := func(tr []sigv4test.Trailer, f sigv4test.Faults) sigv4test.Encoder {
			return sigv4test.Encoder{Mode: m, Trailers: tr, Faults: f}
		}
		add(ms+": trailer checksum of other bytes", hostileChunked{enc: enc([]sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: wrongCRC}}, sigv4test.Faults{})}, 400, "BadDigest")
		add(ms+": trailer checksum not base64", hostileChunked{enc: enc([]sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: "!!!!"}}, sigv4test.Faults{})}, 400, "InvalidRequest")
		add(ms+": trailer checksum empty", hostileChunked{enc: enc([]sigv4test.Trailer{{Name: "x-amz-checksum-crc32", Value: ""}}, sigv4test.Faults{})}, 400, "InvalidRequest")
		add(ms+": trailer not declared", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{}), header: map[string]string{"X-Amz-Trailer": ""}}, 400, "MalformedTrailerError")
		add(ms+": other trailer than declared", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{}), header: map[string]string{"X-Amz-Trailer": "x-amz-checksum-sha256"}}, 400, "MalformedTrailerError")
		add(ms+": declared trailer missing", hostileChunked{enc: enc(nil, sigv4test.Faults{}), header: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}}, 400, "MalformedTrailerError")
		add(ms+": trailer without colon", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{MalformedTrailer: true})}, 400, "MalformedTrailerError")
		add(ms+": trailer sent twice", hostileChunked{enc: enc(append(append([]sigv4test.Trailer{}, crcTrailer...), crcTrailer...), sigv4test.Faults{}),
			header: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}}, 400, "MalformedTrailerError")
		add(ms+": two checksum trailers declared", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{}),
			header: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32,x-amz-checksum-sha256"}}, 400, "InvalidRequest")
		add(ms+": trailer of a non-checksum header", hostileChunked{enc: enc([]sigv4test.Trailer{{Name: "x-amz-meta-color", Value: "red"}}, sigv4test.Faults{})}, 400, "InvalidRequest")
		add(ms+": trailer and header checksum both", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{}), header: map[string]string{"x-amz-checksum-sha256": hostileChecksum(checksum.SHA256, hostileChunkedData)}}, 400, "InvalidRequest")
		add(ms+": trailer section cut", hostileChunked{enc: enc(crcTrailer, sigv4test.Faults{}), edit: func(b []byte) []byte {
			return b[:bytes.Index(b, []byte("x-amz-checksum-crc32:"))+10]
		}}, 400, "IncompleteBody")
	}
	add("signed trailer: trailer signature wrong", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.SignedTrailer, Trailers: crcTrailer, Faults: sigv4test.Faults{BadTrailerSignature: true}}}, 403, "SignatureDoesNotMatch")
	add("signed trailer: trailer signature missing", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.SignedTrailer, Trailers: crcTrailer, Faults: sigv4test.Faults{OmitTrailerSignature: true}}}, 400, "IncompleteBody")
	add("signed trailer: trailer value changed after signing", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.SignedTrailer, Trailers: crcTrailer},
		edit: hostileReplace("x-amz-checksum-crc32:"+crc, "x-amz-checksum-crc32:"+wrongCRC)}, 403, "SignatureDoesNotMatch")
	add("signed: trailers in the mode without them", hostileChunked{enc: sigv4test.Encoder{Mode: sigv4test.Signed, Trailers: crcTrailer}}, 400, "MalformedTrailerError")
	h.refuseAll(t, cases, keep)
}
