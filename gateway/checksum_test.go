package gateway

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/checksum"
)

func b64sum(alg checksum.Algorithm, body []byte) string {
	h := alg.New()
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Every algorithm's header is verified and the checksum stored; GET and
// HEAD return it with checksum mode, for the whole object only; an upload
// without a checksum gets CRC64NVME, as in S3.
func TestChecksumsStoredAndReturned(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sums")
	body := []byte(strings.Repeat("checksummed bytes ", 1000))
	for _, alg := range checksum.All {
		key := "obj-" + string(alg)
		want := b64sum(alg, body)
		resp := e.put("sums", key, body, map[string]string{alg.Header(): want})
		expectStatus(t, resp, 200)
		if got := resp.Header.Get(alg.Header()); got != want {
			t.Errorf("%s: PUT answered %s=%q, want %q", alg, alg.Header(), got, want)
		}
		for _, method := range []string{"GET", "HEAD"} {
			resp = e.do(req{method: method, path: "/sums/" + key, header: map[string]string{"x-amz-checksum-mode": "ENABLED"}})
			expectStatus(t, resp, 200)
			if got := resp.Header.Get(alg.Header()); got != want || resp.Header.Get("x-amz-checksum-type") != "FULL_OBJECT" {
				t.Errorf("%s %s: %s=%q type %q, want %q FULL_OBJECT", method, alg, alg.Header(), got, resp.Header.Get("x-amz-checksum-type"), want)
			}
			// Without checksum mode there is none.
			resp = e.do(req{method: method, path: "/sums/" + key})
			expectStatus(t, resp, 200)
			if got := resp.Header.Get(alg.Header()); got != "" {
				t.Errorf("%s %s without checksum mode: %q", method, alg, got)
			}
		}
		resp = e.do(req{path: "/sums/" + key, header: map[string]string{"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-9"}})
		expectStatus(t, resp, 206)
		if got := resp.Header.Get(alg.Header()); got != "" {
			t.Errorf("ranged GET %s returned the whole object's checksum %q", alg, got)
		}
	}

	// No checksum sent: CRC64NVME, computed as the bytes passed.
	resp := e.put("sums", "plain", body, nil)
	expectStatus(t, resp, 200)
	want := b64sum(checksum.CRC64NVME, body)
	if got := resp.Header.Get("x-amz-checksum-crc64nvme"); got != want {
		t.Errorf("default checksum %q, want %q", got, want)
	}
	resp = e.do(req{method: "HEAD", path: "/sums/plain", header: map[string]string{"x-amz-checksum-mode": "enabled"}})
	expectStatus(t, resp, 200)
	if got := resp.Header.Get("x-amz-checksum-crc64nvme"); got != want {
		t.Errorf("HEAD default checksum %q, want %q", got, want)
	}

	r := e.listPage("sums", "list-type=2")
	algs := map[string]string{}
	for _, c := range r.Contents {
		algs[c.Key] = c.ChecksumAlgorithm
	}
	if algs["plain"] != "CRC64NVME" || algs["obj-SHA1"] != "SHA1" {
		t.Errorf("listed checksum algorithms %v", algs)
	}
}

func TestStoredContentEncoding(t *testing.T) {
	cases := map[string]string{
		"":                    "",
		"gzip":                "gzip",
		"aws-chunked":         "",
		"aws-chunked,gzip":    "gzip",
		"gzip, AWS-CHUNKED":   "gzip",
		"br,aws-chunked,zstd": "br,zstd",
	}
	for in, want := range cases {
		if got := storedContentEncoding(in); got != want {
			t.Errorf("storedContentEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}
