package sigv4

import (
	"container/list"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// keyCacheSize bounds the number of derived signing keys kept per Verifier.
// A key is valid for one day, so this is roughly the number of distinct
// access keys served per day before derivations start to repeat.
const keyCacheSize = 1024

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey computes the SigV4 signing key for a secret and scope.
func deriveKey(secret string, s Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.Date)
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	return hmacSHA256(k, scopeTerminator)
}

// cacheKey identifies a derived key. It holds a hash of the secret rather
// than the secret itself, so a rotated secret misses the cache without the
// cache keeping old secrets around.
type cacheKey struct {
	accessKey string
	secret    [sha256.Size]byte
	scope     Scope
}

type cacheEntry struct {
	key    cacheKey
	signer []byte
}

// keyCache is a small LRU of derived signing keys; the zero value is ready.
type keyCache struct {
	mu    sync.Mutex
	items map[cacheKey]*list.Element
	order list.List // front = most recently used
}

// signingKey returns the derived key for (accessKey, secret, scope), from the
// cache when possible. The returned slice is the caller's to keep.
func (c *keyCache) signingKey(accessKey, secret string, s Scope) []byte {
	k := cacheKey{accessKey: accessKey, secret: sha256.Sum256([]byte(secret)), scope: s}

	c.mu.Lock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		key := append([]byte(nil), e.Value.(*cacheEntry).signer...)
		c.mu.Unlock()
		return key
	}
	c.mu.Unlock()

	key := deriveKey(secret, s)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = make(map[cacheKey]*list.Element)
	}
	if _, ok := c.items[k]; !ok {
		c.items[k] = c.order.PushFront(&cacheEntry{key: k, signer: key})
		for c.order.Len() > keyCacheSize {
			old := c.order.Back()
			c.order.Remove(old)
			delete(c.items, old.Value.(*cacheEntry).key)
		}
	}
	return append([]byte(nil), key...)
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
