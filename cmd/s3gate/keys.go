package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/identity/keystore"
)

// keysCmd administers access keys. It works on the catalogue directly, with
// serve's settings (the same config file, environment and flags), so it
// needs no running server. Running servers see a change within
// identity.key_refresh.
type keysCmd struct {
	ConfigFile    kong.ConfigFlag `name:"config" help:"YAML configuration file (the one serve uses). S3GATE_* variables and flags override it." placeholder:"FILE"`
	config.Config `embed:""`

	Create  keysCreateCmd  `cmd:"" help:"Create an access key. Its secret is printed this once."`
	List    keysListCmd    `cmd:"" help:"List access keys (never their secrets)."`
	Disable keysDisableCmd `cmd:"" help:"Stop an access key from signing requests."`
	Enable  keysEnableCmd  `cmd:"" help:"Let a disabled access key sign requests again."`
	Delete  keysDeleteCmd  `cmd:"" help:"Delete an access key."`

	// stdout and stderr default to the process's; tests replace them.
	stdout, stderr io.Writer
}

// Validate reads and checks the configuration exactly as serve does, so one
// config file serves both. (The subcommand's own flags, --user, --roles ...,
// have no environment variable, so the config file cannot set them: a
// shared file must not decide whom a key is made for.)
func (k *keysCmd) Validate() error {
	s := serveCmd{ConfigFile: k.ConfigFile, Config: k.Config}
	if err := s.Validate(); err != nil {
		return err
	}
	k.Config = s.Config
	return nil
}

func (k *keysCmd) out() io.Writer {
	if k.stdout != nil {
		return k.stdout
	}
	return os.Stdout
}

// keyStore is the key store serve would use, opened for one command.
type keyStore struct {
	*keystore.Store
	close func()
	// where names the catalogue, for messages.
	where string
	// root is the root key's id and where it is set; empty when this
	// command does not know it.
	root, rootSource string
}

// open opens the catalogue, master key and key store as serve does. Only
// create may start a SQLite catalogue in a data dir that has none: for the
// other commands a missing catalogue means a wrong data dir, and an empty
// one made on the spot would hide that.
func (k *keysCmd) open(ctx context.Context, create bool) (*keyStore, error) {
	cfg := k.Config
	stderr := k.stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	log := newLogger(cfg.Log, stderr)
	ks := &keyStore{where: redactDSN(cfg.Catalog.DSN)}
	if cfg.Catalog.DSN == "" {
		path := filepath.Join(cfg.DataDir, "catalog.db")
		ks.where = path
		if create {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
		} else if notExist(path) {
			return nil, fmt.Errorf("there is no catalogue at %s: s3gate has not run with data dir %s (check --data-dir, S3GATE_DATA_DIR or data_dir in the config file)", path, cfg.DataDir)
		}
	}
	// The master key first: a PostgreSQL catalogue without one is refused
	// before any connection is made.
	keyring, err := openKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	var static []identity.AccessKey
	switch path := filepath.Join(cfg.DataDir, identity.RootCredentialsFile); {
	case cfg.Root.AccessKey != "":
		static = append(static, identity.AccessKey{ID: cfg.Root.AccessKey, Secret: cfg.Root.SecretKey, Principal: identity.RootPrincipal()})
		ks.root, ks.rootSource = cfg.Root.AccessKey, "root.access_key (S3GATE_ROOT_ACCESS_KEY)"
	case !notExist(path):
		// Only read an existing file (a damaged or unreadable one is an
		// error): generating a root key belongs to serve, which shows it
		// once.
		root, _, err := identity.LoadOrCreateRoot(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		static = append(static, root)
		ks.root, ks.rootSource = root.ID, path
	}
	cat, err := openCatalog(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ks.Store, err = keystore.New(cat, keyring, keystore.Options{Static: static, RefreshInterval: cfg.Identity.KeyRefresh})
	if err != nil {
		cat.Close()
		return nil, err
	}
	ks.close = func() { cat.Close() }
	return ks, nil
}

// explain turns the key store's errors into messages for the command line.
func (ks *keyStore) explain(id, verb string, err error) error {
	switch {
	case errors.Is(err, keystore.ErrNoSuchKey):
		return fmt.Errorf("no access key %s in the catalogue (%s)", id, ks.where)
	case errors.Is(err, keystore.ErrStaticKey):
		if id == ks.root {
			return fmt.Errorf("%s is the root key, set by %s; it cannot be %s here: change it there", id, ks.rootSource, verb)
		}
		return fmt.Errorf("%s is set in the configuration; it cannot be %s here", id, verb)
	case errors.Is(err, keystore.ErrInvalidRequest):
		return errors.New("invalid key: " + strings.TrimPrefix(err.Error(), keystore.ErrInvalidRequest.Error()+": "))
	}
	return err
}

// run opens the key store for f with a context that ends on SIGINT or
// SIGTERM.
func (k *keysCmd) run(create bool, f func(context.Context, *keyStore) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ks, err := k.open(ctx, create)
	if err != nil {
		return err
	}
	defer ks.close()
	return f(ctx, ks)
}

type keysCreateCmd struct {
	User        string   `required:"" env:"-" help:"Principal the key acts for: a user name or id."`
	Roles       []string `required:"" env:"-" placeholder:"ROLE" help:"Roles of the principal, comma-separated (reader, writer, admin ...)."`
	Groups      []string `env:"-" placeholder:"GROUP" help:"Groups of the principal, comma-separated."`
	DisplayName string   `name:"display-name" env:"-" help:"Display name; defaults to the user."`
	Description string   `env:"-" help:"What the key is for, shown in listings."`
}

func (c *keysCreateCmd) Run(k *keysCmd) error {
	return k.run(true, func(ctx context.Context, ks *keyStore) error {
		key, err := ks.Create(ctx, keystore.CreateRequest{
			PrincipalID: c.User, DisplayName: c.DisplayName, Roles: c.Roles, Groups: c.Groups, Description: c.Description,
		})
		if err != nil {
			return ks.explain("", "created", err)
		}
		printNewKey(k.out(), key, endpoint(k.Config), k.Region)
		return nil
	})
}

var profileUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// printNewKey shows a created key's secret, the one time it can be shown,
// with the commands that configure the AWS CLI for it.
func printNewKey(w io.Writer, k identity.AccessKey, endpoint, region string) {
	roles := strings.Join(k.Principal.Roles, ",")
	if roles == "" {
		roles = "none"
	}
	profile := strings.Trim(profileUnsafe.ReplaceAllString(k.Principal.ID, "-"), "-")
	if profile == "" {
		profile = "s3gate"
	}
	fmt.Fprintf(w, `Created access key %s for %s (roles: %s).

  access key: %s
  secret key: %s

The secret key is shown only this once: s3gate stores it encrypted and
cannot show it again. Keep it somewhere safe now.

To use it with the AWS CLI:

  aws configure set aws_access_key_id %s --profile %s
  aws configure set aws_secret_access_key %s --profile %s
  aws --profile %s --endpoint-url %s --region %s s3 ls
`, k.ID, k.Principal.ID, roles, k.ID, k.Secret, k.ID, profile, k.Secret, profile, profile, endpoint, region)
}

// endpoint is the S3 URL of a server started with cfg, for the hint.
func endpoint(cfg config.Config) string {
	scheme := "http"
	if cfg.TLS.Enabled() {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return scheme + "://" + cfg.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

type keysListCmd struct {
	User string `env:"-" help:"Only the keys of this principal."`
	JSON bool   `name:"json" env:"-" help:"Print JSON, as the admin API's GET /api/v1/keys does."`
}

func (c *keysListCmd) Run(k *keysCmd) error {
	return k.run(false, func(ctx context.Context, ks *keyStore) error {
		keys, err := ks.List(ctx, c.User)
		if err != nil {
			return err
		}
		out := struct {
			Keys []gateway.KeyInfo `json:"keys"`
		}{Keys: make([]gateway.KeyInfo, 0, len(keys))}
		for _, key := range keys {
			out.Keys = append(out.Keys, gateway.NewKeyInfo(key))
		}
		w := k.out()
		if c.JSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		if len(out.Keys) == 0 {
			if c.User != "" {
				_, err := fmt.Fprintf(w, "No access keys for %s.\n", c.User)
				return err
			}
			_, err := fmt.Fprintln(w, "No access keys.")
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY ID\tUSER\tROLES\tSTATUS\tCREATED")
		for _, key := range out.Keys {
			roles := strings.Join(key.Roles, ",")
			if roles == "" {
				roles = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", key.AccessKeyID, key.User, roles, key.Status, key.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

type keysDisableCmd struct {
	ID string `arg:"" name:"id" help:"Access key id."`
}

func (c *keysDisableCmd) Run(k *keysCmd) error {
	return k.change(c.ID, "disabled", (*keystore.Store).Disable)
}

type keysEnableCmd struct {
	ID string `arg:"" name:"id" help:"Access key id."`
}

func (c *keysEnableCmd) Run(k *keysCmd) error {
	return k.change(c.ID, "enabled", (*keystore.Store).Enable)
}

type keysDeleteCmd struct {
	ID string `arg:"" name:"id" help:"Access key id."`
}

func (c *keysDeleteCmd) Run(k *keysCmd) error {
	return k.change(c.ID, "deleted", (*keystore.Store).Delete)
}

// change applies one of the store's changes to key id and reports it.
func (k *keysCmd) change(id, done string, op func(*keystore.Store, context.Context, string) error) error {
	return k.run(false, func(ctx context.Context, ks *keyStore) error {
		if err := op(ks.Store, ctx, id); err != nil {
			return ks.explain(id, done, err)
		}
		refresh := k.Identity.KeyRefresh
		if refresh <= 0 {
			refresh = keystore.DefaultRefreshInterval
		}
		_, err := fmt.Fprintf(k.out(), "Access key %s %s. Running s3gate servers take the change within %v (identity.key_refresh).\n", id, done, refresh)
		return err
	})
}

func notExist(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// redactDSN hides a password in a catalogue URL.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "the configured catalogue"
}
