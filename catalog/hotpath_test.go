package catalog

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

// TestWriteGroup: concurrent writes share commits; a write that fails is
// rolled back alone; a write whose caller gave up before its turn is not
// made.
func TestWriteGroup(t *testing.T) {
	ctx := t.Context()
	c, err := Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.w.ExecContext(ctx, "CREATE TABLE t (n INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	insert := func(n int, fail bool) func(context.Context, execer) error {
		return func(ctx context.Context, tx execer) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t (n) VALUES ($1)", n); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		}
	}
	g := c.group
	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = g.Do(ctx, insert(i, i%10 == 3))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%10 == 3; (err != nil) != want {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i := range writers {
		var n int
		err := c.w.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE n = $1", i).Scan(&n)
		if want := 1 - btoi(i%10 == 3); err != nil || n != want {
			t.Fatalf("row %d: %d rows (%v), want %d", i, n, err, want)
		}
	}

	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.Do(gone, insert(1000, false)); !errors.Is(err, context.Canceled) {
		t.Fatalf("write of a cancelled caller: %v", err)
	}
	var n int
	if err := c.w.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE n = 1000").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the cancelled write was made: %d %v", n, err)
	}
	// A duplicate key fails in SQLite itself; its neighbours still commit.
	var wg2 sync.WaitGroup
	results := make([]error, 3)
	for i, k := range []int{2000, 0, 2001} {
		wg2.Go(func() { results[i] = g.Do(ctx, insert(k, false)) })
	}
	wg2.Wait()
	if results[1] == nil || results[0] != nil || results[2] != nil {
		t.Fatalf("results %v: want only the duplicate to fail", results)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
