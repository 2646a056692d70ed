package conformance

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRootCredentialsGenerated: the first start without S3GATE_ROOT_*
// generates a root key pair, stores it with mode 0600 and prints it once
// with an aws CLI example; the next start loads it and prints no secret.
func TestRootCredentialsGenerated(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	credsPath := filepath.Join(dataDir, "root-credentials.json")

	first := startServerOpts(t, serverOptions{DataDir: dataDir, NoRootEnv: true})

	fi, err := os.Stat(credsPath)
	if err != nil {
		t.Fatalf("first start did not create %s: %v", credsPath, err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", credsPath, perm)
	}
	raw, err := os.ReadFile(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	var creds struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if err := json.Unmarshal(raw, &creds); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", credsPath, err, raw)
	}
	if len(creds.AccessKeyID) < 16 || len(creds.SecretAccessKey) < 30 {
		t.Fatalf("generated credentials look too short: access key %d chars, secret %d chars", len(creds.AccessKeyID), len(creds.SecretAccessKey))
	}

	ctx := testContext(t)
	c := newS3Client(first.S3URL, creds.AccessKeyID, creds.SecretAccessKey)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	putObject(t, c, bucket, "persisted", []byte("still here after a restart"))
	_, err = newS3Client(first.S3URL, creds.AccessKeyID, creds.SecretAccessKey+"x").ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with a wrong secret", err, "SignatureDoesNotMatch", http.StatusForbidden)

	// Stop first: the whole of stdout is then known.
	first.stop(t)
	out := first.stdout.String()
	for _, want := range []string{creds.AccessKeyID, creds.SecretAccessKey, "aws ", "--endpoint-url " + first.S3URL} {
		if !strings.Contains(out, want) {
			t.Errorf("first start's stdout lacks %q; stdout:\n%s", want, out)
		}
	}

	second := startServerOpts(t, serverOptions{DataDir: dataDir, NoRootEnv: true})
	c = newS3Client(second.S3URL, creds.AccessKeyID, creds.SecretAccessKey)
	got, _ := getObject(t, c, bucket, "persisted")
	if string(got) != "still here after a restart" {
		t.Errorf("after restart the object holds %q", got)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets with the stored credentials after restart: %v", err)
	}
	if len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != bucket {
		t.Errorf("after restart ListBuckets = %+v, want just %s", lb.Buckets, bucket)
	}
	second.stop(t)
	if out := second.stdout.String() + second.stderr.String(); strings.Contains(out, creds.SecretAccessKey) {
		t.Errorf("second start printed the stored secret again; output:\n%s", out)
	}
	raw2, err := os.ReadFile(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw2) != string(raw) {
		t.Errorf("second start rewrote %s:\nbefore %s\nafter  %s", credsPath, raw, raw2)
	}
	if strings.Contains(first.stderr.String(), creds.SecretAccessKey) {
		t.Errorf("the secret key appears in s3gate's log (stderr); it belongs on stdout only")
	}
}
