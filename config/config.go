// Package config is s3gate's one typed configuration. Every setting is a
// field here; its flag, environment variable, YAML key, default and help
// text all come from the field's tags, so `s3gate serve --help` documents
// them all. Precedence: defaults < YAML file (--config) < S3GATE_* env <
// flags.
package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is everything `s3gate serve` can be told.
//
// The YAML key of a setting is its flag name split at the group prefix:
// --http-idle-timeout is http.idle_timeout, --listen is listen. The
// environment variable is S3GATE_ plus the flag name in upper case with
// dashes as underscores: S3GATE_HTTP_IDLE_TIMEOUT.
type Config struct {
	DataDir   string   `name:"data-dir" default:"./data" help:"Directory for object data and s3gate's own state."`
	Listen    string   `default:"127.0.0.1:9000" help:"Address of the S3 API listener (host:port)."`
	OpsListen string   `name:"ops-listen" default:"127.0.0.1:9001" help:"Address of the operations listener: /health, /metrics and the admin API (/api/v1/)."`
	Pprof     bool     `help:"Serve Go's profiler (/debug/pprof/) on the operations listener."`
	Region    string   `default:"us-east-1" help:"Region s3gate answers as; SigV4 scopes must name it."`
	Domain    []string `help:"Domain(s) for virtual-hosted-style requests (bucket.DOMAIN); path-style always works."`

	Root Root `embed:"" prefix:"root-"`
	Log  Log  `embed:"" prefix:"log-"`
	HTTP HTTP `embed:"" prefix:"http-"`
	TLS  TLS  `embed:"" prefix:"tls-"`
	FS   FS   `embed:"" prefix:"fs-"`

	DefaultBackend string `name:"default-backend" default:"fs" help:"Backend of buckets no route names: fs (the data dir) or the name of one in the config file's backends section."`
	// Storage is read from the config file's backends and buckets
	// sections, not from flags.
	Storage Storage `kong:"-"`

	Catalog  Catalog  `embed:"" prefix:"catalog-"`
	Identity Identity `embed:"" prefix:"identity-"`
	Policy   Policy   `embed:"" prefix:"policy-"`
	// Auth is read from the config file's jwt and sts sections.
	Auth      Auth      `kong:"-"`
	Multipart Multipart `embed:"" prefix:"multipart-"`
	Events    Events    `embed:"" prefix:"events-"`
	Images    Images    `embed:"" prefix:"images-"`
	Search    Search    `embed:"" prefix:"search-"`
	Analytics Analytics `embed:"" prefix:"analytics-"`
	// ImagePresets is the config file's image_presets section: nil when
	// absent (the built-in presets apply).
	ImagePresets *[]ImagePreset `kong:"-"`
}

// Root is the bootstrap administrator's key pair.
type Root struct {
	AccessKey string `name:"access-key" help:"Root access key id. When neither root key is set, s3gate generates a pair on first start and keeps it in the data dir."`
	SecretKey string `name:"secret-key" help:"Root secret key (prefer the environment variable to the flag)."`
}

// Log configures s3gate's own log and the access log.
type Log struct {
	Level  string `default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn or error."`
	Format string `default:"text" enum:"text,json" help:"Log format: text or json."`
	Access bool   `default:"true" negatable:"" help:"Log one line per S3 request."`
}

// HTTP bounds what a client can make the listeners do.
type HTTP struct {
	ReadHeaderTimeout time.Duration `name:"read-header-timeout" default:"10s" help:"Time allowed to read a request's headers."`
	BodyIdleTimeout   time.Duration `name:"body-idle-timeout" default:"20s" help:"Longest pause allowed while a request body is read; a stalled upload is answered RequestTimeout."`
	IdleTimeout       time.Duration `name:"idle-timeout" default:"120s" help:"How long an idle keep-alive connection stays open."`
	MaxHeaderBytes    int           `name:"max-header-bytes" default:"65536" help:"Largest request header block accepted, in bytes."`
	MaxRequests       int           `name:"max-requests" default:"1024" help:"Requests served at once; more are answered SlowDown."`
	ShutdownTimeout   time.Duration `name:"shutdown-timeout" default:"30s" help:"Grace period for in-flight requests on SIGTERM."`
}

// TLS makes the S3 listener serve https. The operations listener stays
// plain http: it is meant for loopback or a private network.
type TLS struct {
	CertFile string `name:"cert-file" placeholder:"FILE" help:"PEM certificate (chain) for the S3 listener; with tls-key-file set, it serves https. Reloaded on SIGHUP."`
	KeyFile  string `name:"key-file" placeholder:"FILE" help:"PEM private key of tls-cert-file. Reloaded on SIGHUP."`
}

// Enabled reports whether the S3 listener serves https.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// LoadKeyPair reads the certificate and key. Its error names the setting at
// fault, at start and on reload alike.
func (t TLS) LoadKeyPair() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return tls.Certificate{}, settingError("tls-cert-file", err.Error())
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return tls.Certificate{}, settingError("tls-key-file", err.Error())
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, settingError("tls-cert-file", fmt.Sprintf("%s and %s (tls.key_file) are not a PEM certificate and its private key: %v", t.CertFile, t.KeyFile, err))
	}
	return cert, nil
}

// Catalog says where s3gate keeps its own records (buckets, their CORS
// rules and tags).
type Catalog struct {
	DSN          string   `name:"dsn" help:"PostgreSQL URL (postgres://user@host:5432/db) for the catalogue; empty keeps it in SQLite in the data dir."`
	ReadReplicas []string `name:"read-replicas" placeholder:"URL,..." help:"PostgreSQL read replicas of catalog-dsn; listings of object rows (GET /api/v1/objects) are spread over them, everything else uses the primary."`
}

// Policy says which policy judges requests.
type Policy struct {
	Dir          string        `name:"dir" placeholder:"DIR" help:"Directory of .rego modules and .json/.yaml data that judge every request; empty uses the built-in role policy (admin, writer, reader)."`
	PollInterval time.Duration `name:"poll-interval" default:"2s" help:"How often policy-dir is checked for changes (SIGHUP reloads at once)."`
	CacheTTL     time.Duration `name:"cache-ttl" default:"1s" help:"How long an identical decision is reused; 0 turns the decision cache off."`
	ExistingTags bool          `name:"existing-tags" help:"Give policies the tags of the object a request reads or changes (input.request.existing_tags); costs a backend call per decision."`
}

// Multipart configures multipart uploads.
type Multipart struct {
	Expiry        time.Duration `default:"168h" help:"Uploads not completed within this time are aborted and their parts removed."`
	SweepInterval time.Duration `name:"sweep-interval" default:"1h" help:"How often abandoned uploads are looked for."`
}

// FS configures the local filesystem backend.
type FS struct {
	Fsync bool `default:"true" negatable:"" help:"fsync every object and its directory before a write is acknowledged."`
}

var (
	regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// Validate checks every setting and names the one that is wrong, with the
// values it accepts.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return settingError("data-dir", "must not be empty")
	}
	for name, addr := range map[string]string{"listen": c.Listen, "ops-listen": c.OpsListen} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return settingError(name, fmt.Sprintf("%q is not host:port (for example 127.0.0.1:9000, or :0 for any free port)", addr))
		}
	}
	if !regionRE.MatchString(c.Region) {
		return settingError("region", fmt.Sprintf("%q is not a region name (lower-case letters, digits and dashes, like us-east-1)", c.Region))
	}
	for _, d := range c.Domain {
		if !domainRE.MatchString(d) {
			return settingError("domain", fmt.Sprintf("%q is not a lower-case DNS name (like s3.example.com)", d))
		}
	}
	if (c.Root.AccessKey == "") != (c.Root.SecretKey == "") {
		return settingError("root-access-key", "set both the root access key and secret key (S3GATE_ROOT_ACCESS_KEY and S3GATE_ROOT_SECRET_KEY), or neither")
	}
	if c.Root.AccessKey != "" {
		if len(c.Root.AccessKey) < 3 || len(c.Root.AccessKey) > 128 || strings.ContainsAny(c.Root.AccessKey, "/ \t\n") {
			return settingError("root-access-key", "must be 3 to 128 characters without '/' or spaces")
		}
		if len(c.Root.SecretKey) < 8 {
			return settingError("root-secret-key", "must be at least 8 characters")
		}
	}
	if c.HTTP.ReadHeaderTimeout <= 0 {
		return settingError("http-read-header-timeout", "must be a positive duration (like 10s)")
	}
	if c.HTTP.IdleTimeout <= 0 {
		return settingError("http-idle-timeout", "must be a positive duration (like 120s)")
	}
	if c.Catalog.DSN != "" && !strings.HasPrefix(c.Catalog.DSN, "postgres://") && !strings.HasPrefix(c.Catalog.DSN, "postgresql://") {
		return settingError("catalog-dsn", "must be a postgres:// or postgresql:// URL, or empty for SQLite in the data dir")
	}
	if c.Multipart.Expiry <= 0 {
		return settingError("multipart-expiry", "must be a positive duration (like 168h)")
	}
	if c.Multipart.SweepInterval <= 0 {
		return settingError("multipart-sweep-interval", "must be a positive duration (like 1h)")
	}
	if err := c.Storage.Validate(c.DefaultBackend); err != nil {
		return err
	}
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if c.Identity.MasterKey != "" && c.Identity.MasterKeyFile != "" {
		return settingError("identity-master-key", "set the master key or identity.master_key_file (S3GATE_IDENTITY_MASTER_KEY_FILE), not both")
	}
	if c.Policy.PollInterval < 0 || c.Policy.CacheTTL < 0 {
		return settingError("policy-poll-interval", "policy.poll_interval and policy.cache_ttl must not be negative")
	}
	if c.Identity.KeyRefresh < 0 {
		return settingError("identity-key-refresh", "must be a positive duration (like 10s)")
	}
	if c.HTTP.BodyIdleTimeout <= 0 {
		return settingError("http-body-idle-timeout", "must be a positive duration (like 20s)")
	}
	if c.HTTP.ShutdownTimeout < 0 {
		return settingError("http-shutdown-timeout", "must not be negative")
	}
	if c.HTTP.MaxHeaderBytes < 8<<10 || c.HTTP.MaxHeaderBytes > 1<<20 {
		return settingError("http-max-header-bytes", "must be between 8192 and 1048576")
	}
	if c.HTTP.MaxRequests < 1 {
		return settingError("http-max-requests", "must be at least 1")
	}
	if len(c.Catalog.ReadReplicas) > 0 && c.Catalog.DSN == "" {
		return settingError("catalog-read-replicas", "needs catalog.dsn: read replicas belong to a PostgreSQL catalogue")
	}
	if err := c.Events.validate(); err != nil {
		return err
	}
	if err := c.Images.validate(); err != nil {
		return err
	}
	if err := c.Search.validate(); err != nil {
		return err
	}
	if err := c.Analytics.validate(); err != nil {
		return err
	}
	if c.TLS.Enabled() {
		if c.TLS.CertFile == "" {
			return settingError("tls-cert-file", "must be set with tls.key_file (S3GATE_TLS_KEY_FILE): set both for https, or neither")
		}
		if c.TLS.KeyFile == "" {
			return settingError("tls-key-file", "must be set with tls.cert_file (S3GATE_TLS_CERT_FILE): set both for https, or neither")
		}
		if _, err := c.TLS.LoadKeyPair(); err != nil {
			return err
		}
	}
	return nil
}

// settingError names a setting by all three of its spellings.
func settingError(flag, msg string) error {
	return fmt.Errorf("invalid setting %s (--%s, %s): %s", YAMLKey(flag), flag, EnvName(flag), msg)
}

// groups are the flag prefixes that are YAML sections.
var groups = []string{"root", "log", "http", "tls", "fs", "catalog", "multipart", "identity", "policy", "events", "images", "search", "analytics"}

// YAMLKey is the dotted YAML path of a flag: http-idle-timeout ->
// http.idle_timeout.
func YAMLKey(flag string) string {
	for _, g := range groups {
		if rest, ok := strings.CutPrefix(flag, g+"-"); ok {
			return g + "." + strings.ReplaceAll(rest, "-", "_")
		}
	}
	return strings.ReplaceAll(flag, "-", "_")
}

// EnvName is the environment variable of a flag: data-dir -> S3GATE_DATA_DIR.
func EnvName(flag string) string {
	return "S3GATE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
