package catalog

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// Both dialects must describe the same schema history.
func TestMigrationFilesMatch(t *testing.T) {
	pg, err := loadMigrations(postgresDialect.name)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := loadMigrations(sqliteDialect.name)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].version != lite[i].version || pg[i].name != lite[i].name {
			t.Errorf("migration %d: postgres %04d_%s, sqlite %04d_%s", i, pg[i].version, pg[i].name, lite[i].version, lite[i].name)
		}
	}
}

func appliedT(t *testing.T, c *Catalog) map[int]string {
	t.Helper()
	ctx := testCtx(t)
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	got, err := appliedMigrations(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantAllApplied(t *testing.T, c *Catalog) {
	t.Helper()
	ms, err := loadMigrations(c.d.name)
	if err != nil {
		t.Fatal(err)
	}
	got := appliedT(t, c)
	if len(got) != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d: %v", len(got), len(ms), got)
	}
	for _, m := range ms {
		if got[m.version] != m.name {
			t.Errorf("version %d: recorded %q, want %q", m.version, got[m.version], m.name)
		}
	}
}

func TestMigrations(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		dsn := db.Fresh(t)
		ctx := testCtx(t)

		c := openT(t, dsn)
		wantAllApplied(t, c)
		if err := c.CreateBucket(ctx, Bucket{Name: "keep", OwnerID: "o"}); err != nil {
			t.Fatal(err)
		}

		// Opening again applies nothing and keeps the data.
		c2 := openT(t, dsn)
		wantAllApplied(t, c2)
		if _, err := c2.GetBucket(ctx, "keep"); err != nil {
			t.Fatalf("bucket lost on re-open: %v", err)
		}

		// A version this build does not know (a newer replica's) is left alone.
		if _, err := c.w.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 9999, "from_the_future"); err != nil {
			t.Fatal(err)
		}
		openT(t, dsn)

		// A known version recorded under another name is refused.
		if _, err := c.w.ExecContext(ctx, "UPDATE schema_migrations SET name = $1 WHERE version = 1", "something_else"); err != nil {
			t.Fatal(err)
		}
		c3, err := Open(ctx, dsn)
		if err == nil {
			c3.Close()
			t.Fatal("Open accepted a database whose migration 1 has another name")
		}
		if !strings.Contains(err.Error(), "something_else") {
			t.Errorf("error does not name the mismatch: %v", err)
		}
	})
}

// Replicas that start at once must all come up, and the schema must be
// applied once. Without the PostgreSQL advisory lock the losers fail on
// "relation already exists" or a duplicate key.
func TestConcurrentOpen(t *testing.T) {
	const openers = 4
	eachDB(t, func(t *testing.T, db testDB) {
		rounds := 3 // a fresh PostgreSQL database costs ~0.1 s
		if db.Name == "sqlite" {
			rounds = 20 // cheap, and the race it looks for is rare
		}
		for round := range rounds {
			dsn := db.Fresh(t)
			ctx := testCtx(t)
			var wg sync.WaitGroup
			start := make(chan struct{})
			cats := make([]*Catalog, openers)
			errs := make([]error, openers)
			for i := range openers {
				wg.Go(func() {
					<-start
					cats[i], errs[i] = Open(ctx, dsn)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: Open %d: %v", round, i, err)
					continue
				}
				defer cats[i].Close()
			}
			if t.Failed() {
				return
			}
			wantAllApplied(t, cats[0])
		}
	})
}

// The migration lock is held for the whole transaction: a second migrator
// waits for the first rather than racing it.
func TestMigrationLockWaits(t *testing.T) {
	dsn := freshPostgres(t)
	ctx := testCtx(t)
	c := openT(t, dsn)
	tx, err := c.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, postgresDialect.lockSQL, migrationLockKey); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if c2, err := Open(short, dsn); err == nil {
		c2.Close()
		t.Fatal("Open finished while another migrator held the lock")
	}
	tx.Rollback()
	openT(t, dsn)
}
