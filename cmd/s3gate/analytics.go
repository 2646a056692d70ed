package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/analytics/clickhouse"
	"github.com/s3gate/s3gate/processors/analytics/embedded"
	"github.com/s3gate/s3gate/processors/worker"
)

// Where the analytics rows live in the data dir: the embedded table, and
// the spool of batches the store did not take yet.
const (
	analyticsFile     = "analytics/analytics.db"
	analyticsSpoolDir = "analytics/spool"
)

// analyticsService records every request and hook outcome in the store
// the configuration names, through a Recorder that never blocks them.
type analyticsService struct {
	rec  *analytics.Recorder
	sink store
	log  *slog.Logger

	stop    context.CancelFunc
	running sync.WaitGroup
}

// store is an analytics store: it takes rows, answers the stats API,
// and drops its rows past the retention.
type store interface {
	analytics.Sink
	analytics.Stats
	DropExpired(ctx context.Context) (int, error)
}

// openAnalytics opens the store and the recorder in front of it, or
// returns nil when analytics are off. A configured ClickHouse that cannot
// be reached is an error at start: rows would only pile up in the spool.
func openAnalytics(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (*analyticsService, error) {
	ac := cfg.Analytics
	if !ac.Enabled {
		return nil, nil
	}
	a := &analyticsService{log: log}
	switch ac.Store {
	case "clickhouse":
		sink, err := clickhouse.Open(ctx, clickhouse.Options{
			Addr: ac.ClickHouseAddr, Database: ac.ClickHouseDatabase,
			Username: ac.ClickHouseUsername, Password: ac.ClickHousePassword,
			Retention: ac.Retention, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("analytics store on ClickHouse %v: %w", ac.ClickHouseAddr, err)
		}
		a.sink = sink
	default:
		path := filepath.Join(cfg.DataDir, analyticsFile)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		sink, err := embedded.Open(path, embedded.Options{Retention: ac.Retention})
		if err != nil {
			return nil, err
		}
		a.sink = sink
	}
	rec, err := analytics.NewRecorder(a.sink, analytics.RecorderOptions{
		SpoolDir:      filepath.Join(cfg.DataDir, analyticsSpoolDir),
		BatchRows:     ac.BatchRows,
		FlushInterval: ac.FlushInterval,
		SpoolBytes:    ac.SpoolBytes,
		Registerer:    reg,
		Logger:        log,
	})
	if err != nil {
		a.sink.Close()
		return nil, err
	}
	a.rec = rec
	return a, nil
}

// run writes rows and drops expired ones until Close.
func (a *analyticsService) run() {
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.running.Go(func() {
		if err := a.rec.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("analytics recorder stopped", "err", err)
		}
	})
	a.running.Go(func() { a.expire(ctx) })
}

// expire drops rows past the retention at start and then hourly.
func (a *analyticsService) expire(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := a.sink.DropExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("dropping expired analytics rows failed; next try in an hour", "err", err)
		case n > 0:
			a.log.Info("dropped analytics rows past their retention", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe records a hook's outcome (worker.Options.Observe).
func (a *analyticsService) observe(o worker.Outcome) {
	a.rec.RecordHook(analytics.HookOutcome{
		ID: o.ID, Time: time.Now(), Processor: o.Processor,
		Bucket: o.Record.S3.Bucket.Name, Key: o.Record.Key(),
		Attempt: o.Attempt, Result: o.Result, Duration: o.Duration,
	})
}

// Close writes what is queued (to the store, or to the spool) and closes
// the store. Call it after the listeners and hooks have stopped.
func (a *analyticsService) Close() error {
	if a.stop != nil {
		a.stop()
		a.running.Wait()
	}
	return errors.Join(a.rec.Close(), a.sink.Close())
}
