package metadata

import (
	"context"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors"
)

// PostgreSQL stops under a running processor: Handle fails with a
// temporary error, never a permanent one (the worker pool would drop the
// event), and succeeds once PostgreSQL is back. A cluster of the test's
// own is stopped, so the shared server stays up for other tests.
func TestPostgresOutage(t *testing.T) {
	cluster := catalogtest.StartCluster(t)
	e := newEnv(t, cluster.DSN())
	e.handle(e.put("before", "alice", pngBytes, backends.PutOptions{}))
	rec := e.put("during", "alice", pngBytes, backends.PutOptions{})

	cluster.Stop()
	// The first call meets a pooled connection the shutdown ended, the
	// second a refused connect.
	for range 2 {
		ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
		err := e.p.Handle(ctx, rec)
		cancel()
		if err == nil {
			t.Fatal("Handle succeeded with PostgreSQL stopped")
		}
		if processors.IsPermanent(err) {
			t.Fatalf("PostgreSQL down is a permanent error: %v", err)
		}
		t.Logf("while stopped: %v", err)
	}

	cluster.Start()
	// The pool may first hand out a connection the shutdown broke, as a
	// worker's first retry would meet; retries must then succeed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := e.p.Handle(e.ctx, rec)
		if err == nil {
			break
		}
		if processors.IsPermanent(err) {
			t.Fatalf("after restart: a permanent error: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Handle still failing 30s after PostgreSQL restarted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, info := e.row("during"), e.head("during")
	if got == nil || got.ETag != info.ETag || got.SniffedContentType != "image/png" || got.Owner != "alice" {
		t.Fatalf("row after recovery: %+v", got)
	}
	if e.row("before") == nil {
		t.Error("the row written before the outage is gone")
	}
}
