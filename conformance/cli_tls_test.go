package conformance

// The aws CLI and boto3 over https, trusting the test CA through
// AWS_CA_BUNDLE. botocore 1.36 and later (aws CLI v2 from 2.23) send every
// upload over https as aws-chunked with a trailing CRC32
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER); older versions send
// UNSIGNED-PAYLOAD with no checksum unless one is asked for. The installed
// version decides which the tests expect.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// version is a dotted release number.
type version []int

func parseVersion(s string) (version, error) {
	var v version
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("version %q: %w", s, err)
		}
		v = append(v, n)
	}
	return v, nil
}

// atLeast reports whether v >= min.
func (v version) atLeast(min ...int) bool {
	for i, m := range min {
		n := 0
		if i < len(v) {
			n = v[i]
		}
		if n != m {
			return n > m
		}
	}
	return true
}

// botocoreDefaults is what a botocore-based client sends for an upload
// that names no checksum algorithm.
func botocoreDefaults(scheme string, checksumsByDefault bool) wantUpload {
	switch {
	case scheme == "https" && checksumsByDefault:
		return wantUpload{payloadUnsignedTrailer, "CRC32", sourceTrailer}
	case scheme == "https":
		return wantUpload{Payload: payloadUnsigned}
	case checksumsByDefault:
		return wantUpload{payloadSHA256, "CRC32", sourceHeader}
	default:
		return wantUpload{Payload: payloadSHA256}
	}
}

var (
	botocoreVersionRE = regexp.MustCompile(`botocore/(\d+(?:\.\d+)+)`)
	awsCLIv2VersionRE = regexp.MustCompile(`aws-cli/(2(?:\.\d+)+)`)
)

// awsCLIChecksumsByDefault runs `aws --version` and reports whether this
// CLI adds a CRC32 to every upload: aws CLI v1 on botocore >= 1.36, or
// aws CLI v2 >= 2.23.
func awsCLIChecksumsByDefault(t *testing.T, awsBin string, env []string) bool {
	t.Helper()
	out := runTool(t, env, "", awsBin, "--version")
	if m := botocoreVersionRE.FindStringSubmatch(out); m != nil {
		v, err := parseVersion(m[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("aws CLI on botocore %s: checksums by default: %v", m[1], v.atLeast(1, 36))
		return v.atLeast(1, 36)
	}
	if m := awsCLIv2VersionRE.FindStringSubmatch(out); m != nil {
		v, err := parseVersion(m[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("aws CLI %s: checksums by default: %v", m[1], v.atLeast(2, 23))
		return v.atLeast(2, 23)
	}
	t.Fatalf("cannot tell the aws CLI's version from %q", out)
	return false
}

func TestAWSCLIHTTPS(t *testing.T) {
	t.Parallel()
	awsBin := requireTool(t, "aws")
	pki := newTestPKI(t)
	s := startServerOpts(t, serverOptions{TLS: pki})
	env := clientEnv(t, s, "AWS_CA_BUNDLE="+pki.CAFile, "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
	work := t.TempDir()
	bucket := newBucketName(t)
	awsCmd := func(args ...string) string {
		t.Helper()
		return runTool(t, env, work, awsBin, append([]string{"--endpoint-url", s.S3URL, "--cli-read-timeout", "20"}, args...)...)
	}
	defaults := botocoreDefaults("https", awsCLIChecksumsByDefault(t, awsBin, env))

	awsCmd("s3", "mb", "s3://"+bucket)

	// s3 cp up and down; the files stay below the 8 MiB multipart threshold.
	data := testData("aws-cli-https", 2<<20+5)
	writeFile(t, filepath.Join(work, "up.bin"), data)
	writeFile(t, filepath.Join(work, "empty.txt"), nil)
	awsCmd("s3", "cp", "up.bin", "s3://"+bucket+"/cp/up.bin")
	s.requireUpload(t, "aws s3 cp over https", bucket, "cp/up.bin", defaults)
	awsCmd("s3", "cp", "empty.txt", "s3://"+bucket+"/cp/empty.txt")
	s.requireUpload(t, "aws s3 cp of an empty file over https", bucket, "cp/empty.txt", defaults)
	awsCmd("s3", "cp", "s3://"+bucket+"/cp/up.bin", "down.bin")
	awsCmd("s3", "cp", "s3://"+bucket+"/cp/empty.txt", "empty-down.txt")
	for local, want := range map[string][]byte{"down.bin": data, "empty-down.txt": nil} {
		got, err := os.ReadFile(filepath.Join(work, local))
		if err != nil {
			t.Fatal(err)
		}
		if sha256Hex(got) != sha256Hex(want) {
			t.Errorf("aws s3 cp over https: %s has %d bytes sha256 %s, want %d bytes sha256 %s", local, len(got), sha256Hex(got), len(want), sha256Hex(want))
		}
	}

	// s3api put-object and get-object, with and without a named algorithm;
	// get-object --checksum-mode ENABLED returns (and botocore verifies)
	// the stored checksum.
	small := testData("aws-cli-https-api", 300<<10+1)
	writeFile(t, filepath.Join(work, "small.bin"), small)
	for _, c := range []struct {
		key, alg string
		want     wantUpload
	}{
		{"api/default.bin", "", defaults},
		{"api/sha256.bin", "SHA256", wantUpload{payloadUnsignedTrailer, "SHA256", sourceTrailer}},
		{"api/sha1.bin", "SHA1", wantUpload{payloadUnsignedTrailer, "SHA1", sourceTrailer}},
	} {
		args := []string{"s3api", "put-object", "--bucket", bucket, "--key", c.key, "--body", "small.bin"}
		if c.alg != "" {
			args = append(args, "--checksum-algorithm", c.alg)
		}
		awsCmd(args...)
		s.requireUpload(t, "aws s3api put-object over https", bucket, c.key, c.want)

		out := awsCmd("s3api", "get-object", "--bucket", bucket, "--key", c.key, "--checksum-mode", "ENABLED", "got.bin")
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("aws s3api get-object output is not JSON: %v\n%s", err, out)
		}
		if body, err := os.ReadFile(filepath.Join(work, "got.bin")); err != nil || sha256Hex(body) != sha256Hex(small) {
			t.Errorf("aws s3api get-object %s: %d bytes (%v), want %d bytes sha256 %s", c.key, len(body), err, len(small), sha256Hex(small))
		}
		if c.want.Checksum != "" {
			if sum, want := got["Checksum"+c.want.Checksum], checksumOf(t, c.want.Checksum, small); sum != want {
				t.Errorf("aws s3api get-object %s --checksum-mode ENABLED: Checksum%s %v, want %s\n%s", c.key, c.want.Checksum, sum, want, out)
			}
		}
	}
}

// boto3HTTPSScript uploads with boto3 over https and reads everything back
// with ChecksumMode ENABLED. It reads a JSON spec (argv[1]) and prints a
// JSON report; the Go test makes the assertions.
const boto3HTTPSScript = `
import hashlib, json, sys
import boto3, botocore
from botocore.config import Config

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
b = spec["bucket"]
data = open(spec["path"], "rb").read()
out = {"boto3": boto3.__version__, "botocore": botocore.__version__, "unsupported": {}, "objects": {}}
s3.create_bucket(Bucket=b)

s3.put_object(Bucket=b, Key="put/bytes", Body=data)
s3.put_object(Bucket=b, Key="put/empty", Body=b"")
with open(spec["path"], "rb") as f:
    s3.put_object(Bucket=b, Key="put/file", Body=f)
s3.upload_file(spec["path"], b, "transfer/file")
for alg in spec["algorithms"]:
    try:
        s3.put_object(Bucket=b, Key="alg/" + alg, Body=data, ChecksumAlgorithm=alg)
    except (botocore.exceptions.MissingDependencyException, botocore.exceptions.FlexibleChecksumError) as e:
        out["unsupported"][alg] = str(e)

for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
    for o in page.get("Contents", []):
        r = s3.get_object(Bucket=b, Key=o["Key"], ChecksumMode="ENABLED")
        body = r["Body"].read()
        out["objects"][o["Key"]] = {
            "sha256": hashlib.sha256(body).hexdigest(),
            "checksums": {k[len("Checksum"):]: v for k, v in r.items() if k.startswith("Checksum") and k != "ChecksumType"},
        }
s3.download_file(b, "transfer/file", spec["download"])
json.dump(out, sys.stdout)
`

// boto3Pythons returns every distinct interpreter that can import boto3:
// Debian's /usr/bin/python3 and python3 on PATH, which may carry different
// botocore releases.
func boto3Pythons(t *testing.T) []string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	var found, tried []string
	seen := map[string]bool{}
	for _, py := range candidates {
		out, err := runToolErr(t, clientEnv(t, nil), "", py, "-c", "import botocore; print(botocore.__file__)")
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v %s", py, err, strings.TrimSpace(out)))
			continue
		}
		if loc := strings.TrimSpace(out); !seen[loc] {
			seen[loc] = true
			found = append(found, py)
		}
	}
	if len(found) == 0 {
		missingTool(t, "python3 with boto3", fmt.Errorf("%s", strings.Join(tried, "; ")))
	}
	return found
}

func TestBoto3HTTPS(t *testing.T) {
	t.Parallel()
	pythons := boto3Pythons(t)
	pki := newTestPKI(t)
	s := startServerOpts(t, serverOptions{TLS: pki})
	for i, py := range pythons {
		t.Run(fmt.Sprintf("python-%d", i), func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			bucket := newBucketName(t)
			data := testData("boto3-https", 1<<20+3)
			spec := map[string]any{
				"endpoint": s.S3URL, "access_key": s.AccessKey, "secret_key": s.SecretKey, "bucket": bucket,
				"path": filepath.Join(work, "data.bin"), "download": filepath.Join(work, "download.bin"),
				"algorithms": allChecksums,
			}
			writeFile(t, spec["path"].(string), data)
			specJSON, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(work, "spec.json"), specJSON)
			writeFile(t, filepath.Join(work, "script.py"), []byte(boto3HTTPSScript))
			out := runTool(t, clientEnv(t, nil, "AWS_CA_BUNDLE="+pki.CAFile), work, py, "script.py", "spec.json")

			var report struct {
				Boto3, Botocore string
				Unsupported     map[string]string
				Objects         map[string]struct {
					SHA256    string
					Checksums map[string]string
				}
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &report); err != nil {
				t.Fatalf("boto3 script output is not a JSON report: %v\n%s", err, out)
			}
			v, err := parseVersion(report.Botocore)
			if err != nil {
				t.Fatal(err)
			}
			byDefault := v.atLeast(1, 36)
			t.Logf("%s: boto3 %s, botocore %s: checksums by default: %v; unsupported algorithms: %v", py, report.Boto3, report.Botocore, byDefault, report.Unsupported)
			defaults := botocoreDefaults("https", byDefault)
			client := "boto3 (botocore " + report.Botocore + ") over https"

			want := map[string]wantUpload{"put/bytes": defaults, "put/file": defaults, "put/empty": defaults, "transfer/file": defaults}
			contents := map[string][]byte{"put/bytes": data, "put/file": data, "put/empty": nil, "transfer/file": data}
			for _, alg := range allChecksums {
				if _, ok := report.Unsupported[alg]; ok {
					// botocore needs awscrt for CRC32C and CRC64NVME.
					if alg != "CRC32C" && alg != "CRC64NVME" {
						t.Errorf("%s: ChecksumAlgorithm %s unsupported: %s", client, alg, report.Unsupported[alg])
					}
					continue
				}
				want["alg/"+alg] = wantUpload{payloadUnsignedTrailer, alg, sourceTrailer}
				contents["alg/"+alg] = data
			}
			for key, w := range want {
				s.requireUpload(t, client, bucket, key, w)
				got, ok := report.Objects[key]
				if !ok {
					t.Errorf("%s: no object %s", client, key)
					continue
				}
				if got.SHA256 != sha256Hex(contents[key]) {
					t.Errorf("%s: get_object %s: sha256 %s, want %s", client, key, got.SHA256, sha256Hex(contents[key]))
				}
				if w.Checksum != "" && got.Checksums[w.Checksum] != checksumOf(t, w.Checksum, contents[key]) {
					t.Errorf("%s: get_object %s with ChecksumMode ENABLED: checksums %v, want %s %s", client, key, got.Checksums, w.Checksum, checksumOf(t, w.Checksum, contents[key]))
				}
			}
			if len(report.Objects) != len(want) {
				t.Errorf("%s: the bucket holds %d objects, want %d", client, len(report.Objects), len(want))
			}
			if got, err := os.ReadFile(spec["download"].(string)); err != nil || sha256Hex(got) != sha256Hex(data) {
				t.Errorf("%s: download_file: %d bytes (%v), want sha256 %s", client, len(got), err, sha256Hex(data))
			}
		})
	}
}
