package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity/seal"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/search"
	"github.com/s3gate/s3gate/processors/search/elastic"
	"github.com/s3gate/s3gate/processors/search/embedded"
	"github.com/s3gate/s3gate/processors/search/index"
)

// searchFile is the embedded index, in the data dir (beside buckets/, so
// never a bucket's name).
const searchFile = "search/index.db"

// searchService is the search hook with its index: what the admin API
// queries (gateway.Search) and what the hook workers run.
type searchService struct {
	ix   index.Index
	proc *search.Processor
	seq  *events.Sequencer
	// rebuild is set when the embedded index started empty (new, or of an
	// older schema) while the backend may hold objects: run reindexes.
	rebuild bool
}

var _ gateway.Search = (*searchService)(nil)

// openSearch opens the index the configuration names and the hook that
// fills it, or returns nil when search is off.
func (h *hooks) openSearch(ctx context.Context, keyring *seal.Keyring) (*searchService, error) {
	cfg := h.cfg.Search
	if !cfg.Enabled {
		return nil, nil
	}
	s := &searchService{seq: h.seq}
	switch cfg.Index {
	case "elasticsearch":
		var ca []byte
		if cfg.ElasticsearchCAFile != "" {
			var err error
			if ca, err = os.ReadFile(cfg.ElasticsearchCAFile); err != nil {
				return nil, fmt.Errorf("search-elasticsearch-ca-file: %w", err)
			}
		}
		ix, err := elastic.New(ctx, elastic.Options{
			URLs:        cfg.ElasticsearchURL,
			Username:    cfg.ElasticsearchUsername,
			Password:    cfg.ElasticsearchPassword,
			APIKey:      cfg.ElasticsearchAPIKey,
			CACert:      ca,
			IndexPrefix: cfg.ElasticsearchPrefix,
			// Every replica signs and checks page tokens with the same key.
			TokenKey: keyring.Derive("search page tokens"),
			Logger:   h.log,
		})
		if err != nil {
			return nil, fmt.Errorf("search index on Elasticsearch: %w", err)
		}
		if m := ix.Migrated(); len(m) > 0 {
			h.log.Info("search index mapping changed: a new index was created and the alias moved to it; reindex to fill it", "alias", ix.Alias(), "index", ix.IndexName(), "previous", m)
		}
		s.ix = ix
	default:
		path := filepath.Join(h.cfg.DataDir, searchFile)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("search index: %w", err)
		}
		ix, err := embedded.Open(path, embedded.Options{})
		if err != nil {
			return nil, err
		}
		s.ix, s.rebuild = ix, ix.Fresh()
	}
	h.closers = append(h.closers, s.ix.Close)
	opts := search.Options{Backend: h.backend, Index: s.ix, MaxText: cfg.MaxText, Logger: h.log}
	if h.cfg.Events.Metadata {
		opts.Catalog = h.cat
	}
	if h.images != nil {
		opts.Skip = h.images.Skip // variants are not objects of their own
	}
	s.proc = search.New(opts)
	return s, nil
}

func (s *searchService) Search(ctx context.Context, q index.Query) (index.Result, error) {
	return s.ix.Search(ctx, q)
}

func (s *searchService) Reindex(ctx context.Context, bucket string, progress func(gateway.ReindexProgress)) (gateway.ReindexProgress, error) {
	conv := func(p search.Progress) gateway.ReindexProgress {
		return gateway.ReindexProgress{Bucket: p.Bucket, Indexed: p.Indexed, Removed: p.Removed}
	}
	p, err := s.proc.Reindex(ctx, bucket, s.seq.Next, func(p search.Progress) {
		if progress != nil {
			progress(conv(p))
		}
	})
	return conv(p), err
}
