package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"
)

// eventsCLI runs `s3gate events ...` against s's admin API.
func eventsCLI(t *testing.T, s *server, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"events"}, args...)
	full = append(full, "--admin-url", s.OpsURL, "--admin-access-key", s.AccessKey, "--admin-secret-key", s.SecretKey, "--data-dir", s.DataDir)
	return runToolErr(t, clientEnv(t, nil), t.TempDir(), s3gateBinary(t), full...)
}

// TestEventsBackfill: objects written to the backend behind s3gate's back
// get their catalogue rows from `s3gate events backfill`.
func TestEventsBackfill(t *testing.T) {
	t.Parallel()
	o := startOrigin(t)
	s := startServerOpts(t, serverOptions{Args: []string{"--config", proxyConfig(t, o)}})
	bucket := newBucketName(t)
	createBucket(t, s.client(), bucket)
	ctx := testContext(t)
	direct := newS3Client(o.URL, o.AccessKey, o.SecretKey)
	for i := range 30 {
		key := fmt.Sprintf("old/%02d.txt", i)
		if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("elsewhere"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if rows := s.catalogue(t, bucket); len(rows) != 0 {
		t.Fatalf("%d rows before the backfill", len(rows))
	}
	out, err := eventsCLI(t, s, "backfill", "--bucket", bucket, "--prefix", "old/")
	if err != nil || !strings.Contains(out, "30 events emitted") {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	deadline := time.Now().Add(catalogueTimeout)
	for {
		rows := s.catalogue(t, bucket)
		if len(rows) == 30 {
			if _, ok := rows["elsewhere"]; ok {
				t.Fatal("a key outside the prefix was backfilled")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows after the backfill, want 30", len(rows))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := eventsCLI(t, s, "backfill", "--bucket", "no-such-bucket-"+randomHex(4)); err == nil || !strings.Contains(out, "NoSuchBucket") {
		t.Fatalf("backfill of a missing bucket: %v\n%s", err, out)
	}
}

// TestEventsDeadLetters: an event the metadata hook cannot read lands in
// its dead-letter list, which `s3gate events dlq list` shows and `replay`
// sends round again.
func TestEventsDeadLetters(t *testing.T) {
	t.Parallel()
	rdb := requireRedis(t, "127.0.0.1:6379")
	prefix := redisPrefix(t, rdb)
	s := startServerOpts(t, serverOptions{Args: []string{"--events-queue", "redis", "--events-redis-url", "redis://127.0.0.1:6379/0", "--events-redis-prefix", prefix}})
	ctx := testContext(t)
	// A message no s3gate wrote, on the stream s3gate reads.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "events", Values: map[string]any{"body": "not an event"}}).Err(); err != nil {
		t.Fatal(err)
	}
	type listing struct {
		DeadLetters []struct {
			ID, Processor, Reason string
			Event                 json.RawMessage
		} `json:"dead_letters"`
	}
	waitDead := func(what string) listing {
		t.Helper()
		deadline := time.Now().Add(catalogueTimeout)
		for {
			// Every hook dead-letters it; the metadata hook's list is the one
			// looked at.
			out, err := eventsCLI(t, s, "dlq", "list", "--processor", "metadata", "--json")
			if err != nil {
				t.Fatalf("dlq list: %v\n%s", err, out)
			}
			var l listing
			if err := json.Unmarshal([]byte(out), &l); err != nil {
				t.Fatalf("dlq list --json: %v\n%s", err, out)
			}
			if len(l.DeadLetters) == 1 {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d dead letters, want 1:\n%s", what, len(l.DeadLetters), out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	l := waitDead("the unreadable event")
	d := l.DeadLetters[0]
	if d.Processor != "metadata" || !strings.Contains(d.Reason, "undecodable") || !bytes.Contains(d.Event, []byte("not an event")) {
		t.Fatalf("dead letter %+v", d)
	}
	table, err := eventsCLI(t, s, "dlq", "list")
	if err != nil || !strings.Contains(table, d.ID) || !strings.Contains(table, "undecodable") {
		t.Fatalf("dlq list table: %v\n%s", err, table)
	}
	out, err := eventsCLI(t, s, "dlq", "replay", "--processor", "metadata", "--all")
	if err != nil || !strings.Contains(out, "replayed 1 dead letters") {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	// Replayed, it fails again and is back, under a new id.
	again := waitDead("the replayed event")
	if again.DeadLetters[0].ID == d.ID {
		// Still the old entry: wait for the replacement.
		deadline := time.Now().Add(catalogueTimeout)
		for again.DeadLetters[0].ID == d.ID {
			if time.Now().After(deadline) {
				t.Fatal("the replayed dead letter was not replaced")
			}
			time.Sleep(200 * time.Millisecond)
			again = waitDead("the replayed event")
		}
	}
	if out, err := eventsCLI(t, s, "dlq", "list", "--processor", "nosuch"); err == nil || !strings.Contains(out, "NoSuchProcessor") {
		t.Fatalf("dlq list of an unknown hook: %v\n%s", err, out)
	}
}

// TestEventsWithoutHooks: with every hook turned off, writes still work and
// still record their events; the catalogue routes say it is off.
func TestEventsWithoutHooks(t *testing.T) {
	t.Parallel()
	s := startServerOpts(t, serverOptions{Args: []string{"--no-events-metadata"}})
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	if _, err := c.PutObject(testContext(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	if status, body := s.admin(t, "GET", "/api/v1/objects", nil); status != 501 || !strings.Contains(string(body), "CatalogueDisabled") {
		t.Fatalf("GET /api/v1/objects with the metadata hook off: %d %s", status, body)
	}
	if out, err := eventsCLI(t, s, "dlq", "list", "--json"); err != nil || !strings.Contains(out, `"dead_letters": []`) {
		t.Fatalf("dlq list: %v\n%s", err, out)
	}
}
