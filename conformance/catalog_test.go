package conformance

import (
	"errors"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
)

// TestPostgresCatalogue: with catalog.dsn set, s3gate keeps its bucket
// records, CORS rules and tags in PostgreSQL, and they survive a restart.
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
