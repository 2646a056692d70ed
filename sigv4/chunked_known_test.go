package sigv4

import (
	"bufio"
	"bytes"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"
)

// docChunked builds the body of the S3 API reference's chunked upload
// examples: 66560 bytes of 'a' in a 64 KiB and a 1 KiB chunk.
func docChunked(sigs []string, tail string) string {
	return "10000;chunk-signature=" + sigs[0] + "\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=" + sigs[1] + "\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=" + sigs[2] + "\r\n" + tail
}

// TestAWSStreamingExamples decodes the worked examples of "Signature
// Calculations for the Authorization Header: Transferring Payload in
// Multiple Chunks" and of its trailing-headers sequel, and a changed copy of
// each.
func TestAWSStreamingExamples(t *testing.T) {
	v := &Verifier{
		Now:    func() time.Time { return time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC) },
		Secret: secrets(map[string]string{"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
	}
	cases := []struct {
		name, head, body string
		length           int
		trailer          string
	}{
		{"chunked", `PUT /examplebucket/chunkObject.txt HTTP/1.1
Host: s3.amazonaws.com
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9
x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD
Content-Encoding: aws-chunked
x-amz-decoded-content-length: 66560
Content-Length: 66824
`, docChunked([]string{
			"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
			"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
			"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
		}, "\r\n"), 66824, ""},
		{"trailing headers", `PUT /examplebucket/chunkObject.txt HTTP/1.1
Host: s3.amazonaws.com
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e
x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
Content-Encoding: aws-chunked
x-amz-decoded-content-length: 66560
x-amz-trailer: x-amz-checksum-crc32c
Content-Length: 66946
`, docChunked([]string{
			"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
			"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
			"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
		}, "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"), 66946, "sOO8/Q=="},
	}
	data := []byte(strings.Repeat("a", 66560))
	if got := checksumOf(data, crc32.MakeTable(crc32.Castagnoli)); got != "sOO8/Q==" {
		t.Fatalf("CRC32C of the example data = %s", got)
	}
	for _, c := range cases {
		for _, tamper := range []bool{false, true} {
			body := c.body
			if tamper {
				// One 'a' of the second chunk becomes 'b'.
				body = body[:66000] + "b" + body[66001:]
			}
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(c.head, "\n", "\r\n") + "\r\n" + body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.body) != c.length {
				t.Fatalf("%s: body is %d bytes, the example says %d", c.name, len(c.body), c.length)
			}
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("%s: Verify: %v\n%s", c.name, err, fieldsOf(err))
			}
			dec, err := res.Body(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeAll(t, dec, res.DecodedLength)
			if tamper {
				e := s3Error(t, err, CodeSignatureDoesNotMatch)
				wantField(t, e, "SignatureProvided", map[bool]string{false: "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", true: "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"}[c.trailer != ""])
				continue
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: decoded %d bytes, %v", c.name, len(got), err)
			}
			if tr := dec.(interface{ Trailer() http.Header }).Trailer(); tr.Get("X-Amz-Checksum-Crc32c") != c.trailer {
				t.Fatalf("%s: trailers %v", c.name, tr)
			}
		}
	}
}

// TestTrailerSignatureKnownAnswer checks the canonical form of several
// trailers against the AWS signing library (aws-c-auth), whose test signs
// "first:1st", "second:2nd", "third:3rd" after the final chunk of the
// chunked example.
func TestTrailerSignatureKnownAnswer(t *testing.T) {
	s := Scope{Date: "20130524", Region: "us-east-1", Service: "s3"}
	res := &Result{
		AccessKey:  "AKIAIOSFODNN7EXAMPLE",
		Time:       time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC),
		Scope:      s,
		Signature:  "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
		SigningKey: deriveKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", s),
	}
	fields := []trailerField{{"first", "1st"}, {"second", "2nd"}, {"third", "3rd"}}
	canonical := canonicalTrailers(fields)
	if sum := sha256Hex(canonical); sum != "83d8f190334fb741bc8daf73c891689d320bd8017756bc730c540021ed48001f" {
		t.Fatalf("canonical trailers %q hash to %s", canonical, sum)
	}
	want := []byte("df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c")
	if err := newChunkSigner(res).verifyTrailer(canonical, want); err != nil {
		t.Fatalf("%v\n%s", err, fieldsOf(err))
	}
	bad := bytes.Clone(want)
	bad[0] = 'e'
	if err := newChunkSigner(res).verifyTrailer(canonical, bad); err == nil {
		t.Fatal("wrong trailer signature accepted")
	}
}
