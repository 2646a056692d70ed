package conformance

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// newS3Client returns an aws-sdk-go-v2 client for s3gate: path-style,
// static credentials, us-east-1, no retries, no shared config, no IMDS.
// Checksums are on as config.LoadDefaultConfig sets them (s3.New alone
// leaves them unset, which acts as "when required"). Options are applied
// last.
func newS3Client(endpoint, accessKey, secretKey string, optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:                 httpClient,
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}, optFns...)
}

// client returns an SDK client for s3's scheme: over https it trusts the
// server's test CA.
func (s *server) client(optFns ...func(*s3.Options)) *s3.Client {
	return newS3Client(s.S3URL, s.AccessKey, s.SecretKey, append([]func(*s3.Options){func(o *s3.Options) { o.HTTPClient = s.HTTP }}, optFns...)...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apiError returns the S3 error code and HTTP status of an SDK error.
func apiError(err error) (code string, status int) {
	if ae, ok := errorsAs[smithy.APIError](err); ok {
		code = ae.ErrorCode()
	}
	if re, ok := errorsAs[*awshttp.ResponseError](err); ok {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantAPIError fails unless err is an S3 error with the given code (when
// code is not empty) and HTTP status.
func wantAPIError(t *testing.T, what string, err error, wantCode string, wantStatus int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s (%d)", what, wantCode, wantStatus)
		return
	}
	code, status := apiError(err)
	if (wantCode != "" && code != wantCode) || status != wantStatus {
		t.Errorf("%s: got code %q status %d, want code %q status %d (error: %v)", what, code, status, wantCode, wantStatus, err)
	}
}

func createBucket(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(testContext(t), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
}

func putObject(t *testing.T, c *s3.Client, bucket, key string, data []byte) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(testContext(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(data),
	})
	if err != nil {
		t.Fatalf("PutObject %s/%q: %v", bucket, key, err)
	}
	return out
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(testContext(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%q: %v", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%q: reading body: %v", bucket, key, err)
	}
	return data, out
}

func quotedMD5(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// listAllV2 returns every key in the bucket under prefix, in listing order.
func listAllV2(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatalf("ListObjectsV2 %s prefix %q: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func TestSDKBuckets(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)

	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	wantAPIError(t, "HeadBucket before CreateBucket", err, "", http.StatusNotFound)

	createBucket(t, c, bucket)
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("HeadBucket after CreateBucket: %v", err)
	}

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	found := false
	for _, b := range lb.Buckets {
		if aws.ToString(b.Name) == bucket {
			found = true
			if b.CreationDate == nil || time.Since(*b.CreationDate) > time.Hour || time.Until(*b.CreationDate) > time.Minute {
				t.Errorf("ListBuckets: %s CreationDate = %v, want about now", bucket, b.CreationDate)
			}
		}
	}
	if !found {
		t.Errorf("ListBuckets does not list %s: %+v", bucket, lb.Buckets)
	}

	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Not_A_Valid_Bucket")})
	wantAPIError(t, "CreateBucket with an invalid name", err, "InvalidBucketName", http.StatusBadRequest)

	putObject(t, c, bucket, "keeps-bucket-busy", []byte("x"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	wantAPIError(t, "DeleteBucket on a non-empty bucket", err, "BucketNotEmpty", http.StatusConflict)

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("keeps-bucket-busy")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("DeleteBucket on the emptied bucket: %v", err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	wantAPIError(t, "HeadBucket after DeleteBucket", err, "", http.StatusNotFound)
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	wantAPIError(t, "DeleteBucket twice", err, "NoSuchBucket", http.StatusNotFound)

	lb, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	for _, b := range lb.Buckets {
		if aws.ToString(b.Name) == bucket {
			t.Errorf("ListBuckets still lists deleted bucket %s", bucket)
		}
	}
}

func TestSDKObjectRoundTrip(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	data := testData("round-trip", 1<<20+7)
	key := "docs/report.bin"
	expires := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	meta := map[string]string{"color": "blue", "mixed-case": "Value With Spaces", "empty": ""}
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String(bucket),
		Key:                aws.String(key),
		Body:               bytes.NewReader(data),
		ContentType:        aws.String("application/x-conformance"),
		CacheControl:       aws.String("max-age=3600, private"),
		ContentDisposition: aws.String(`attachment; filename="report.bin"`),
		ContentLanguage:    aws.String("en-GB"),
		ContentEncoding:    aws.String("identity"),
		Expires:            aws.Time(expires),
		Metadata:           map[string]string{"color": "blue", "Mixed-Case": "Value With Spaces", "empty": ""},
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if got, want := aws.ToString(put.ETag), quotedMD5(data); got != want {
		t.Errorf("PutObject ETag = %s, want %s", got, want)
	}

	type headers struct {
		ContentLength      int64
		ContentType        string
		CacheControl       string
		ContentDisposition string
		ContentLanguage    string
		ContentEncoding    string
		Expires            string
		ETag               string
		Metadata           map[string]string
	}
	want := headers{
		ContentLength:      int64(len(data)),
		ContentType:        "application/x-conformance",
		CacheControl:       "max-age=3600, private",
		ContentDisposition: `attachment; filename="report.bin"`,
		ContentLanguage:    "en-GB",
		ContentEncoding:    "identity",
		Expires:            expires.Format(http.TimeFormat),
		ETag:               quotedMD5(data),
		Metadata:           meta,
	}
	lower := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[strings.ToLower(k)] = v
		}
		return out
	}
	compare := func(op string, got headers) {
		t.Helper()
		got.Metadata = lower(got.Metadata)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s headers:\n got %+v\nwant %+v", op, got, want)
		}
	}

	body, get := getObject(t, c, bucket, key)
	if sha256Hex(body) != sha256Hex(data) {
		t.Errorf("GetObject body sha256 %s, want %s (len %d vs %d)", sha256Hex(body), sha256Hex(data), len(body), len(data))
	}
	compare("GetObject", headers{
		aws.ToInt64(get.ContentLength), aws.ToString(get.ContentType), aws.ToString(get.CacheControl),
		aws.ToString(get.ContentDisposition), aws.ToString(get.ContentLanguage), aws.ToString(get.ContentEncoding),
		aws.ToString(get.ExpiresString), aws.ToString(get.ETag), get.Metadata,
	})
	if get.LastModified == nil || time.Since(*get.LastModified) > 10*time.Minute || time.Until(*get.LastModified) > time.Minute {
		t.Errorf("GetObject LastModified = %v, want about now", get.LastModified)
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	compare("HeadObject", headers{
		aws.ToInt64(head.ContentLength), aws.ToString(head.ContentType), aws.ToString(head.CacheControl),
		aws.ToString(head.ContentDisposition), aws.ToString(head.ContentLanguage), aws.ToString(head.ContentEncoding),
		aws.ToString(head.ExpiresString), aws.ToString(head.ETag), head.Metadata,
	})

	t.Run("Range", func(t *testing.T) {
		n := int64(len(data))
		for _, tc := range []struct {
			rng        string
			start, end int64 // inclusive
		}{
			{"bytes=0-0", 0, 0},
			{"bytes=10-19", 10, 19},
			{"bytes=-100", n - 100, n - 1},
			{"bytes=1048570-", 1048570, n - 1},
			{"bytes=5-99999999", 5, n - 1},
		} {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(tc.rng)})
			if err != nil {
				t.Errorf("GetObject Range %s: %v", tc.rng, err)
				continue
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Errorf("GetObject Range %s: reading: %v", tc.rng, err)
				continue
			}
			if !bytes.Equal(got, data[tc.start:tc.end+1]) {
				t.Errorf("GetObject Range %s: got %d bytes (sha256 %s), want bytes %d-%d", tc.rng, len(got), sha256Hex(got), tc.start, tc.end)
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, n); aws.ToString(out.ContentRange) != want {
				t.Errorf("GetObject Range %s: Content-Range %q, want %q", tc.rng, aws.ToString(out.ContentRange), want)
			}
			if aws.ToInt64(out.ContentLength) != tc.end-tc.start+1 {
				t.Errorf("GetObject Range %s: Content-Length %d, want %d", tc.rng, aws.ToInt64(out.ContentLength), tc.end-tc.start+1)
			}
		}
		_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-", n))})
		wantAPIError(t, "GetObject with a range past the end", err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
	})

	t.Run("Conditional", func(t *testing.T) {
		etag := quotedMD5(data)
		lm := *get.LastModified
		for _, tc := range []struct {
			name       string
			in         s3.GetObjectInput
			wantStatus int // 200, 304 or 412
		}{
			{"If-Match current", s3.GetObjectInput{IfMatch: aws.String(etag)}, 200},
			{"If-Match other", s3.GetObjectInput{IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)}, 412},
			{"If-None-Match current", s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, 304},
			{"If-None-Match other", s3.GetObjectInput{IfNoneMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)}, 200},
			{"If-Modified-Since future", s3.GetObjectInput{IfModifiedSince: aws.Time(lm.Add(time.Hour))}, 304},
			{"If-Modified-Since past", s3.GetObjectInput{IfModifiedSince: aws.Time(lm.Add(-time.Hour))}, 200},
			{"If-Unmodified-Since past", s3.GetObjectInput{IfUnmodifiedSince: aws.Time(lm.Add(-time.Hour))}, 412},
			{"If-Unmodified-Since future", s3.GetObjectInput{IfUnmodifiedSince: aws.Time(lm.Add(time.Hour))}, 200},
		} {
			in := tc.in
			in.Bucket, in.Key = aws.String(bucket), aws.String(key)
			out, err := c.GetObject(ctx, &in)
			switch {
			case tc.wantStatus == 200 && err != nil:
				t.Errorf("GetObject %s: %v, want 200", tc.name, err)
			case tc.wantStatus == 200:
				got, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if !bytes.Equal(got, data) {
					t.Errorf("GetObject %s: body differs (%d bytes)", tc.name, len(got))
				}
			case tc.wantStatus == 412:
				wantAPIError(t, "GetObject "+tc.name, err, "PreconditionFailed", 412)
			default:
				wantAPIError(t, "GetObject "+tc.name, err, "", 304)
			}
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		newData := []byte("shorter replacement body")
		putObject(t, c, bucket, key, newData)
		got, out := getObject(t, c, bucket, key)
		if !bytes.Equal(got, newData) {
			t.Errorf("after overwrite GetObject returned %d bytes, want %q", len(got), newData)
		}
		if len(out.Metadata) != 0 || aws.ToString(out.CacheControl) != "" {
			t.Errorf("after overwrite without metadata, old metadata survives: %v cache-control %q", out.Metadata, aws.ToString(out.CacheControl))
		}
	})

	t.Run("Empty", func(t *testing.T) {
		put := putObject(t, c, bucket, "empty", nil)
		if got, want := aws.ToString(put.ETag), `"d41d8cd98f00b204e9800998ecf8427e"`; got != want {
			t.Errorf("PutObject of 0 bytes: ETag %s, want %s", got, want)
		}
		got, out := getObject(t, c, bucket, "empty")
		if len(got) != 0 || aws.ToInt64(out.ContentLength) != 0 {
			t.Errorf("GetObject of 0 bytes: got %d bytes, Content-Length %d", len(got), aws.ToInt64(out.ContentLength))
		}
	})
}

// specialKeys are object keys that trip up path handling, URL encoding and
// signing.
var specialKeys = []string{
	"plain.txt",
	"with space.txt",
	"plus+sign.txt",
	"percent%20literal.txt",
	"percent%.txt",
	"at@sign.txt",
	"unicode-ключ-日本語-é.txt",
	"double//slash.txt",
	"//leading-double-slash.txt",
	"trailing/",
	"dir/sub dir/file.txt",
	"tilde~equals=amp&semi;comma,colon:dollar$.txt",
	"question?hash#.txt",
	"quote'paren()star*bang!.txt",
	"brackets[]braces{}caret^pipe|.txt",
}

func TestSDKSpecialKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	content := func(key string) []byte { return testData("key:"+key, 1000+len(key)) }
	for _, key := range specialKeys {
		put := putObject(t, c, bucket, key, content(key))
		if aws.ToString(put.ETag) != quotedMD5(content(key)) {
			t.Errorf("PutObject %q: ETag %s, want %s", key, aws.ToString(put.ETag), quotedMD5(content(key)))
		}
	}
	for _, key := range specialKeys {
		got, _ := getObject(t, c, bucket, key)
		if sha256Hex(got) != sha256Hex(content(key)) {
			t.Errorf("GetObject %q: got %d bytes sha256 %s, want sha256 %s", key, len(got), sha256Hex(got), sha256Hex(content(key)))
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Errorf("HeadObject %q: %v", key, err)
		} else if aws.ToInt64(head.ContentLength) != int64(len(content(key))) {
			t.Errorf("HeadObject %q: Content-Length %d, want %d", key, aws.ToInt64(head.ContentLength), len(content(key)))
		}
	}

	want := slices.Clone(specialKeys)
	slices.Sort(want)
	if got := listAllV2(t, c, bucket, ""); !slices.Equal(got, want) {
		t.Errorf("ListObjectsV2 keys:\n got %q\nwant %q", got, want)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	var got []string
	for _, o := range v1.Contents {
		got = append(got, aws.ToString(o.Key))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListObjects (v1) keys:\n got %q\nwant %q", got, want)
	}

	// A key made of dot segments is a key like any other: it must not
	// reach outside the bucket, let alone the data directory.
	t.Run("DotSegments", func(t *testing.T) {
		marker := "escape-" + randomHex(6)
		key := "../../../" + marker
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")})
		if err != nil {
			if _, status := apiError(err); status != http.StatusBadRequest {
				t.Errorf("PutObject %q: %v (want success or 400)", key, err)
			}
		}
		root := filepath.Dir(filepath.Dir(s.DataDir))
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), marker) && !strings.HasPrefix(p, s.DataDir+string(filepath.Separator)) {
				t.Errorf("PutObject %q wrote outside the data directory: %s", key, p)
			}
			return nil
		})
		if err == nil {
			got, _ := getObject(t, c, bucket, key)
			if string(got) != "x" {
				t.Errorf("GetObject %q = %q, want %q", key, got, "x")
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				t.Errorf("DeleteObject %q: %v", key, err)
			}
		}
	})

	for _, key := range specialKeys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Errorf("DeleteObject %q: %v", key, err)
		}
	}
	if got := listAllV2(t, c, bucket, ""); len(got) != 0 {
		t.Errorf("after deleting every key, ListObjectsV2 returns %q", got)
	}
}

// listingKeys are the keys of the listing test: '-' (0x2d) < '/' (0x2f) <
// '0' (0x30) makes `a-b`, `a/` and `a0` sort around the delimiter.
var listingKeys = []string{
	"a-b", "a/", "a/b", "a/b/c", "a/c", "a0", "b", "b/x/y", "b/z", "c d", "c/d", "zz",
}

// expectedListing is a reference implementation of one ListObjects
// listing: every key after startAfter under prefix, with keys that contain
// delim after the prefix rolled up into common prefixes. Entries are
// "K:key" or "P:prefix", in order.
func expectedListing(keys []string, prefix, delim, startAfter string) []string {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	var out []string
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := "P:" + k[:len(prefix)+i+len(delim)]
				if len(out) == 0 || out[len(out)-1] != p {
					out = append(out, p)
				}
				continue
			}
		}
		out = append(out, "K:"+k)
	}
	return out
}

// pageEntries merges one page's contents and common prefixes in key order.
func pageEntries(contents []types.Object, prefixes []types.CommonPrefix) []string {
	var out []string
	for _, o := range contents {
		out = append(out, "K:"+aws.ToString(o.Key))
	}
	for _, p := range prefixes {
		out = append(out, "P:"+aws.ToString(p.Prefix))
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(a[2:], b[2:]) })
	return out
}

func TestSDKListing(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	for _, k := range listingKeys {
		putObject(t, c, bucket, k, []byte(k))
	}

	type params struct {
		prefix, delim string
		maxKeys       int32 // 0: the server's default
	}
	var cases []params
	for _, prefix := range []string{"", "a", "a/", "a/b", "b/", "c", "nomatch"} {
		for _, delim := range []string{"", "/"} {
			for _, maxKeys := range []int32{0, 1, 2, 3} {
				cases = append(cases, params{prefix, delim, maxKeys})
			}
		}
	}
	name := func(p params) string {
		return fmt.Sprintf("prefix=%q,delimiter=%q,max-keys=%d", p.prefix, p.delim, p.maxKeys)
	}

	// page fetches one page after the previous page's token or marker and
	// returns its entries, whether it is truncated, and the way on.
	type page func(ctx context.Context, p params, after *string) (entries []string, truncated bool, next string, err error)
	// listAll pages through every case with fetch and compares the
	// concatenated pages with the reference listing.
	listAll := func(t *testing.T, fetch page) {
		ctx := testContext(t)
		for _, p := range cases {
			want := expectedListing(listingKeys, p.prefix, p.delim, "")
			var got []string
			var after *string
			for n := 0; ; n++ {
				if n > len(listingKeys)+1 {
					t.Fatalf("%s: more pages than keys, pagination does not advance", name(p))
				}
				entries, truncated, next, err := fetch(ctx, p, after)
				if err != nil {
					t.Fatalf("%s: %v", name(p), err)
				}
				got = append(got, entries...)
				if p.maxKeys > 0 && len(entries) > int(p.maxKeys) {
					t.Errorf("%s: page %d has %d entries", name(p), n, len(entries))
				}
				if !truncated {
					break
				}
				if len(entries) == 0 || next == "" {
					t.Fatalf("%s: page %d is truncated without a way on (%d entries)", name(p), n, len(entries))
				}
				after = aws.String(next)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s:\n got %q\nwant %q", name(p), got, want)
			}
		}
	}
	optional := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	maxKeys := func(n int32) *int32 {
		if n == 0 {
			return nil
		}
		return aws.Int32(n)
	}

	t.Run("V2", func(t *testing.T) {
		listAll(t, func(ctx context.Context, p params, token *string) ([]string, bool, string, error) {
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(p.prefix),
				Delimiter: optional(p.delim), MaxKeys: maxKeys(p.maxKeys), ContinuationToken: token})
			if err != nil {
				return nil, false, "", err
			}
			entries := pageEntries(out.Contents, out.CommonPrefixes)
			if kc := aws.ToInt32(out.KeyCount); int(kc) != len(entries) {
				t.Errorf("%s: KeyCount %d, but %d entries", name(p), kc, len(entries))
			}
			return entries, aws.ToBool(out.IsTruncated), aws.ToString(out.NextContinuationToken), nil
		})
	})

	t.Run("V2StartAfter", func(t *testing.T) {
		ctx := testContext(t)
		for _, after := range []string{"a-b", "a/", "a/b/c", "b", "zz", "zzz", "0"} {
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), StartAfter: aws.String(after)})
			if err != nil {
				t.Fatalf("ListObjectsV2 start-after %q: %v", after, err)
			}
			got := pageEntries(out.Contents, out.CommonPrefixes)
			if want := expectedListing(listingKeys, "", "", after); !slices.Equal(got, want) {
				t.Errorf("start-after %q:\n got %q\nwant %q", after, got, want)
			}
		}
	})

	t.Run("V1", func(t *testing.T) {
		listAll(t, func(ctx context.Context, p params, marker *string) ([]string, bool, string, error) {
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bucket), Prefix: aws.String(p.prefix),
				Delimiter: optional(p.delim), MaxKeys: maxKeys(p.maxKeys), Marker: marker})
			if err != nil {
				return nil, false, "", err
			}
			entries := pageEntries(out.Contents, out.CommonPrefixes)
			next := aws.ToString(out.NextMarker)
			if aws.ToBool(out.IsTruncated) && next == "" && len(entries) > 0 {
				// Without a delimiter S3 may omit NextMarker; the last key
				// is the marker then.
				if p.delim != "" {
					t.Errorf("%s: truncated page with a delimiter but no NextMarker", name(p))
				}
				next = entries[len(entries)-1][2:]
			}
			return entries, aws.ToBool(out.IsTruncated), next, nil
		})
	})

	t.Run("NoSuchBucket", func(t *testing.T) {
		_, err := c.ListObjectsV2(testContext(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket + "-missing")})
		wantAPIError(t, "ListObjectsV2 on a missing bucket", err, "NoSuchBucket", http.StatusNotFound)
	})
}

func TestSDKDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	keys := []string{"one", "dir/two", "three with space", "four+plus", "ünï"}
	for _, k := range keys {
		putObject(t, c, bucket, k, []byte("data of "+k))
	}

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("one")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("one")})
	wantAPIError(t, "HeadObject after DeleteObject", err, "", http.StatusNotFound)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("one")}); err != nil {
		t.Errorf("DeleteObject of a missing key must succeed (S3 deletes are idempotent): %v", err)
	}

	var objs []types.ObjectIdentifier
	for _, k := range append(keys[1:], "never-existed") {
		objs = append(objs, types.ObjectIdentifier{Key: aws.String(k)})
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: objs}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	slices.Sort(deleted)
	wantDeleted := append(slices.Clone(keys[1:]), "never-existed")
	slices.Sort(wantDeleted)
	if !slices.Equal(deleted, wantDeleted) {
		t.Errorf("DeleteObjects Deleted = %q, want %q", deleted, wantDeleted)
	}
	for _, e := range out.Errors {
		t.Errorf("DeleteObjects error for %q: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	if got := listAllV2(t, c, bucket, ""); len(got) != 0 {
		t.Errorf("after DeleteObjects the bucket still lists %q", got)
	}

	quiet, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("gone")}}, Quiet: aws.Bool(true),
	}})
	if err != nil {
		t.Fatalf("DeleteObjects quiet: %v", err)
	}
	if len(quiet.Deleted) != 0 || len(quiet.Errors) != 0 {
		t.Errorf("DeleteObjects quiet: want an empty result, got %d deleted, %d errors", len(quiet.Deleted), len(quiet.Errors))
	}

	_, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket + "-missing"), Delete: &types.Delete{Objects: objs[:1]}})
	wantAPIError(t, "DeleteObjects on a missing bucket", err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket + "-missing"), Key: aws.String("x")})
	wantAPIError(t, "DeleteObject on a missing bucket", err, "NoSuchBucket", http.StatusNotFound)
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	putObject(t, c, bucket, "exists", []byte("secret data"))

	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	wantAPIError(t, "GetObject of a missing key", err, "NoSuchKey", http.StatusNotFound)
	if _, ok := errorsAs[*types.NoSuchKey](err); !ok {
		t.Errorf("GetObject of a missing key: the SDK does not see *types.NoSuchKey: %v", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	wantAPIError(t, "HeadObject of a missing key", err, "", http.StatusNotFound)

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket + "-missing"), Key: aws.String("exists")})
	wantAPIError(t, "GetObject in a missing bucket", err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket + "-missing"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAPIError(t, "PutObject in a missing bucket", err, "NoSuchBucket", http.StatusNotFound)

	wrong := newS3Client(s.S3URL, s.AccessKey, s.SecretKey+"x")
	_, err = wrong.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with a wrong secret", err, "SignatureDoesNotMatch", http.StatusForbidden)
	_, err = wrong.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("forged"), Body: strings.NewReader("x")})
	wantAPIError(t, "PutObject with a wrong secret", err, "SignatureDoesNotMatch", http.StatusForbidden)
	_, err = wrong.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("exists")})
	wantAPIError(t, "GetObject with a wrong secret", err, "SignatureDoesNotMatch", http.StatusForbidden)

	unknown := newS3Client(s.S3URL, "AKUNKNOWNUNKNOWN0000", s.SecretKey)
	_, err = unknown.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with an unknown access key", err, "InvalidAccessKeyId", http.StatusForbidden)

	// Unsigned requests: anonymous access is denied with an XML error.
	for _, tc := range []struct {
		method, path string
		body         string
	}{
		{http.MethodGet, "/", ""},
		{http.MethodGet, "/" + bucket, ""},
		{http.MethodGet, "/" + bucket + "/exists", ""},
		{http.MethodPut, "/" + bucket + "/anonymous", "anonymous data"},
		{http.MethodDelete, "/" + bucket + "/exists", ""},
		{http.MethodPut, "/anonymous-bucket-" + randomHex(4), ""},
	} {
		req, err := http.NewRequestWithContext(ctx, tc.method, s.S3URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("unsigned %s %s: %v", tc.method, tc.path, err)
		}
		body := readBody(t, resp)
		var e s3ErrorBody
		xmlErr := xml.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusForbidden || xmlErr != nil || e.Code != "AccessDenied" {
			t.Errorf("unsigned %s %s: status %d body %q, want 403 with <Code>AccessDenied</Code>", tc.method, tc.path, resp.StatusCode, body)
		}
		if resp.Header.Get("x-amz-request-id") == "" {
			t.Errorf("unsigned %s %s: no x-amz-request-id header", tc.method, tc.path)
		}
	}

	// None of the rejected writes or deletes may have had an effect.
	if got := listAllV2(t, c, bucket, ""); !slices.Equal(got, []string{"exists"}) {
		t.Errorf("after rejected requests the bucket lists %q, want [exists]", got)
	}
	if got, _ := getObject(t, c, bucket, "exists"); string(got) != "secret data" {
		t.Errorf("after rejected requests the object holds %q", got)
	}
}

func TestSDKPresigned(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	presign := s3.NewPresignClient(c)

	do := func(method, url string, hdr http.Header, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		for k, vs := range hdr {
			if !strings.EqualFold(k, "Host") {
				req.Header[k] = vs
			}
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		return resp, readBody(t, resp)
	}

	for _, key := range []string{"presigned.bin", "presigned dir/ü+x @%.bin"} {
		data := testData("presigned:"+key, 256<<10+3)
		put, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatalf("PresignPutObject: %v", err)
		}
		resp, body := do(put.Method, put.URL, put.SignedHeader, data)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("presigned PUT %q: status %d: %s", key, resp.StatusCode, body)
		}
		if got := resp.Header.Get("ETag"); got != quotedMD5(data) {
			t.Errorf("presigned PUT %q: ETag %s, want %s", key, got, quotedMD5(data))
		}

		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			t.Fatalf("PresignGetObject: %v", err)
		}
		resp, body = do(get.Method, get.URL, get.SignedHeader, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("presigned GET %q: status %d: %s", key, resp.StatusCode, body)
		}
		if sha256Hex(body) != sha256Hex(data) {
			t.Errorf("presigned GET %q: sha256 %s, want %s (%d bytes vs %d)", key, sha256Hex(body), sha256Hex(data), len(body), len(data))
		}

		// Any change to a presigned URL invalidates it.
		resp, body = do(get.Method, tamperSignature(t, get.URL), get.SignedHeader, nil)
		var e s3ErrorBody
		_ = xml.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusForbidden || e.Code != "SignatureDoesNotMatch" {
			t.Errorf("tampered presigned GET: status %d body %q, want 403 SignatureDoesNotMatch", resp.StatusCode, body)
		}
	}

	t.Run("Expired", func(t *testing.T) {
		get, err := presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("presigned.bin")}, s3.WithPresignExpires(time.Second))
		if err != nil {
			t.Fatalf("PresignGetObject: %v", err)
		}
		time.Sleep(2500 * time.Millisecond)
		resp, body := do(get.Method, get.URL, get.SignedHeader, nil)
		var e s3ErrorBody
		_ = xml.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusForbidden || e.Code != "AccessDenied" {
			t.Errorf("expired presigned GET: status %d body %q, want 403 AccessDenied", resp.StatusCode, body)
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		bad := s3.NewPresignClient(newS3Client(s.S3URL, s.AccessKey, "wrong-"+s.SecretKey))
		put, err := bad.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("forged")})
		if err != nil {
			t.Fatalf("PresignPutObject: %v", err)
		}
		resp, body := do(put.Method, put.URL, put.SignedHeader, []byte("forged"))
		var e s3ErrorBody
		_ = xml.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusForbidden || e.Code != "SignatureDoesNotMatch" {
			t.Errorf("presigned PUT with a wrong secret: status %d body %q, want 403 SignatureDoesNotMatch", resp.StatusCode, body)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("forged")})
		wantAPIError(t, "HeadObject of the forged key", err, "", http.StatusNotFound)
	})
}

// tamperSignature changes one hex digit of a presigned URL's signature.
func tamperSignature(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	if len(sig) == 0 {
		t.Fatalf("presigned URL without X-Amz-Signature: %s", rawURL)
	}
	if sig[0] == '0' {
		sig[0] = '1'
	} else {
		sig[0] = '0'
	}
	u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-Signature="+q.Get("X-Amz-Signature"), "X-Amz-Signature="+string(sig), 1)
	return u.String()
}

func TestOpsHealth(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	resp, err := httpClient.Get(s.OpsURL + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/health: status %d, body %q; want 200", s.OpsURL, resp.StatusCode, body)
	}
	// The stop in Cleanup checks that SIGTERM ends s3gate with status 0.
}

// TestSDKConcurrentWrites races puts and deletes of keys that share
// directories: every request must succeed, whatever the interleaving
// (parallel clients such as `aws s3 rb --force` and `aws s3 sync` do this).
func TestSDKConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	const rounds, width = 15, 12
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for round := 0; round < rounds; round++ {
		keys := make([]string, width)
		for i := range keys {
			keys[i] = fmt.Sprintf("shared/dir%d/sub/key-%02d", round%3, i)
			putObject(t, c, bucket, keys[i], []byte(keys[i]))
		}
		// Delete every key at once, while other writers put and delete
		// keys in the same directories.
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
					fail("round %d: DeleteObject %s: %v", round, k, err)
				}
				other := fmt.Sprintf("shared/dir%d/sub/other-%02d", round%3, i)
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(other), Body: strings.NewReader(other)}); err != nil {
					fail("round %d: PutObject %s: %v", round, other, err)
					return
				}
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(other)}); err != nil {
					fail("round %d: DeleteObject %s: %v", round, other, err)
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 {
			break
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	if got := listAllV2(t, c, bucket, ""); len(got) != 0 {
		t.Errorf("after every key was deleted, the bucket lists %q", got)
	}
}
