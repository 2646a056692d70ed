package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3gate/s3gate/checksum"
)

// mpMinPart is S3's smallest part, the last one excepted: 5 MiB.
const mpMinPart = 5 << 20

var (
	mpBigOnce sync.Once
	mpBigData []byte
)

// mpBig is one part of exactly S3's minimum size, generated once and shared
// (read-only) by every test that needs a full-size part.
func mpBig() []byte {
	mpBigOnce.Do(func() { mpBigData = mpBytes(1, mpMinPart) })
	return mpBigData
}

// mpBytes is n pseudo-random bytes, the same for the same seed.
func mpBytes(seed byte, n int) []byte {
	var s [32]byte
	s[0] = seed
	b := make([]byte, n)
	c := rand.NewChaCha8(s)
	c.Read(b)
	return b
}

// mpHash returns a fresh hash of alg, built from the standard library alone
// so that expected values do not depend on the code under test.
func mpHash(t testing.TB, alg checksum.Algorithm) hash.Hash {
	switch alg {
	case checksum.CRC32:
		return crc32.NewIEEE()
	case checksum.CRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case checksum.CRC64NVME:
		// CRC-64/NVME: reflected polynomial 0x9a6c9329ac4bc9b5, all-ones
		// init and final xor, which is what hash/crc64 computes.
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case checksum.SHA1:
		return sha1.New()
	case checksum.SHA256:
		return sha256.New()
	}
	t.Fatalf("no hash for %q", alg)
	return nil
}

// mpDigest is alg's raw digest of b.
func mpDigest(t testing.TB, alg checksum.Algorithm, b ...[]byte) []byte {
	h := mpHash(t, alg)
	for _, p := range b {
		h.Write(p)
	}
	return h.Sum(nil)
}

// mpFull is alg's base64 digest of the concatenation of parts: a FULL_OBJECT
// checksum, or a single PUT's.
func mpFull(t testing.TB, alg checksum.Algorithm, parts ...[]byte) string {
	return base64.StdEncoding.EncodeToString(mpDigest(t, alg, parts...))
}

// mpComposite is S3's COMPOSITE checksum of a multipart object: alg's digest
// of the concatenated raw part digests, base64, then "-N".
func mpComposite(t testing.TB, alg checksum.Algorithm, parts ...[]byte) string {
	h := mpHash(t, alg)
	for _, p := range parts {
		h.Write(mpDigest(t, alg, p))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// mpMD5 is the hex MD5 of b: a single PUT's (or a part's) ETag, unquoted.
func mpMD5(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// mpETag is a multipart object's ETag, unquoted: the MD5 of the parts'
// binary MD5s, hex, then "-N".
func mpETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// mpHeader is the header that carries alg's checksum.
func mpHeader(alg checksum.Algorithm) string {
	return "x-amz-checksum-" + strings.ToLower(string(alg))
}

// mpSums are the checksum elements of S3's documents.
type mpSums struct {
	CRC32     string `xml:"ChecksumCRC32"`
	CRC32C    string `xml:"ChecksumCRC32C"`
	CRC64NVME string `xml:"ChecksumCRC64NVME"`
	SHA1      string `xml:"ChecksumSHA1"`
	SHA256    string `xml:"ChecksumSHA256"`
}

// of returns alg's element; present reports which elements are set.
func (s mpSums) of(alg checksum.Algorithm) string {
	return map[checksum.Algorithm]string{
		checksum.CRC32: s.CRC32, checksum.CRC32C: s.CRC32C, checksum.CRC64NVME: s.CRC64NVME,
		checksum.SHA1: s.SHA1, checksum.SHA256: s.SHA256,
	}[alg]
}

func (s mpSums) present() []string {
	var out []string
	for _, a := range checksum.All {
		if s.of(a) != "" {
			out = append(out, string(a))
		}
	}
	return out
}

type mpInitiate struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

type mpCompleteResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	mpSums
	ChecksumType string
}

type mpListedPart struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	mpSums
}

type mpPartsPage struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	StorageClass         string
	ChecksumAlgorithm    string
	ChecksumType         string
	Initiator            struct{ ID string }
	Owner                struct{ ID string }
	Parts                []mpListedPart `xml:"Part"`
}

type mpUploadsPage struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Prefix             string
	Delimiter          string
	MaxUploads         int
	IsTruncated        bool
	Uploads            []struct {
		Key               string
		UploadID          string `xml:"UploadId"`
		Initiated         string
		StorageClass      string
		ChecksumAlgorithm string
		ChecksumType      string
	} `xml:"Upload"`
	CommonPrefixes []struct{ Prefix string }
}

// mpErr is an S3 error document with the elements S3 adds to multipart and
// argument errors.
type mpErr struct {
	Code           string
	Message        string
	ArgumentName   string
	ArgumentValue  string
	UploadID       string `xml:"UploadId"`
	PartNumber     string
	ETag           string
	ProposedSize   string
	MinSizeAllowed string
}

// mpExpectError checks resp as expectError does and returns the document
// with its extra elements.
func mpExpectError(t *testing.T, resp *http.Response, status int, code string) mpErr {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	expectError(t, resp, status, code)
	var doc mpErr
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("error document: %v: %s", err, body)
	}
	return doc
}

// mpDecode checks resp's status and decodes its XML body into a T.
func mpDecode[T any](t *testing.T, resp *http.Response, status int) T {
	t.Helper()
	body := expectStatus(t, resp, status)
	var v T
	if err := xml.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %T: %v: %s", v, err, body)
	}
	return v
}

func mpObjectPath(bucket, key string) string { return "/" + bucket + "/" + escapeKey(key) }

// mpCreate starts an upload with raw CreateMultipartUpload and returns its id.
func (e *env) mpCreate(bucket, key string, hdr map[string]string) string {
	e.t.Helper()
	r := mpDecode[mpInitiate](e.t, e.do(req{method: "POST", path: mpObjectPath(bucket, key) + "?uploads", header: hdr}), 200)
	if r.UploadID == "" || r.Bucket != bucket || r.Key != key {
		e.t.Fatalf("InitiateMultipartUploadResult %+v for %s/%s", r, bucket, key)
	}
	return r.UploadID
}

func mpUploadQuery(id string) string { return "uploadId=" + url.QueryEscape(id) }

// mpPart sends a raw UploadPart.
func (e *env) mpPart(bucket, key, id string, n int, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	return e.mpPartN(bucket, key, id, strconv.Itoa(n), body, hdr)
}

func (e *env) mpPartN(bucket, key, id, n string, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	return e.do(req{method: "PUT", path: mpObjectPath(bucket, key) + "?partNumber=" + n + "&" + mpUploadQuery(id), body: body, header: hdr})
}

// mpPartOK uploads a part and checks S3's answer: 200 and the quoted MD5
// of the part as its ETag.
func (e *env) mpPartOK(bucket, key, id string, n int, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	resp := e.mpPart(bucket, key, id, n, body, hdr)
	expectStatus(e.t, resp, 200)
	if got, want := resp.Header.Get("ETag"), `"`+mpMD5(body)+`"`; got != want {
		e.t.Fatalf("UploadPart %d ETag %s, want %s", n, got, want)
	}
	return resp
}

// mpDone is one entry of a CompleteMultipartUpload document.
type mpDone struct {
	n    int
	etag string // sent as is (quoted or not)
	sums map[checksum.Algorithm]string
}

// mpQuoted lists parts 1..N with their quoted MD5 ETags.
func mpQuoted(parts ...[]byte) []mpDone {
	out := make([]mpDone, len(parts))
	for i, p := range parts {
		out[i] = mpDone{n: i + 1, etag: `"` + mpMD5(p) + `"`}
	}
	return out
}

// mpWithSums adds each part's checksum of alg to parts 1..N.
func mpWithSums(t testing.TB, alg checksum.Algorithm, parts ...[]byte) []mpDone {
	out := mpQuoted(parts...)
	for i, p := range parts {
		out[i].sums = map[checksum.Algorithm]string{alg: mpFull(t, alg, p)}
	}
	return out
}

// mpDoc renders a CompleteMultipartUpload document as the SDKs do.
func mpDoc(parts []mpDone) []byte {
	var b bytes.Buffer
	b.WriteString(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for _, p := range parts {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>", p.n)
		xml.EscapeText(&b, []byte(p.etag))
		b.WriteString("</ETag>")
		for _, alg := range checksum.All {
			if v, ok := p.sums[alg]; ok {
				fmt.Fprintf(&b, "<Checksum%s>%s</Checksum%s>", alg, v, alg)
			}
		}
		b.WriteString("</Part>")
	}
	b.WriteString("</CompleteMultipartUpload>")
	return b.Bytes()
}

// mpComplete sends a raw CompleteMultipartUpload with doc as its body.
func (e *env) mpComplete(bucket, key, id string, doc []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	return e.do(req{method: "POST", path: mpObjectPath(bucket, key) + "?" + mpUploadQuery(id), body: doc, header: hdr})
}

// mpCompleteOK completes an upload and checks the result document.
func (e *env) mpCompleteOK(bucket, key, id string, parts []mpDone, wantETag string) mpCompleteResult {
	e.t.Helper()
	r := mpDecode[mpCompleteResult](e.t, e.mpComplete(bucket, key, id, mpDoc(parts), nil), 200)
	if r.ETag != `"`+wantETag+`"` || r.Bucket != bucket || r.Key != key {
		e.t.Fatalf("CompleteMultipartUploadResult %+v, want ETag %q for %s/%s", r, wantETag, bucket, key)
	}
	if !strings.HasSuffix(r.Location, "/"+bucket+"/"+escapeKey(key)) {
		e.t.Errorf("Location %q", r.Location)
	}
	return r
}

// mpListParts sends a raw ListParts with extra query parameters q.
func (e *env) mpListParts(bucket, key, id, q string) mpPartsPage {
	e.t.Helper()
	path := mpObjectPath(bucket, key) + "?" + mpUploadQuery(id)
	if q != "" {
		path += "&" + q
	}
	return mpDecode[mpPartsPage](e.t, e.do(req{path: path}), 200)
}

func (e *env) mpListUploads(bucket, q string) mpUploadsPage {
	e.t.Helper()
	path := "/" + bucket + "?uploads"
	if q != "" {
		path += "&" + q
	}
	return mpDecode[mpUploadsPage](e.t, e.do(req{path: path}), 200)
}

// mpAbort aborts an upload: 204.
func (e *env) mpAbort(bucket, key, id string) {
	e.t.Helper()
	expectStatus(e.t, e.do(req{method: "DELETE", path: mpObjectPath(bucket, key) + "?" + mpUploadQuery(id)}), 204)
}

// mpGone checks that every operation on the upload now answers
// NoSuchUpload, naming the upload.
func (e *env) mpGone(bucket, key, id string) {
	e.t.Helper()
	path := mpObjectPath(bucket, key) + "?" + mpUploadQuery(id)
	for name, r := range map[string]req{
		"UploadPart": {method: "PUT", path: path + "&partNumber=1", body: []byte("late")},
		"ListParts":  {path: path},
		"Complete":   {method: "POST", path: path, body: mpDoc([]mpDone{{n: 1, etag: `"` + mpMD5([]byte("late")) + `"`}})},
		"Abort":      {method: "DELETE", path: path},
	} {
		doc := mpExpectError(e.t, e.do(r), 404, "NoSuchUpload")
		if doc.UploadID != id {
			e.t.Errorf("%s: NoSuchUpload names upload %q, want %q", name, doc.UploadID, id)
		}
	}
}

// mpHead returns a HEAD's response (body closed).
func (e *env) mpHead(bucket, key string, hdr map[string]string) *http.Response {
	e.t.Helper()
	resp := e.do(req{method: "HEAD", path: mpObjectPath(bucket, key), header: hdr})
	resp.Body.Close()
	return resp
}

// The whole life of an upload through raw requests: the object appears
// only at Complete, with the metadata and tags given at Create, the ETag
// S3 computes for multipart objects and the parts' bytes in order.
func TestMultipartLifecycle(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("mpart")
	expectStatus(t, e.put("mpart", "dir/obj", []byte("old"), nil), 200)

	id := e.mpCreate("mpart", "dir/obj", map[string]string{
		"Content-Type":   "text/plain",
		"Cache-Control":  "max-age=60",
		"x-amz-meta-hue": "blue",
		"x-amz-tagging":  "a=1&b=2",
	})
	big, tail := mpBig(), mpBytes(2, 1000)
	// Parts arrive in any order; a part uploaded again replaces the first.
	e.mpPartOK("mpart", "dir/obj", id, 2, tail, nil)
	e.mpPartOK("mpart", "dir/obj", id, 1, []byte("replaced soon"), nil)
	e.mpPartOK("mpart", "dir/obj", id, 1, big, nil)

	// Nothing is visible before Complete.
	if got := e.get("mpart", "dir/obj"); string(got) != "old" {
		t.Fatalf("object changed before Complete: %d bytes", len(got))
	}
	page := e.mpListParts("mpart", "dir/obj", id, "")
	if page.UploadID != id || page.Bucket != "mpart" || page.Key != "dir/obj" || page.IsTruncated || len(page.Parts) != 2 ||
		page.MaxParts != 1000 || page.StorageClass != "STANDARD" || page.Initiator.ID == "" || page.Owner.ID == "" {
		t.Fatalf("ListParts %+v", page)
	}
	for i, want := range [][]byte{big, tail} {
		p := page.Parts[i]
		if p.PartNumber != i+1 || p.Size != int64(len(want)) || p.ETag != `"`+mpMD5(want)+`"` || p.LastModified == "" {
			t.Errorf("listed part %d: %+v", i+1, p)
		}
	}
	if ups := e.mpListUploads("mpart", ""); len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id || ups.Uploads[0].Key != "dir/obj" {
		t.Fatalf("ListMultipartUploads %+v", ups)
	}

	e.mpCompleteOK("mpart", "dir/obj", id, mpQuoted(big, tail), mpETag(big, tail))

	resp := e.do(req{path: "/mpart/dir/obj"})
	body := expectStatus(t, resp, 200)
	if !bytes.Equal(body, append(append([]byte(nil), big...), tail...)) {
		t.Fatalf("object is %d bytes, not the parts in order", len(body))
	}
	for h, want := range map[string]string{
		"ETag":                `"` + mpETag(big, tail) + `"`,
		"Content-Type":        "text/plain",
		"Cache-Control":       "max-age=60",
		"x-amz-meta-hue":      "blue",
		"x-amz-tagging-count": "2",
		"Content-Length":      strconv.Itoa(len(big) + len(tail)),
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("GET %s = %q, want %q", h, got, want)
		}
	}
	l := e.listPage("mpart", "list-type=2")
	if len(l.Contents) != 1 || l.Contents[0].ETag != `"`+mpETag(big, tail)+`"` || l.Contents[0].Size != int64(len(big)+len(tail)) {
		t.Errorf("listing after Complete: %+v", l.Contents)
	}
	// The upload is gone: no more parts, no listing, no second use.
	if ups := e.mpListUploads("mpart", ""); len(ups.Uploads) != 0 {
		t.Errorf("upload still listed after Complete: %+v", ups.Uploads)
	}
	e.mpGone("mpart", "dir/obj", id)
	if got := e.get("mpart", "dir/obj"); len(got) != len(big)+len(tail) {
		t.Errorf("object changed by requests on its finished upload: %d bytes", len(got))
	}
}

// The SDK's own multipart calls, without a checksum algorithm: parts carry
// whatever checksum the SDK adds, Complete lists none, and the object gets
// S3's default CRC64NVME FULL_OBJECT checksum.
func TestMultipartSDK(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sdk")
	ctx := context.Background()
	bucket, key := aws.String("sdk"), aws.String("large/file.bin")
	big, tail := mpBig(), mpBytes(3, 12345)

	created, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key, ContentType: aws.String("application/x-test")})
	if err != nil {
		t.Fatal(err)
	}
	id := created.UploadId
	var done []types.CompletedPart
	for i, p := range [][]byte{big, tail} {
		out, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: id, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		if aws.ToString(out.ETag) != `"`+mpMD5(p)+`"` {
			t.Errorf("UploadPart %d ETag %s", i+1, aws.ToString(out.ETag))
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	parts, err := e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Parts) != 2 || aws.ToInt64(parts.Parts[1].Size) != int64(len(tail)) || aws.ToString(parts.Parts[0].ETag) != `"`+mpMD5(big)+`"` {
		t.Errorf("ListParts %+v", parts.Parts)
	}
	ups, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(ups.Uploads[0].Key) != *key {
		t.Errorf("ListMultipartUploads %+v", ups.Uploads)
	}

	out, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	wantSum := mpFull(t, checksum.CRC64NVME, big, tail)
	if aws.ToString(out.ETag) != `"`+mpETag(big, tail)+`"` {
		t.Errorf("Complete ETag %s, want %s", aws.ToString(out.ETag), mpETag(big, tail))
	}
	if aws.ToString(out.ChecksumCRC64NVME) != wantSum || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("Complete checksum %q %q, want CRC64NVME %q FULL_OBJECT", aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType, wantSum)
	}

	got, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || len(b) != len(big)+len(tail) || !bytes.Equal(b[len(big):], tail) || !bytes.Equal(b[:len(big)], big) {
		t.Fatalf("GetObject: %d bytes, %v", len(b), err)
	}
	if aws.ToString(got.ContentType) != "application/x-test" || aws.ToString(got.ChecksumCRC64NVME) != wantSum {
		t.Errorf("GetObject type %q checksum %q", aws.ToString(got.ContentType), aws.ToString(got.ChecksumCRC64NVME))
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ChecksumCRC64NVME) != wantSum || head.ChecksumType != types.ChecksumTypeFullObject || aws.ToInt64(head.ContentLength) != int64(len(b)) {
		t.Errorf("HeadObject checksum %q %q length %d", aws.ToString(head.ChecksumCRC64NVME), head.ChecksumType, aws.ToInt64(head.ContentLength))
	}

	// AbortMultipartUpload through the SDK, and NoSuchUpload afterwards.
	created, err = e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: created.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: aws.String("aborted"), UploadId: created.UploadId})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchUpload" {
		t.Errorf("ListParts after abort: %v, want NoSuchUpload", err)
	}
}

// partNumber must be an integer from 1 to 10000.
func TestMultipartPartNumberBounds(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("partnum")
	id := e.mpCreate("partnum", "k", nil)
	for _, n := range []string{"0", "10001", "-1", "abc", "", "1.5", "99999999999999999999"} {
		doc := mpExpectError(t, e.mpPartN("partnum", "k", id, n, []byte("x"), nil), 400, "InvalidArgument")
		if doc.ArgumentName != "partNumber" || doc.ArgumentValue != n {
			t.Errorf("partNumber %q: ArgumentName %q ArgumentValue %q", n, doc.ArgumentName, doc.ArgumentValue)
		}
	}
	for _, n := range []int{1, 10000} {
		e.mpPartOK("partnum", "k", id, n, []byte("part "+strconv.Itoa(n)), nil)
	}
	page := e.mpListParts("partnum", "k", id, "")
	if len(page.Parts) != 2 || page.Parts[0].PartNumber != 1 || page.Parts[1].PartNumber != 10000 {
		t.Errorf("parts %+v", page.Parts)
	}
}

// Every part but the last must be at least 5 MiB: EntityTooSmall
// otherwise, and the upload survives the failed Complete. Parts not listed
// in Complete are left out of the object.
func TestMultipartEntityTooSmall(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("small")
	big := mpBig()
	one, two := []byte("the second part, tiny"), []byte("the third part, tiny too")

	id := e.mpCreate("small", "mid", nil)
	e.mpPartOK("small", "mid", id, 1, big, nil)
	e.mpPartOK("small", "mid", id, 2, one, nil)
	e.mpPartOK("small", "mid", id, 3, two, nil)
	// Part 2 is small and not last.
	expectError(t, e.mpComplete("small", "mid", id, mpDoc(mpQuoted(big, one, two)), nil), 400, "EntityTooSmall")
	if e.get("small", "mid") != nil {
		t.Fatal("object created by a failed Complete")
	}
	// Leaving part 2 out makes the object big + part 3.
	done := []mpDone{{n: 1, etag: `"` + mpMD5(big) + `"`}, {n: 3, etag: `"` + mpMD5(two) + `"`}}
	e.mpCompleteOK("small", "mid", id, done, mpETag(big, two))
	if got := e.get("small", "mid"); !bytes.Equal(got, append(append([]byte(nil), big...), two...)) {
		t.Fatalf("object is %d bytes, want part 1 and part 3", len(got))
	}

	cases := []struct {
		name  string
		parts [][]byte
		code  string
	}{
		{"first part one byte short", [][]byte{big[:mpMinPart-1], one}, "EntityTooSmall"},
		{"two tiny parts", [][]byte{one, two}, "EntityTooSmall"},
		{"first part exactly 5 MiB", [][]byte{big, []byte("x")}, ""},
		{"one tiny part", [][]byte{[]byte("x")}, ""},
		{"one empty part", [][]byte{{}}, ""},
	}
	for i, c := range cases {
		key := "case-" + strconv.Itoa(i)
		id := e.mpCreate("small", key, nil)
		for n, p := range c.parts {
			e.mpPartOK("small", key, id, n+1, p, nil)
		}
		if c.code != "" {
			expectError(t, e.mpComplete("small", key, id, mpDoc(mpQuoted(c.parts...)), nil), 400, c.code)
			if page := e.mpListParts("small", key, id, ""); len(page.Parts) != len(c.parts) {
				t.Errorf("%s: upload lost parts after a failed Complete: %+v", c.name, page.Parts)
			}
			continue
		}
		e.mpCompleteOK("small", key, id, mpQuoted(c.parts...), mpETag(c.parts...))
		if got := e.get("small", key); !bytes.Equal(got, bytes.Join(c.parts, nil)) {
			t.Errorf("%s: object is %d bytes", c.name, len(got))
		}
	}
}

// CompleteMultipartUpload's own errors; each leaves the upload as it was.
func TestMultipartCompleteErrors(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("cmp")
	big, tail := mpBig(), []byte("tail part")
	id := e.mpCreate("cmp", "k", nil)
	e.mpPartOK("cmp", "k", id, 1, big, nil)
	e.mpPartOK("cmp", "k", id, 2, tail, nil)
	p1, p2 := `"`+mpMD5(big)+`"`, `"`+mpMD5(tail)+`"`

	cases := []struct {
		name   string
		doc    []byte
		status int
		code   string
	}{
		{"part never uploaded", mpDoc([]mpDone{{n: 1, etag: p1}, {n: 3, etag: p2}}), 400, "InvalidPart"},
		{"wrong ETag", mpDoc([]mpDone{{n: 1, etag: p1}, {n: 2, etag: `"` + mpMD5([]byte("other")) + `"`}}), 400, "InvalidPart"},
		{"descending", mpDoc([]mpDone{{n: 2, etag: p2}, {n: 1, etag: p1}}), 400, "InvalidPartOrder"},
		{"repeated part", mpDoc([]mpDone{{n: 1, etag: p1}, {n: 1, etag: p1}, {n: 2, etag: p2}}), 400, "InvalidPartOrder"},
		{"no parts", []byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>`), 400, "MalformedXML"},
		{"not XML", []byte("parts 1 and 2 please"), 400, "MalformedXML"},
		{"empty body", nil, 400, "MalformedXML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectError(t, e.mpComplete("cmp", "k", id, c.doc, nil), c.status, c.code)
			if page := e.mpListParts("cmp", "k", id, ""); len(page.Parts) != 2 {
				t.Fatalf("upload changed by a failed Complete: %+v", page.Parts)
			}
			if e.get("cmp", "k") != nil {
				t.Fatal("object created by a failed Complete")
			}
		})
	}
	// ETags without quotes are accepted, as S3 does.
	e.mpCompleteOK("cmp", "k", id, []mpDone{{n: 1, etag: mpMD5(big)}, {n: 2, etag: mpMD5(tail)}}, mpETag(big, tail))
}

// S3's multipart errors name what went wrong: the upload, and for InvalidPart
// and EntityTooSmall the part, its ETag and (EntityTooSmall) its size and
// the minimum.
func TestMultipartCompleteErrorDetails(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("det")
	first, second := []byte("first, too small to be first"), []byte("second")
	id := e.mpCreate("det", "k", nil)
	e.mpPartOK("det", "k", id, 1, first, nil)
	e.mpPartOK("det", "k", id, 2, second, nil)

	// Part 1 alone is the last part, so only its ETag is wrong.
	wrong := mpMD5([]byte("not part 1"))
	doc := mpExpectError(t, e.mpComplete("det", "k", id, mpDoc([]mpDone{{n: 1, etag: `"` + wrong + `"`}}), nil), 400, "InvalidPart")
	if doc.UploadID != id || doc.PartNumber != "1" || strings.Trim(doc.ETag, `"`) != wrong {
		t.Errorf("InvalidPart names upload %q part %q ETag %q; want %q, 1, %s", doc.UploadID, doc.PartNumber, doc.ETag, id, wrong)
	}
	doc = mpExpectError(t, e.mpComplete("det", "k", id, mpDoc([]mpDone{{n: 2, etag: `"` + mpMD5(second) + `"`}, {n: 1, etag: `"` + mpMD5(first) + `"`}}), nil), 400, "InvalidPartOrder")
	if doc.UploadID != id {
		t.Errorf("InvalidPartOrder names upload %q, want %q", doc.UploadID, id)
	}
	doc = mpExpectError(t, e.mpComplete("det", "k", id, mpDoc(mpQuoted(first, second)), nil), 400, "EntityTooSmall")
	if doc.ProposedSize != strconv.Itoa(len(first)) || doc.MinSizeAllowed != strconv.Itoa(mpMinPart) || doc.PartNumber != "1" || strings.Trim(doc.ETag, `"`) != mpMD5(first) {
		t.Errorf("EntityTooSmall: ProposedSize %q MinSizeAllowed %q PartNumber %q ETag %q; want %d, %d, 1, %s",
			doc.ProposedSize, doc.MinSizeAllowed, doc.PartNumber, doc.ETag, len(first), mpMinPart, mpMD5(first))
	}
}

// NoSuchUpload for an id that never existed, one aborted, one completed
// and one started for another key; aborting removes the parts and never
// creates the object.
func TestMultipartNoSuchUpload(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("nsu")
	e.mpGone("nsu", "k", "no-such-upload-id")
	e.mpGone("nsu", "k", "")

	id := e.mpCreate("nsu", "k", nil)
	e.mpPartOK("nsu", "k", id, 1, []byte("part"), nil)
	// An upload belongs to its key.
	e.mpGone("nsu", "other-key", id)
	e.mpAbort("nsu", "k", id)
	e.mpGone("nsu", "k", id)
	if e.get("nsu", "k") != nil {
		t.Fatal("aborted upload created the object")
	}
	if ups := e.mpListUploads("nsu", ""); len(ups.Uploads) != 0 {
		t.Errorf("aborted upload still listed: %+v", ups.Uploads)
	}

	id = e.mpCreate("nsu", "k", nil)
	e.mpPartOK("nsu", "k", id, 1, []byte("part"), nil)
	e.mpCompleteOK("nsu", "k", id, mpQuoted([]byte("part")), mpETag([]byte("part")))
	resp := e.mpPart("nsu", "k", id, 2, []byte("late part"), nil)
	if doc := mpExpectError(t, resp, 404, "NoSuchUpload"); doc.UploadID != id {
		t.Errorf("UploadPart after Complete names %q", doc.UploadID)
	}
	expectError(t, e.do(req{path: mpObjectPath("nsu", "k") + "?" + mpUploadQuery(id)}), 404, "NoSuchUpload")

	expectError(t, e.do(req{method: "POST", path: "/missing-bucket/k?uploads"}), 404, "NoSuchBucket")
	expectError(t, e.do(req{path: "/missing-bucket?uploads"}), 404, "NoSuchBucket")
}

// ListParts pages with max-parts and part-number-marker, in part order.
func TestMultipartListPartsPaging(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("listparts")
	id := e.mpCreate("listparts", "k", nil)
	numbers := []int{1, 2, 3, 5, 8, 9, 10, 42}
	body := map[int][]byte{}
	for i, n := range []int{42, 3, 1, 10, 2, 9, 8, 5} { // any order
		body[n] = mpBytes(byte(10+i), 100+n)
		e.mpPartOK("listparts", "k", id, n, body[n], nil)
	}
	for _, max := range []int{1, 2, 3, 8, 1000} {
		var got []int
		marker := 0
		for pages := 0; ; pages++ {
			if pages > len(numbers) {
				t.Fatalf("max-parts=%d: no end", max)
			}
			q := "max-parts=" + strconv.Itoa(max)
			if marker > 0 {
				q += "&part-number-marker=" + strconv.Itoa(marker)
			}
			page := e.mpListParts("listparts", "k", id, q)
			if page.MaxParts != max || page.PartNumberMarker != marker || len(page.Parts) > max {
				t.Fatalf("max-parts=%d marker=%d: page %+v", max, marker, page)
			}
			for _, p := range page.Parts {
				if p.Size != int64(len(body[p.PartNumber])) || p.ETag != `"`+mpMD5(body[p.PartNumber])+`"` {
					t.Errorf("part %d: %+v", p.PartNumber, p)
				}
				got = append(got, p.PartNumber)
			}
			if !page.IsTruncated {
				break
			}
			if len(page.Parts) == 0 || page.NextPartNumberMarker != page.Parts[len(page.Parts)-1].PartNumber {
				t.Fatalf("max-parts=%d: NextPartNumberMarker %d after %+v", max, page.NextPartNumberMarker, page.Parts)
			}
			marker = page.NextPartNumberMarker
		}
		if fmt.Sprint(got) != fmt.Sprint(numbers) {
			t.Errorf("max-parts=%d: parts %v, want %v", max, got, numbers)
		}
	}
	page := e.mpListParts("listparts", "k", id, "part-number-marker=5")
	if len(page.Parts) != 4 || page.Parts[0].PartNumber != 8 || page.IsTruncated {
		t.Errorf("after marker 5: %+v", page.Parts)
	}
	if page := e.mpListParts("listparts", "k", id, "part-number-marker=42"); len(page.Parts) != 0 || page.IsTruncated {
		t.Errorf("after the last part: %+v", page.Parts)
	}
	expectError(t, e.do(req{path: mpObjectPath("listparts", "k") + "?" + mpUploadQuery(id) + "&max-parts=abc"}), 400, "InvalidArgument")

	// The SDK reads the same pages.
	ctx := context.Background()
	var got []int
	in := &s3.ListPartsInput{Bucket: aws.String("listparts"), Key: aws.String("k"), UploadId: aws.String(id), MaxParts: aws.Int32(3)}
	for pages := 0; pages < 10; pages++ {
		out, err := e.client.ListParts(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Parts {
			got = append(got, int(aws.ToInt32(p.PartNumber)))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	if fmt.Sprint(got) != fmt.Sprint(numbers) {
		t.Errorf("SDK pages: %v", got)
	}
}

// ListMultipartUploads orders uploads by key, then by initiation, and
// supports prefix, delimiter, key-marker, upload-id-marker and max-uploads.
func TestListMultipartUploads(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("listuploads")
	type up struct{ key, id string }
	var all []up
	for _, k := range []string{"c/x/y", "b", "a/2", "d", "a/1", "b"} {
		all = append(all, up{k, e.mpCreate("listuploads", k, nil)})
	}
	// Expected order: by key, uploads of one key oldest first.
	order := []up{all[4], all[2], all[1], all[5], all[0], all[3]}
	ids := func(ups []up) string {
		var s []string
		for _, u := range ups {
			s = append(s, u.key+"="+u.id)
		}
		return strings.Join(s, " ")
	}
	got := func(p mpUploadsPage) string {
		var s []string
		for _, u := range p.Uploads {
			s = append(s, u.Key+"="+u.UploadID)
		}
		return strings.Join(s, " ")
	}
	prefixes := func(p mpUploadsPage) string {
		var s []string
		for _, c := range p.CommonPrefixes {
			s = append(s, c.Prefix)
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		q        string
		uploads  []up
		prefixes string
	}{
		{"", order, ""},
		{"prefix=a%2F", order[:2], ""},
		{"delimiter=%2F", []up{order[2], order[3], order[5]}, "a/ c/"},
		{"prefix=c%2F&delimiter=%2F", nil, "c/x/"},
		{"key-marker=b", order[4:], ""},
		{"key-marker=a%2F2", order[2:], ""},
		{"key-marker=b&upload-id-marker=" + url.QueryEscape(order[2].id), order[3:], ""},
		// Without key-marker, upload-id-marker is ignored.
		{"upload-id-marker=" + url.QueryEscape(order[2].id), order, ""},
		{"prefix=zzz", nil, ""},
	}
	for _, c := range cases {
		p := e.mpListUploads("listuploads", c.q)
		if got(p) != ids(c.uploads) || prefixes(p) != c.prefixes || p.IsTruncated || p.Bucket != "listuploads" || p.MaxUploads != 1000 {
			t.Errorf("%q:\n got %s | %s (truncated %v, max %d)\nwant %s | %s", c.q, got(p), prefixes(p), p.IsTruncated, p.MaxUploads, ids(c.uploads), c.prefixes)
		}
		for _, u := range p.Uploads {
			if u.StorageClass != "STANDARD" || u.Initiated == "" {
				t.Errorf("%q: upload %+v", c.q, u)
			}
		}
	}

	// Pages of every size, with and without a delimiter, list everything
	// once.
	for _, delim := range []string{"", "%2F"} {
		want := ids(order)
		if delim != "" {
			want = "a/ " + ids([]up{order[2], order[3]}) + " c/ " + ids([]up{order[5]})
		}
		for _, max := range []int{1, 2, 3, 5} {
			var items []string
			keyMarker, idMarker := "", ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("max-uploads=%d: no end", max)
				}
				q := "max-uploads=" + strconv.Itoa(max) + "&delimiter=" + delim
				if keyMarker != "" {
					q += "&key-marker=" + url.QueryEscape(keyMarker) + "&upload-id-marker=" + url.QueryEscape(idMarker)
				}
				p := e.mpListUploads("listuploads", q)
				if len(p.Uploads)+len(p.CommonPrefixes) > max || p.MaxUploads != max || p.KeyMarker != keyMarker || p.UploadIDMarker != idMarker {
					t.Fatalf("max-uploads=%d: page %+v", max, p)
				}
				items = append(items, mpMerge(p)...)
				if !p.IsTruncated {
					break
				}
				if p.NextKeyMarker == "" {
					t.Fatalf("max-uploads=%d: truncated without NextKeyMarker", max)
				}
				keyMarker, idMarker = p.NextKeyMarker, p.NextUploadIDMarker
			}
			if strings.Join(items, " ") != want {
				t.Errorf("delimiter %q max-uploads=%d:\n got %s\nwant %s", delim, max, strings.Join(items, " "), want)
			}
		}
	}
	p := e.mpListUploads("listuploads", "max-uploads=2")
	if !p.IsTruncated || p.NextKeyMarker != order[1].key || p.NextUploadIDMarker != order[1].id {
		t.Errorf("max-uploads=2: truncated %v next %q %q, want %q %q", p.IsTruncated, p.NextKeyMarker, p.NextUploadIDMarker, order[1].key, order[1].id)
	}
	expectError(t, e.do(req{path: "/listuploads?uploads&max-uploads=abc"}), 400, "InvalidArgument")

	// An upload with a checksum algorithm lists it.
	e.mpCreate("listuploads", "e", map[string]string{"x-amz-checksum-algorithm": "CRC32C"})
	p = e.mpListUploads("listuploads", "prefix=e")
	if len(p.Uploads) != 1 || p.Uploads[0].ChecksumAlgorithm != "CRC32C" || p.Uploads[0].ChecksumType != "COMPOSITE" {
		t.Errorf("upload with CRC32C: %+v", p.Uploads)
	}
}

// mpMerge lists a page's uploads ("key=id", in the order given) and common
// prefixes, each prefix placed before the first upload of a later key: a
// page lists them apart, and S3 rolls prefixes up in key order.
func mpMerge(p mpUploadsPage) []string {
	var out []string
	cps := p.CommonPrefixes
	for _, u := range p.Uploads {
		for len(cps) > 0 && cps[0].Prefix < u.Key {
			out = append(out, cps[0].Prefix)
			cps = cps[1:]
		}
		out = append(out, u.Key+"="+u.UploadID)
	}
	for _, cp := range cps {
		out = append(out, cp.Prefix)
	}
	return out
}

// The checksum algorithm and type are fixed at Create, with S3's allowed
// combinations.
func TestMultipartChecksumCombinations(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("combo")
	cases := []struct {
		alg, typ string
		wantType string // "" when S3 refuses the combination
	}{
		{"CRC32", "", "COMPOSITE"},
		{"CRC32C", "", "COMPOSITE"},
		{"CRC64NVME", "", "FULL_OBJECT"},
		{"SHA1", "", "COMPOSITE"},
		{"SHA256", "", "COMPOSITE"},
		{"CRC32", "COMPOSITE", "COMPOSITE"},
		{"CRC32", "FULL_OBJECT", "FULL_OBJECT"},
		{"CRC32C", "COMPOSITE", "COMPOSITE"},
		{"CRC32C", "FULL_OBJECT", "FULL_OBJECT"},
		{"CRC64NVME", "FULL_OBJECT", "FULL_OBJECT"},
		{"SHA1", "COMPOSITE", "COMPOSITE"},
		{"SHA256", "COMPOSITE", "COMPOSITE"},
		{"CRC64NVME", "COMPOSITE", ""},
		{"SHA1", "FULL_OBJECT", ""},
		{"SHA256", "FULL_OBJECT", ""},
		{"", "FULL_OBJECT", ""},
		{"", "COMPOSITE", ""},
	}
	for i, c := range cases {
		hdr := map[string]string{}
		if c.alg != "" {
			hdr["x-amz-checksum-algorithm"] = c.alg
		}
		if c.typ != "" {
			hdr["x-amz-checksum-type"] = c.typ
		}
		key := "k" + strconv.Itoa(i)
		resp := e.do(req{method: "POST", path: "/combo/" + key + "?uploads", header: hdr})
		if c.wantType == "" {
			expectError(t, resp, 400, "InvalidRequest")
			continue
		}
		r := mpDecode[mpInitiate](t, resp, 200)
		if resp.Header.Get("x-amz-checksum-algorithm") != c.alg || resp.Header.Get("x-amz-checksum-type") != c.wantType {
			t.Errorf("%s/%s: Create answered algorithm %q type %q, want %s %s", c.alg, c.typ,
				resp.Header.Get("x-amz-checksum-algorithm"), resp.Header.Get("x-amz-checksum-type"), c.alg, c.wantType)
		}
		page := e.mpListParts("combo", key, r.UploadID, "")
		if page.ChecksumAlgorithm != c.alg || page.ChecksumType != c.wantType {
			t.Errorf("%s/%s: ListParts says %q %q", c.alg, c.typ, page.ChecksumAlgorithm, page.ChecksumType)
		}
	}
	if ups := e.mpListUploads("combo", ""); len(ups.Uploads) != 12 {
		t.Errorf("%d uploads created, want 12 (refused combinations create none)", len(ups.Uploads))
	}
}

// Each allowed algorithm and type, end to end: parts carry and return
// their checksums, Complete must list them, and the object's checksum is
// S3's COMPOSITE or FULL_OBJECT value, returned by Complete and by GET and
// HEAD with checksum mode.
func TestMultipartChecksums(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sums")
	big := mpBig()
	cases := []struct {
		alg checksum.Algorithm
		typ string
	}{
		{checksum.CRC32, "COMPOSITE"},
		{checksum.CRC32, "FULL_OBJECT"},
		{checksum.CRC32C, "COMPOSITE"},
		{checksum.CRC32C, "FULL_OBJECT"},
		{checksum.CRC64NVME, "FULL_OBJECT"},
		{checksum.SHA1, "COMPOSITE"},
		{checksum.SHA256, "COMPOSITE"},
	}
	for i, c := range cases {
		t.Run(string(c.alg)+"-"+c.typ, func(t *testing.T) {
			e := e.mpFor(t)
			key := "obj-" + string(c.alg) + "-" + c.typ
			tail := mpBytes(byte(20+i), 777+i)
			id := e.mpCreate("sums", key, map[string]string{"x-amz-checksum-algorithm": string(c.alg), "x-amz-checksum-type": c.typ})
			for n, p := range [][]byte{big, tail} {
				want := mpFull(t, c.alg, p)
				resp := e.mpPartOK("sums", key, id, n+1, p, map[string]string{mpHeader(c.alg): want})
				if got := resp.Header.Get(mpHeader(c.alg)); got != want {
					t.Errorf("UploadPart %d answered %s %q, want %q", n+1, mpHeader(c.alg), got, want)
				}
			}
			// A part with a checksum of another algorithm, or a wrong one,
			// is refused and leaves the part as it was.
			other := checksum.SHA256
			if c.alg == checksum.SHA256 {
				other = checksum.CRC32
			}
			expectError(t, e.mpPart("sums", key, id, 2, tail, map[string]string{mpHeader(other): mpFull(t, other, tail)}), 400, "InvalidRequest")
			expectError(t, e.mpPart("sums", key, id, 2, tail, map[string]string{mpHeader(c.alg): mpFull(t, c.alg, []byte("other bytes"))}), 400, "BadDigest")

			page := e.mpListParts("sums", key, id, "")
			if page.ChecksumAlgorithm != string(c.alg) || page.ChecksumType != c.typ || len(page.Parts) != 2 {
				t.Fatalf("ListParts %s %s %+v", page.ChecksumAlgorithm, page.ChecksumType, page.Parts)
			}
			for n, p := range [][]byte{big, tail} {
				if got := page.Parts[n].of(c.alg); got != mpFull(t, c.alg, p) || len(page.Parts[n].present()) != 1 {
					t.Errorf("listed part %d checksums %v, %s %q", n+1, page.Parts[n].present(), c.alg, got)
				}
			}

			// Complete must list every part's checksum.
			expectError(t, e.mpComplete("sums", key, id, mpDoc(mpQuoted(big, tail)), nil), 400, "InvalidRequest")
			missing := mpWithSums(t, c.alg, big, tail)
			missing[1].sums = nil
			expectError(t, e.mpComplete("sums", key, id, mpDoc(missing), nil), 400, "InvalidRequest")
			wrong := mpWithSums(t, c.alg, big, tail)
			wrong[1].sums[c.alg] = mpFull(t, c.alg, big)
			expectError(t, e.mpComplete("sums", key, id, mpDoc(wrong), nil), 400, "InvalidPart")

			want := mpFull(t, c.alg, big, tail)
			if c.typ == "COMPOSITE" {
				want = mpComposite(t, c.alg, big, tail)
			}
			r := e.mpCompleteOK("sums", key, id, mpWithSums(t, c.alg, big, tail), mpETag(big, tail))
			if r.of(c.alg) != want || r.ChecksumType != c.typ || len(r.present()) != 1 {
				t.Errorf("Complete checksums %v %s=%q type %q, want %q %s", r.present(), c.alg, r.of(c.alg), r.ChecksumType, want, c.typ)
			}
			for _, method := range []string{"GET", "HEAD"} {
				resp := e.do(req{method: method, path: mpObjectPath("sums", key), header: map[string]string{"x-amz-checksum-mode": "ENABLED"}})
				body := expectStatus(t, resp, 200)
				if got := resp.Header.Get(mpHeader(c.alg)); got != want || resp.Header.Get("x-amz-checksum-type") != c.typ {
					t.Errorf("%s with checksum mode: %s=%q type %q, want %q %s", method, mpHeader(c.alg), got, resp.Header.Get("x-amz-checksum-type"), want, c.typ)
				}
				if method == "GET" && len(body) != len(big)+len(tail) {
					t.Errorf("GET: %d bytes", len(body))
				}
				resp = e.do(req{method: method, path: mpObjectPath("sums", key)})
				expectStatus(t, resp, 200)
				if got := resp.Header.Get(mpHeader(c.alg)); got != "" {
					t.Errorf("%s without checksum mode: %s=%q", method, mpHeader(c.alg), got)
				}
			}
			// GetObjectAttributes reports the same checksum; S3 may leave a
			// composite value's "-N" out there.
			_, raw := e.atGet("sums", key, map[string]string{"x-amz-object-attributes": "Checksum"})
			if d := atDecode(t, raw); d.Checksum == nil || (d.Checksum.of(c.alg) != want && d.Checksum.of(c.alg)+"-2" != want) || d.Checksum.ChecksumType != c.typ {
				t.Errorf("GetObjectAttributes Checksum %s, want %s %q %s", raw, c.alg, want, c.typ)
			}
		})
	}
}

// mpFor returns a copy of e whose failures are reported on t (a subtest).
func (e *env) mpFor(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// A FULL_OBJECT upload may declare the whole object's checksum at Complete;
// a wrong one fails the Complete with BadDigest and creates nothing.
func TestMultipartFullObjectChecksumAtComplete(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("full")
	big, tail := mpBig(), []byte("and the end")
	id := e.mpCreate("full", "k", map[string]string{"x-amz-checksum-algorithm": "CRC32C", "x-amz-checksum-type": "FULL_OBJECT"})
	for n, p := range [][]byte{big, tail} {
		e.mpPartOK("full", "k", id, n+1, p, map[string]string{mpHeader(checksum.CRC32C): mpFull(t, checksum.CRC32C, p)})
	}
	doc := mpDoc(mpWithSums(t, checksum.CRC32C, big, tail))
	expectError(t, e.mpComplete("full", "k", id, doc, map[string]string{mpHeader(checksum.CRC32C): mpFull(t, checksum.CRC32C, tail, big)}), 400, "BadDigest")
	if e.get("full", "k") != nil {
		t.Fatal("object created by a Complete with a wrong checksum")
	}
	want := mpFull(t, checksum.CRC32C, big, tail)
	r := mpDecode[mpCompleteResult](t, e.mpComplete("full", "k", id, doc, map[string]string{mpHeader(checksum.CRC32C): want}), 200)
	if r.CRC32C != want || r.ChecksumType != "FULL_OBJECT" {
		t.Errorf("Complete %q %q, want %q FULL_OBJECT", r.CRC32C, r.ChecksumType, want)
	}
}

// When parts carry checksums of an algorithm the client chose, S3 requires
// part numbers to start at 1 and be consecutive (InvalidPartOrder).
func TestMultipartChecksumPartsConsecutive(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("consec")
	for _, typ := range []string{"COMPOSITE", "FULL_OBJECT"} {
		key := "k-" + typ
		id := e.mpCreate("consec", key, map[string]string{"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": typ})
		p := []byte("the only part, numbered 2")
		e.mpPartOK("consec", key, id, 2, p, map[string]string{mpHeader(checksum.CRC32): mpFull(t, checksum.CRC32, p)})
		doc := mpDoc([]mpDone{{n: 2, etag: `"` + mpMD5(p) + `"`, sums: map[checksum.Algorithm]string{checksum.CRC32: mpFull(t, checksum.CRC32, p)}}})
		resp := e.mpComplete("consec", key, id, doc, nil)
		if resp.StatusCode == 200 {
			resp.Body.Close()
			t.Errorf("%s: Complete of part 2 alone succeeded; S3 answers InvalidPartOrder", typ)
			continue
		}
		expectError(t, resp, 400, "InvalidPartOrder")
	}
	// Without a chosen algorithm any ascending numbers do.
	id := e.mpCreate("consec", "plain", nil)
	p := []byte("part 7 alone")
	e.mpPartOK("consec", "plain", id, 7, p, nil)
	e.mpCompleteOK("consec", "plain", id, []mpDone{{n: 7, etag: `"` + mpMD5(p) + `"`}}, mpETag(p))
}

// An upload without an algorithm takes parts with or without checksums of
// any algorithm and completes without listing them; the object gets a
// CRC64NVME FULL_OBJECT checksum.
func TestMultipartWithoutAlgorithm(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("noalg")
	big, tail := mpBig(), mpBytes(4, 4321)
	resp := e.do(req{method: "POST", path: "/noalg/k?uploads"})
	r := mpDecode[mpInitiate](t, resp, 200)
	e.mpPartOK("noalg", "k", r.UploadID, 1, big, nil)
	e.mpPartOK("noalg", "k", r.UploadID, 2, tail, map[string]string{mpHeader(checksum.CRC32): mpFull(t, checksum.CRC32, tail)})
	expectError(t, e.mpPart("noalg", "k", r.UploadID, 2, tail, map[string]string{mpHeader(checksum.CRC32): mpFull(t, checksum.CRC32, big)}), 400, "BadDigest")
	res := e.mpCompleteOK("noalg", "k", r.UploadID, mpQuoted(big, tail), mpETag(big, tail))
	want := mpFull(t, checksum.CRC64NVME, big, tail)
	if res.CRC64NVME != want || res.ChecksumType != "FULL_OBJECT" || len(res.present()) != 1 {
		t.Errorf("Complete checksums %v %q %q, want CRC64NVME %q FULL_OBJECT", res.present(), res.CRC64NVME, res.ChecksumType, want)
	}
	head := e.mpHead("noalg", "k", map[string]string{"x-amz-checksum-mode": "ENABLED"})
	if head.Header.Get("x-amz-checksum-crc64nvme") != want || head.Header.Get("x-amz-checksum-type") != "FULL_OBJECT" {
		t.Errorf("HEAD checksum %q %q", head.Header.Get("x-amz-checksum-crc64nvme"), head.Header.Get("x-amz-checksum-type"))
	}
}

// The SDK's multipart flow with a checksum algorithm: the SDK computes
// each part's checksum, lists them at Complete and validates what GET
// returns.
func TestMultipartSDKChecksums(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("sdksums")
	ctx := context.Background()
	big := mpBig()
	cases := []struct {
		alg types.ChecksumAlgorithm
		typ types.ChecksumType
	}{
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject},
		{types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite},
		{types.ChecksumAlgorithmCrc64nvme, types.ChecksumTypeFullObject},
	}
	for i, c := range cases {
		alg := checksum.Algorithm(c.alg)
		key := aws.String("sdk-" + string(c.alg))
		tail := mpBytes(byte(30+i), 2048)
		created, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sdksums"), Key: key,
			ChecksumAlgorithm: c.alg, ChecksumType: c.typ})
		if err != nil {
			t.Fatal(err)
		}
		if created.ChecksumAlgorithm != c.alg || created.ChecksumType != c.typ {
			t.Errorf("%s: Create answered %q %q", c.alg, created.ChecksumAlgorithm, created.ChecksumType)
		}
		var done []types.CompletedPart
		for n, p := range [][]byte{big, tail} {
			out, err := e.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sdksums"), Key: key, UploadId: created.UploadId,
				PartNumber: aws.Int32(int32(n + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: c.alg})
			if err != nil {
				t.Fatalf("%s: UploadPart %d: %v", c.alg, n+1, err)
			}
			cp := types.CompletedPart{PartNumber: aws.Int32(int32(n + 1)), ETag: out.ETag,
				ChecksumCRC32: out.ChecksumCRC32, ChecksumSHA256: out.ChecksumSHA256, ChecksumCRC64NVME: out.ChecksumCRC64NVME}
			if got := mpSDKSum(alg, out.ChecksumCRC32, out.ChecksumSHA256, out.ChecksumCRC64NVME); got != mpFull(t, alg, p) {
				t.Errorf("%s: UploadPart %d returned %q", c.alg, n+1, got)
			}
			done = append(done, cp)
		}
		out, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("sdksums"), Key: key,
			UploadId: created.UploadId, ChecksumType: c.typ, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if err != nil {
			t.Fatalf("%s: Complete: %v", c.alg, err)
		}
		want := mpFull(t, alg, big, tail)
		if c.typ == types.ChecksumTypeComposite {
			want = mpComposite(t, alg, big, tail)
		}
		if got := mpSDKSum(alg, out.ChecksumCRC32, out.ChecksumSHA256, out.ChecksumCRC64NVME); got != want || out.ChecksumType != c.typ {
			t.Errorf("%s: Complete %q %q, want %q %q", c.alg, got, out.ChecksumType, want, c.typ)
		}
		obj, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sdksums"), Key: key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj.Body) // the SDK validates full-object checksums as it reads
		obj.Body.Close()
		if err != nil || !bytes.Equal(b[:len(big)], big) || !bytes.Equal(b[len(big):], tail) {
			t.Fatalf("%s: GetObject %d bytes: %v", c.alg, len(b), err)
		}
		if got := mpSDKSum(alg, obj.ChecksumCRC32, obj.ChecksumSHA256, obj.ChecksumCRC64NVME); got != want || obj.ChecksumType != c.typ {
			t.Errorf("%s: GetObject checksum %q %q, want %q %q", c.alg, got, obj.ChecksumType, want, c.typ)
		}
	}
}

// mpSDKSum picks alg's value among an SDK output's checksum fields.
func mpSDKSum(alg checksum.Algorithm, crc32, sha256, crc64 *string) string {
	switch alg {
	case checksum.CRC32:
		return aws.ToString(crc32)
	case checksum.SHA256:
		return aws.ToString(sha256)
	case checksum.CRC64NVME:
		return aws.ToString(crc64)
	}
	return ""
}

// GET and HEAD with partNumber=N return that part of a multipart object:
// 206, its Content-Range, and the object's part count and ETag.
func TestGetObjectPartNumber(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("parts")
	big, tail := mpBig(), mpBytes(5, 3000)
	id := e.mpCreate("parts", "k", nil)
	e.mpPartOK("parts", "k", id, 1, big, nil)
	e.mpPartOK("parts", "k", id, 2, tail, nil)
	e.mpCompleteOK("parts", "k", id, mpQuoted(big, tail), mpETag(big, tail))
	total := len(big) + len(tail)

	cases := []struct {
		n           int
		body        []byte
		start, end  int
		contentSize int
	}{
		{1, big, 0, len(big) - 1, total},
		{2, tail, len(big), total - 1, total},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			resp := e.do(req{method: method, path: "/parts/k?partNumber=" + strconv.Itoa(c.n)})
			body := expectStatus(t, resp, 206)
			if method == "GET" && !bytes.Equal(body, c.body) {
				t.Errorf("GET part %d: %d bytes, not the part", c.n, len(body))
			}
			for h, want := range map[string]string{
				"Content-Range":        fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, c.contentSize),
				"Content-Length":       strconv.Itoa(len(c.body)),
				"x-amz-mp-parts-count": "2",
				"ETag":                 `"` + mpETag(big, tail) + `"`,
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s part %d: %s = %q, want %q", method, c.n, h, got, want)
				}
			}
			// A part has no whole-object checksum.
			resp = e.do(req{method: method, path: "/parts/k?partNumber=" + strconv.Itoa(c.n), header: map[string]string{"x-amz-checksum-mode": "ENABLED"}})
			expectStatus(t, resp, 206)
			if got := resp.Header.Get("x-amz-checksum-crc64nvme"); got == mpFull(t, checksum.CRC64NVME, big, tail) {
				t.Errorf("%s part %d returned the whole object's checksum", method, c.n)
			}
		}
	}
	expectError(t, e.do(req{path: "/parts/k?partNumber=3"}), 416, "InvalidPartNumber")
	resp := e.do(req{method: "HEAD", path: "/parts/k?partNumber=3"})
	resp.Body.Close()
	if resp.StatusCode != 416 {
		t.Errorf("HEAD partNumber=3: %d, want 416", resp.StatusCode)
	}
	expectError(t, e.do(req{path: "/parts/k?partNumber=0"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/parts/k?partNumber=10001"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/parts/k?partNumber=1", header: map[string]string{"Range": "bytes=0-9"}}), 400, "InvalidRequest")

	ctx := context.Background()
	out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("k"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(b, tail) || aws.ToInt32(out.PartsCount) != 2 || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", len(big), total-1, total) {
		t.Errorf("SDK GetObject part 2: %d bytes, parts %d, range %q", len(b), aws.ToInt32(out.PartsCount), aws.ToString(out.ContentRange))
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String("k"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(big)) || aws.ToInt32(head.PartsCount) != 2 {
		t.Errorf("SDK HeadObject part 1: length %d parts %d", aws.ToInt64(head.ContentLength), aws.ToInt32(head.PartsCount))
	}
}

// Multipart uploads through virtual-hosted-style requests; Complete's
// Location names the object as S3 does for that style.
func TestMultipartVirtualHosted(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("vhost-mp")
	host := "vhost-mp." + testDomain
	r := mpDecode[mpInitiate](t, e.do(req{method: "POST", path: "/dir/obj?uploads", host: host}), 200)
	if r.Bucket != "vhost-mp" || r.Key != "dir/obj" {
		t.Fatalf("InitiateMultipartUploadResult %+v", r)
	}
	q := "?" + mpUploadQuery(r.UploadID)
	part := []byte("virtually hosted part")
	expectStatus(t, e.do(req{method: "PUT", path: "/dir/obj" + q + "&partNumber=1", host: host, body: part}), 200)
	page := mpDecode[mpPartsPage](t, e.do(req{path: "/dir/obj" + q, host: host}), 200)
	if len(page.Parts) != 1 || page.Bucket != "vhost-mp" {
		t.Fatalf("ListParts %+v", page)
	}
	ups := mpDecode[mpUploadsPage](t, e.do(req{path: "/?uploads", host: host}), 200)
	if len(ups.Uploads) != 1 || ups.Bucket != "vhost-mp" {
		t.Fatalf("ListMultipartUploads %+v", ups)
	}
	res := mpDecode[mpCompleteResult](t, e.do(req{method: "POST", path: "/dir/obj" + q, host: host, body: mpDoc(mpQuoted(part))}), 200)
	if res.ETag != `"`+mpETag(part)+`"` || res.Bucket != "vhost-mp" || res.Key != "dir/obj" {
		t.Errorf("CompleteMultipartUploadResult %+v", res)
	}
	if want := "http://" + host + "/dir/obj"; res.Location != want {
		t.Errorf("Location %q, want %q", res.Location, want)
	}
	if got := e.get("vhost-mp", "dir/obj"); !bytes.Equal(got, part) {
		t.Errorf("object %q", got)
	}
}

// Conditional writes apply to CompleteMultipartUpload: If-None-Match: *
// and If-Match are checked against the key when the object is committed.
func TestMultipartConditionalComplete(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("cond-complete")
	expectStatus(t, e.put("cond-complete", "exists", []byte("v1"), nil), 200)
	part := []byte("new version")
	cases := []struct {
		key    string
		hdr    map[string]string
		status int
	}{
		{"exists", map[string]string{"If-None-Match": "*"}, 412},
		{"exists", map[string]string{"If-Match": `"` + mpMD5([]byte("v0")) + `"`}, 412},
		{"missing", map[string]string{"If-Match": `"` + mpMD5([]byte("v1")) + `"`}, 404},
		{"missing", map[string]string{"If-None-Match": "*"}, 200},
		{"exists", map[string]string{"If-Match": `"` + mpMD5([]byte("v1")) + `"`}, 200},
	}
	for _, c := range cases {
		before := e.get("cond-complete", c.key)
		id := e.mpCreate("cond-complete", c.key, nil)
		e.mpPartOK("cond-complete", c.key, id, 1, part, nil)
		resp := e.mpComplete("cond-complete", c.key, id, mpDoc(mpQuoted(part)), c.hdr)
		switch c.status {
		case 200:
			mpDecode[mpCompleteResult](t, resp, 200)
			if got := e.get("cond-complete", c.key); !bytes.Equal(got, part) {
				t.Errorf("%s %v: object %q", c.key, c.hdr, got)
			}
		case 412:
			expectError(t, resp, 412, "PreconditionFailed")
		case 404:
			expectError(t, resp, 404, "NoSuchKey")
		}
		if c.status != 200 && !bytes.Equal(e.get("cond-complete", c.key), before) {
			t.Errorf("%s %v: a failed conditional Complete changed the object", c.key, c.hdr)
		}
	}
}

// A part's Content-MD5 is verified as it streams; a mismatch keeps the
// part it would have replaced.
func TestMultipartPartIntegrity(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("part-md5")
	id := e.mpCreate("part-md5", "k", nil)
	good := []byte("the good part")
	e.mpPartOK("part-md5", "k", id, 1, good, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(mpMD5Raw(good))})
	cases := []struct {
		hdr  map[string]string
		code string
	}{
		{map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(mpMD5Raw([]byte("other")))}, "BadDigest"},
		{map[string]string{"Content-MD5": "not base64"}, "InvalidDigest"},
		{map[string]string{mpHeader(checksum.CRC32): "AAAA"}, "InvalidRequest"},
	}
	for _, c := range cases {
		expectError(t, e.mpPart("part-md5", "k", id, 1, []byte("a bad replacement"), c.hdr), 400, c.code)
	}
	if page := e.mpListParts("part-md5", "k", id, ""); len(page.Parts) != 1 || page.Parts[0].ETag != `"`+mpMD5(good)+`"` {
		t.Errorf("part after refused replacements: %+v", page.Parts)
	}
	long := strings.Repeat("k", 1025)
	expectError(t, e.do(req{method: "POST", path: "/part-md5/" + long + "?uploads"}), 400, "KeyTooLongError")
}

func mpMD5Raw(b []byte) []byte { s := md5.Sum(b); return s[:] }

// ListMultipartUploads with encoding-type=url encodes keys and markers.
func TestListMultipartUploadsEncoded(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("uploads-encoded")
	e.mpCreate("uploads-encoded", "ünï/k", nil)
	e.mpCreate("uploads-encoded", "plain", nil)
	p := e.mpListUploads("uploads-encoded", "encoding-type=url&max-uploads=1")
	if len(p.Uploads) != 1 || p.Uploads[0].Key != "plain" || !p.IsTruncated {
		t.Fatalf("first page %+v", p)
	}
	p = e.mpListUploads("uploads-encoded", "encoding-type=url&key-marker=plain")
	if len(p.Uploads) != 1 || p.Uploads[0].Key != "%C3%BCn%C3%AF/k" {
		t.Errorf("encoded key %+v", p.Uploads)
	}
	var raw struct{ EncodingType string }
	xml.Unmarshal(expectStatus(t, e.do(req{path: "/uploads-encoded?uploads&encoding-type=url"}), 200), &raw)
	if raw.EncodingType != "url" {
		t.Errorf("EncodingType %q", raw.EncodingType)
	}
	expectError(t, e.do(req{path: "/uploads-encoded?uploads&encoding-type=base64"}), 400, "InvalidArgument")
}

// Complete may restate the checksum type; one that differs from the type
// fixed at Create is BadDigest, as S3 documents.
func TestMultipartCompleteChecksumType(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("complete-type")
	part := []byte("a part with a CRC32")
	for _, c := range []struct{ created, stated string }{
		{"COMPOSITE", "FULL_OBJECT"},
		{"FULL_OBJECT", "COMPOSITE"},
	} {
		key := "k-" + c.created
		id := e.mpCreate("complete-type", key, map[string]string{"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": c.created})
		e.mpPartOK("complete-type", key, id, 1, part, map[string]string{mpHeader(checksum.CRC32): mpFull(t, checksum.CRC32, part)})
		doc := mpDoc(mpWithSums(t, checksum.CRC32, part))
		resp := e.mpComplete("complete-type", key, id, doc, map[string]string{"x-amz-checksum-type": c.stated})
		if resp.StatusCode == 200 {
			resp.Body.Close()
			t.Errorf("created %s, Complete stating %s succeeded; S3 answers BadDigest", c.created, c.stated)
			continue
		}
		expectError(t, resp, 400, "BadDigest")
		r := mpDecode[mpCompleteResult](t, e.mpComplete("complete-type", key, id, doc, map[string]string{"x-amz-checksum-type": c.created}), 200)
		if r.ChecksumType != c.created {
			t.Errorf("created %s: Complete answered type %q", c.created, r.ChecksumType)
		}
	}
}

// S3 returns x-amz-mp-parts-count only to a GET or HEAD that names a
// partNumber.
func TestPartsCountOnlyWithPartNumber(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("parts-count")
	part := []byte("one part")
	id := e.mpCreate("parts-count", "k", nil)
	e.mpPartOK("parts-count", "k", id, 1, part, nil)
	e.mpCompleteOK("parts-count", "k", id, mpQuoted(part), mpETag(part))
	for _, method := range []string{"GET", "HEAD"} {
		resp := e.do(req{method: method, path: "/parts-count/k"})
		expectStatus(t, resp, 200)
		if got, ok := resp.Header["X-Amz-Mp-Parts-Count"]; ok {
			t.Errorf("%s without partNumber: x-amz-mp-parts-count %q", method, got)
		}
		resp = e.do(req{method: method, path: "/parts-count/k?partNumber=1"})
		expectStatus(t, resp, 206)
		if got := resp.Header.Get("x-amz-mp-parts-count"); got != "1" {
			t.Errorf("%s partNumber=1: x-amz-mp-parts-count %q", method, got)
		}
	}
}
