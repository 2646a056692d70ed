package policy

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// lru is a bounded cache of decisions: the least recently used entry goes
// when it is full, and an entry older than its time to live is not used.
type lru struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order list.List // of *entry, most recently used first
	items map[[sha256.Size]byte]*list.Element
}

type entry struct {
	key     [sha256.Size]byte
	val     any
	expires time.Time
}

func newLRU(max int, ttl time.Duration) *lru {
	return &lru{max: max, ttl: ttl, items: make(map[[sha256.Size]byte]*list.Element, min(max, 1024))}
}

func (c *lru) get(k [sha256.Size]byte, now time.Time) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	en := el.Value.(*entry)
	if !now.Before(en.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.order.MoveToFront(el)
	return en.val, true
}

func (c *lru) put(k [sha256.Size]byte, v any, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		en := el.Value.(*entry)
		en.val, en.expires = v, now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&entry{key: k, val: v, expires: now.Add(c.ttl)})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry).key)
	}
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
