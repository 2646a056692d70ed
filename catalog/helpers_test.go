package catalog

import (
	"context"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"testing"
	"time"
)

// The catalogue databases of these tests: see catalogtest.
type testDB = catalogtest.DB

var (
	testDBs           = catalogtest.DBs
	eachDB            = catalogtest.EachDB
	freshPostgres     = catalogtest.FreshPostgres
	freshPostgresWith = catalogtest.FreshPostgresWith
	requirePostgres   = catalogtest.RequirePostgres
)

// openT opens dsn and closes it when t ends.
func openT(t testing.TB, dsn string, opts ...Option) *Catalog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
