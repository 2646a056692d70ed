package conformance

// Real S3 clients run as subprocesses against s3gate. A missing client
// skips its test, except under CI=true, where requireTool fails it.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAWSCLI runs on the fs backend and through the s3 backend in front of
// a real S3 server.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testAWSCLI)
}

func testAWSCLI(t *testing.T, opts serverOptions) {
	awsBin := requireTool(t, "aws")
	s := startServerOpts(t, opts)
	// No retries and a short read timeout: a request that only succeeds
	// on a second attempt, or after a stall, fails the test.
	env := clientEnv(t, s, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
	work := t.TempDir()
	bucket := newBucketName(t)
	awsCmd := func(args ...string) string {
		t.Helper()
		return runTool(t, env, work, awsBin, append([]string{"--endpoint-url", s.S3URL, "--cli-read-timeout", "20"}, args...)...)
	}

	awsCmd("s3", "mb", "s3://"+bucket)
	if out := awsCmd("s3", "ls"); !strings.Contains(out, bucket) {
		t.Errorf("aws s3 ls does not list %s:\n%s", bucket, out)
	}

	// cp up, cp down, ls, head-object.
	data := testData("aws-cli-cp", 2<<20+5)
	writeFile(t, filepath.Join(work, "up.bin"), data)
	key := "cp dir/up+load ü.bin"
	awsCmd("s3", "cp", "up.bin", "s3://"+bucket+"/"+key)
	// Over plain http botocore signs the payload hash; the checksum
	// travels in a header.
	s.requireUpload(t, "aws s3 cp over http", bucket, key, botocoreDefaults("http", awsCLIChecksumsByDefault(t, awsBin, env)))
	awsCmd("s3", "cp", "s3://"+bucket+"/"+key, "down.bin")
	got, err := os.ReadFile(filepath.Join(work, "down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(data) {
		t.Errorf("aws s3 cp round trip: sha256 %s (%d bytes), want %s (%d bytes)", sha256Hex(got), len(got), sha256Hex(data), len(data))
	}
	if out := awsCmd("s3", "ls", "s3://"+bucket+"/cp dir/"); !strings.Contains(out, "up+load ü.bin") || !strings.Contains(out, fmt.Sprint(len(data))) {
		t.Errorf("aws s3 ls does not show the object and its size %d:\n%s", len(data), out)
	}
	var head struct {
		ContentLength int64
		ETag          string
	}
	out := awsCmd("s3api", "head-object", "--bucket", bucket, "--key", key)
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("aws s3api head-object output is not JSON: %v\n%s", err, out)
	}
	if head.ContentLength != int64(len(data)) || head.ETag != quotedMD5(data) {
		t.Errorf("aws s3api head-object: ContentLength %d ETag %s, want %d %s", head.ContentLength, head.ETag, len(data), quotedMD5(data))
	}
	awsCmd("s3", "rm", "s3://"+bucket+"/"+key)
	if out, err := runToolErr(t, env, work, awsBin, "--endpoint-url", s.S3URL, "--cli-read-timeout", "20", "s3api", "head-object", "--bucket", bucket, "--key", key); err == nil || !strings.Contains(out, "404") {
		t.Errorf("aws s3api head-object after rm: err %v, want a 404 failure; output:\n%s", err, out)
	}

	// A file over the cli's 8 MiB multipart threshold goes up as a
	// multipart upload (its parts stream to the backend) and comes back
	// whole.
	big := testData("aws-cli-multipart", 11<<20+7)
	writeFile(t, filepath.Join(work, "big.bin"), big)
	awsCmd("s3", "cp", "big.bin", "s3://"+bucket+"/big.bin")
	out = awsCmd("s3api", "head-object", "--bucket", bucket, "--key", "big.bin")
	head.ContentLength, head.ETag = 0, ""
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("aws s3api head-object output is not JSON: %v\n%s", err, out)
	}
	if head.ContentLength != int64(len(big)) || !strings.HasSuffix(head.ETag, `-2"`) {
		t.Errorf("aws s3 cp of %d bytes: head-object ContentLength %d ETag %s, want a 2-part multipart object", len(big), head.ContentLength, head.ETag)
	}
	awsCmd("s3", "cp", "s3://"+bucket+"/big.bin", "big-down.bin")
	got, err = os.ReadFile(filepath.Join(work, "big-down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(big) {
		t.Errorf("aws s3 cp multipart round trip: sha256 %s (%d bytes), want %s (%d bytes)", sha256Hex(got), len(got), sha256Hex(big), len(big))
	}
	awsCmd("s3", "rm", "s3://"+bucket+"/big.bin")

	// sync a tree up, down, change it, sync both ways again.
	src, dst := filepath.Join(work, "src"), filepath.Join(work, "dst")
	writeTree(t, src, sampleTree())
	awsCmd("s3", "sync", src, "s3://"+bucket+"/tree/")
	out = awsCmd("s3", "ls", "--recursive", "s3://"+bucket+"/tree/")
	for _, f := range sampleTree() {
		if !strings.Contains(out, "tree/"+f.path) {
			t.Errorf("after sync, aws s3 ls --recursive lacks tree/%s:\n%s", f.path, out)
		}
	}
	awsCmd("s3", "sync", "s3://"+bucket+"/tree/", dst)
	requireSameTree(t, src, dst)

	writeFile(t, filepath.Join(src, "nested", "deeper", "b.txt"), []byte("bravo, changed and longer\n"))
	writeFile(t, filepath.Join(src, "nested", "new file.txt"), []byte("added later\n"))
	out = awsCmd("s3", "sync", src, "s3://"+bucket+"/tree/")
	for _, want := range []string{"nested/deeper/b.txt", "nested/new file.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("second sync up did not upload %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "top.txt") || strings.Contains(out, "a.bin") {
		t.Errorf("second sync up re-uploaded unchanged files:\n%s", out)
	}
	awsCmd("s3", "sync", "s3://"+bucket+"/tree/", dst)
	requireSameTree(t, src, dst)

	if err := os.Remove(filepath.Join(src, "top.txt")); err != nil {
		t.Fatal(err)
	}
	out = awsCmd("s3", "sync", "--delete", src, "s3://"+bucket+"/tree/")
	if !strings.Contains(out, "delete: s3://"+bucket+"/tree/top.txt") {
		t.Errorf("sync --delete did not delete tree/top.txt:\n%s", out)
	}
	awsCmd("s3", "sync", "--delete", "s3://"+bucket+"/tree/", dst)
	requireSameTree(t, src, dst)

	awsCmd("s3", "rb", "--force", "s3://"+bucket)
	if out := awsCmd("s3", "ls"); strings.Contains(out, bucket) {
		t.Errorf("aws s3 rb --force left the bucket:\n%s", out)
	}
}

// rcloneRemote is the rclone remote name the tests configure through
// RCLONE_CONFIG_S3GATE_* variables.
const rcloneRemote = "s3gate:"

// TestRclone runs on the fs backend and through the s3 backend in front of
// a real S3 server.
func TestRclone(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testRclone)
}

func testRclone(t *testing.T, opts serverOptions) {
	rcloneBin := requireTool(t, "rclone")
	s := startServerOpts(t, opts)
	// rclone reads its whole configuration from the environment; AWS_*
	// variables (AWS_CA_BUNDLE in particular) must not reach it.
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
	bucket := newBucketName(t)
	remote := rcloneRemote + bucket
	rclone := func(args ...string) string {
		t.Helper()
		return runTool(t, env, work, rcloneBin, append([]string{"--config", "/dev/null", "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	lsf := func(path string) []string {
		t.Helper()
		out := rclone("lsf", "-R", "--files-only", path)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 1 && lines[0] == "" {
			lines = nil
		}
		slices.Sort(lines)
		return lines
	}
	treePaths := func(root string) []string {
		var paths []string
		for p := range hashTree(t, root) {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		return paths
	}

	rclone("mkdir", remote)
	if out := rclone("lsf", rcloneRemote); !strings.Contains(out, bucket+"/") {
		t.Errorf("rclone lsf %s does not list bucket %s:\n%s", rcloneRemote, bucket, out)
	}

	src, dst := filepath.Join(work, "src"), filepath.Join(work, "dst")
	writeTree(t, src, sampleTree())
	rclone("copy", src, remote+"/copy")
	rclone("check", src, remote+"/copy")
	if got, want := lsf(remote+"/copy"), treePaths(src); !slices.Equal(got, want) {
		t.Errorf("rclone lsf after copy:\n got %q\nwant %q", got, want)
	}
	rclone("copy", remote+"/copy", dst)
	requireSameTree(t, src, dst)

	// Change the tree and sync: modified, added and removed files.
	writeFile(t, filepath.Join(src, "nested", "deeper", "b.txt"), []byte("bravo, changed and longer\n"))
	writeFile(t, filepath.Join(src, "nested", "new file.txt"), []byte("added later\n"))
	if err := os.Remove(filepath.Join(src, "top.txt")); err != nil {
		t.Fatal(err)
	}
	rclone("sync", src, remote+"/copy")
	rclone("check", src, remote+"/copy")
	if got, want := lsf(remote+"/copy"), treePaths(src); !slices.Equal(got, want) {
		t.Errorf("rclone lsf after sync:\n got %q\nwant %q", got, want)
	}
	rclone("sync", remote+"/copy", dst)
	requireSameTree(t, src, dst)

	rclone("delete", remote+"/copy/nested")
	for _, p := range lsf(remote + "/copy") {
		if strings.HasPrefix(p, "nested/") {
			t.Errorf("rclone delete copy/nested left %s", p)
		}
	}
	rclone("delete", remote)
	if got := lsf(remote); len(got) != 0 {
		t.Errorf("rclone delete of the whole bucket left %q", got)
	}
	rclone("rmdir", remote)
	if out := rclone("lsf", rcloneRemote); strings.Contains(out, bucket+"/") {
		t.Errorf("rclone rmdir left bucket %s:\n%s", bucket, out)
	}
}

func TestS3cmd(t *testing.T) {
	t.Parallel()
	s3cmdBin := requireTool(t, "s3cmd")
	s := startServer(t)
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
	s3cmd := func(args ...string) string {
		t.Helper()
		return runTool(t, env, work, s3cmdBin, append([]string{"-c", cfg}, args...)...)
	}

	s3cmd("mb", "s3://"+bucket)
	if out := s3cmd("ls"); !strings.Contains(out, "s3://"+bucket) {
		t.Errorf("s3cmd ls does not list s3://%s:\n%s", bucket, out)
	}

	data := testData("s3cmd", 3<<20+11)
	writeFile(t, filepath.Join(work, "file name+plus.bin"), data)
	writeFile(t, filepath.Join(work, "empty.txt"), nil)
	const key = "dir/file name+plus.bin"
	// Two files in one process: the second upload reuses the connection.
	s3cmd("put", "empty.txt", "file name+plus.bin", "s3://"+bucket+"/dir/")
	small := []byte("second object\n")
	writeFile(t, filepath.Join(work, "small.txt"), small)
	s3cmd("put", "small.txt", "s3://"+bucket+"/small.txt")

	out := s3cmd("ls", "s3://"+bucket)
	if !strings.Contains(out, "DIR") || !strings.Contains(out, "s3://"+bucket+"/dir/") || !strings.Contains(out, "s3://"+bucket+"/small.txt") {
		t.Errorf("s3cmd ls s3://%s: want DIR s3://%s/dir/ and small.txt:\n%s", bucket, bucket, out)
	}
	out = s3cmd("ls", "s3://"+bucket+"/dir/")
	if !strings.Contains(out, "s3://"+bucket+"/"+key) || !strings.Contains(out, fmt.Sprint(len(data))) {
		t.Errorf("s3cmd ls dir/: want %s with size %d:\n%s", key, len(data), out)
	}

	s3cmd("get", "s3://"+bucket+"/"+key, "down.bin")
	got, err := os.ReadFile(filepath.Join(work, "down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(data) {
		t.Errorf("s3cmd put/get round trip: sha256 %s (%d bytes), want %s (%d bytes)", sha256Hex(got), len(got), sha256Hex(data), len(data))
	}
	s3cmd("get", "s3://"+bucket+"/dir/empty.txt", "empty-down.txt")
	if got, err := os.ReadFile(filepath.Join(work, "empty-down.txt")); err != nil || len(got) != 0 {
		t.Errorf("s3cmd get of the empty object: %d bytes, %v", len(got), err)
	}

	s3cmd("del", "s3://"+bucket+"/"+key, "s3://"+bucket+"/dir/empty.txt")
	s3cmd("del", "s3://"+bucket+"/small.txt")
	if out := s3cmd("ls", "--recursive", "s3://"+bucket); strings.Contains(out, "s3://"+bucket+"/") {
		t.Errorf("s3cmd ls after del still lists objects:\n%s", out)
	}
	s3cmd("rb", "s3://"+bucket)
	if out := s3cmd("ls"); strings.Contains(out, "s3://"+bucket) {
		t.Errorf("s3cmd rb left the bucket:\n%s", out)
	}
}

// findBoto3Python returns the first interpreter that can import boto3:
// Debian's /usr/bin/python3 (python3-boto3), then python3 on PATH.
func findBoto3Python(t *testing.T) string {
	t.Helper()
	var tried []string
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil && p != "/usr/bin/python3" {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		out, err := runToolErr(t, clientEnv(t, nil), "", py, "-c", "import boto3")
		if err == nil {
			return py
		}
		tried = append(tried, fmt.Sprintf("%s: %v %s", py, err, strings.TrimSpace(out)))
	}
	missingTool(t, "python3 with boto3", fmt.Errorf("%s", strings.Join(tried, "; ")))
	return ""
}

// boto3Script exercises boto3 against s3gate. It reads a JSON spec (argv[1])
// and prints a JSON report; the Go test makes the assertions.
const boto3Script = `
import hashlib, json, sys, time
import boto3, botocore
from botocore.config import Config
from botocore.exceptions import ClientError

spec = json.load(open(sys.argv[1], encoding="utf-8"))
s3 = boto3.client(
    "s3",
    endpoint_url=spec["endpoint"],
    region_name="us-east-1",
    aws_access_key_id=spec["access_key"],
    aws_secret_access_key=spec["secret_key"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=20),
)
slowest = [0.0, ""]

def timed(name, fn, **kw):
    start = time.monotonic()
    r = fn(**kw)
    took = time.monotonic() - start
    if took > slowest[0]:
        slowest[0], slowest[1] = took, name + " " + kw.get("Key", "")
    return r

b = spec["bucket"]
out = {"boto3": boto3.__version__, "botocore": botocore.__version__}

s3.create_bucket(Bucket=b)
s3.head_bucket(Bucket=b)
out["buckets"] = [x["Name"] for x in s3.list_buckets()["Buckets"]]

for o in spec["objects"]:
    with open(o["path"], "rb") as f:
        timed("put_object", s3.put_object, Bucket=b, Key=o["key"], Body=f, ContentType=o["content_type"], Metadata=o["metadata"])

got = {}
for o in spec["objects"]:
    r = timed("get_object", s3.get_object, Bucket=b, Key=o["key"])
    data = r["Body"].read()
    h = timed("head_object", s3.head_object, Bucket=b, Key=o["key"])
    got[o["key"]] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "etag": r["ETag"],
        "content_type": r["ContentType"],
        "metadata": r["Metadata"],
        "head_size": h["ContentLength"],
    }
out["objects"] = got

r = s3.get_object(Bucket=b, Key=spec["objects"][1]["key"], Range="bytes=3-9")
out["range"] = r["Body"].read().hex()

def list_keys(op, **kw):
    keys, prefixes = [], []
    for page in s3.get_paginator(op).paginate(Bucket=b, PaginationConfig={"PageSize": 2}, **kw):
        keys += [x["Key"] for x in page.get("Contents", [])]
        prefixes += [x["Prefix"] for x in page.get("CommonPrefixes", [])]
    return keys, prefixes

out["list_v2"], _ = list_keys("list_objects_v2")
out["list_v1"], _ = list_keys("list_objects")
out["delim_keys"], out["delim_prefixes"] = list_keys("list_objects_v2", Delimiter="/")

try:
    s3.get_object(Bucket=b, Key="does-not-exist")
    out["missing_key_error"] = "none"
except ClientError as e:
    out["missing_key_error"] = e.response["Error"]["Code"]

keys = out["list_v2"]
s3.delete_object(Bucket=b, Key=keys[0])
r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys[1:]]})
out["deleted"] = sorted(d["Key"] for d in r.get("Deleted", []))
out["delete_errors"] = r.get("Errors", [])
out["after_delete"], _ = list_keys("list_objects_v2")
s3.delete_bucket(Bucket=b)
out["buckets_after"] = [x["Name"] for x in s3.list_buckets()["Buckets"]]
out["slowest_seconds"], out["slowest_call"] = slowest

json.dump(out, sys.stdout)
`

func TestBoto3(t *testing.T) {
	t.Parallel()
	py := findBoto3Python(t)
	s := startServer(t)
	work := t.TempDir()
	bucket := newBucketName(t)

	type object struct {
		Key         string            `json:"key"`
		Path        string            `json:"path"`
		ContentType string            `json:"content_type"`
		Metadata    map[string]string `json:"metadata"`
	}
	// The empty object comes first: the uploads after it reuse its
	// connection (see the Expect: 100-continue check below).
	keys := []string{"empty-object", "plain.txt", "with space.txt", "plus+sign.txt", "percent%20.txt", "at@sign.txt",
		"unicode-ключ-é.txt", "double//slash.txt", "trailing/", "dir/sub/file.bin", "dir/other.bin"}
	var objects []object
	contents := map[string][]byte{}
	for i, k := range keys {
		data := testData("boto3:"+k, 5000*i)
		contents[k] = data
		p := filepath.Join(work, fmt.Sprintf("obj-%d", i))
		writeFile(t, p, data)
		objects = append(objects, object{Key: k, Path: p, ContentType: "application/x-test-" + fmt.Sprint(i), Metadata: map[string]string{"index": fmt.Sprint(i), "origin": "boto3 test"}})
	}
	spec, err := json.Marshal(map[string]any{
		"endpoint": s.S3URL, "access_key": s.AccessKey, "secret_key": s.SecretKey, "bucket": bucket, "objects": objects,
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "spec.json"), spec)
	writeFile(t, filepath.Join(work, "boto3_check.py"), []byte(boto3Script))

	// The script's report is the last line; anything before it is noise
	// (warnings) that is printed on failure.
	out := runTool(t, clientEnv(t, s), work, py, "boto3_check.py", "spec.json")
	var report struct {
		Boto3    string
		Botocore string
		Buckets  []string `json:"buckets"`
		Objects  map[string]struct {
			SHA256      string            `json:"sha256"`
			Size        int               `json:"size"`
			ETag        string            `json:"etag"`
			ContentType string            `json:"content_type"`
			Metadata    map[string]string `json:"metadata"`
			HeadSize    int               `json:"head_size"`
		} `json:"objects"`
		Range           string   `json:"range"`
		ListV2          []string `json:"list_v2"`
		ListV1          []string `json:"list_v1"`
		DelimKeys       []string `json:"delim_keys"`
		DelimPrefixes   []string `json:"delim_prefixes"`
		MissingKeyError string   `json:"missing_key_error"`
		Deleted         []string `json:"deleted"`
		DeleteErrors    []any    `json:"delete_errors"`
		AfterDelete     []string `json:"after_delete"`
		BucketsAfter    []string `json:"buckets_after"`
		SlowestSeconds  float64  `json:"slowest_seconds"`
		SlowestCall     string   `json:"slowest_call"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &report); err != nil {
		t.Fatalf("boto3 script output is not a JSON report: %v\n%s", err, out)
	}
	t.Logf("boto3 %s (botocore %s) via %s", report.Boto3, report.Botocore, py)
	v, err := parseVersion(report.Botocore)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		s.requireUpload(t, "boto3 (botocore "+report.Botocore+") over http", bucket, o.Key, botocoreDefaults("http", v.atLeast(1, 36)))
	}

	// botocore sends Expect: 100-continue with every put_object; a
	// response it misreads shows as a call that stalls until read_timeout.
	if report.SlowestSeconds > 10 {
		t.Errorf("boto3 %s took %.1f s: the client stalled until its read timeout\n%s", report.SlowestCall, report.SlowestSeconds, out)
	}
	if !slices.Contains(report.Buckets, bucket) {
		t.Errorf("boto3 list_buckets = %q, lacks %s", report.Buckets, bucket)
	}
	for i, o := range objects {
		got, ok := report.Objects[o.Key]
		data := contents[o.Key]
		switch {
		case !ok:
			t.Errorf("boto3: no result for %q", o.Key)
		case got.SHA256 != sha256Hex(data) || got.Size != len(data) || got.HeadSize != len(data):
			t.Errorf("boto3 get %q: %d bytes (head %d) sha256 %s, want %d bytes sha256 %s", o.Key, got.Size, got.HeadSize, got.SHA256, len(data), sha256Hex(data))
		case got.ETag != quotedMD5(data):
			t.Errorf("boto3 get %q: ETag %s, want %s", o.Key, got.ETag, quotedMD5(data))
		case got.ContentType != o.ContentType:
			t.Errorf("boto3 get %q: ContentType %q, want %q", o.Key, got.ContentType, o.ContentType)
		case got.Metadata["index"] != fmt.Sprint(i) || got.Metadata["origin"] != "boto3 test" || len(got.Metadata) != 2:
			t.Errorf("boto3 get %q: Metadata %v, want %v", o.Key, got.Metadata, o.Metadata)
		}
	}
	if want := fmt.Sprintf("%x", contents[keys[1]][3:10]); report.Range != want {
		t.Errorf("boto3 ranged get bytes=3-9: %s, want %s", report.Range, want)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(report.ListV2, want) {
		t.Errorf("boto3 list_objects_v2 (encoding-type=url, pages of 2):\n got %q\nwant %q", report.ListV2, want)
	}
	if !slices.Equal(report.ListV1, want) {
		t.Errorf("boto3 list_objects (encoding-type=url, pages of 2):\n got %q\nwant %q", report.ListV1, want)
	}
	var wantKeys, wantPrefixes []string
	for _, e := range expectedListing(keys, "", "/", "") {
		if e[0] == 'K' {
			wantKeys = append(wantKeys, e[2:])
		} else {
			wantPrefixes = append(wantPrefixes, e[2:])
		}
	}
	if !slices.Equal(report.DelimKeys, wantKeys) || !slices.Equal(report.DelimPrefixes, wantPrefixes) {
		t.Errorf("boto3 list_objects_v2 delimiter=/:\n got keys %q prefixes %q\nwant keys %q prefixes %q", report.DelimKeys, report.DelimPrefixes, wantKeys, wantPrefixes)
	}
	if report.MissingKeyError != "NoSuchKey" {
		t.Errorf("boto3 get of a missing key: error %q, want NoSuchKey", report.MissingKeyError)
	}
	if !slices.Equal(report.Deleted, want[1:]) || len(report.DeleteErrors) != 0 {
		t.Errorf("boto3 delete_objects: deleted %q errors %v, want deleted %q", report.Deleted, report.DeleteErrors, want[1:])
	}
	if len(report.AfterDelete) != 0 {
		t.Errorf("boto3: after deleting everything the bucket lists %q", report.AfterDelete)
	}
	if slices.Contains(report.BucketsAfter, bucket) {
		t.Errorf("boto3 delete_bucket: %s still listed", bucket)
	}

	// Cross-check with the Go SDK: the bucket is gone.
	_, err = s.client().HeadBucket(testContext(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		t.Errorf("HeadBucket %s after boto3 delete_bucket succeeded", bucket)
	}
}
