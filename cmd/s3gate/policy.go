package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/policy"
)

// openPolicy compiles the configured policy (or the built-in one) and
// keeps it current: policy.dir is watched for changes, and SIGHUP reloads
// at once. A policy that does not compile at start stops s3gate; one that
// fails on reload leaves the running policy in place.
func openPolicy(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (*policy.Engine, error) {
	cacheSize := 0
	if cfg.Policy.CacheTTL == 0 {
		cacheSize = -1
	}
	e, err := policy.New(ctx, policy.Options{
		Dir: cfg.Policy.Dir, Logger: log, Registry: reg,
		CacheSize: cacheSize, CacheTTL: cfg.Policy.CacheTTL, PollInterval: cfg.Policy.PollInterval,
	})
	if err != nil {
		return nil, err // package policy's errors already begin "policy:"
	}
	if cfg.Policy.Dir == "" {
		return e, nil
	}
	go e.Watch(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := e.Reload(ctx); err == nil {
					log.Info("policy reloaded", "dir", cfg.Policy.Dir, "by", "SIGHUP")
				} // a failed reload is logged by the engine
			}
		}
	}()
	return e, nil
}

// policyCmd helps people who write policies.
type policyCmd struct {
	Test policyTestCmd `cmd:"" help:"Run the Rego tests (*_test.rego) of policy directories, as opa test does."`
	Eval policyEvalCmd `cmd:"" help:"Judge one input document with a policy and print the decision and its reasons."`
}

type policyTestCmd struct {
	Dirs    []string `arg:"" name:"dir" type:"existingdir" help:"Directories of .rego modules, data and tests."`
	Verbose bool     `short:"v" env:"-" help:"Print every test, not only failures."`

	stdout io.Writer
}

func (c *policyTestCmd) Run() error {
	out := c.stdout
	if out == nil {
		out = os.Stdout
	}
	_, failed, err := policy.Test(context.Background(), c.Dirs, c.Verbose, out)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d policy test(s) failed", failed)
	}
	return nil
}

type policyEvalCmd struct {
	Dir   string `name:"dir" env:"-" placeholder:"DIR" help:"Policy directory; empty uses the built-in role policy."`
	Input string `name:"input" required:"" env:"-" type:"existingfile" placeholder:"FILE" help:"The input document (JSON, as s3gate builds it for a request; see the README), - for standard input."`

	stdout io.Writer
}

func (c *policyEvalCmd) Run() error {
	out := c.stdout
	if out == nil {
		out = os.Stdout
	}
	var in io.Reader = os.Stdin
	if c.Input != "-" {
		f, err := os.Open(c.Input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var doc policy.Input
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("input %s: %w", c.Input, err)
	}
	if doc.Version == 0 {
		doc.Version = policy.InputVersion
	}
	ctx := context.Background()
	e, err := policy.New(ctx, policy.Options{Dir: c.Dir, CacheSize: -1})
	if err != nil {
		return err
	}
	defer e.Close()
	d, err := e.Explain(ctx, doc)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	fmt.Fprintln(out, string(b))
	return nil
}
