package conformance

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// sentRequest is what a Go client put on the wire for one request, as its
// transport saw it.
type sentRequest struct {
	Method, Path    string
	ContentSHA256   string
	ContentEncoding string
	Trailer         string            // x-amz-trailer
	Checksums       map[string]string // x-amz-checksum-ALG headers, ALG in upper case
}

// wireRecorder is an http.RoundTripper that records every request a Go
// client sends, and on demand corrupts one byte of request or response
// bodies in flight, after the client computed their digests.
type wireRecorder struct {
	next http.RoundTripper

	mu   sync.Mutex
	sent []sentRequest
	// corruptUpload and corruptDownload flip one body byte of PUT
	// requests and GET responses while set.
	corruptUpload, corruptDownload bool
}

func (w *wireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	sr := sentRequest{
		Method:          req.Method,
		Path:            req.URL.EscapedPath(),
		ContentSHA256:   req.Header.Get("X-Amz-Content-Sha256"),
		ContentEncoding: req.Header.Get("Content-Encoding"),
		Trailer:         req.Header.Get("X-Amz-Trailer"),
		Checksums:       map[string]string{},
	}
	for k, vs := range req.Header {
		if alg, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-checksum-"); ok && alg != "mode" && alg != "type" && alg != "algorithm" {
			sr.Checksums[strings.ToUpper(alg)] = vs[0]
		}
	}
	w.mu.Lock()
	w.sent = append(w.sent, sr)
	corruptUp, corruptDown := w.corruptUpload, w.corruptDownload
	w.mu.Unlock()

	if corruptUp && req.Method == http.MethodPut && req.Body != nil {
		req = req.Clone(req.Context())
		req.Body = &flipByte{ReadCloser: req.Body, at: 1000}
	}
	resp, err := w.next.RoundTrip(req)
	if err == nil && corruptDown && req.Method == http.MethodGet {
		resp.Body = &flipByte{ReadCloser: resp.Body, at: 1000}
	}
	return resp, err
}

// last returns the last request sent to a path ending in suffix.
func (w *wireRecorder) last(t *testing.T, method, suffix string) sentRequest {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.sent) - 1; i >= 0; i-- {
		if w.sent[i].Method == method && strings.HasSuffix(w.sent[i].Path, suffix) {
			return w.sent[i]
		}
	}
	t.Fatalf("the client sent no %s request for ...%s", method, suffix)
	return sentRequest{}
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// upload describes the request as the access log would: the payload mode
// and where the checksum travels.
func (sr sentRequest) upload() wantUpload {
	u := wantUpload{Payload: sr.ContentSHA256}
	if hexSHA256.MatchString(u.Payload) {
		u.Payload = payloadSHA256
	}
	for alg := range sr.Checksums {
		u.Checksum, u.Source = alg, sourceHeader
	}
	if alg, ok := strings.CutPrefix(strings.ToLower(sr.Trailer), "x-amz-checksum-"); ok {
		u.Checksum, u.Source = strings.ToUpper(alg), sourceTrailer
	}
	return u
}

// requireSent fails unless the client sent the upload as want says: this
// pins the client's behaviour, so that a client upgrade that changes its
// encoding shows here and not as a puzzling server-side mismatch.
func (w *wireRecorder) requireSent(t *testing.T, client, key string, want wantUpload) {
	t.Helper()
	sr := w.last(t, http.MethodPut, "/"+key)
	got := sr.upload()
	if got != want {
		t.Errorf("%s sent PUT %s as %v (x-amz-content-sha256 %q, Content-Encoding %q, x-amz-trailer %q, checksum headers %v); the test expects %v",
			client, key, got, sr.ContentSHA256, sr.ContentEncoding, sr.Trailer, sr.Checksums, want)
	}
	if strings.HasPrefix(want.Payload, "STREAMING-") && !strings.Contains(sr.ContentEncoding, "aws-chunked") {
		t.Errorf("%s sent a %s body with Content-Encoding %q, want aws-chunked", client, want.Payload, sr.ContentEncoding)
	}
}

// flipByte inverts the byte at offset at of a stream.
type flipByte struct {
	io.ReadCloser
	at, off int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if i := f.at - f.off; i >= 0 && i < int64(n) {
		p[i] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

// crc64NVME is the CRC-64/NVME table S3 uses.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// checksumOf returns the base64 S3 checksum of data for an algorithm name
// as S3 spells it (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
func checksumOf(t *testing.T, alg string, data []byte) string {
	t.Helper()
	var sum []byte
	switch alg {
	case "CRC32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case "CRC32C":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "CRC64NVME":
		sum = binary.BigEndian.AppendUint64(nil, crc64.Checksum(data, crc64NVME))
	case "SHA1":
		h := sha1.Sum(data)
		sum = h[:]
	case "SHA256":
		h := sha256.Sum256(data)
		sum = h[:]
	default:
		t.Fatalf("unknown checksum algorithm %q", alg)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// TestChecksumOf pins the local checksum code to published check values,
// so that a wrong expectation cannot hide a server bug.
func TestChecksumOf(t *testing.T) {
	t.Parallel()
	check := []byte("123456789")
	for alg, want := range map[string]uint64{"CRC32": 0xcbf43926, "CRC32C": 0xe3069283, "CRC64NVME": 0xae8b14860a799888} {
		sum, err := base64.StdEncoding.DecodeString(checksumOf(t, alg, check))
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		for _, b := range sum {
			got = got<<8 | uint64(b)
		}
		if got != want {
			t.Errorf("%s(123456789) = %x, want %x", alg, got, want)
		}
	}
}
