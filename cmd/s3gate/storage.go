package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/backends/router"
	s3backend "github.com/s3gate/s3gate/backends/s3"
	"github.com/s3gate/s3gate/config"
)

// openStorage opens every configured backend besides the data dir's
// ("fs", already open) and routes buckets among them. The returned close
// releases what it opened.
func openStorage(ctx context.Context, cfg config.Config, dataFS *fs.Store) (*router.Router, func() error, error) {
	named := map[string]backends.Backend{config.DefaultFS: dataFS}
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	// Each s3 backend maps the buckets routed to it to its own bucket and
	// prefix names.
	mappings := map[string]map[string]s3backend.Mapping{}
	routes := map[string]string{}
	for bucket, r := range cfg.Storage.Buckets {
		routes[bucket] = r.Backend
		if r.Bucket != "" || r.Prefix != "" {
			if mappings[r.Backend] == nil {
				mappings[r.Backend] = map[string]s3backend.Mapping{}
			}
			name := r.Bucket
			if name == "" {
				name = bucket
			}
			mappings[r.Backend][bucket] = s3backend.Mapping{Bucket: name, Prefix: r.Prefix}
		}
	}
	for _, b := range cfg.Storage.Backends {
		switch b.Type {
		case "fs":
			if len(mappings[b.Name]) > 0 {
				closeAll()
				return nil, nil, fmt.Errorf("buckets routed to fs backend %s cannot rename or prefix (bucket, prefix)", b.Name)
			}
			st, err := fs.Open(b.Dir, fs.Options{Fsync: cfg.FS.Fsync})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
			named[b.Name] = st
			closers = append(closers, st.Close)
		case "s3":
			pathStyle := b.PathStyle == nil || *b.PathStyle
			caps, err := s3backend.NamedCapabilities(b.Capabilities)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
			st, err := s3backend.New(ctx, s3backend.Options{
				Endpoint: b.Endpoint, Region: b.Region,
				Credentials: b.Credentials, AccessKey: b.AccessKey, SecretKey: b.SecretKey,
				PathStyle: pathStyle, CAFile: b.CAFile, InsecureSkipVerify: b.InsecureSkipVerify,
				Timeout: b.Timeout, MaxIdleConnsPerHost: b.MaxIdleConns,
				Buckets: mappings[b.Name], Capabilities: &caps,
			})
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("backend %s: %w", b.Name, err)
			}
			named[b.Name] = st
		}
	}
	def := cfg.DefaultBackend
	if def == "" { // a Config built in code rather than loaded
		def = config.DefaultFS
	}
	r, err := router.New(named, routes, def)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return r, closeAll, nil
}
