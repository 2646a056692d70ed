package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/catalog/catalogtest"
)

// catalogueTimeout bounds how long the hooks may take to catch up with the
// writes of a test on a loaded two-core machine.
const catalogueTimeout = 2 * time.Minute

// admin sends a request to the admin API signed with the server's root
// key and returns the status and body.
func (s *server) admin(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, s.OpsURL+path, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey},
		req, hex.EncodeToString(sum[:]), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("admin API %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin API %s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// catalogueRow is the part of a GET /api/v1/objects row the tests compare.
type catalogueRow struct {
	Key                string `json:"key"`
	Size               int64  `json:"size"`
	ETag               string `json:"etag"`
	ContentType        string `json:"content_type"`
	SniffedContentType string `json:"sniffed_content_type"`
	Owner              string `json:"owner"`
}

// catalogue returns every catalogue row of bucket, following page tokens.
func (s *server) catalogue(t *testing.T, bucket string) map[string]catalogueRow {
	t.Helper()
	rows := map[string]catalogueRow{}
	token := ""
	for {
		q := url.Values{"bucket": {bucket}, "limit": {"1000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		status, body := s.admin(t, http.MethodGet, "/api/v1/objects?"+q.Encode(), nil)
		if status != http.StatusOK {
			t.Fatalf("GET /api/v1/objects: %d %s", status, body)
		}
		var page struct {
			Objects       []catalogueRow `json:"objects"`
			NextPageToken string         `json:"next_page_token"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET /api/v1/objects: %v: %s", err, body)
		}
		for _, r := range page.Objects {
			rows[r.Key] = r
		}
		if token = page.NextPageToken; token == "" {
			return rows
		}
	}
}

// backendState lists bucket through the S3 API: key -> "size etag".
func backendState(t *testing.T, c *s3.Client, bucket string) map[string]string {
	t.Helper()
	state := map[string]string{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatalf("listing %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			state[aws.ToString(o.Key)] = fmt.Sprintf("%d %s", aws.ToInt64(o.Size), strings.Trim(aws.ToString(o.ETag), `"`))
		}
	}
	return state
}

// catalogueState is the catalogue in backendState's form.
func catalogueState(rows map[string]catalogueRow) map[string]string {
	state := map[string]string{}
	for k, r := range rows {
		state[k] = fmt.Sprintf("%d %s", r.Size, r.ETag)
	}
	return state
}

// describeDiff names a few differences between two states.
func describeDiff(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%q: backend %q, catalogue %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%q: catalogue %q, not in the backend", k, v))
		}
	}
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("... %d differences in all", len(d)))
	}
	return strings.Join(d, "; ")
}

// waitCatalogueMatches polls until the catalogue rows of bucket are
// exactly the objects the backend lists (key, size, ETag), and returns
// when that happened.
func waitCatalogueMatches(t *testing.T, s *server, bucket string) time.Time {
	t.Helper()
	want := backendState(t, s.client(), bucket)
	deadline := time.Now().Add(catalogueTimeout)
	for {
		got := catalogueState(s.catalogue(t, bucket))
		if describeDiff(want, got) == "" {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the catalogue of %s does not match the backend (%d objects, %d rows): %s",
				catalogueTimeout, bucket, len(want), len(got), describeDiff(want, got))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL: no shutdown, no flushing.
func (s *server) kill(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("SIGKILL: %v", err)
		}
		<-s.done
	})
}

// requireRedis fails (CI=true) or skips unless Redis answers at addr.
func requireRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		missingTool(t, "Redis at "+addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// redisPrefix is a key prefix of the shared Redis for one test, whose keys
// are removed when it ends.
func redisPrefix(t *testing.T, c *redis.Client) string {
	prefix := "s3gate-conformance-" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// shape is one way of deploying s3gate's hooks.
type shape struct {
	name string
	args func(t *testing.T) []string
}

var shapes = []shape{
	{"embedded", func(*testing.T) []string { return nil }},
	{"scaled-out", func(t *testing.T) []string {
		rdb := requireRedis(t, "127.0.0.1:6379")
		return []string{
			"--catalog-dsn", catalogtest.FreshPostgres(t),
			"--identity-master-key", randomHex(32),
			"--events-queue", "redis", "--events-redis-url", "redis://127.0.0.1:6379/0", "--events-redis-prefix", redisPrefix(t, rdb),
		}
	}},
}

// TestHooksRclone: 1,000 objects uploaded with rclone become exactly 1,000
// catalogue rows matching the backend, in both shapes.
func TestHooksRclone(t *testing.T) {
	rcloneBin := requireTool(t, "rclone")
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			s := startServerOpts(t, serverOptions{Args: sh.args(t)})
			const n = 1000
			src := t.TempDir()
			for i := range n {
				// Sizes from 1 byte to 3 KiB; every tenth a PNG, so the
				// sniffed type is checked too.
				data := testData(fmt.Sprint(i), 1+i*3)
				if i%10 == 0 {
					data = append([]byte("\x89PNG\r\n\x1a\n"), data...)
				}
				writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/f%04d.bin", i%7, i)), data)
			}
			bucket := newBucketName(t)
			createBucket(t, s.client(), bucket)
			env := clientEnv(t, nil,
				"RCLONE_CONFIG_S3GATE_TYPE=s3",
				"RCLONE_CONFIG_S3GATE_PROVIDER=Other",
				"RCLONE_CONFIG_S3GATE_ENDPOINT="+s.S3URL,
				"RCLONE_CONFIG_S3GATE_ACCESS_KEY_ID="+s.AccessKey,
				"RCLONE_CONFIG_S3GATE_SECRET_ACCESS_KEY="+s.SecretKey,
				"RCLONE_CONFIG_S3GATE_REGION=us-east-1",
				"RCLONE_CONFIG_S3GATE_FORCE_PATH_STYLE=true",
			)
			start := time.Now()
			runTool(t, env, src, rcloneBin, "--config", "/dev/null", "copy", "--transfers", "16", "--checkers", "16", src, rcloneRemote+bucket)
			uploaded := time.Now()
			caughtUp := waitCatalogueMatches(t, s, bucket)
			rows := s.catalogue(t, bucket)
			if len(rows) != n {
				t.Fatalf("%d catalogue rows for %d objects", len(rows), n)
			}
			for k, r := range rows {
				i, _ := strconv.Atoi(strings.TrimSuffix(k[strings.LastIndex(k, "f")+1:], ".bin"))
				if wantPNG := i%10 == 0; (r.SniffedContentType == "image/png") != wantPNG || r.Owner != "root" {
					t.Fatalf("row %s: sniffed %q, owner %q", k, r.SniffedContentType, r.Owner)
				}
			}
			t.Logf("%s: rclone uploaded %d objects in %v; the catalogue matched the backend %v after the upload ended (%.0f objects/s end to end)",
				sh.name, n, uploaded.Sub(start).Round(time.Millisecond), caughtUp.Sub(uploaded).Round(time.Millisecond), float64(n)/caughtUp.Sub(start).Seconds())
		})
	}
}

// TestHooksPutDeleteRace: PUTs and DELETEs of the same keys racing each
// other leave the catalogue exactly as the backend ends up, whatever order
// the backend committed them in.
func TestHooksPutDeleteRace(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			s := startServerOpts(t, serverOptions{Args: sh.args(t)})
			c := s.client()
			bucket := newBucketName(t)
			createBucket(t, c, bucket)
			ctx := testContext(t)
			const workers, rounds = 8, 40
			errs := make(chan error, workers)
			for w := range workers {
				go func() {
					var err error
					for i := range rounds {
						key := fmt.Sprintf("race-%d", (w+i)%3)
						if (w+i)%2 == 0 {
							// Large enough that a PUT is still streaming
							// when a later DELETE commits.
							body := testData(fmt.Sprint(w, i), 64<<10*(1+i%4))
							_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
						} else {
							_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
						}
						if err != nil {
							break
						}
					}
					errs <- err
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			waitCatalogueMatches(t, s, bucket)
		})
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ownRedis is a redis-server of one test, with AOF fsynced on every
// write, that the test may stop and start again on the same port and data:
// stopping the shared one would disturb other tests.
type ownRedis struct {
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	r := &ownRedis{bin: requireTool(t, "redis-server"), dir: t.TempDir(), port: freePort(t)}
	r.start(t)
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() && r.logs != nil {
			t.Logf("redis-server output (last lines):\n%s", tailLines(r.logs.String(), 20))
		}
	})
	return r
}

func (r *ownRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *ownRedis) start(t *testing.T) {
	t.Helper()
	r.logs = &syncBuffer{}
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer: %s", r.addr(), r.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the server outright: what it acknowledged is in its AOF.
func (r *ownRedis) stop(t *testing.T) {
	t.Helper()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// TestHooksRedisOutage: with the queue on Redis, uploads go on while Redis
// is down (their events wait in the outbox), and every event arrives once
// it is back.
func TestHooksRedisOutage(t *testing.T) {
	t.Parallel()
	rd := startOwnRedis(t)
	s := startServerOpts(t, serverOptions{Args: []string{"--events-queue", "redis", "--events-redis-url", "redis://" + rd.addr() + "/0"}})
	c := s.client()
	bucket := newBucketName(t)
	createBucket(t, c, bucket)
	ctx := testContext(t)
	put := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			body := testData(fmt.Sprint(i), 100+i)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("k%03d", i)), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("PUT %d: %v", i, err)
			}
		}
	}
	put(0, 20)
	waitCatalogueMatches(t, s, bucket)

	rd.stop(t)
	start := time.Now()
	put(20, 120)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k005")}); err != nil {
		t.Fatalf("DELETE while Redis is down: %v", err)
	}
	t.Logf("101 writes with Redis down took %v", time.Since(start).Round(time.Millisecond))
	if rows := s.catalogue(t, bucket); len(rows) != 20 {
		t.Fatalf("%d catalogue rows while Redis is down, want the 20 from before", len(rows))
	}
	rd.start(t)
	waitCatalogueMatches(t, s, bucket)
	if rows := s.catalogue(t, bucket); len(rows) != 119 {
		t.Fatalf("%d rows after Redis returned, want 119", len(rows))
	}
}
