package conformance

// Bulk transfers with real clients: multipart uploads and downloads of
// objects of hundreds of MiB by the aws CLI, rclone, s3cmd and the
// aws-sdk-go-v2 transfer manager, and bucket-to-bucket copies. Every round
// trip is compared byte for byte (SHA-256), every multipart ETag against
// the one computed from the parts, and s3gate's access log shows how the
// bytes travelled: multipart uploads as parts, and copies between buckets
// as CopyObject / UploadPartCopy inside s3gate, never as a GET and a PUT
// by the client.

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
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
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// --- helpers ------------------------------------------------------------------

// writeStreamFile writes size bytes of newStream(seed, size) to path,
// without holding them in memory, and returns their SHA-256 (hex).
func writeStreamFile(t *testing.T, path, seed string, size int64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), newStream(seed, size), make([]byte, 1<<20)); err != nil {
		f.Close()
		t.Fatalf("writing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashFile returns the SHA-256 (hex) and size of a file.
func hashFile(t *testing.T, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// removeLocal deletes a large local file as soon as it is no longer needed.
func removeLocal(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Error(err)
	}
}

// multipartDigests is what S3 derives from the parts of a multipart upload.
type multipartDigests struct {
	Parts int
	// ETag is the multipart ETag, quoted: the MD5 of the parts' binary MD5s,
	// "-" and the number of parts.
	ETag string
	// CRC32 is the COMPOSITE CRC32 checksum: the CRC32 of the parts'
	// big-endian CRC32s, base64, "-" and the number of parts.
	CRC32 string
	// PartCRC32 holds each part's CRC32 (base64), part 1 first.
	PartCRC32 []string
}

// digestParts cuts r into parts of partSize bytes (the last one shorter)
// and computes the multipart ETag and composite CRC32 of that upload.
func digestParts(t *testing.T, r io.Reader, partSize int64) multipartDigests {
	t.Helper()
	etags, crcs := md5.New(), crc32.NewIEEE()
	buf := make([]byte, 1<<20)
	n := 0
	var partCRCs []string
	for {
		pm, pc := md5.New(), crc32.NewIEEE()
		k, err := io.CopyBuffer(io.MultiWriter(pm, pc), io.LimitReader(r, partSize), buf)
		if err != nil {
			t.Fatalf("reading part %d: %v", n+1, err)
		}
		if k == 0 && n > 0 {
			break
		}
		n++
		etags.Write(pm.Sum(nil))
		crcs.Write(binary.BigEndian.AppendUint32(nil, pc.Sum32()))
		partCRCs = append(partCRCs, base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, pc.Sum32())))
		if k < partSize {
			break
		}
	}
	return multipartDigests{
		Parts:     n,
		ETag:      fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(etags.Sum(nil)), n),
		CRC32:     fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crcs.Sum32())), n),
		PartCRC32: partCRCs,
	}
}

// digestFileParts is digestParts of a file.
func digestFileParts(t *testing.T, path string, partSize int64) multipartDigests {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return digestParts(t, f, partSize)
}

// streamObjectSHA256 streams an object through SHA-256 with the Go SDK and
// returns the digest (hex) and the number of bytes read. The SDK's own
// response checksum is off: SHA-256 checks every byte already, and the
// SDK's CRC64NVME is plain Go, slow under the race detector.
func streamObjectSHA256(t *testing.T, c *s3.Client, bucket, key string) (string, int64) {
	t.Helper()
	out, err := c.GetObject(testContext(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, noResponseChecksum)
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, out.Body, make([]byte, 1<<20))
	if err != nil {
		t.Fatalf("GetObject %s/%s: reading body after %d bytes: %v", bucket, key, n, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// noResponseChecksum turns off the SDK's response checksum validation
// (and so x-amz-checksum-mode) for one call.
func noResponseChecksum(o *s3.Options) {
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

// requireStoredObject fails unless bucket/key holds size bytes with the given
// SHA-256, and, when etag is not empty, has that ETag.
func requireStoredObject(t *testing.T, c *s3.Client, bucket, key string, size int64, sha, etag string) {
	t.Helper()
	head, err := c.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Errorf("HeadObject %s/%s: %v", bucket, key, err)
		return
	}
	if got := aws.ToInt64(head.ContentLength); got != size {
		t.Errorf("HeadObject %s/%s: Content-Length %d, want %d", bucket, key, got, size)
	}
	if etag != "" && aws.ToString(head.ETag) != etag {
		t.Errorf("HeadObject %s/%s: ETag %s, want %s", bucket, key, aws.ToString(head.ETag), etag)
	}
	gotSHA, n := streamObjectSHA256(t, c, bucket, key)
	if gotSHA != sha || n != size {
		t.Errorf("GetObject %s/%s: %d bytes sha256 %s, want %d bytes sha256 %s", bucket, key, n, gotSHA, size, sha)
	}
}

// accessMark returns a position in s3gate's access log after every
// request made so far. A record is written once its response is done, so
// it can reach the test a little after the client has its answer; the mark
// is placed after a request of its own (an anonymous HEAD of a bucket
// named for it), whose record comes after those of the requests before.
func accessMark(t *testing.T, s *server) int {
	t.Helper()
	name := "mark-" + randomHex(8)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodHead, s.S3URL+"/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("HEAD /%s: %v", name, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := s.accessLog()
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Bucket == name {
				return i + 1
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log record of HEAD /%s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// accessSince waits (up to 10 s) until done holds for the access records
// written after mark, and returns them. A record is written once its
// response is done, so it can reach the test a little after the client
// has finished; done names the records a finished command must have left.
// On timeout the test fails, showing the records.
func accessSince(t *testing.T, s *server, mark int, what string, done func([]accessRecord) bool) []accessRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := s.accessLog()
		if mark > len(recs) {
			mark = len(recs)
		}
		recs = recs[mark:]
		if done(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: the access log does not show what the client did; records since the command started:\n%s", what, describeRecords(recs))
			return recs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// describeRecords renders access records one a line, compactly.
func describeRecords(recs []accessRecord) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %s %s %s/%s -> %d %s (payload %q checksum %q %q)\n", r.Op, r.Method, r.Bucket, r.Key, r.Status, r.Error, r.Payload, r.Checksum, r.ChecksumSource)
	}
	return b.String()
}

// countOps counts the records per operation, for the test log.
func countOps(recs []accessRecord) string {
	n := map[string]int{}
	for _, r := range recs {
		n[r.Op]++
	}
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s=%d", op, n[op]))
	}
	return strings.Join(parts, " ")
}

// countRecords returns how many records are op on bucket/key with the status.
func countRecords(recs []accessRecord, op, bucket, key string, status int) int {
	n := 0
	for _, r := range recs {
		if r.Op == op && r.Bucket == bucket && r.Key == key && r.Status == status {
			n++
		}
	}
	return n
}

// multipartLogged reports whether the records hold a successful
// CompleteMultipartUpload of bucket/key.
func multipartLogged(bucket, key string) func([]accessRecord) bool {
	return func(recs []accessRecord) bool {
		return countRecords(recs, "CompleteMultipartUpload", bucket, key, 200) > 0
	}
}

// requireMultipartUpload fails unless the records show bucket/key uploaded
// as one multipart upload of parts parts, all accepted, and never as a
// single PutObject.
func requireMultipartUpload(t *testing.T, client string, recs []accessRecord, bucket, key string, parts int) {
	t.Helper()
	got := map[string]int{}
	var checksums []string
	for _, r := range recs {
		if r.Bucket != bucket || r.Key != key {
			continue
		}
		switch r.Op {
		case "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject", "AbortMultipartUpload":
			if r.Status != 200 && r.Status != 204 {
				t.Errorf("%s: %s %s/%s answered %d %s: %s", client, r.Op, bucket, key, r.Status, r.Error, r.line)
			}
			got[r.Op]++
		}
		if r.Op == "UploadPart" {
			checksums = append(checksums, fmt.Sprintf("payload %s checksum %s from %s", r.Payload, r.Checksum, r.ChecksumSource))
		}
	}
	want := map[string]int{"CreateMultipartUpload": 1, "UploadPart": parts, "CompleteMultipartUpload": 1}
	if !maps.Equal(got, want) {
		t.Errorf("%s: upload of %s/%s: operations %v, want %v (a multipart upload of %d parts); records:\n%s", client, bucket, key, got, want, parts, describeRecords(recs))
	}
	slices.Sort(checksums)
	t.Logf("%s: %s uploaded in %d parts: %s", client, key, got["UploadPart"], strings.Join(slices.Compact(checksums), "; "))
}

// requireServerSideCopy checks the access records of a bucket-to-bucket
// copy. want maps each key written to dst to how: 0 for one CopyObject,
// n > 0 for a multipart upload of n UploadPartCopy parts. The client must
// have read no object body from src and sent none to dst, and written no
// other key to dst.
func requireServerSideCopy(t *testing.T, client string, recs []accessRecord, src, dst string, want map[string]int) {
	t.Helper()
	got := map[string]map[string]int{}
	for _, r := range recs {
		switch {
		case r.Bucket == src && r.Op == "GetObject":
			t.Errorf("%s: read %s/%s with GetObject: the copy went through the client, not s3gate: %s", client, src, r.Key, r.line)
		case r.Bucket == dst && (r.Op == "PutObject" || r.Op == "UploadPart"):
			t.Errorf("%s: sent %s/%s with %s: the copy went through the client, not s3gate: %s", client, dst, r.Key, r.Op, r.line)
		case r.Bucket == dst && (r.Op == "CopyObject" || r.Op == "UploadPartCopy" || r.Op == "CreateMultipartUpload" || r.Op == "CompleteMultipartUpload"):
			if r.Status != 200 {
				t.Errorf("%s: %s %s/%s answered %d %s: %s", client, r.Op, dst, r.Key, r.Status, r.Error, r.line)
				continue
			}
			if got[r.Key] == nil {
				got[r.Key] = map[string]int{}
			}
			got[r.Key][r.Op]++
		}
	}
	for key, parts := range want {
		w := map[string]int{"CopyObject": 1}
		if parts > 0 {
			w = map[string]int{"CreateMultipartUpload": 1, "UploadPartCopy": parts, "CompleteMultipartUpload": 1}
		}
		if !maps.Equal(got[key], w) {
			t.Errorf("%s: copy to %s/%s: operations %v, want %v", client, dst, key, got[key], w)
		}
	}
	for key, ops := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: unexpected write to %s/%s: %v", client, dst, key, ops)
		}
	}
	t.Logf("%s: copy %s -> %s: %s", client, src, dst, countOps(recs))
}

// copiesLogged reports whether every key of want has its final copy record
// in dst (CopyObject, or CompleteMultipartUpload for multipart copies).
func copiesLogged(dst string, want map[string]int) func([]accessRecord) bool {
	return func(recs []accessRecord) bool {
		for key, parts := range want {
			op := "CopyObject"
			if parts > 0 {
				op = "CompleteMultipartUpload"
			}
			found := false
			for _, r := range recs {
				if r.Op == op && r.Bucket == dst && r.Key == key {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// partCount is the number of parts of size bytes cut into partSize pieces.
func partCount(size, partSize int64) int { return int((size + partSize - 1) / partSize) }

// --- aws CLI -------------------------------------------------------------------

// awsCLIPartSize is the aws CLI's default multipart_chunksize, and its
// default multipart_threshold too.
const awsCLIPartSize = 8 << 20

func TestBulkAWSCLI(t *testing.T) {
	t.Parallel()
	awsBin := requireTool(t, "aws")
	s := startServer(t)
	c := s.client()
	env := clientEnv(t, s, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
	work := t.TempDir()
	awsCmd := func(t *testing.T, args ...string) string {
		t.Helper()
		return runTool(t, env, work, awsBin, append([]string{"--endpoint-url", s.S3URL, "--cli-read-timeout", "60"}, args...)...)
	}
	src, dst1, dst2 := newBucketName(t), newBucketName(t), newBucketName(t)
	for _, b := range []string{src, dst1, dst2} {
		createBucket(t, c, b)
	}

	// Up: 200 MiB in 25 parts of 8 MiB.
	const size = 200 << 20
	const bigKey = "bulk/big file.bin"
	local := filepath.Join(work, "big.bin")
	wantSHA := writeStreamFile(t, local, "bulk-aws-cli", size)
	wantParts := digestFileParts(t, local, awsCLIPartSize)
	mark := accessMark(t, s)
	start := time.Now()
	awsCmd(t, "s3", "cp", "--no-progress", local, "s3://"+src+"/"+bigKey)
	t.Logf("aws s3 cp up: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
	recs := accessSince(t, s, mark, "aws s3 cp up", multipartLogged(src, bigKey))
	requireMultipartUpload(t, "aws s3 cp", recs, src, bigKey, wantParts.Parts)
	requireStoredObject(t, c, src, bigKey, size, wantSHA, wantParts.ETag)
	removeLocal(t, local)

	// Down: ranged GETs in parallel.
	mark = accessMark(t, s)
	down := filepath.Join(work, "down.bin")
	start = time.Now()
	awsCmd(t, "s3", "cp", "--no-progress", "s3://"+src+"/"+bigKey, down)
	t.Logf("aws s3 cp down: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
	if got, n := hashFile(t, down); got != wantSHA || n != size {
		t.Errorf("aws s3 cp down: %d bytes sha256 %s, want %d bytes sha256 %s", n, got, size, wantSHA)
	}
	removeLocal(t, down)
	recs = accessSince(t, s, mark, "aws s3 cp down", func(recs []accessRecord) bool {
		return countRecords(recs, "GetObject", src, bigKey, 206)+countRecords(recs, "GetObject", src, bigKey, 200) > 0
	})
	t.Logf("aws s3 cp down: %s", countOps(recs))

	// Small objects next to the big one, with awkward names: they are
	// copied with CopyObject, whose x-amz-copy-source must survive the
	// encoding.
	want := map[string]int{bigKey: wantParts.Parts}
	sums := map[string]string{bigKey: wantSHA}
	sizes := map[string]int64{bigKey: size}
	for _, f := range sampleTree() {
		key := "bulk/tree/" + f.path
		putObject(t, c, src, key, f.data)
		want[key], sums[key], sizes[key] = 0, sha256Hex(f.data), int64(len(f.data))
	}
	requireSame := func(t *testing.T, dst string) {
		t.Helper()
		if got, w := listAllV2(t, c, dst, "bulk/"), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			t.Errorf("%s holds %q, want %q", dst, got, w)
		}
		for key := range want {
			requireStoredObject(t, c, dst, key, sizes[key], sums[key], "")
		}
	}

	t.Run("CpRecursive", func(t *testing.T) {
		mark := accessMark(t, s)
		start := time.Now()
		awsCmd(t, "s3", "cp", "--no-progress", "--recursive", "s3://"+src+"/bulk/", "s3://"+dst1+"/bulk/")
		t.Logf("aws s3 cp --recursive bucket to bucket: %v", time.Since(start).Round(time.Millisecond))
		recs := accessSince(t, s, mark, "aws s3 cp --recursive", copiesLogged(dst1, want))
		requireServerSideCopy(t, "aws s3 cp --recursive", recs, src, dst1, want)
		requireSame(t, dst1)
	})

	t.Run("Sync", func(t *testing.T) {
		mark := accessMark(t, s)
		start := time.Now()
		awsCmd(t, "s3", "sync", "--no-progress", "s3://"+src+"/bulk/", "s3://"+dst2+"/bulk/")
		t.Logf("aws s3 sync bucket to bucket: %v", time.Since(start).Round(time.Millisecond))
		recs := accessSince(t, s, mark, "aws s3 sync", copiesLogged(dst2, want))
		requireServerSideCopy(t, "aws s3 sync", recs, src, dst2, want)
		requireSame(t, dst2)

		// Nothing changed: nothing to copy.
		mark = accessMark(t, s)
		if out := awsCmd(t, "s3", "sync", "--no-progress", "s3://"+src+"/bulk/", "s3://"+dst2+"/bulk/"); strings.TrimSpace(out) != "" {
			t.Errorf("aws s3 sync of unchanged buckets did something:\n%s", out)
		}
		// One object changed, one removed: one copy, one delete.
		changed, removed := "bulk/tree/top.txt", "bulk/tree/empty.txt"
		data := []byte("top level file, changed and longer\n")
		putObject(t, c, src, changed, data)
		sums[changed], sizes[changed] = sha256Hex(data), int64(len(data))
		if _, err := c.DeleteObject(testContext(t), &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(removed)}); err != nil {
			t.Fatal(err)
		}
		delete(want, removed)
		out := awsCmd(t, "s3", "sync", "--no-progress", "--delete", "s3://"+src+"/bulk/", "s3://"+dst2+"/bulk/")
		recs = accessSince(t, s, mark, "aws s3 sync --delete", func(recs []accessRecord) bool {
			return countRecords(recs, "CopyObject", dst2, changed, 200) > 0 && countRecords(recs, "DeleteObject", dst2, removed, 204) > 0
		})
		requireServerSideCopy(t, "aws s3 sync after a change", recs, src, dst2, map[string]int{changed: 0})
		if !strings.Contains(out, "copy: s3://"+src+"/"+changed) || !strings.Contains(out, "delete: s3://"+dst2+"/"+removed) {
			t.Errorf("aws s3 sync --delete: want a copy of %s and a delete of %s:\n%s", changed, removed, out)
		}
		requireSame(t, dst2)
	})
}

// --- rclone --------------------------------------------------------------------

func TestBulkRclone(t *testing.T) {
	t.Parallel()
	rcloneBin := requireTool(t, "rclone")
	s := startServer(t)
	c := s.client()
	env := clientEnv(t, nil,
		"RCLONE_CONFIG_S3GATE_TYPE=s3",
		"RCLONE_CONFIG_S3GATE_PROVIDER=Other",
		"RCLONE_CONFIG_S3GATE_ENDPOINT="+s.S3URL,
		"RCLONE_CONFIG_S3GATE_ACCESS_KEY_ID="+s.AccessKey,
		"RCLONE_CONFIG_S3GATE_SECRET_ACCESS_KEY="+s.SecretKey,
		"RCLONE_CONFIG_S3GATE_REGION=us-east-1",
		"RCLONE_CONFIG_S3GATE_FORCE_PATH_STYLE=true",
	)
	work := t.TempDir()
	rclone := func(t *testing.T, args ...string) string {
		t.Helper()
		return runTool(t, env, work, rcloneBin, append([]string{"--config", "/dev/null", "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	src, dst := newBucketName(t), newBucketName(t)
	createBucket(t, c, src)
	createBucket(t, c, dst)

	// Up: 300 MiB in parts of 5 MiB, the smallest S3 allows.
	const size, partSize = 300 << 20, 5 << 20
	const key = "rclone/big.bin"
	local := filepath.Join(work, "big.bin")
	wantSHA := writeStreamFile(t, local, "bulk-rclone", size)
	wantParts := digestFileParts(t, local, partSize)
	mark := accessMark(t, s)
	start := time.Now()
	rclone(t, "copyto", "--s3-chunk-size", "5M", "--s3-upload-cutoff", "5M", local, rcloneRemote+src+"/"+key)
	t.Logf("rclone copyto up: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
	recs := accessSince(t, s, mark, "rclone copyto up", multipartLogged(src, key))
	requireMultipartUpload(t, "rclone copyto", recs, src, key, wantParts.Parts)
	requireStoredObject(t, c, src, key, size, wantSHA, wantParts.ETag)
	removeLocal(t, local)

	down := filepath.Join(work, "down.bin")
	start = time.Now()
	rclone(t, "copyto", rcloneRemote+src+"/"+key, down)
	t.Logf("rclone copyto down: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
	if got, n := hashFile(t, down); got != wantSHA || n != size {
		t.Errorf("rclone copyto down: %d bytes sha256 %s, want %d bytes sha256 %s", n, got, size, wantSHA)
	}
	removeLocal(t, down)

	// Bucket to bucket: below --s3-copy-cutoff one CopyObject, above it
	// UploadPartCopy parts of the cutoff's size.
	for _, tc := range []struct {
		name, dstKey string
		args         []string
		parts        int
	}{
		{"CopyObject", "rclone/copy.bin", nil, 0},
		{"UploadPartCopy", "rclone/parts.bin", []string{"--s3-copy-cutoff", "64M"}, partCount(size, 64<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := accessMark(t, s)
			start := time.Now()
			rclone(t, append(append([]string{"copyto"}, tc.args...), rcloneRemote+src+"/"+key, rcloneRemote+dst+"/"+tc.dstKey)...)
			t.Logf("rclone copyto bucket to bucket %v: %v", tc.args, time.Since(start).Round(time.Millisecond))
			want := map[string]int{tc.dstKey: tc.parts}
			recs := accessSince(t, s, mark, "rclone copyto bucket to bucket", copiesLogged(dst, want))
			requireServerSideCopy(t, "rclone copyto", recs, src, dst, want)
			requireStoredObject(t, c, dst, tc.dstKey, size, wantSHA, "")
		})
	}
}

// --- s3cmd ---------------------------------------------------------------------

func TestBulkS3cmd(t *testing.T) {
	t.Parallel()
	s3cmdBin := requireTool(t, "s3cmd")
	s := startServer(t)
	c := s.client()
	u, err := url.Parse(s.S3URL)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cfg := filepath.Join(work, "s3cmd.cfg")
	writeFile(t, cfg, []byte(strings.Join([]string{
		"[default]",
		"access_key = " + s.AccessKey,
		"secret_key = " + s.SecretKey,
		"host_base = " + u.Host,
		"host_bucket = " + u.Host,
		"use_https = False",
		"signature_v2 = False",
		"bucket_location = us-east-1",
		"",
	}, "\n")))
	env := clientEnv(t, nil)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)

	const size, partSize = 17<<20 + 3, 5 << 20
	const key = "s3cmd/multi part.bin"
	local := filepath.Join(work, "up.bin")
	wantSHA := writeStreamFile(t, local, "bulk-s3cmd", size)
	wantParts := digestFileParts(t, local, partSize)
	mark := accessMark(t, s)
	runTool(t, env, work, s3cmdBin, "-c", cfg, "--multipart-chunk-size-mb=5", "put", local, "s3://"+bucket+"/"+key)
	recs := accessSince(t, s, mark, "s3cmd put", multipartLogged(bucket, key))
	requireMultipartUpload(t, "s3cmd put", recs, bucket, key, wantParts.Parts)
	requireStoredObject(t, c, bucket, key, size, wantSHA, wantParts.ETag)

	down := filepath.Join(work, "down.bin")
	runTool(t, env, work, s3cmdBin, "-c", cfg, "get", "s3://"+bucket+"/"+key, down)
	if got, n := hashFile(t, down); got != wantSHA || n != size {
		t.Errorf("s3cmd get: %d bytes sha256 %s, want %d bytes sha256 %s", n, got, size, wantSHA)
	}
}

// --- aws-sdk-go-v2 transfer manager ---------------------------------------------

// checksumModeRecorder is an http.RoundTripper that records, for every
// GET, whether the client asked for the object's checksum and which
// checksum headers came back.
type checksumModeRecorder struct {
	next http.RoundTripper

	mu   sync.Mutex
	gets []checksumExchange
}

type checksumExchange struct {
	query        string
	mode         string // x-amz-checksum-mode sent
	status       int
	checksumType string            // x-amz-checksum-type received
	checksums    map[string]string // x-amz-checksum-ALG received
}

func (c *checksumModeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet {
		return resp, err
	}
	ex := checksumExchange{
		query:        req.URL.RawQuery,
		mode:         req.Header.Get("X-Amz-Checksum-Mode"),
		status:       resp.StatusCode,
		checksumType: resp.Header.Get("X-Amz-Checksum-Type"),
		checksums:    map[string]string{},
	}
	for k, vs := range resp.Header {
		if alg, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-checksum-"); ok && alg != "type" {
			ex.checksums[strings.ToUpper(alg)] = vs[0]
		}
	}
	c.mu.Lock()
	c.gets = append(c.gets, ex)
	c.mu.Unlock()
	return resp, nil
}

func (c *checksumModeRecorder) take() []checksumExchange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.gets
	c.gets = nil
	return out
}

// tmPartSize is the transfer manager's default part size, stated so that
// the test can compute the parts' digests.
const tmPartSize = 8 << 20

func TestBulkTransferManager(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	wire := &checksumModeRecorder{next: s.HTTP.Transport}
	c := s.client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: wire} })
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	ctx := testContext(t)
	tm := transfermanager.New(c, func(o *transfermanager.Options) { o.PartSizeBytes = tmPartSize })

	const size = 100 << 20
	const key = "tm/object.bin"
	const seed = "bulk-transfer-manager"
	wantSHA, _ := streamHashes(t, newStream(seed, size))
	wantParts := digestParts(t, newStream(seed, size), tmPartSize)

	// Up: a stream the transfer manager cannot seek, so it cuts parts as
	// it reads; CRC32 on every part by default.
	mark := accessMark(t, s)
	start := time.Now()
	up, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        oneShotReader{newStream(seed, size)},
		ContentType: aws.String("application/x-bulk"),
	})
	if err != nil {
		t.Fatalf("UploadObject: %v", err)
	}
	t.Logf("transfer manager upload: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
	if aws.ToString(up.ETag) != wantParts.ETag {
		t.Errorf("UploadObject: ETag %s, want %s", aws.ToString(up.ETag), wantParts.ETag)
	}
	if aws.ToString(up.ChecksumCRC32) != wantParts.CRC32 || up.ChecksumType != tmtypes.ChecksumTypeComposite {
		t.Errorf("UploadObject: ChecksumCRC32 %q type %q, want %q COMPOSITE", aws.ToString(up.ChecksumCRC32), up.ChecksumType, wantParts.CRC32)
	}
	recs := accessSince(t, s, mark, "transfer manager upload", multipartLogged(bucket, key))
	requireMultipartUpload(t, "transfer manager", recs, bucket, key, wantParts.Parts)
	for _, r := range recs {
		if r.Op == "UploadPart" && !(wantUpload{payloadSHA256, "CRC32", sourceHeader}).matches(r) {
			t.Errorf("transfer manager: UploadPart arrived with payload %q checksum %q from %q, want a signed payload hash and a CRC32 header: %s", r.Payload, r.Checksum, r.ChecksumSource, r.line)
		}
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(head.ChecksumCRC32) != wantParts.CRC32 || head.ChecksumType != types.ChecksumTypeComposite ||
		aws.ToString(head.ETag) != wantParts.ETag || aws.ToString(head.ContentType) != "application/x-bulk" {
		t.Errorf("HeadObject (checksum mode): CRC32 %q type %q ETag %s Content-Type %q, want %q COMPOSITE %s application/x-bulk",
			aws.ToString(head.ChecksumCRC32), head.ChecksumType, aws.ToString(head.ETag), aws.ToString(head.ContentType), wantParts.CRC32, wantParts.ETag)
	}
	// S3 sends x-amz-mp-parts-count only to a request that names a
	// partNumber.
	if head.PartsCount != nil {
		t.Errorf("HeadObject without partNumber: x-amz-mp-parts-count %d, want none (S3 sends it only with partNumber)", aws.ToInt32(head.PartsCount))
	}
	wire.take()

	// Down: by parts (partNumber=N), checksum mode on, into a file.
	t.Run("DownloadObject", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "down.bin")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		start := time.Now()
		out, err := tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), WriterAt: f})
		if err != nil {
			t.Fatalf("DownloadObject: %v", err)
		}
		t.Logf("transfer manager DownloadObject: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, n := hashFile(t, path); got != wantSHA || n != size || aws.ToInt64(out.ContentLength) != size {
			t.Errorf("DownloadObject: %d bytes (ContentLength %d) sha256 %s, want %d bytes sha256 %s", n, aws.ToInt64(out.ContentLength), got, size, wantSHA)
		}
		requirePartGets(t, wire.take(), wantParts)
		removeLocal(t, path)
	})

	// Down again, streamed: GetObject's concurrent reader.
	t.Run("GetObject", func(t *testing.T) {
		start := time.Now()
		out, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, out.Body, make([]byte, 1<<20))
		if err != nil {
			t.Fatalf("GetObject: reading after %d bytes: %v", n, err)
		}
		t.Logf("transfer manager GetObject: %d MiB in %v", size>>20, time.Since(start).Round(time.Millisecond))
		if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA || n != size {
			t.Errorf("GetObject: %d bytes sha256 %s, want %d bytes sha256 %s", n, got, size, wantSHA)
		}
		requirePartGets(t, wire.take(), wantParts)
	})
}

// requirePartGets checks the GETs of a download by parts: one per part,
// each asking for the checksum, each answered 206 with the part's own
// CRC32, which the SDK then validates. S3 answers a partNumber GET of a
// COMPOSITE upload with the part's checksum.
func requirePartGets(t *testing.T, gets []checksumExchange, want multipartDigests) {
	t.Helper()
	seen := map[int]bool{}
	wrong := map[int]string{}
	for _, g := range gets {
		q, _ := url.ParseQuery(g.query)
		var n int
		if _, err := fmt.Sscan(q.Get("partNumber"), &n); err != nil || n < 1 || n > want.Parts {
			t.Errorf("GET ?%s: not a GET of a part 1..%d", g.query, want.Parts)
			continue
		}
		seen[n] = true
		if g.mode != "ENABLED" {
			t.Errorf("GET part %d sent x-amz-checksum-mode %q, want ENABLED", n, g.mode)
		}
		if g.status != http.StatusPartialContent {
			t.Errorf("GET part %d: status %d, want 206", n, g.status)
		}
		if got := g.checksums["CRC32"]; got != want.PartCRC32[n-1] {
			wrong[n] = fmt.Sprintf("part %d: %q (checksum headers %v, x-amz-checksum-type %q), want %q", n, got, g.checksums, g.checksumType, want.PartCRC32[n-1])
		}
	}
	if len(wrong) > 0 {
		var lines []string
		for _, n := range slices.Sorted(maps.Keys(wrong)) {
			lines = append(lines, wrong[n])
		}
		t.Errorf("%d of %d part GETs with checksum mode lack the part's CRC32 (x-amz-checksum-crc32), so the client validated nothing:\n%s",
			len(wrong), len(gets), strings.Join(lines, "\n"))
	}
	for n := 1; n <= want.Parts; n++ {
		if !seen[n] {
			t.Errorf("no GET of partNumber=%d among %d GETs", n, len(gets))
		}
	}
	t.Logf("%d part GETs", len(gets))
}
