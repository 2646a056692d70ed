package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/processors/events"
)

// headLoad reads bucket/key from a backend the way a processor does; pause
// runs between the read and the return, to widen the race window.
func headLoad(b backends.Backend, bucket, key string, pause func()) LoadFunc {
	return func(ctx context.Context, _ *Object) (*Object, error) {
		info, err := b.HeadObject(ctx, bucket, key, backends.GetOptions{})
		pause()
		if errors.Is(err, backends.ErrNoSuchKey) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &Object{Size: info.Size, ETag: info.ETag, Modified: info.LastModified, ContentType: info.ContentType}, nil
	}
}

// event is one published event of the test: its key and sequencer.
type event struct{ key, seq string }

// eventPool is a queue that delivers at random: any published event next,
// some of them twice.
type eventPool struct {
	mu       sync.Mutex
	pending  []event
	inFlight int
	closed   bool // no more publishes
}

func (p *eventPool) publish(e event) {
	p.mu.Lock()
	p.pending = append(p.pending, e)
	p.mu.Unlock()
}

// take returns a random pending event; ok is false when there is none, and
// wait then says whether more may come.
func (p *eventPool) take(rng *rand.Rand) (e event, ok, wait bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return event{}, false, !(p.closed && p.inFlight == 0)
	}
	i := rng.IntN(len(p.pending))
	e = p.pending[i]
	p.pending[i] = p.pending[len(p.pending)-1]
	p.pending = p.pending[:len(p.pending)-1]
	p.inFlight++
	return e, true, false
}

func (p *eventPool) done(e event, redeliver bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight--
	if redeliver {
		p.pending = append(p.pending, e)
	}
}

func (p *eventPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// pauseFor sleeps a random, heavy-tailed while: mostly under a
// millisecond, sometimes several.
func pauseFor(rng *rand.Rand) {
	d := time.Duration(rng.IntN(1000)) * time.Microsecond
	switch rng.IntN(20) {
	case 0, 1, 2:
		d += time.Duration(rng.IntN(5000)) * time.Microsecond
	case 3:
		d += time.Duration(5000+rng.IntN(15000)) * time.Microsecond
	}
	time.Sleep(d)
}

// TestSyncObjectConverges is the property SyncObject exists for: writers
// PUT and DELETE keys of a real backend concurrently, each taking its
// sequencer before its backend call and publishing its event after; the
// events are applied concurrently, in random order, some twice, with
// random delays. Whatever the interleaving, once every event is applied
// each row equals the backend's object, or is absent with it.
func TestSyncObjectConverges(t *testing.T) {
	// The keys start at staggered times, so that the appliers keep up and
	// events are often in flight when their key's last write commits:
	// that is when a stale load could land last.
	rounds, keys, writersPerKey, opsPerWriter, appliers := 5, 24, 2, 4, 8
	stagger := 300 * time.Millisecond
	if testing.Short() {
		rounds = 1
	}
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		store, err := fs.Open(t.TempDir(), fs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		// Generous: a loaded machine running with -race is slow.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := store.CreateBucket(ctx, "race"); err != nil {
			t.Fatal(err)
		}
		sequencer := events.NewSequencer(1)
		var changes, stale, applied int
		for round := range rounds {
			pool := &eventPool{}
			var writersWG, appliersWG sync.WaitGroup
			errs := make(chan error, keys*writersPerKey+appliers)
			for k := range keys {
				key := fmt.Sprintf("round-%d/key-%d", round, k)
				for w := range writersPerKey {
					writersWG.Add(1)
					go func() {
						defer writersWG.Done()
						rng := rand.New(rand.NewPCG(uint64(round), uint64(k*100+w)))
						time.Sleep(time.Duration(k) * stagger / time.Duration(keys))
						for i := range opsPerWriter {
							seq := sequencer.Next()
							// A slow request: its backend call may commit
							// after one that took a later sequencer.
							pauseFor(rng)
							var err error
							if rng.IntN(10) < 6 {
								body := fmt.Sprintf("writer %d op %d %d", w, i, rng.Int64())
								_, err = store.PutObject(ctx, "race", key, bytes.NewReader([]byte(body)),
									backends.PutOptions{Size: int64(len(body))})
							} else {
								err = store.DeleteObject(ctx, "race", key, backends.DeleteOptions{})
							}
							if err != nil {
								errs <- err
								return
							}
							pool.publish(event{key, seq}) // after the commit, as the outbox does
						}
					}()
				}
			}
			var results sync.Mutex
			for a := range appliers {
				appliersWG.Add(1)
				go func() {
					defer appliersWG.Done()
					rng := rand.New(rand.NewPCG(uint64(round), 1000+uint64(a)))
					for {
						e, ok, wait := pool.take(rng)
						if !ok {
							if !wait {
								return
							}
							time.Sleep(200 * time.Microsecond)
							continue
						}
						pauseFor(rng)
						res, err := c.SyncObject(ctx, "race", "race", e.key, e.seq, headLoad(store, "race", e.key, func() { pauseFor(rng) }))
						if err != nil {
							errs <- err
							pool.done(e, false)
							return
						}
						results.Lock()
						applied++
						if res.Changed {
							changes++
						}
						if res.Stale {
							stale++
						}
						results.Unlock()
						pool.done(e, rng.IntN(10) == 0) // at least once: sometimes twice
					}
				}()
			}
			writersWG.Wait()
			pool.close()
			appliersWG.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			for k := range keys {
				key := fmt.Sprintf("round-%d/key-%d", round, k)
				info, err := store.HeadObject(ctx, "race", key, backends.GetOptions{})
				row := rowT(t, c, "race", key)
				switch {
				case errors.Is(err, backends.ErrNoSuchKey):
					if row != nil {
						t.Errorf("%s: the object is gone but its row says %s (sequencer %s)", key, row.ETag, row.Sequencer)
					}
				case err != nil:
					t.Fatal(err)
				case row == nil:
					t.Errorf("%s: the object %s exists but has no row", key, info.ETag)
				case row.ETag != info.ETag || row.Size != info.Size || !row.Modified.Equal(info.LastModified.Truncate(time.Microsecond)):
					t.Errorf("%s: row %s/%d/%v, backend %s/%d/%v", key, row.ETag, row.Size, row.Modified, info.ETag, info.Size, info.LastModified)
				}
			}
		}
		t.Logf("%d events applied, %d changed the row, %d stale", applied, changes, stale)
		if stale == 0 {
			t.Error("no event was applied out of order: the test did not exercise reordering")
		}
	})
}

// One processor's syncs of one key queue behind each other, across
// Catalog handles (on PostgreSQL, separate pools as replicas have), and
// the later one sees what the earlier wrote; other keys and other
// processors do not wait.
func TestSyncObjectLocksKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		c1, c2 := openT(t, dsn), openT(t, dsn)
		ctx := testCtx(t)
		entered, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			_, err := c1.SyncObject(ctx, "p", "b", "k", seqN(1), func(context.Context, *Object) (*Object, error) {
				close(entered)
				<-release
				return &Object{ETag: "first", Modified: time.Now()}, nil
			})
			first <- err
		}()
		<-entered

		// Not blocked: another key, another processor.
		for _, o := range []struct{ processor, key string }{{"p", "other"}, {"q", "k"}} {
			if _, err := c2.SyncObject(ctx, o.processor, "b", o.key, seqN(1), loadOf(nil)); err != nil {
				t.Fatalf("%s/%s: %v", o.processor, o.key, err)
			}
		}

		var sawETag string
		loaded := make(chan struct{})
		second := make(chan error, 1)
		go func() {
			_, err := c2.SyncObject(ctx, "p", "b", "k", seqN(2), func(_ context.Context, cur *Object) (*Object, error) {
				close(loaded)
				if cur != nil {
					sawETag = cur.ETag
				}
				return &Object{ETag: "second", Modified: time.Now()}, nil
			})
			second <- err
		}()
		select {
		case <-loaded:
			t.Fatal("a second sync of the key loaded while the first held it")
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
		if sawETag != "first" {
			t.Errorf("the second sync saw the row of %q, want the first's write", sawETag)
		}
		if row := rowT(t, c1, "b", "k"); row == nil || row.ETag != "second" {
			t.Errorf("row = %+v", row)
		}
	})
}

// A sync waiting for the key's lock gives up with its context.
func TestSyncObjectLockWaitCancelled(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		entered, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := c.SyncObject(ctx, "p", "b", "k", seqN(1), func(context.Context, *Object) (*Object, error) {
				close(entered)
				<-release
				return nil, nil
			})
			done <- err
		}()
		<-entered
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.SyncObject(short, "p", "b", "k", seqN(2), loadOf(nil))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %v", d)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
