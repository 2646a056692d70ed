package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/golang-jwt/jwt/v5"
)

// conformancePolicy is the policy the tests run s3gate with: roles, home
// prefixes for role "user" in one bucket, and a claims rule for tokens.
const conformancePolicy = `package s3gate.authz

import rego.v1

default allow := false

read_actions := {"s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets", "s3:GetObjectTagging", "s3:GetObjectAttributes", "s3:GetBucketLocation"}

home := concat("", ["home/", input.principal.id, "/"])

allow if "admin" in input.principal.roles

allow if {
	"reader" in input.principal.roles
	input.action in read_actions
}

allow if {
	"user" in input.principal.roles
	input.resource.bucket == data.homes_bucket
	input.action in {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
	startswith(input.resource.key, home)
}

allow if {
	"user" in input.principal.roles
	input.resource.bucket == data.homes_bucket
	input.action == "s3:ListBucket"
	startswith(input.request.prefix, home)
}

allow if {
	"user" in input.principal.roles
	input.action == "s3:ListAllMyBuckets"
}

allow if {
	input.principal.auth == "jwt"
	input.principal.claims.department == "finance"
	input.resource.bucket == data.finance_bucket
	input.action in {"s3:GetObject", "s3:ListBucket"}
}

readable contains {"bucket": "*", "prefix": ""} if "admin" in input.principal.roles

readable contains {"bucket": "*", "prefix": ""} if "reader" in input.principal.roles

readable contains {"bucket": data.homes_bucket, "prefix": home} if "user" in input.principal.roles
`

// grantReaderWrites lets readers write to the shared bucket: the change a
// test makes while s3gate runs.
const grantReaderWrites = `package s3gate.authz

import rego.v1

allow if {
	"reader" in input.principal.roles
	input.resource.bucket == data.shared_bucket
	input.action == "s3:PutObject"
}
`

var createdKeyRE = regexp.MustCompile(`\b(AK[A-Z0-9]{18})\b[\s\S]*?\b([A-Za-z0-9]{40})\b`)

// createKey makes an access key with the s3gate CLI, on the running
// server's data dir, and returns its id and secret.
func createKey(t *testing.T, s *server, user, roles string) (string, string) {
	t.Helper()
	out := runTool(t, clientEnv(t, nil), t.TempDir(), s3gateBinary(t), "keys", "create", "--data-dir", s.DataDir, "--user", user, "--roles", roles)
	m := createdKeyRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no key id and secret in the output of s3gate keys create:\n%s", out)
	}
	return m[1], m[2]
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	shared, homes, finance := newBucketName(t), newBucketName(t), newBucketName(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "authz.rego"), []byte(conformancePolicy))
	data, _ := json.Marshal(map[string]string{"shared_bucket": shared, "homes_bucket": homes, "finance_bucket": finance})
	writeFile(t, filepath.Join(dir, "data.json"), data)
	secret := randomHex(32)
	cfg := filepath.Join(t.TempDir(), "s3gate.yaml")
	writeFile(t, cfg, []byte(corpIssuer(secret)))
	s := startServerOpts(t, serverOptions{Args: []string{"--config", cfg, "--policy-dir", dir, "--policy-poll-interval", "200ms"}})
	ctx := testContext(t)
	root := s.client()
	for _, b := range []string{shared, homes, finance} {
		createBucket(t, root, b)
	}
	put := func(c *s3.Client, bucket, key, body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		return err
	}
	get := func(c *s3.Client, bucket, key string) (string, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	for _, o := range []struct{ bucket, key string }{{shared, "readme.txt"}, {homes, "home/bob/secret.txt"}, {finance, "q3.csv"}} {
		if err := put(root, o.bucket, o.key, "content of "+o.key); err != nil {
			t.Fatalf("root PUT %s/%s: %v", o.bucket, o.key, err)
		}
	}

	t.Run("reader", func(t *testing.T) {
		id, sk := createKey(t, s, "rita", "reader")
		c := newS3Client(s.S3URL, id, sk)
		wantAPIError(t, "reader PUT", put(c, shared, "new.txt", "x"), "AccessDenied", 403)
		if got, err := get(c, shared, "readme.txt"); err != nil || got != "content of readme.txt" {
			t.Fatalf("reader GET: %q, %v", got, err)
		}
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(shared), Key: aws.String("readme.txt")})
		wantAPIError(t, "reader DELETE", err, "AccessDenied", 403)
	})

	t.Run("home prefix", func(t *testing.T) {
		id, sk := createKey(t, s, "alice", "user")
		c := newS3Client(s.S3URL, id, sk)
		if err := put(c, homes, "home/alice/notes.txt", "mine"); err != nil {
			t.Fatalf("PUT in her home: %v", err)
		}
		wantAPIError(t, "PUT in bob's home", put(c, homes, "home/bob/evil.txt", "x"), "AccessDenied", 403)
		wantAPIError(t, "PUT outside homes", put(c, shared, "home/alice/x", "x"), "AccessDenied", 403)
		_, err := get(c, homes, "home/bob/secret.txt")
		wantAPIError(t, "GET in bob's home", err, "AccessDenied", 403)

		// Listing: inside her home only.
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(homes), Prefix: aws.String("home/alice/")})
		if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "home/alice/notes.txt" {
			t.Fatalf("listing her home: %v %+v", err, out)
		}
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(homes)})
		wantAPIError(t, "listing the whole bucket", err, "AccessDenied", 403)
		_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(homes), Prefix: aws.String("home/bob/")})
		wantAPIError(t, "listing bob's home", err, "AccessDenied", 403)

		// Copies: the source is judged too.
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(homes), Key: aws.String("home/alice/stolen.txt"), CopySource: aws.String(homes + "/home/bob/secret.txt")})
		wantAPIError(t, "copy from bob's home into hers", err, "AccessDenied", 403)
		if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(homes), Key: aws.String("home/alice/copy.txt"), CopySource: aws.String(homes + "/home/alice/notes.txt")}); err != nil {
			t.Fatalf("copy within her home: %v", err)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(homes), Key: aws.String("home/bob/stolen.txt")})
		wantAPIError(t, "HEAD of a key that must not exist", err, "", 403)

		// ListBuckets shows only where she may read.
		lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range lb.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		if len(names) != 1 || names[0] != homes {
			t.Errorf("ListBuckets = %v, want only %s", names, homes)
		}

		// DeleteObjects is judged key by key.
		resp, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(homes), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("home/alice/copy.txt")}, {Key: aws.String("home/bob/secret.txt")}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Deleted) != 1 || aws.ToString(resp.Deleted[0].Key) != "home/alice/copy.txt" ||
			len(resp.Errors) != 1 || aws.ToString(resp.Errors[0].Code) != "AccessDenied" {
			t.Errorf("DeleteObjects: deleted %+v, errors %+v", resp.Deleted, resp.Errors)
		}
		if got, err := get(root, homes, "home/bob/secret.txt"); err != nil || got == "" {
			t.Errorf("bob's file after alice's DeleteObjects: %q, %v", got, err)
		}
	})

	t.Run("token claims", func(t *testing.T) {
		token := func(dept string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"iss": "https://idp.s3gate.test/", "aud": "s3gate", "sub": "pat-" + dept, "department": dept,
				"exp": time.Now().Add(10 * time.Minute).Unix(),
			}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		getWith := func(tok string) (int, string) {
			r, _ := http.NewRequest("GET", s.S3URL+"/"+finance+"/q3.csv", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := getWith(token("finance")); code != 200 || body != "content of q3.csv" {
			t.Errorf("finance token: %d %s", code, body)
		}
		if code, body := getWith(token("sales")); code != 403 || !strings.Contains(body, "AccessDenied") {
			t.Errorf("sales token: %d %s", code, body)
		}
	})

	t.Run("policy changed while running", func(t *testing.T) {
		id, sk := createKey(t, s, "wanda", "reader")
		c := newS3Client(s.S3URL, id, sk)
		wantAPIError(t, "reader PUT before the change", put(c, shared, "later.txt", "x"), "AccessDenied", 403)
		writeFile(t, filepath.Join(dir, "grant.rego"), []byte(grantReaderWrites))
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := put(c, shared, "later.txt", "allowed now")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the new policy file did not take effect within 20 s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// A broken policy file keeps the running policy.
		writeFile(t, filepath.Join(dir, "broken.rego"), []byte("package s3gate.authz\n\nallow if {"))
		s.waitLog(t, "a failed policy reload", func(rec map[string]any) bool {
			return strings.Contains(fmt.Sprint(rec["msg"]), "policy") && rec["level"] == "ERROR"
		})
		if err := put(c, shared, "still.txt", "x"); err != nil {
			t.Errorf("PUT after a broken policy file: %v (the running policy must stay)", err)
		}
		os.Remove(filepath.Join(dir, "broken.rego"))
	})

	t.Run("SIGHUP reloads at once", func(t *testing.T) {
		// A poll interval of an hour: only the signal can bring the change
		// in while the test runs.
		dir := t.TempDir()
		bucket := newBucketName(t)
		writeFile(t, filepath.Join(dir, "authz.rego"), []byte(conformancePolicy))
		data, _ := json.Marshal(map[string]string{"shared_bucket": bucket, "homes_bucket": homes, "finance_bucket": finance})
		writeFile(t, filepath.Join(dir, "data.json"), data)
		grant := filepath.Join(dir, "grant.rego")
		writeFile(t, grant, []byte(strings.Replace(grantReaderWrites, "data.shared_bucket", `"no-such-bucket"`, 1)))
		s := startServerOpts(t, serverOptions{Args: []string{"--config", cfg, "--policy-dir", dir, "--policy-poll-interval", "1h"}})
		hupRoot := s.client()
		createBucket(t, hupRoot, bucket)
		id, sk := createKey(t, s, "hugo", "reader")
		c := newS3Client(s.S3URL, id, sk)
		wantAPIError(t, "reader PUT before the change", put(c, bucket, "hup.txt", "x"), "AccessDenied", 403)

		writeFile(t, grant, []byte(grantReaderWrites))
		wantAPIError(t, "reader PUT after the change, before SIGHUP", put(c, bucket, "hup.txt", "x"), "AccessDenied", 403)
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.waitLog(t, "the reload by SIGHUP", func(rec map[string]any) bool {
			return rec["msg"] == "policy reloaded" && rec["by"] == "SIGHUP"
		})
		if err := put(c, bucket, "hup.txt", "allowed now"); err != nil {
			t.Fatalf("reader PUT after the reload by SIGHUP: %v", err)
		}
		if got, err := get(hupRoot, bucket, "hup.txt"); err != nil || got != "allowed now" {
			t.Errorf("the object the reader wrote: %q, %v", got, err)
		}
	})
}

// waitLog waits up to 20 s for a line of s3gate's JSON log that match
// accepts.
func (s *server) waitLog(t *testing.T, what string, match func(rec map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && match(rec) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line for %s within 20 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
