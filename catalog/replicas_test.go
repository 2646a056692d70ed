package catalog_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/catalog/catalogtest"
)

// TestReadReplicas: with a streaming replica configured, listings are
// answered by the replica (pausing its replay hides new rows from them,
// not from the primary's reads), and by the primary when the replica is
// down.
func TestReadReplicas(t *testing.T) {
	primary := catalogtest.StartCluster(t)
	replica := primary.StartReplica()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := catalog.Open(ctx, primary.DSN(), catalog.ReadReplicas(replica.DSN()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := catalog.ObjectFilter{Readable: []catalog.ReadGrant{{Bucket: "*"}}}
	put := func(key string) {
		t.Helper()
		_, err := c.SyncObject(ctx, "test", "photos", key, "0001", func(context.Context, *catalog.Object) (*catalog.Object, error) {
			return &catalog.Object{Size: 1, ETag: "e-" + key, Modified: time.Now()}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	listed := func() []string {
		t.Helper()
		rows, _, err := c.ListObjects(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.Key)
		}
		return keys
	}
	waitListed := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for strings.Join(listed(), ",") != want {
			if time.Now().After(deadline) {
				t.Fatalf("listing %v, want %s", listed(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	rdb, err := sql.Open("pgx", replica.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	put("a")
	waitListed("a")
	// Until the replica has replayed the schema and row a, listings fall
	// back to the primary; wait for it.
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := rdb.QueryRowContext(ctx, "SELECT count(*) FROM objects").Scan(&n); err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not catch up with the primary; its log:\n%s", replica.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Replay paused on the replica: the primary has the new row, the
	// listings (the replica's) do not, until replay resumes.
	if _, err := rdb.ExecContext(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	put("b")
	if _, err := c.GetObject(ctx, "photos", "b"); err != nil {
		t.Fatalf("the primary does not have the new row: %v", err)
	}
	for range 4 { // every replica in turn: there is one
		if got := strings.Join(listed(), ","); got != "a" {
			t.Fatalf("listing %q while the replica's replay is paused: it was not answered by the replica", got)
		}
	}
	if _, err := rdb.ExecContext(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	waitListed("a,b")
	if u, err := c.CountObjects(ctx, all); err != nil || u.Objects != 2 {
		t.Fatalf("CountObjects: %+v %v", u, err)
	}

	// The replica down: the primary answers.
	rdb.Close()
	replica.Stop()
	put("c")
	if got := strings.Join(listed(), ","); got != "a,b,c" {
		t.Fatalf("listing with the replica down: %q", got)
	}
	if us, err := c.BucketUsage(ctx); err != nil || len(us) != 1 || us[0].Objects != 3 {
		t.Fatalf("BucketUsage with the replica down: %+v %v", us, err)
	}
}

func TestReadReplicasNeedPostgres(t *testing.T) {
	_, err := catalog.Open(t.Context(), catalogtest.FreshSQLite(t), catalog.ReadReplicas("postgres://127.0.0.1:1/x"))
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("read replicas with SQLite: %v", err)
	}
}
