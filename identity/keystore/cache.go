package keystore

import (
	"sync"
	"time"

	"github.com/s3gate/s3gate/identity"
)

// entry is one cached answer: a key, or the error Lookup returns for it.
type entry struct {
	key     identity.AccessKey
	err     error
	expires time.Time
}

func (e entry) result() (identity.AccessKey, error) {
	if e.err != nil {
		return identity.AccessKey{}, e.err
	}
	return cloneKey(e.key), nil
}

// cache holds known keys and negative answers in separate maps of bounded
// size, so a flood of bad ids evicts other bad ids, not keys in use.
//
// The generation counter closes a race: a query that read a key before this
// replica changed it must not store its now stale answer afterwards.
type cache struct {
	max int

	mu       sync.Mutex
	gen      uint64
	pos, neg map[string]entry
}

func newCache(max int) *cache {
	return &cache{max: max, pos: make(map[string]entry), neg: make(map[string]entry)}
}

func (c *cache) get(id string, now time.Time) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]entry{c.pos, c.neg} {
		if e, ok := m[id]; ok {
			if now.Before(e.expires) {
				return e, true
			}
			delete(m, id)
		}
	}
	return entry{}, false
}

// generation is read before querying and handed to put.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores e unless this replica changed a key since gen was read.
func (c *cache) put(id string, e entry, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	m, other := c.pos, c.neg
	if e.err != nil {
		m, other = c.neg, c.pos
	}
	delete(other, id)
	if _, ok := m[id]; !ok && len(m) >= c.max {
		c.evict(m, now)
	}
	m[id] = e
}

// evict drops expired entries, then arbitrary ones (map order is random)
// until a sixteenth of the room is free, so a full cache does not scan
// itself on every insert.
func (c *cache) evict(m map[string]entry, now time.Time) {
	for id, e := range m {
		if !now.Before(e.expires) {
			delete(m, id)
		}
	}
	target := c.max - max(1, c.max/16)
	for id := range m {
		if len(m) <= target {
			break
		}
		delete(m, id)
	}
}

// invalidate drops id after this replica changed it.
func (c *cache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.pos, id)
	delete(c.neg, id)
}
