package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
	"github.com/s3gate/s3gate/backends/reserved"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity"
)

type serveCmd struct {
	ConfigFile    kong.ConfigFlag `name:"config" help:"YAML configuration file. S3GATE_* variables and flags override it." placeholder:"FILE"`
	config.Config `embed:""`
}

// Validate is called by kong after parsing, before Run. The config file's
// storage sections are read here: they are not flags.
func (s *serveCmd) Validate() error {
	st, err := config.LoadStorage(string(s.ConfigFile))
	if err != nil {
		return err
	}
	s.Config.Storage = st
	if s.Config.Auth, err = config.LoadAuth(string(s.ConfigFile)); err != nil {
		return err
	}
	if s.Config.ImagePresets, err = config.LoadImagePresets(string(s.ConfigFile)); err != nil {
		return err
	}
	if _, err := imagePresets(s.Config); err != nil {
		return fmt.Errorf("invalid setting %w", err)
	}
	return s.Config.Validate()
}

func (s *serveCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, s.Config, os.Stdout, os.Stderr)
}

// serve runs s3gate until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	store, err := fs.Open(cfg.DataDir, fs.Options{Fsync: cfg.FS.Fsync})
	if err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	defer store.Close()
	backend, closeStorage, err := openStorage(ctx, cfg, store)
	if err != nil {
		return err
	}
	defer closeStorage()

	root, created, err := rootKey(cfg)
	if err != nil {
		return err
	}
	cat, err := openCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer cat.Close()

	keyring, err := openKeyring(cfg, log)
	if err != nil {
		return err
	}
	keys, err := openKeys(cfg, cat, keyring, root)
	if err != nil {
		return err
	}
	tokens, sessions, err := openTokens(ctx, cfg, keyring, log)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine, err := openPolicy(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer engine.Close()
	opts := gateway.Options{
		Authorizer:         engine,
		PolicyExistingTags: cfg.Policy.ExistingTags,
		Region:             cfg.Region,
		Domains:            cfg.Domain,
		MaxRequests:        cfg.HTTP.MaxRequests,
		MaxHeaderBytes:     cfg.HTTP.MaxHeaderBytes,
		BodyIdleTimeout:    cfg.HTTP.BodyIdleTimeout,
		AccessLog:          cfg.Log.Access,
		Logger:             log,
		Registry:           reg,
	}
	if tokens != nil {
		opts.Tokens = tokens
		if err := tokens.Prefetch(ctx); err != nil {
			log.Warn("a token issuer's keys could not be fetched at start; tokens from it fail until they can", "err", err)
		}
	}
	if sessions != nil {
		opts.Sessions = sessions
	}
	// Analytics outlive the hooks (opened first, closed last): the last
	// hook outcomes and requests are written before it closes.
	an, err := openAnalytics(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	if an != nil {
		defer an.Close()
		an.run()
		opts.Analytics, opts.Stats = an.rec, an.sink
	}
	var hk *hooks
	if cfg.Events.Enabled {
		if hk, err = openHooks(ctx, cfg, log, reg, backend, cat, keyring, an); err != nil {
			return err
		}
		defer hk.Close()
		opts.Outbox, opts.Hooks, opts.Sequencer = hk.gatewayOutbox(), hk, hk.seq
		if cfg.Events.Metadata {
			opts.Objects, opts.Storage = cat, cat
		}
		if hk.search != nil {
			opts.Search = hk.search
		}
	}
	// Clients see the backend without the variants' reserved prefix; the
	// image hook, the metadata hook and backfill see all of it.
	var clientBackend backends.Backend = backend
	if hk != nil && hk.images != nil {
		opts.Variants = hk.images
		if cfg.Images.VariantsBucket == "" {
			clientBackend = reserved.Hide(backend, cfg.Images.VariantsPrefix)
		} else if err := backend.CreateBucket(ctx, cfg.Images.VariantsBucket); err != nil && !errors.Is(err, backends.ErrBucketExists) {
			return fmt.Errorf("images-variants-bucket %s: %w", cfg.Images.VariantsBucket, err)
		}
	}
	gw := gateway.New(clientBackend, cat, keys, opts)
	// The hooks outlive the listeners: requests still finishing during
	// shutdown record their events, which are then published.
	hooksCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHooks()
	if hk != nil {
		if err := hk.recover(ctx, gw.Reconcile); err != nil {
			return err
		}
		hk.run(hooksCtx)
	}

	if n, err := gw.AdoptBuckets(ctx, root.Principal); err != nil {
		return fmt.Errorf("recording the backend's buckets in the catalogue: %w", err)
	} else if n > 0 {
		log.Info("recorded buckets the catalogue did not know", "count", n, "owner", root.Principal.ID)
	}
	go gw.RunUploadJanitor(ctx, cfg.Multipart.SweepInterval, cfg.Multipart.Expiry)

	var certs *certReloader
	if cfg.TLS.Enabled() {
		if certs, err = newCertReloader(cfg.TLS, log); err != nil {
			return err
		}
		// TLS reloads its files on SIGHUP (so does a policy dir, openPolicy); with neither, SIGHUP exits.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go certs.watch(ctx, hup)
	}

	s3ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s3Scheme := "http"
	if certs != nil {
		s3ln = tls.NewListener(s3ln, certs.tlsConfig())
		s3Scheme = "https"
	}
	opsln, err := net.Listen("tcp", cfg.OpsListen)
	if err != nil {
		s3ln.Close()
		return fmt.Errorf("ops-listen: %w", err)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	servers := []*http.Server{
		// net/http's limit is twice the gateway's, so that oversized headers
		// up to it get S3's XML error instead of a plain-text 431.
		{Handler: gw, ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, IdleTimeout: cfg.HTTP.IdleTimeout, MaxHeaderBytes: 2 * cfg.HTTP.MaxHeaderBytes, ErrorLog: errLog},
		{Handler: gateway.OpsHandler(reg, map[string]gateway.HealthCheck{
			"backend": func(ctx context.Context) error { _, err := backend.ListBuckets(ctx); return err },
			"catalog": cat.Ping,
		}, cfg.Pprof, gw.AdminHandler(keys)), ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, IdleTimeout: cfg.HTTP.IdleTimeout, MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes, ErrorLog: errLog},
	}
	errc := make(chan error, len(servers))
	for i, ln := range []net.Listener{s3ln, opsln} {
		go func() { errc <- servers[i].Serve(ln) }()
	}

	s3URL := s3Scheme + "://" + s3ln.Addr().String()
	credFile := filepath.Join(cfg.DataDir, identity.RootCredentialsFile)
	switch {
	case created:
		printRootKey(stdout, root, credFile, s3URL, cfg.Region)
	case cfg.Root.AccessKey == "":
		log.Info("root key loaded", "access_key", root.ID, "file", credFile)
	}
	log.Info("s3gate ready", "s3", s3URL, "ops", "http://"+opsln.Addr().String(), "data_dir", cfg.DataDir, "region", cfg.Region)

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	log.Info("shutting down", "grace", cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	stopHooks()
	return errors.Join(errs...)
}

// openCatalog opens the configured PostgreSQL catalogue, or the SQLite one
// in the data dir. A configured database that does not answer stops s3gate:
// it never falls back to SQLite.
func openCatalog(ctx context.Context, cfg config.Config) (*catalog.Catalog, error) {
	dsn := cfg.Catalog.DSN
	if dsn == "" {
		abs, err := filepath.Abs(filepath.Join(cfg.DataDir, "catalog.db"))
		if err != nil {
			return nil, err
		}
		dsn = abs
	}
	cat, err := catalog.Open(ctx, dsn, catalog.ReadReplicas(cfg.Catalog.ReadReplicas...))
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	return cat, nil
}

// rootKey returns the configured root key, or the one kept in the data dir
// (generated on first start).
func rootKey(cfg config.Config) (identity.AccessKey, bool, error) {
	if cfg.Root.AccessKey != "" {
		return identity.AccessKey{ID: cfg.Root.AccessKey, Secret: cfg.Root.SecretKey, Principal: identity.RootPrincipal()}, false, nil
	}
	return identity.LoadOrCreateRoot(cfg.DataDir)
}

// printRootKey shows a generated root key, once, with a command to try.
func printRootKey(w io.Writer, k identity.AccessKey, path, endpoint, region string) {
	fmt.Fprintf(w, `
s3gate generated root credentials and stored them in %s (mode 0600).
They are shown this once:

  access key: %s
  secret key: %s

Try it:

  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s aws --endpoint-url %s --region %s s3 ls

`, path, k.ID, k.Secret, k.ID, k.Secret, endpoint, region)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
