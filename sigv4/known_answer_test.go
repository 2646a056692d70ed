package sigv4

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readRequest parses a request from wire text the way net/http's server
// does.
func readRequest(t *testing.T, wire string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(wire, "\n", "\r\n"))))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAWSDocumentationExamples verifies the worked examples of the Amazon S3
// API reference (Signature Version 4, header and query authentication).
func TestAWSDocumentationExamples(t *testing.T) {
	v := &Verifier{
		Now:    func() time.Time { return time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC) },
		Secret: secrets(map[string]string{"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
	}
	cases := []struct{ name, wire string }{
		{"GET object", `GET /test.txt HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41
Range: bytes=0-9
x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-amz-date: 20130524T000000Z

`},
		{"PUT object", `PUT /test%24file.text HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Date: Fri, 24 May 2013 00:00:00 GMT
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd
x-amz-date: 20130524T000000Z
x-amz-storage-class: REDUCED_REDUNDANCY
x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
Content-Length: 21

Welcome to Amazon S3.`},
		{"GET bucket lifecycle", `GET /?lifecycle HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543
x-amz-date: 20130524T000000Z
x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

`},
		{"GET bucket list", `GET /?max-keys=2&prefix=J HTTP/1.1
Host: examplebucket.s3.amazonaws.com
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7
x-amz-date: 20130524T000000Z
x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

`},
		{"presigned GET object", `GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1
Host: examplebucket.s3.amazonaws.com

`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := readRequest(t, c.wire)
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, fieldsOf(err))
			}
			body, err := res.Body(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readAllSmall(body); err != nil {
				t.Fatalf("body: %v", err)
			}
		})
	}
}

// TestCanonicalRequestText checks the canonical request, read back from the
// SignatureDoesNotMatch details, against text written out by hand: headers
// Go keeps outside the header map, repeated headers and values, and a query
// whose sort order changes when encoded.
func TestCanonicalRequestText(t *testing.T) {
	r := readRequest(t, `POST /bucket/a%20b/%E2%82%AC?b=2&a=z&a=%2F&a=-&c HTTP/1.1
Host: example.com:9000
Transfer-Encoding: chunked
X-Amz-Date: 20240517T123045Z
X-Amz-Content-Sha256: UNSIGNED-PAYLOAD
X-Amz-Meta-Multi: one
X-Amz-Meta-Multi:   two   words  
Content-Type: text/plain
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;transfer-encoding;x-amz-content-sha256;x-amz-date;x-amz-meta-multi, Signature=0000

5
hello
0

`)
	_, err := newVerifier(testNow).Verify(r)
	e := s3Error(t, err, CodeSignatureDoesNotMatch)
	want := `POST
/bucket/a%20b/%E2%82%AC
a=%2F&a=-&a=z&b=2&c=
content-type:text/plain
host:example.com:9000
transfer-encoding:chunked
x-amz-content-sha256:UNSIGNED-PAYLOAD
x-amz-date:20240517T123045Z
x-amz-meta-multi:one,two words

content-type;host;transfer-encoding;x-amz-content-sha256;x-amz-date;x-amz-meta-multi
UNSIGNED-PAYLOAD`
	wantField(t, e, "CanonicalRequest", want)
}
