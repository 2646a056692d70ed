// Command s3gate is an S3-compatible object gateway.
//
//	s3gate serve [flags]     run the gateway (see s3gate serve --help)
//	s3gate policy test DIR   run a policy's Rego tests
//	s3gate policy eval       judge one input document
//	s3gate keys COMMAND      administer access keys (see s3gate keys --help)
//	s3gate events COMMAND    dead letters and backfill of a running server
//	s3gate search COMMAND    find objects, rebuild the index of a running server
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"github.com/s3gate/s3gate/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Version kong.VersionFlag `env:"-" help:"Print the version and exit."`
	Serve   serveCmd         `cmd:"" help:"Run the S3 gateway. In the YAML file a flag is a key, and a flag with a group prefix is a key in that group's section: --listen is listen, --http-idle-timeout is http: {idle_timeout: ...}."`
	Keys    keysCmd          `cmd:"" help:"Create, list, disable, enable and delete access keys in the catalogue, with serve's configuration."`
	Policy  policyCmd        `cmd:"" help:"Test and try policies: run their Rego tests, judge an input document."`
	Events  eventsCmd        `cmd:"" help:"Inspect and drive the hooks of a running server: dead letters, backfill."`
	Search  searchCmd        `cmd:"" help:"Search the objects of a running server, and rebuild its search index."`
	Stats   statsCmd         `cmd:"" help:"Print the usage statistics of a running server: requests, bytes, errors, latency, hooks, storage."`
}

// options are the parser's settings, shared by main and the tests.
func options() []kong.Option {
	return []kong.Option{
		kong.Name("s3gate"),
		kong.Description("An S3-compatible object gateway. Every setting can come from a YAML file (--config), an S3GATE_* environment variable or a flag; later ones win."),
		kong.Configuration(config.YAML),
		kong.DefaultEnvars("S3GATE"),
		kong.Vars{"version": version},
	}
}

func main() {
	var c cli
	ctx := kong.Parse(&c, options()...)
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "s3gate:", err)
		os.Exit(1)
	}
}
