package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors/events"
)

// pause sleeps a random, heavy-tailed while.
func pause(rng *rand.Rand) {
	d := time.Duration(rng.IntN(1000)) * time.Microsecond
	if rng.IntN(8) == 0 {
		d += time.Duration(rng.IntN(8000)) * time.Microsecond
	}
	time.Sleep(d)
}

// TestConcurrentWriters runs PUTs, DELETEs and tag changes of several
// principals against a few keys at once and hands their events to
// concurrent Handle calls in random order, some twice. Once all are
// handled, every row equals the backend's object (ETag, size, time, tags,
// content type) and names the principal whose PUT is there as its owner.
func TestConcurrentWriters(t *testing.T) {
	keys, writersPerKey, opsPerWriter, appliers := 16, 3, 4, 6
	stagger := 200 * time.Millisecond
	catalogtest.EachDB(t, func(t *testing.T, db catalogtest.DB) {
		e := newEnv(t, db.Fresh(t))
		var (
			mu       sync.Mutex
			pending  []events.Record
			inFlight int
			closed   bool
			writerOf = map[string]string{} // ETag -> principal
		)
		publish := func(rec events.Record) {
			mu.Lock()
			pending = append(pending, rec)
			mu.Unlock()
		}
		errs := make(chan error, keys*writersPerKey+appliers)
		var writers, handlers sync.WaitGroup
		for k := range keys {
			key := fmt.Sprintf("dir/key %d", k)
			for w := range writersPerKey {
				writers.Add(1)
				go func() {
					defer writers.Done()
					rng := rand.New(rand.NewPCG(uint64(k), uint64(w)))
					principal := fmt.Sprintf("user:%d-%d", k, w)
					time.Sleep(time.Duration(k) * stagger / time.Duration(keys))
					for i := range opsPerWriter {
						var rec events.Record
						var err error
						switch op := rng.IntN(10); {
						case op < 5:
							rec = e.record(events.ObjectCreatedPut, key, principal)
							pause(rng)
							body := []byte(fmt.Sprintf("%s op %d %d", principal, i, rng.Int64()))
							if rng.IntN(2) == 0 {
								body = append(append([]byte{}, pngBytes...), body...)
							}
							var info backends.ObjectInfo
							info, err = e.backend.PutObject(e.ctx, bucket, key, bytes.NewReader(body), backends.PutOptions{
								Size: int64(len(body)), Tags: map[string]string{"by": principal},
								Metadata: map[string]string{"op": fmt.Sprint(i)},
							})
							if err == nil {
								rec.S3.Object.ETag, rec.S3.Object.Size = info.ETag, info.Size
								mu.Lock()
								writerOf[info.ETag] = principal
								mu.Unlock()
							}
						case op < 8:
							rec = e.record(events.ObjectRemovedDelete, key, principal)
							pause(rng)
							err = e.backend.DeleteObject(e.ctx, bucket, key, backends.DeleteOptions{})
						default:
							rec = e.record(events.ObjectTaggingPut, key, principal)
							pause(rng)
							err = e.backend.PutObjectTagging(e.ctx, bucket, key, map[string]string{"tagged": principal})
							if errors.Is(err, backends.ErrNoSuchKey) {
								continue // nothing changed, no event
							}
						}
						if err != nil {
							errs <- err
							return
						}
						publish(rec)
					}
				}()
			}
		}
		for a := range appliers {
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				rng := rand.New(rand.NewPCG(99, uint64(a)))
				for {
					mu.Lock()
					if len(pending) == 0 {
						done := closed && inFlight == 0
						mu.Unlock()
						if done {
							return
						}
						time.Sleep(200 * time.Microsecond)
						continue
					}
					i := rng.IntN(len(pending))
					rec := pending[i]
					pending[i] = pending[len(pending)-1]
					pending = pending[:len(pending)-1]
					inFlight++
					mu.Unlock()
					pause(rng)
					err := e.p.Handle(e.ctx, rec)
					mu.Lock()
					inFlight--
					if err == nil && rng.IntN(10) == 0 {
						pending = append(pending, rec) // delivered again
					}
					mu.Unlock()
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		writers.Wait()
		mu.Lock()
		closed = true
		mu.Unlock()
		handlers.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		for k := range keys {
			key := fmt.Sprintf("dir/key %d", k)
			row := e.row(key)
			info, err := e.backend.Backend.HeadObject(e.ctx, bucket, key, backends.GetOptions{})
			if errors.Is(err, backends.ErrNoSuchKey) {
				if row != nil {
					t.Errorf("%s: gone from the backend, but its row says %s", key, row.ETag)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			tags, err := e.backend.Backend.GetObjectTagging(e.ctx, bucket, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) == 0 {
				tags = nil
			}
			wantSniffed := "text/plain"
			if info.Size > int64(len(pngBytes)) {
				wantSniffed = "image/png"
			}
			switch {
			case row == nil:
				t.Errorf("%s: %s in the backend, but no row", key, info.ETag)
			case row.ETag != info.ETag || row.Size != info.Size || !row.Modified.Equal(info.LastModified.Truncate(time.Microsecond)):
				t.Errorf("%s: row %s/%d/%v, backend %s/%d/%v", key, row.ETag, row.Size, row.Modified, info.ETag, info.Size, info.LastModified)
			case !maps.Equal(row.Tags, tags) || !maps.Equal(row.Metadata, info.Metadata):
				t.Errorf("%s: row tags %v metadata %v, backend %v %v", key, row.Tags, row.Metadata, tags, info.Metadata)
			case row.SniffedContentType != wantSniffed:
				t.Errorf("%s: sniffed %q, want %q", key, row.SniffedContentType, wantSniffed)
			case row.Owner != writerOf[info.ETag]:
				t.Errorf("%s: owner %q, but %q wrote %s", key, row.Owner, writerOf[info.ETag], info.ETag)
			}
		}
	})
}
