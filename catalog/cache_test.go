package catalog

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestBucketCache(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := newBucketCache(time.Second, 3)
	c.now = clock.now
	b := func(name string) Bucket { return Bucket{Name: name} }

	c.put(b("a"), c.generation())
	if _, ok := c.get("a"); !ok {
		t.Fatal("miss right after put")
	}
	clock.add(999 * time.Millisecond)
	if _, ok := c.get("a"); !ok {
		t.Fatal("miss before the TTL")
	}
	clock.add(time.Millisecond)
	if _, ok := c.get("a"); ok {
		t.Fatal("hit at the TTL")
	}

	// A load that started before a write must not store its stale copy.
	gen := c.generation()
	c.invalidate("a")
	c.put(b("a"), gen)
	if _, ok := c.get("a"); ok {
		t.Fatal("stale load stored after an invalidation")
	}

	c.put(b("a"), c.generation())
	c.invalidate("a")
	if _, ok := c.get("a"); ok {
		t.Fatal("hit after invalidate")
	}

	// Bounded: never more than max entries, expired ones go first.
	c.put(b("old"), c.generation())
	clock.add(2 * time.Second)
	for i := range 10 {
		c.put(b(fmt.Sprint(i)), c.generation())
		if n := len(c.m); n > 3 {
			t.Fatalf("%d entries, max 3", n)
		}
	}
	if _, ok := c.m["old"]; ok {
		t.Error("expired entry kept while live ones were evicted")
	}
	if _, ok := c.get("9"); !ok {
		t.Error("newest entry missing")
	}

	// Off.
	off := newBucketCache(0, 10)
	off.put(b("a"), off.generation())
	off.invalidate("a")
	if _, ok := off.get("a"); ok {
		t.Error("disabled cache hit")
	}
}

// With the cache on, GetBucket does not go to the database within the TTL,
// sees this Catalog's own writes at once, and another's after the TTL.
func TestGetBucketCache(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		clock := &fakeClock{t: time.Now()}
		a := openT(t, dsn, CacheTTL(time.Second))
		a.cache.now = clock.now
		other := openT(t, dsn)
		ctx := testCtx(t)

		if err := a.CreateBucket(ctx, Bucket{Name: "b", OwnerID: "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.GetBucket(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		// Another process deletes and re-creates it: within the TTL, a still
		// answers from memory.
		if err := other.DeleteBucket(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if err := other.CreateBucket(ctx, Bucket{Name: "b", OwnerID: "2"}); err != nil {
			t.Fatal(err)
		}
		if got, err := a.GetBucket(ctx, "b"); err != nil || got.OwnerID != "1" {
			t.Fatalf("within the TTL: %+v, %v; want the cached owner 1", got, err)
		}
		clock.add(time.Second)
		if got, err := a.GetBucket(ctx, "b"); err != nil || got.OwnerID != "2" {
			t.Fatalf("after the TTL: %+v, %v; want owner 2", got, err)
		}
		// Its own delete is seen at once.
		if err := a.DeleteBucket(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.GetBucket(ctx, "b"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("after own delete: %v", err)
		}
		// Absence is not cached: another's create is seen at once.
		if err := other.CreateBucket(ctx, Bucket{Name: "b", OwnerID: "3"}); err != nil {
			t.Fatal(err)
		}
		if got, err := a.GetBucket(ctx, "b"); err != nil || got.OwnerID != "3" {
			t.Fatalf("after another's create: %+v, %v", got, err)
		}
	})
}
