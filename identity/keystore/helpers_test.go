package keystore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity/seal"
)

// The catalogue databases of these tests: see catalogtest.
type testDB = catalogtest.DB

var (
	eachDB      = catalogtest.EachDB
	freshSQLite = catalogtest.FreshSQLite
)

// openCatalogT opens dsn and closes it when t ends (or earlier, by the test).
func openCatalogT(t testing.TB, dsn string) *catalog.Catalog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := catalog.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("catalog.Open: %v", err)
	}
	t.Cleanup(func() { c.Close() }) // a second Close, after the test's own, is a no-op
	return c
}

// rawDB opens dsn's database with a plain driver, to read what is stored
// without the catalogue in between.
func rawDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if path, ok := sqliteFile(dsn); ok {
		driver, name = "sqlite", "file:"+path+"?mode=ro"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteFile returns the path of a SQLite DSN made by freshSQLite.
func sqliteFile(dsn string) (string, bool) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "sqlite" {
		return "", false
	}
	return u.Path, true
}

func newMasterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyringT(t testing.TB, current []byte, older ...[]byte) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring(current, older...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newStoreT(t testing.TB, cat Catalog, kr *seal.Keyring, opts Options) *Store {
	t.Helper()
	s, err := New(cat, kr, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a clock the test moves; the Store reads it for cache expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func withClock(s *Store) *fakeClock {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = c.now
	return c
}

// spyCatalog counts the catalogue reads the Store makes, and lets a test
// hold a read or make one fail.
type spyCatalog struct {
	*catalog.Catalog
	mu    sync.Mutex
	gets  int
	held  int           // reads that have read the row and wait on hold
	hold  chan struct{} // when set, reads wait for it to close before returning
	fails error         // when set, the next read returns it
}

func (s *spyCatalog) GetAccessKey(ctx context.Context, id string) (catalog.AccessKey, error) {
	s.mu.Lock()
	s.gets++
	hold, fail := s.hold, s.fails
	s.fails = nil
	s.mu.Unlock()
	if fail != nil {
		return catalog.AccessKey{}, fail
	}
	k, err := s.Catalog.GetAccessKey(ctx, id)
	if hold != nil {
		s.mu.Lock()
		s.held++
		s.mu.Unlock()
		<-hold
		// As a driver would, give up when the read's context has ended.
		if ctx.Err() != nil {
			return catalog.AccessKey{}, ctx.Err()
		}
	}
	return k, err
}

func (s *spyCatalog) reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// waitHeld waits until a read has read its row and is held.
func (s *spyCatalog) waitHeld(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := s.held
		s.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no catalogue read was held")
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *spyCatalog) setHold(ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = ch
}

func (s *spyCatalog) failNext(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = err
}
