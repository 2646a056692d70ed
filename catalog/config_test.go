package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func TestBucketCORS(t *testing.T) {
	rules := []CORSRule{
		{ID: "second-first", AllowedOrigins: []string{"https://b.example"}, AllowedMethods: []string{"PUT", "GET"},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag", "x-amz-request-id"}, MaxAgeSeconds: 3000},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}},
		{ID: "a", AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []string{"HEAD"}, MaxAgeSeconds: 1},
	}
	other := []CORSRule{{ID: "only", AllowedOrigins: []string{"https://x"}, AllowedMethods: []string{"POST"}}}

	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		getIs := func(want []CORSRule) func() error {
			return func() error {
				got, err := c.GetBucketCORS(ctx, "web")
				if err == nil && !reflect.DeepEqual(got, want) {
					return fmt.Errorf("GetBucketCORS = %+v, want %+v", got, want)
				}
				return err
			}
		}
		steps := []struct {
			name string
			do   func() error
			want error
		}{
			{"get, no bucket", getIs(nil), ErrNoSuchBucket},
			{"put, no bucket", func() error { return c.PutBucketCORS(ctx, "web", rules) }, ErrNoSuchBucket},
			{"delete, no bucket", func() error { return c.DeleteBucketCORS(ctx, "web") }, ErrNoSuchBucket},
			{"create bucket", func() error { return c.CreateBucket(ctx, Bucket{Name: "web"}) }, nil},
			{"get, none", getIs(nil), ErrNoSuchCORSConfiguration},
			{"delete, none", func() error { return c.DeleteBucketCORS(ctx, "web") }, nil},
			{"put", func() error { return c.PutBucketCORS(ctx, "web", rules) }, nil},
			{"get keeps order", getIs(rules), nil},
			{"replace", func() error { return c.PutBucketCORS(ctx, "web", other) }, nil},
			{"get replaced", getIs(other), nil},
			{"delete", func() error { return c.DeleteBucketCORS(ctx, "web") }, nil},
			{"get deleted", getIs(nil), ErrNoSuchCORSConfiguration},
			{"put again", func() error { return c.PutBucketCORS(ctx, "web", rules) }, nil},
			{"put no rules deletes", func() error { return c.PutBucketCORS(ctx, "web", nil) }, nil},
			{"get after empty put", getIs(nil), ErrNoSuchCORSConfiguration},
			{"put before bucket delete", func() error { return c.PutBucketCORS(ctx, "web", rules) }, nil},
			{"delete bucket", func() error { return c.DeleteBucket(ctx, "web") }, nil},
			{"re-create bucket", func() error { return c.CreateBucket(ctx, Bucket{Name: "web"}) }, nil},
			{"old CORS is gone", getIs(nil), ErrNoSuchCORSConfiguration},
		}
		for _, s := range steps {
			if err := s.do(); !matches(err, s.want) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.want)
			}
		}
	})
}

func TestBucketTagging(t *testing.T) {
	tags := map[string]string{"env": "prod", "team": "imaging", "empty": "", "ünïcode key": "välue"}
	other := map[string]string{"env": "dev"}

	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		getIs := func(want map[string]string) func() error {
			return func() error {
				got, err := c.GetBucketTagging(ctx, "tagged")
				if err == nil && !reflect.DeepEqual(got, want) {
					return fmt.Errorf("GetBucketTagging = %v, want %v", got, want)
				}
				return err
			}
		}
		steps := []struct {
			name string
			do   func() error
			want error
		}{
			{"get, no bucket", getIs(nil), ErrNoSuchBucket},
			{"put, no bucket", func() error { return c.PutBucketTagging(ctx, "tagged", tags) }, ErrNoSuchBucket},
			{"put empty, no bucket", func() error { return c.PutBucketTagging(ctx, "tagged", nil) }, ErrNoSuchBucket},
			{"delete, no bucket", func() error { return c.DeleteBucketTagging(ctx, "tagged") }, ErrNoSuchBucket},
			{"create bucket", func() error { return c.CreateBucket(ctx, Bucket{Name: "tagged"}) }, nil},
			{"get, none", getIs(nil), ErrNoSuchTagSet},
			{"delete, none", func() error { return c.DeleteBucketTagging(ctx, "tagged") }, nil},
			{"put", func() error { return c.PutBucketTagging(ctx, "tagged", tags) }, nil},
			{"get", getIs(tags), nil},
			{"replace drops old keys", func() error { return c.PutBucketTagging(ctx, "tagged", other) }, nil},
			{"get replaced", getIs(other), nil},
			{"delete", func() error { return c.DeleteBucketTagging(ctx, "tagged") }, nil},
			{"get deleted", getIs(nil), ErrNoSuchTagSet},
			{"put again", func() error { return c.PutBucketTagging(ctx, "tagged", tags) }, nil},
			{"put empty deletes", func() error { return c.PutBucketTagging(ctx, "tagged", map[string]string{}) }, nil},
			{"get after empty put", getIs(nil), ErrNoSuchTagSet},
			{"put before bucket delete", func() error { return c.PutBucketTagging(ctx, "tagged", tags) }, nil},
			{"delete bucket", func() error { return c.DeleteBucket(ctx, "tagged") }, nil},
			{"re-create bucket", func() error { return c.CreateBucket(ctx, Bucket{Name: "tagged"}) }, nil},
			{"old tags are gone", getIs(nil), ErrNoSuchTagSet},
		}
		for _, s := range steps {
			if err := s.do(); !matches(err, s.want) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.want)
			}
		}
	})
}

// Concurrent replacements of one bucket's tags all succeed, and the result is
// exactly one of the sets written, never a mix.
func TestConcurrentPutBucketTagging(t *testing.T) {
	const writers = 8
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		cats := []*Catalog{openT(t, dsn), openT(t, dsn)}
		ctx := testCtx(t)
		if err := cats[0].CreateBucket(ctx, Bucket{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		sets := make([]map[string]string, writers)
		for i := range sets {
			// Overlapping keys, so unserialised writers would collide.
			sets[i] = map[string]string{"shared": fmt.Sprint(i), "k" + fmt.Sprint(i%2): fmt.Sprint(i), "w": fmt.Sprint(i)}
		}
		for round := range 3 {
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, writers)
			for i := range writers {
				wg.Go(func() {
					<-start
					errs[i] = cats[i%2].PutBucketTagging(ctx, "b", sets[i])
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			got, err := cats[0].GetBucketTagging(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, s := range sets {
				found = found || reflect.DeepEqual(got, s)
			}
			if !found {
				t.Fatalf("round %d: tags %v are none of the sets written", round, got)
			}
		}
	})
}
