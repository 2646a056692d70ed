package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// picture encodes a w x h gradient as JPEG or PNG.
func picture(t *testing.T, format string, w, h int) []byte {
	t.Helper()
	img := stdimage.NewNRGBA(stdimage.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// s3Do sends a request to the S3 API signed with the root key (payload
// unsigned) and returns the response with its body read.
func (s *server) s3Do(t *testing.T, method, path string, query url.Values, header http.Header) (*http.Response, []byte) {
	t.Helper()
	u := s.S3URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }) // S3 encodes the path once
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// s3ErrorCode is the Code of an S3 error document.
func s3ErrorCode(body []byte) string {
	var doc struct{ Code string }
	xml.Unmarshal(body, &doc)
	return doc.Code
}

// metric returns the value of an unlabelled counter on /metrics.
func (s *server) metric(t *testing.T, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(s.metrics(t), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// waitFor polls cond until it holds or catalogueTimeout passes, and
// returns how long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > catalogueTimeout {
			t.Fatalf("%s: not after %v", what, catalogueTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestImageVariantsAWSCLI: a photo uploaded with aws cli gets its variants,
// served with ?variant=; an overwrite replaces them, a delete removes them,
// the reserved prefix stays out of clients' sight and reach, and hostile
// images are harmless. On the fs backend and through the s3 backend.
func TestImageVariantsAWSCLI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testImageVariants)
}

func testImageVariants(t *testing.T, opts serverOptions) {
	awsBin := requireTool(t, "aws")
	s := startServerOpts(t, opts)
	env := clientEnv(t, s, "AWS_MAX_ATTEMPTS=1")
	work := t.TempDir()
	bucket := newBucketName(t)
	awsCmd := func(args ...string) string {
		t.Helper()
		return runTool(t, env, work, awsBin, append([]string{"--endpoint-url", s.S3URL, "--cli-read-timeout", "60"}, args...)...)
	}
	awsCmd("s3", "mb", "s3://"+bucket)
	key := "trips/2024/sea view.jpg"
	objPath := "/" + bucket + "/" + url.PathEscape(key)
	objPath = strings.ReplaceAll(objPath, "%2F", "/")

	// Upload; the variants come shortly after.
	writeFile(t, filepath.Join(work, "photo.jpg"), picture(t, "jpeg", 1600, 1200))
	uploaded := time.Now()
	awsCmd("s3", "cp", "photo.jpg", "s3://"+bucket+"/"+key)
	var row catalogueRowImage
	took := waitFor(t, "variants recorded in the catalogue", func() bool {
		row = s.imageRow(t, bucket, key)
		return len(row.Variants) == 3
	})
	t.Logf("variants recorded %v after the upload (%v after aws s3 cp returned)", time.Since(uploaded).Round(time.Millisecond), took.Round(time.Millisecond))
	if row.ImageWidth != 1600 || row.ImageHeight != 1200 || row.HookError != "" {
		t.Fatalf("row: %dx%d, error %q", row.ImageWidth, row.ImageHeight, row.HookError)
	}

	// GET ?variant= serves it, with type, ETag, cache headers, ranges and
	// conditional requests.
	resp, body := s.s3Do(t, http.MethodGet, objPath, url.Values{"variant": {"thumb"}}, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" ||
		resp.Header.Get("Cache-Control") != "max-age=86400" || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("GET ?variant=thumb: %d %v", resp.StatusCode, resp.Header)
	}
	cfg, format, err := stdimage.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != "jpeg" || cfg.Width != 200 || cfg.Height != 200 {
		t.Fatalf("thumb: %s %dx%d (%v)", format, cfg.Width, cfg.Height, err)
	}
	etag := resp.Header.Get("ETag")
	resp, part := s.s3Do(t, http.MethodGet, objPath, url.Values{"variant": {"thumb"}}, http.Header{"Range": {"bytes=10-19"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[10:20]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(body)) {
		t.Fatalf("ranged GET: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(part))
	}
	if resp, _ := s.s3Do(t, http.MethodGet, objPath, url.Values{"variant": {"thumb"}}, http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != etag {
		t.Fatalf("If-None-Match: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if resp, _ := s.s3Do(t, http.MethodHead, objPath, url.Values{"variant": {"preview"}}, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("HEAD ?variant=preview: %d", resp.StatusCode)
	}
	if resp, body := s.s3Do(t, http.MethodGet, objPath, url.Values{"variant": {"poster"}}, nil); resp.StatusCode != http.StatusBadRequest || s3ErrorCode(body) != "InvalidArgument" {
		t.Fatalf("unknown preset: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.s3Do(t, http.MethodHead, objPath, url.Values{"variant": {"poster"}}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HEAD unknown preset: %d", resp.StatusCode)
	}

	// The reserved prefix: not listed, not readable, not writable.
	if out := awsCmd("s3", "ls", "--recursive", "s3://"+bucket); strings.Contains(out, ".variants") || !strings.Contains(out, "sea view.jpg") {
		t.Fatalf("aws s3 ls --recursive:\n%s", out)
	}
	if out := awsCmd("s3", "ls", "s3://"+bucket); strings.Contains(out, ".variants") {
		t.Fatalf("aws s3 ls:\n%s", out)
	}
	if out, err := runToolErr(t, env, work, awsBin, "--endpoint-url", s.S3URL, "s3", "cp", "photo.jpg", "s3://"+bucket+"/.variants/"+key+"/thumb.jpg"); err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("a client wrote into the reserved prefix: %v\n%s", err, out)
	}
	if resp, _ := s.s3Do(t, http.MethodGet, "/"+bucket+"/.variants/"+strings.TrimPrefix(objPath, "/"+bucket+"/")+"/thumb.jpg", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a client read the reserved prefix: %d", resp.StatusCode)
	}

	// Overwritten by a PNG: new variants for the new version.
	writeFile(t, filepath.Join(work, "photo.png"), picture(t, "png", 300, 900))
	awsCmd("s3", "cp", "photo.png", "s3://"+bucket+"/"+key)
	waitFor(t, "variants of the overwrite", func() bool {
		row = s.imageRow(t, bucket, key)
		return row.ImageWidth == 300 && len(row.Variants) == 3
	})
	resp, body = s.s3Do(t, http.MethodGet, objPath, url.Values{"variant": {"preview"}}, nil)
	if cfg, _, err := stdimage.DecodeConfig(bytes.NewReader(body)); resp.StatusCode != http.StatusOK || err != nil || cfg.Width != 300 || cfg.Height != 900 {
		t.Fatalf("preview after overwrite: %d %dx%d (%v)", resp.StatusCode, cfg.Width, cfg.Height, err)
	}

	// Hostile uploads: text named .jpg, a decompression bomb header, a
	// truncated JPEG. None gets variants; the server keeps serving.
	writeFile(t, filepath.Join(work, "fake.jpg"), []byte("this is text, not a picture"))
	writeFile(t, filepath.Join(work, "bomb.png"), bombPNGHeader(t, 60000, 60000))
	jpg := picture(t, "jpeg", 800, 600)
	writeFile(t, filepath.Join(work, "cut.jpg"), jpg[:len(jpg)/2])
	for _, f := range []string{"fake.jpg", "bomb.png", "cut.jpg"} {
		awsCmd("s3", "cp", f, "s3://"+bucket+"/hostile/"+f)
	}
	for _, f := range []string{"bomb.png", "cut.jpg"} {
		waitFor(t, "the hook error of "+f, func() bool { return s.imageRow(t, bucket, "hostile/"+f).HookError != "" })
	}
	for _, f := range []string{"fake.jpg", "bomb.png", "cut.jpg"} {
		resp, body := s.s3Do(t, http.MethodGet, "/"+bucket+"/hostile/"+f, url.Values{"variant": {"thumb"}}, nil)
		if resp.StatusCode != http.StatusBadRequest || s3ErrorCode(body) != "InvalidRequest" {
			t.Errorf("GET %s?variant=thumb: %d %s", f, resp.StatusCode, body)
		}
	}
	if r := s.imageRow(t, bucket, "hostile/fake.jpg"); r.HookError != "" || len(r.Variants) != 0 {
		t.Errorf("text named .jpg: %+v", r)
	}

	// Deleted: its variants go, and the bucket can be removed although
	// the reserved prefix may still hold some.
	removedBefore := s.metric(t, "s3gate_image_variants_removed_total")
	awsCmd("s3", "rm", "s3://"+bucket+"/"+key)
	waitFor(t, "variants removed after the delete", func() bool {
		return s.metric(t, "s3gate_image_variants_removed_total") >= removedBefore+3
	})
	awsCmd("s3", "rm", "--recursive", "s3://"+bucket+"/hostile/")
	awsCmd("s3", "rb", "s3://"+bucket)
	if out := awsCmd("s3", "ls"); strings.Contains(out, bucket) {
		t.Fatalf("bucket still listed after rb:\n%s", out)
	}
}

// catalogueRowImage is the image part of a GET /api/v1/objects row.
type catalogueRowImage struct {
	ImageWidth  int               `json:"image_width"`
	ImageHeight int               `json:"image_height"`
	Variants    []json.RawMessage `json:"variants"`
	HookError   string            `json:"hook_error"`
}

// imageRow returns the image facts of one catalogue row (zero while there
// is no row).
func (s *server) imageRow(t *testing.T, bucket, key string) catalogueRowImage {
	t.Helper()
	q := url.Values{"bucket": {bucket}, "prefix": {key}, "limit": {"10"}}
	status, body := s.admin(t, http.MethodGet, "/api/v1/objects?"+q.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/objects: %d %s", status, body)
	}
	var page struct {
		Objects []struct {
			Key string `json:"key"`
			catalogueRowImage
		} `json:"objects"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Objects {
		if o.Key == key {
			return o.catalogueRowImage
		}
	}
	return catalogueRowImage{}
}

// bombPNGHeader is a PNG whose header claims w x h pixels.
func bombPNGHeader(t *testing.T, w, h uint32) []byte {
	img := picture(t, "png", 1, 1)
	// The IHDR chunk starts at byte 8: length, type, then width and
	// height; rewrite them and the chunk's CRC.
	out := append([]byte(nil), img...)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}
