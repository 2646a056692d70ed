package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/processors/queue"
	"github.com/s3gate/s3gate/processors/queue/diskq"
	"github.com/s3gate/s3gate/processors/queue/redisq"
)

// backend opens queues of one implementation for the tests.
type backend struct {
	name string
	// open returns a fresh queue whose claim timeout is claim, and a
	// function that closes it and opens the same queue again, as a
	// restarted process would, with another claim timeout.
	open func(t testing.TB, claim time.Duration) (queue.Queue, func(claim time.Duration) queue.Queue)
}

// eachBackend runs f against the disk queue and against Redis.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("diskq", func(t *testing.T) { f(t, diskBackend) })
	t.Run("redisq", func(t *testing.T) { f(t, redisBackend(needRedis(t))) })
}

var diskBackend = backend{
	name: "diskq",
	open: func(t testing.TB, claim time.Duration) (queue.Queue, func(time.Duration) queue.Queue) {
		dir := t.TempDir()
		q := openDisk(t, dir, claim)
		return q, func(claim time.Duration) queue.Queue {
			if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openDisk(t, dir, claim)
		}
	},
}

func openDisk(t testing.TB, dir string, claim time.Duration) *diskq.Queue {
	t.Helper()
	q, err := diskq.Open(dir, diskq.Options{ClaimAfter: claim})
	if err != nil {
		t.Fatalf("diskq.Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func redisBackend(c *redis.Client) backend {
	return backend{
		name: "redisq",
		open: func(t testing.TB, claim time.Duration) (queue.Queue, func(time.Duration) queue.Queue) {
			prefix := freshPrefix(t, c)
			q := openRedis(t, c, prefix, claim)
			return q, func(claim time.Duration) queue.Queue {
				if err := q.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return openRedis(t, c, prefix, claim)
			}
		},
	}
}

func openRedis(t testing.TB, c *redis.Client, prefix string, claim time.Duration) *redisq.Queue {
	t.Helper()
	q, err := redisq.New(context.Background(), redisq.Options{Client: c, Prefix: prefix, ClaimAfter: claim})
	if err != nil {
		t.Fatalf("redisq.New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// redisAddr is the Redis the tests use, as in redisq's tests.
func redisAddr() string {
	if a := os.Getenv("S3GATE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

var (
	redisOnce sync.Once
	redisC    *redis.Client
	redisErr  error
)

// needRedis returns a client of the test Redis; without one it skips t,
// naming the service, or fails it under CI=true.
func needRedis(t testing.TB) *redis.Client {
	t.Helper()
	redisOnce.Do(func() {
		c := redis.NewClient(&redis.Options{Addr: redisAddr()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if redisErr = c.Ping(ctx).Err(); redisErr != nil {
			c.Close()
			return
		}
		redisC = c
	})
	if redisErr != nil {
		msg := fmt.Sprintf("redis not reachable at %s (set S3GATE_TEST_REDIS_ADDR): %v", redisAddr(), redisErr)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: required)", msg)
		}
		t.Skipf("skipping: %s (CI=true makes this a failure)", msg)
	}
	return redisC
}

// freshPrefix returns a key prefix of t's own, whose keys are deleted
// when t ends.
func freshPrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "s3gate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				t.Errorf("scan %s*: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := c.Del(ctx, keys...).Err(); err != nil {
					t.Errorf("deleting keys under %s: %v", prefix, err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return prefix
}
