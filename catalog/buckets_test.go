package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("x", 3600))
	photos := Bucket{
		Name: "photos", OwnerID: "owner-1", OwnerName: "Alice", Created: created,
		Backend: "archive", BackendBucket: "upstream-photos", Prefix: "tenants/a/",
	}
	// What comes back: microseconds, UTC.
	photosStored := photos
	photosStored.Created = created.Truncate(time.Microsecond).UTC()

	eachDB(t, func(t *testing.T, db testDB) {
		for _, cacheTTL := range []time.Duration{0, time.Minute} {
			t.Run(fmt.Sprintf("cache=%v", cacheTTL), func(t *testing.T) {
				c := openT(t, db.Fresh(t), CacheTTL(cacheTTL))
				ctx := testCtx(t)
				getIs := func(name string, want Bucket) func() error {
					return func() error {
						got, err := c.GetBucket(ctx, name)
						if err == nil && !reflect.DeepEqual(got, want) {
							return fmt.Errorf("GetBucket = %+v, want %+v", got, want)
						}
						return err
					}
				}
				listIs := func(want ...string) func() error {
					return func() error {
						bs, err := c.ListBuckets(ctx)
						var names []string
						for _, b := range bs {
							names = append(names, b.Name)
						}
						if err == nil && !reflect.DeepEqual(names, want) {
							return fmt.Errorf("ListBuckets = %q, want %q", names, want)
						}
						return err
					}
				}
				steps := []struct {
					name string
					do   func() error
					want error
				}{
					{"get missing", getIs("photos", Bucket{}), ErrNoSuchBucket},
					{"list empty", listIs(), nil},
					{"delete missing", func() error { return c.DeleteBucket(ctx, "photos") }, ErrNoSuchBucket},
					{"create", func() error { return c.CreateBucket(ctx, photos) }, nil},
					{"get", getIs("photos", photosStored), nil},
					{"get again (cache when on)", getIs("photos", photosStored), nil},
					{"create duplicate", func() error { return c.CreateBucket(ctx, Bucket{Name: "photos", OwnerID: "other"}) }, ErrBucketExists},
					{"duplicate changed nothing", getIs("photos", photosStored), nil},
					{"names are case-sensitive", getIs("Photos", Bucket{}), ErrNoSuchBucket},
					{"create second", func() error { return c.CreateBucket(ctx, Bucket{Name: "docs", OwnerID: "owner-2"}) }, nil},
					{"list by name", listIs("docs", "photos"), nil},
					{"delete", func() error { return c.DeleteBucket(ctx, "photos") }, nil},
					{"get deleted", getIs("photos", Bucket{}), ErrNoSuchBucket},
					{"delete again", func() error { return c.DeleteBucket(ctx, "photos") }, ErrNoSuchBucket},
					{"list after delete", listIs("docs"), nil},
					{"re-create", func() error { return c.CreateBucket(ctx, Bucket{Name: "photos", OwnerID: "owner-3"}) }, nil},
					{"re-created is new", func() error {
						b, err := c.GetBucket(ctx, "photos")
						if err == nil && (b.OwnerID != "owner-3" || b.Backend != "") {
							return fmt.Errorf("got %+v", b)
						}
						return err
					}, nil},
					{"empty name", func() error { return c.CreateBucket(ctx, Bucket{}) }, errAny},
				}
				for _, s := range steps {
					err := s.do()
					if !matches(err, s.want) {
						t.Fatalf("%s: err = %v, want %v", s.name, err, s.want)
					}
				}
			})
		}
	})
}

// errAny in a table means "some error".
var errAny = errors.New("any error")

func matches(err, want error) bool {
	if want == errAny {
		return err != nil
	}
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestCreateBucketSetsCreated(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		c := openT(t, db.Fresh(t))
		ctx := testCtx(t)
		before := time.Now().Add(-time.Second)
		if err := c.CreateBucket(ctx, Bucket{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		b, err := c.GetBucket(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if b.Created.Before(before) || b.Created.After(time.Now()) || b.Created.Location() != time.UTC {
			t.Errorf("Created = %v", b.Created)
		}
	})
}

// Names sort by bytes, as S3 lists them, whatever the database's locale: the
// PostgreSQL database here collates by ICU's en-US rules, which put "Upper"
// between "b" and "z".
func TestListBucketsByteOrder(t *testing.T) {
	names := []string{"Upper", "a-b", "a.b", "a0", "ab", "b", "z", "zz-1"} // byte order
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh
		if db.Name == "postgres" {
			dsn = func(t testing.TB) string {
				return freshPostgresWith(t, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
			}
		}
		c := openT(t, dsn(t))
		ctx := testCtx(t)
		for _, i := range []int{3, 6, 0, 7, 5, 1, 4, 2} {
			if err := c.CreateBucket(ctx, Bucket{Name: names[i]}); err != nil {
				t.Fatal(err)
			}
		}
		bs, err := c.ListBuckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range bs {
			got = append(got, b.Name)
		}
		if !reflect.DeepEqual(got, names) {
			t.Errorf("ListBuckets = %q, want %q", got, names)
		}
	})
}

// Many callers in two processes' worth of Catalogs create one name: exactly
// one wins and the rest get ErrBucketExists.
func TestConcurrentCreateBucket(t *testing.T) {
	const perCatalog = 8
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		cats := []*Catalog{openT(t, dsn), openT(t, dsn)}
		ctx := testCtx(t)
		for round := range 5 {
			name := fmt.Sprintf("contended-%d", round)
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, perCatalog*len(cats))
			for i := range perCatalog * len(cats) {
				c := cats[i%len(cats)]
				wg.Go(func() {
					<-start
					errs <- c.CreateBucket(ctx, Bucket{Name: name, OwnerID: fmt.Sprint(i)})
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			wins := 0
			for err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrBucketExists):
					t.Errorf("round %d: unexpected error: %v", round, err)
				}
			}
			if wins != 1 {
				t.Errorf("round %d: %d callers won, want 1", round, wins)
			}
		}
	})
}

// Writes through one Catalog are seen at once by another Catalog of the same
// database that has its cache off.
func TestSecondCatalogSeesWrites(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		a, b := openT(t, dsn), openT(t, dsn, CacheTTL(0))
		ctx := testCtx(t)
		if err := a.CreateBucket(ctx, Bucket{Name: "shared"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetBucket(ctx, "shared"); err != nil {
			t.Fatalf("other catalog: %v", err)
		}
		if err := a.DeleteBucket(ctx, "shared"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetBucket(ctx, "shared"); !errors.Is(err, ErrNoSuchBucket) {
			t.Fatalf("other catalog after delete: %v", err)
		}
	})
}
