package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// parse runs the real command-line parser over args with the given
// environment, returning the serve command's configuration.
func parse(t *testing.T, env map[string]string, args ...string) (*serveCmd, error) {
	t.Helper()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "S3GATE_") {
			k, _, _ := strings.Cut(kv, "=")
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cli
	k, err := kong.New(&c, options()...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Parse(append([]string{"serve"}, args...))
	return &c.Serve, err
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s3gate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	s, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	if c.DataDir != "./data" || c.Listen != "127.0.0.1:9000" || c.OpsListen != "127.0.0.1:9001" || c.Region != "us-east-1" ||
		!c.FS.Fsync || !c.Log.Access || c.HTTP.ReadHeaderTimeout != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

// defaults < YAML < environment < flags, setting by setting.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
region: from-file
listen: 127.0.0.1:1111
ops_listen: 127.0.0.1:2222
domain: [a.example.com, b.example.com]
http:
  idle_timeout: 7s
  max_requests: 77
fs:
  fsync: false
log:
  format: json
`)
	env := map[string]string{"S3GATE_LISTEN": "127.0.0.1:3333", "S3GATE_HTTP_MAX_REQUESTS": "88", "S3GATE_OPS_LISTEN": "127.0.0.1:4444"}
	s, err := parse(t, env, "--config", file, "--ops-listen", "127.0.0.1:5555")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	checks := []struct{ name, got, want string }{
		{"region (file)", c.Region, "from-file"},
		{"listen (env over file)", c.Listen, "127.0.0.1:3333"},
		{"ops-listen (flag over env)", c.OpsListen, "127.0.0.1:5555"},
		{"domain (file list)", strings.Join(c.Domain, ","), "a.example.com,b.example.com"},
		{"http.idle_timeout (file)", c.HTTP.IdleTimeout.String(), "7s"},
		{"http.max_requests (env over file)", strconv.Itoa(c.HTTP.MaxRequests), "88"},
		{"log.format (file)", c.Log.Format, "json"},
		{"data_dir (default)", c.DataDir, "./data"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if c.FS.Fsync {
		t.Error("fs.fsync: false in the file was ignored")
	}
	// The config file's path may come from the environment too.
	s, err = parse(t, map[string]string{"S3GATE_CONFIG": file})
	if err != nil || s.Config.Region != "from-file" {
		t.Fatalf("S3GATE_CONFIG: %v %q", err, s.Config.Region)
	}
}

func TestInvalidConfigurationNamesTheSetting(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"bad listen", nil, []string{"--listen", "nonsense"}, []string{"listen", "S3GATE_LISTEN", "host:port"}},
		{"bad region", map[string]string{"S3GATE_REGION": "Bad Region"}, nil, []string{"region", "S3GATE_REGION"}},
		{"bad level", nil, []string{"--log-level", "loud"}, []string{"log-level", "must be one of"}},
		{"half a root key", map[string]string{"S3GATE_ROOT_ACCESS_KEY": "abc"}, nil, []string{"root.access_key", "S3GATE_ROOT_SECRET_KEY"}},
		{"short secret", map[string]string{"S3GATE_ROOT_ACCESS_KEY": "abc", "S3GATE_ROOT_SECRET_KEY": "short"}, nil, []string{"root.secret_key", "at least 8"}},
		{"header limit", nil, []string{"--http-max-header-bytes", "10"}, []string{"http.max_header_bytes", "8192"}},
		{"bad duration", nil, []string{"--http-idle-timeout", "soon"}, []string{"http-idle-timeout"}},
		{"bad domain", nil, []string{"--domain", "Not A Domain"}, []string{"domain"}},
		{"unknown yaml key", nil, []string{"--config", writeFile(t, "lisen: 127.0.0.1:1\n")}, []string{"unknown setting", "lisen"}},
		{"unknown yaml section key", nil, []string{"--config", writeFile(t, "http:\n  idle: 1s\n")}, []string{"unknown setting", "http.idle"}},
		// A command's own arguments are not settings: the file cannot set them.
		{"command argument in yaml", nil, []string{"--config", writeFile(t, "user: mallory\nroles: [admin]\n")}, []string{"unknown setting", "roles", "user"}},
		{"bad yaml", nil, []string{"--config", writeFile(t, "listen: [\n")}, []string{"config file"}},
		{"redis queue without redis", nil, []string{"--events-queue", "redis"}, []string{"events.redis_url"}},
		{"redis url", nil, []string{"--events-queue", "redis", "--events-redis-url", "http://x:pw@h/"}, []string{"events.redis_url", "redis://"}},
		{"replicas without a primary", nil, []string{"--catalog-read-replicas", "postgres://r/x"}, []string{"catalog.read_replicas", "catalog.dsn"}},
		{"no workers", nil, []string{"--events-workers", "0"}, []string{"events.workers"}},
		{"unknown queue", nil, []string{"--events-queue", "kafka"}, []string{"events-queue"}},
		{"elasticsearch without a url", nil, []string{"--search-index", "elasticsearch"}, []string{"search.elasticsearch_url", "S3GATE_SEARCH_ELASTICSEARCH_URL"}},
		{"elasticsearch url", nil, []string{"--search-index", "elasticsearch", "--search-elasticsearch-url", "es.local:9200"}, []string{"search.elasticsearch_url", "http://"}},
		{"unknown search index", nil, []string{"--search-index", "solr"}, []string{"search-index"}},
		{"clickhouse without an address", nil, []string{"--analytics-store", "clickhouse"}, []string{"analytics.clickhouse_addr"}},
		{"clickhouse address", nil, []string{"--analytics-store", "clickhouse", "--analytics-clickhouse-addr", "nohost"}, []string{"analytics.clickhouse_addr", "host:port"}},
		{"short retention", nil, []string{"--analytics-retention", "1m"}, []string{"analytics.retention"}},
		{"search text cap", nil, []string{"--search-max-text=-1"}, []string{"search.max_text"}},
	}
	for _, c := range cases {
		_, err := parse(t, c.env, c.args...)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

// The README's configuration table lists every setting the parser knows,
// with its environment variable, so the documentation cannot drift.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c cli
	k, err := kong.New(&c, options()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range k.Model.Children {
		if node.Name != "serve" {
			continue
		}
		for _, f := range node.Flags {
			if f.Name == "help" || f.Name == "version" || f.Name == "config" {
				continue
			}
			for _, want := range append([]string{"--" + f.Name}, f.Envs...) {
				if !strings.Contains(string(readme), want) {
					t.Errorf("README does not document %s", want)
				}
			}
		}
	}
}

func TestStorageSections(t *testing.T) {
	file := writeFile(t, `
default_backend: origin
backends:
  - name: origin
    type: s3
    endpoint: http://127.0.0.1:7070
    region: us-east-1
    access_key: ak
    secret_key: sk
  - name: archive
    type: fs
    dir: /srv/archive
buckets:
  photos: {backend: origin, bucket: acme-photos, prefix: gw/}
  scratch: {backend: fs}
`)
	s, err := parse(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Config.Storage
	if s.Config.DefaultBackend != "origin" || len(st.Backends) != 2 || st.Backends[0].Endpoint != "http://127.0.0.1:7070" ||
		st.Buckets["photos"].Prefix != "gw/" || st.Buckets["scratch"].Backend != "fs" {
		t.Fatalf("storage: default %q %+v", s.Config.DefaultBackend, st)
	}
	bad := []struct{ yaml, want string }{
		{"backends:\n  - {name: x, type: ftp}\n", "backends[0].type"},
		{"backends:\n  - {name: x, type: s3, endpoint: nowhere, access_key: a, secret_key: b}\n", "backends[0].endpoint"},
		{"backends:\n  - {name: x, type: s3, endpoint: 'http://h:1'}\n", "access_key and secret_key"},
		{"backends:\n  - {name: fs, type: fs, dir: /x}\n", "used twice"},
		{"backends:\n  - {name: x, type: fs, dir: /x, colour: red}\n", "colour"},
		{"buckets:\n  photos: {backend: nowhere}\n", "buckets.photos.backend"},
		{"default_backend: nowhere\n", "default_backend"},
	}
	for _, c := range bad {
		_, err := parse(t, nil, "--config", writeFile(t, c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %s", c.yaml, err, c.want)
		}
	}
}
