package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity/seal"
	"github.com/s3gate/s3gate/processors/backfill"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/image"
	"github.com/s3gate/s3gate/processors/metadata"
	"github.com/s3gate/s3gate/processors/outbox"
	"github.com/s3gate/s3gate/processors/queue"
	"github.com/s3gate/s3gate/processors/queue/diskq"
	"github.com/s3gate/s3gate/processors/queue/redisq"
	"github.com/s3gate/s3gate/processors/search/index"
	"github.com/s3gate/s3gate/processors/worker"
)

// hooks is the event pipeline of one server: the outbox the gateway
// records writes in, the queue it publishes to, and the workers that run
// each hook.
type hooks struct {
	cfg     config.Config
	cat     *catalog.Catalog
	log     *slog.Logger
	backend backends.Backend
	q       queue.Queue
	box     *outbox.Outbox
	pool    *worker.Pool
	seq     *events.Sequencer
	reg     prometheus.Registerer
	// images is the image hook, nil when images are off.
	images *image.Processor
	// search is the search hook and its index, nil when search is off.
	search  *searchService
	closers []func() error
	// running tracks run's goroutines: Close waits for them (after their
	// context ended) before it closes what they use.
	running sync.WaitGroup
}

// Directories of the data dir the pipeline keeps its state in. Their
// names are not valid bucket names, so they can never clash with a bucket.
const (
	queueDir  = "events/queue"
	outboxDir = "events/outbox"
)

// openHooks opens the queue (Redis or the data dir's), the outbox and the
// worker pool; nothing runs until start.
func openHooks(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer, backend backends.Backend, cat *catalog.Catalog, keyring *seal.Keyring, an *analyticsService) (_ *hooks, err error) {
	h := &hooks{cfg: cfg, cat: cat, log: log, backend: backend, reg: reg, seq: events.NewSequencer(cfg.Events.Replica)}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	switch cfg.Events.Queue {
	case "redis":
		opt, err := redis.ParseURL(cfg.Events.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("events-redis-url: %w", err)
		}
		opt.ContextTimeoutEnabled = true
		client := redis.NewClient(opt)
		h.closers = append(h.closers, client.Close)
		q, err := redisq.New(ctx, redisq.Options{Client: client, Prefix: cfg.Events.RedisPrefix, ClaimAfter: cfg.Events.ClaimAfter, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("event queue at %s: %w", opt.Addr, err)
		}
		h.q = q
		ok, detail, err := redisq.CheckPersistence(ctx, client)
		switch {
		case err != nil:
			log.Warn("could not check that Redis persists the event queue", "addr", opt.Addr, "err", err)
		case !ok:
			log.Warn("REDIS DOES NOT PERSIST THE EVENT QUEUE: events acknowledged to s3gate can be lost when Redis restarts; turn on appendonly (appendfsync everysec or always)", "addr", opt.Addr, "found", detail)
		default:
			log.Info("event queue on Redis", "addr", opt.Addr, "persistence", detail)
		}
	default:
		q, err := diskq.Open(filepath.Join(cfg.DataDir, queueDir), diskq.Options{ClaimAfter: cfg.Events.ClaimAfter, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("event queue: %w", err)
		}
		h.q = q
	}
	h.closers = append(h.closers, h.q.Close)

	box, err := outbox.Open(filepath.Join(cfg.DataDir, outboxDir), h.q, outbox.Options{Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("event outbox: %w", err)
	}
	h.box = box
	h.closers = append(h.closers, box.Close)

	var specs []worker.Spec
	if cfg.Events.Metadata {
		specs = append(specs, worker.Spec{Processor: metadata.New(backend, cat, metadata.Options{}), Concurrency: cfg.Events.Workers})
	}
	if h.images, err = h.openImages(); err != nil {
		return nil, err
	}
	if h.images != nil {
		specs = append(specs, worker.Spec{Processor: h.images, Concurrency: cfg.Images.Workers})
	}
	if h.search, err = h.openSearch(ctx, keyring); err != nil {
		return nil, err
	}
	if h.search != nil {
		specs = append(specs, worker.Spec{Processor: h.search.proc, Concurrency: cfg.Events.Workers})
	}
	// With every hook turned off, events are still recorded and queued:
	// a hook turned on later, or a backfill, finds them.
	if len(specs) > 0 {
		wopts := worker.Options{MaxAttempts: cfg.Events.MaxAttempts, Logger: log, Registerer: reg}
		if an != nil {
			wopts.Observe = an.observe
		}
		h.pool, err = worker.New(h.q, specs, wopts)
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// gatewayOutbox is the outbox as the gateway sees it.
func (h *hooks) gatewayOutbox() gateway.Outbox { return boxAdapter{h.box} }

type boxAdapter struct{ box *outbox.Outbox }

func (a boxAdapter) Begin(ctx context.Context, rec events.Record) (gateway.Ticket, error) {
	t, err := a.box.Begin(ctx, rec)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (a boxAdapter) BeginAll(ctx context.Context, recs []events.Record) ([]gateway.Ticket, error) {
	ts, err := a.box.BeginAll(ctx, recs)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.Ticket, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out, nil
}

// recover settles the writes a previous run left without an outcome,
// before the gateway takes new ones.
func (h *hooks) recover(ctx context.Context, reconcile func(context.Context, events.Record) (events.Record, bool, error)) error {
	stats, err := h.box.Recover(ctx, func(ctx context.Context, intent events.Record) (events.Record, bool, error) {
		h.seq.Observe(intent.S3.Object.Sequencer)
		return reconcile(ctx, intent)
	})
	if err != nil {
		return fmt.Errorf("event outbox: recovering unfinished writes: %w", err)
	}
	h.log.Info("event outbox recovered", "stats", fmt.Sprintf("%+v", stats))
	return nil
}

// run publishes and processes events until ctx ends.
func (h *hooks) run(ctx context.Context) {
	h.running.Go(func() {
		if err := h.box.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Error("event outbox stopped", "err", err)
		}
	})
	if h.pool == nil {
		return
	}
	h.running.Go(func() { h.pruneTombstones(ctx) })
	if h.search != nil && h.search.rebuild {
		h.running.Go(func() { h.rebuildSearch(ctx) })
	}
	h.running.Go(func() {
		if err := h.pool.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			h.log.Error("hook workers stopped", "err", err)
		}
	})
}

// Tombstones (the sequencers hooks keep for deleted keys) are kept for
// tombstoneAge, far longer than any event waits in the queue, then pruned
// every pruneEvery.
const (
	tombstoneAge = 7 * 24 * time.Hour
	pruneEvery   = time.Hour
)

// tombstonePruner is an index that keeps tombstones of deleted documents.
type tombstonePruner interface {
	PruneTombstones(ctx context.Context, age time.Duration) (int64, error)
}

func (h *hooks) pruneTombstones(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		prune := []tombstonePruner{h.cat}
		if p, ok := h.searchIndex().(tombstonePruner); ok {
			prune = append(prune, p)
		}
		for _, p := range prune {
			n, err := p.PruneTombstones(ctx, tombstoneAge)
			switch {
			case err != nil && ctx.Err() == nil:
				h.log.Warn("pruning the hooks' tombstones failed; next try in an hour", "err", err)
			case n > 0:
				h.log.Info("pruned the hooks' tombstones of keys deleted long ago", "count", n, "older_than", tombstoneAge)
			}
		}
	}
}

// searchIndex is the search index, or nil.
func (h *hooks) searchIndex() index.Index {
	if h.search == nil {
		return nil
	}
	return h.search.ix
}

// rebuildSearch fills an embedded index that started empty from the
// backend, so that objects written before search was turned on (or before
// an index schema change) are found.
func (h *hooks) rebuildSearch(ctx context.Context) {
	h.log.Info("search index is new: indexing the objects already stored")
	p, err := h.search.Reindex(ctx, "", nil)
	switch {
	case err != nil && ctx.Err() == nil:
		h.log.Error("indexing the stored objects failed; run `s3gate search reindex`", "err", err, "indexed", p.Indexed)
	case err == nil:
		h.log.Info("search index built", "indexed", p.Indexed, "removed", p.Removed)
	}
}

// Close releases the pipeline, newest first, once run's context has
// ended and its goroutines returned.
func (h *hooks) Close() error {
	h.running.Wait()
	var errs []error
	for i := len(h.closers) - 1; i >= 0; i-- {
		errs = append(errs, h.closers[i]())
	}
	h.closers = nil
	return errors.Join(errs...)
}

// The admin API's view (gateway.Hooks).

func (h *hooks) Processors() []string {
	if h.pool == nil {
		return nil
	}
	return h.pool.Processors()
}

func (h *hooks) DeadLetters(ctx context.Context, processor string, max int) ([]queue.DeadLetter, error) {
	return h.q.DeadLetters(ctx, processor, max)
}

func (h *hooks) Replay(ctx context.Context, processor string, ids ...string) (int, error) {
	return h.q.Replay(ctx, processor, ids...)
}

func (h *hooks) Backfill(ctx context.Context, bucket, prefix string, progress func(backfill.Progress)) (backfill.Progress, error) {
	opts := backfill.Options{Backend: h.backend, Queue: h.q, Sequencer: h.seq, Region: h.cfg.Region, Count: true}
	if h.images != nil {
		opts.Skip = h.images.Skip // no variants of variants
	}
	return backfill.Run(ctx, opts, bucket, prefix, progress)
}

var _ gateway.Hooks = (*hooks)(nil)
