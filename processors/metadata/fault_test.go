package metadata

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog/catalogtest"
	"github.com/s3gate/s3gate/processors"
	"github.com/s3gate/s3gate/processors/queue/diskq"
	"github.com/s3gate/s3gate/processors/worker"
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

// The same outage through the worker pool, as serve runs it: the event is
// retried with backoff while PostgreSQL is down, applied once it is back,
// and never dead-lettered.
func TestPostgresOutageThroughWorkers(t *testing.T) {
	cluster := catalogtest.StartCluster(t)
	e := newEnv(t, cluster.DSN())
	q, err := diskq.Open(t.TempDir(), diskq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reg := prometheus.NewRegistry()
	pool, err := worker.New(q, []worker.Spec{{Processor: e.p, Concurrency: 2}}, worker.Options{
		MaxAttempts: 100, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		ReadWait: 100 * time.Millisecond, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	cluster.Stop()
	rec := e.put("during", "alice", pngBytes, backends.PutOptions{})
	body, _ := rec.Marshal()
	if _, err := q.Publish(e.ctx, body); err != nil {
		t.Fatal(err)
	}
	metric := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
			}
		}
		return sum
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("retries while PostgreSQL is down", func() bool { return metric("s3gate_hook_retries_total") >= 3 })
	cluster.Start()
	waitUntil("catalogue row after PostgreSQL returned", func() bool {
		o, err := e.cat.GetObject(e.ctx, bucket, "during")
		return err == nil && o.SniffedContentType == "image/png"
	})
	if dls, err := q.DeadLetters(e.ctx, Name, 10); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %v, %v", dls, err)
	}
	waitUntil("the event acknowledged", func() bool { n, err := q.Pending(e.ctx, Name); return err == nil && n == 0 })
}
