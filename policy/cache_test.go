package policy

import (
	"crypto/sha256"
	"testing"
	"time"
)

func key(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	c := newLRU(2, time.Hour)
	now := time.Now()
	c.put(key("a"), 1, now)
	c.put(key("b"), 2, now)
	if v, ok := c.get(key("a"), now); !ok || v != 1 {
		t.Fatalf("get a = %v, %v", v, ok)
	}
	c.put(key("c"), 3, now) // b is the least recently used
	if _, ok := c.get(key("b"), now); ok {
		t.Error("b was not evicted")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.get(key(k), now); !ok || v != want {
			t.Errorf("get %s = %v, %v; want %d", k, v, ok, want)
		}
	}
	c.put(key("a"), 10, now) // an update, not a new entry
	if v, _ := c.get(key("a"), now); v != 10 || c.len() != 2 {
		t.Errorf("after update: a = %v, len %d", v, c.len())
	}
}

func TestLRUExpires(t *testing.T) {
	c := newLRU(10, time.Second)
	now := time.Now()
	c.put(key("a"), 1, now)
	if _, ok := c.get(key("a"), now.Add(999*time.Millisecond)); !ok {
		t.Error("expired before its time to live")
	}
	if _, ok := c.get(key("a"), now.Add(time.Second)); ok {
		t.Error("used after its time to live")
	}
	if c.len() != 0 {
		t.Errorf("expired entry kept: len %d", c.len())
	}
}
