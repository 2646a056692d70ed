package conformance

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/s3gate/s3gate/catalog/catalogtest"
)

// TestPostgresCatalogue: with catalog.dsn set, s3gate keeps its bucket
// records, CORS rules, tags and access keys in PostgreSQL, and they survive
// a restart.
func TestPostgresCatalogue(t *testing.T) {
	t.Parallel()
	dsn := catalogtest.FreshPostgres(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	// Replicas sharing a PostgreSQL catalogue share a master key.
	masterKey := randomHex(32)
	first := startServerOpts(t, serverOptions{DataDir: dataDir, Args: []string{"--catalog-dsn", dsn, "--identity-master-key", masterKey}})
	c := first.client()
	ctx := testContext(t)
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("storage")}}}}); err != nil {
		t.Fatalf("PutBucketTagging: %v", err)
	}
	keys := createRestartKeys(t, first, bucket)
	first.stop(t)

	// The records are in PostgreSQL, where the next start finds them.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	err = conn.QueryRow(ctx, "SELECT owner_id FROM buckets WHERE name = $1", bucket).Scan(&owner)
	conn.Close(ctx)
	if err != nil || owner != "root" {
		t.Fatalf("bucket record in PostgreSQL: owner %q, %v", owner, err)
	}
	second := startServerOpts(t, serverOptions{DataDir: dataDir, Args: []string{"--catalog-dsn", dsn, "--identity-master-key", masterKey}})
	c = second.client()
	tags, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Value) != "storage" {
		t.Fatalf("tags after restart: %+v %v", tags, err)
	}
	list, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(list.Buckets) != 1 || aws.ToString(list.Buckets[0].Name) != bucket {
		t.Fatalf("ListBuckets after restart: %+v %v", list, err)
	}
	keys.check(t, second, bucket)
}

// TestEmbeddedCatalogueKeys: in the embedded shape the access keys made
// through the admin API are kept in the SQLite catalogue, sealed under the
// master key generated in the data dir, and survive a restart.
func TestEmbeddedCatalogueKeys(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	first := startServerOpts(t, serverOptions{DataDir: dataDir})
	bucket := newBucketName(t)
	createBucket(t, first.client(), bucket)
	keys := createRestartKeys(t, first, bucket)
	first.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "catalog.db")); err != nil {
		t.Fatalf("no SQLite catalogue in the data dir: %v", err)
	}
	second := startServerOpts(t, serverOptions{DataDir: dataDir})
	keys.check(t, second, bucket)
}

// restartKeys are two access keys made through the admin API before a
// restart: one active, one disabled.
type restartKeys struct {
	active, disabled aws.Credentials
}

// adminCreateKey makes an access key through the admin API on the
// operations listener, signed by the root key, and returns its credentials.
func (s *server) adminCreateKey(t *testing.T, user string, roles ...string) aws.Credentials {
	t.Helper()
	status, body := s.admin(t, http.MethodPost, "/api/v1/keys", map[string]any{"user": user, "roles": roles})
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/keys: %d %s", status, body)
	}
	var k struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		User            string `json:"user"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" || k.User != user {
		t.Fatalf("POST /api/v1/keys answered %s (%v)", body, err)
	}
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

// keyClient is an SDK client of s signed with creds.
func (s *server) keyClient(creds aws.Credentials) *s3.Client {
	return newS3Client(s.S3URL, creds.AccessKeyID, creds.SecretAccessKey, func(o *s3.Options) { o.HTTPClient = s.HTTP })
}

// createRestartKeys makes an active and a disabled key on s and checks
// that s honours both, writing an object to bucket with the active one.
func createRestartKeys(t *testing.T, s *server, bucket string) restartKeys {
	t.Helper()
	k := restartKeys{active: s.adminCreateKey(t, "pat", "writer"), disabled: s.adminCreateKey(t, "quinn", "writer")}
	if status, body := s.admin(t, http.MethodPost, "/api/v1/keys/"+k.disabled.AccessKeyID+"/disable", nil); status != http.StatusOK {
		t.Fatalf("disabling %s: %d %s", k.disabled.AccessKeyID, status, body)
	}
	putObject(t, s.keyClient(k.active), bucket, "by-key", []byte("written with a stored key"))
	_, err := s.keyClient(k.disabled).ListBuckets(testContext(t), &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with a disabled key", err, "InvalidAccessKeyId", http.StatusForbidden)
	return k
}

// check shows that s, started after the process that made the keys
// stopped, honours them: the active key reads and writes, the disabled one
// is still refused, and no secret was ever logged.
func (k restartKeys) check(t *testing.T, s *server, bucket string) {
	t.Helper()
	ctx := testContext(t)
	c := s.keyClient(k.active)
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("ListBuckets with a key made before the restart: %v", err)
	}
	if got, _ := getObject(t, c, bucket, "by-key"); string(got) != "written with a stored key" {
		t.Fatalf("GET with a key made before the restart: %q", got)
	}
	putObject(t, c, bucket, "after-restart", []byte("x"))
	_, err := s.keyClient(k.disabled).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with a key disabled before the restart", err, "InvalidAccessKeyId", http.StatusForbidden)
	_, err = s.keyClient(aws.Credentials{AccessKeyID: k.active.AccessKeyID, SecretAccessKey: k.active.SecretAccessKey + "x"}).ListBuckets(ctx, &s3.ListBucketsInput{})
	wantAPIError(t, "ListBuckets with a wrong secret for a stored key", err, "SignatureDoesNotMatch", http.StatusForbidden)
	for _, out := range []string{s.stdout.String(), s.stderr.String()} {
		for _, secret := range []string{k.active.SecretAccessKey, k.disabled.SecretAccessKey} {
			if strings.Contains(out, secret) {
				t.Fatalf("s3gate logged the secret of a stored key:\n%s", out)
			}
		}
	}
}

// TestUnreachableCatalogue: a configured PostgreSQL that does not answer
// stops s3gate at start; it never falls back to SQLite.
func TestUnreachableCatalogue(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(s3gateBinary(t), "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0",
		"--catalog-dsn", "postgres://postgres@"+addr+"/s3gate?sslmode=disable&connect_timeout=3")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("s3gate with an unreachable catalogue: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "catalogue") {
		t.Errorf("the error does not name the catalogue:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "catalog.db")); err == nil {
		t.Error("s3gate fell back to a SQLite catalogue")
	}
}
