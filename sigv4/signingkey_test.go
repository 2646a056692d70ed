package sigv4

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

func TestKeyCache(t *testing.T) {
	var c keyCache
	scope := Scope{"20240517", "us-east-1", "s3"}
	k1 := c.signingKey("AK", "secret", scope)
	if want := referenceKey("secret", scope.Date, scope.Region, scope.Service); !bytes.Equal(k1, want) {
		t.Fatalf("derived key %x, want %x", k1, want)
	}
	k1[0] ^= 0xff // the caller's copy; the cache must not change
	if k2 := c.signingKey("AK", "secret", scope); k2[0] == k1[0] {
		t.Fatal("cache returned a shared slice")
	}
	if c.len() != 1 {
		t.Fatalf("len = %d, want 1", c.len())
	}

	// A rotated secret, another day, region or access key is a new entry.
	variants := []struct {
		ak, secret string
		scope      Scope
	}{
		{"AK", "rotated", scope},
		{"AK", "secret", Scope{"20240518", "us-east-1", "s3"}},
		{"AK", "secret", Scope{"20240517", "eu-west-1", "s3"}},
		{"AK", "secret", Scope{"20240517", "us-east-1", "iam"}},
		{"AK2", "secret", scope},
	}
	for _, v := range variants {
		got := c.signingKey(v.ak, v.secret, v.scope)
		if want := referenceKey(v.secret, v.scope.Date, v.scope.Region, v.scope.Service); !bytes.Equal(got, want) {
			t.Errorf("%+v: key %x, want %x", v, got, want)
		}
	}
	if c.len() != 1+len(variants) {
		t.Fatalf("len = %d, want %d", c.len(), 1+len(variants))
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	scope := Scope{"20240517", "us-east-1", "s3"}
	for i := range 3 * keyCacheSize {
		c.signingKey(fmt.Sprint("AK", i), "secret", scope)
	}
	if c.len() != keyCacheSize {
		t.Fatalf("len = %d, want %d", c.len(), keyCacheSize)
	}
	// The most recent entries survive; the oldest were evicted.
	c.mu.Lock()
	_, newest := c.items[cacheKey{accessKey: fmt.Sprint("AK", 3*keyCacheSize-1), secret: sha256Sum("secret"), scope: scope}]
	_, oldest := c.items[cacheKey{accessKey: "AK0", secret: sha256Sum("secret"), scope: scope}]
	c.mu.Unlock()
	if !newest || oldest {
		t.Fatalf("newest cached = %v, oldest cached = %v", newest, oldest)
	}
}

func TestKeyCacheConcurrent(t *testing.T) {
	var c keyCache
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				s := Scope{"20240517", "us-east-1", "s3"}
				ak := fmt.Sprint("AK", (g*7+i)%50)
				if got := c.signingKey(ak, "s", s); !bytes.Equal(got, referenceKey("s", s.Date, s.Region, s.Service)) {
					t.Errorf("wrong key for %s", ak)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
