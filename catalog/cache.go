package catalog

import (
	"sync"
	"time"
)

// bucketCache keeps recently read buckets for a short time. A nil
// *bucketCache is a cache that is off.
//
// The generation counter closes a race: a reader that loaded a bucket before
// a write dropped it must not store its now stale copy afterwards.
type bucketCache struct {
	ttl time.Duration
	max int
	now func() time.Time // tests move the clock

	mu  sync.Mutex
	gen uint64
	m   map[string]cachedBucket
}

type cachedBucket struct {
	b       Bucket
	expires time.Time
}

func newBucketCache(ttl time.Duration, max int) *bucketCache {
	if ttl <= 0 || max <= 0 {
		return nil
	}
	return &bucketCache{ttl: ttl, max: max, now: time.Now, m: make(map[string]cachedBucket)}
}

func (c *bucketCache) get(name string) (Bucket, bool) {
	if c == nil {
		return Bucket{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok {
		return Bucket{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, name)
		return Bucket{}, false
	}
	return e.b, true
}

// generation is read before loading from the database and handed to put.
func (c *bucketCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores b unless a write happened since gen was read.
func (c *bucketCache) put(b Bucket, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now := c.now()
	if len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[b.Name] = cachedBucket{b: b, expires: now.Add(c.ttl)}
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until there is room for one more.
func (c *bucketCache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max {
			break
		}
		delete(c.m, k)
	}
}

// invalidate drops name after this process changed it.
func (c *bucketCache) invalidate(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, name)
}
