package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/catalog/catalogtest"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity"
)

// The catalogue databases of these tests: see catalogtest.
var (
	freshPostgres = catalogtest.FreshPostgres
)

// clearEnv unsets every S3GATE_ variable for the test, so the developer's
// environment cannot change what is parsed.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "S3GATE_") {
			k, _, _ := strings.Cut(kv, "=")
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// runKeys runs `s3gate keys ARGS...` through the real parser and returns
// what it printed on stdout.
func runKeys(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var c cli
	k, err := kong.New(&c, options()...)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(append([]string{"keys"}, args...))
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	c.Keys.stdout, c.Keys.stderr = &stdout, &stderr
	err = kctx.Run()
	return stdout.String(), err
}

func mustRunKeys(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runKeys(t, args...)
	if err != nil {
		t.Fatalf("s3gate keys %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func keysFailure(t *testing.T, want []string, args ...string) {
	t.Helper()
	out, err := runKeys(t, args...)
	if err == nil {
		t.Fatalf("s3gate keys %s succeeded, printing %q", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("s3gate keys %s: error %q does not mention %q", strings.Join(args, " "), err, w)
		}
	}
}

var (
	createdID     = regexp.MustCompile(`(?m)^  access key: (AK[A-Z0-9]{18})$`)
	createdSecret = regexp.MustCompile(`(?m)^  secret key: ([A-Za-z0-9]{40})$`)
)

// createKey runs keys create and returns the key it printed.
func createKey(t *testing.T, args ...string) aws.Credentials {
	t.Helper()
	out := mustRunKeys(t, args...)
	id, secret := createdID.FindStringSubmatch(out), createdSecret.FindStringSubmatch(out)
	if id == nil || secret == nil {
		t.Fatalf("keys create printed no key:\n%s", out)
	}
	for _, want := range []string{"shown only this once", "aws configure set aws_access_key_id " + id[1], "aws configure set aws_secret_access_key " + secret[1]} {
		if !strings.Contains(out, want) {
			t.Errorf("keys create output lacks %q:\n%s", want, out)
		}
	}
	return aws.Credentials{AccessKeyID: id[1], SecretAccessKey: secret[1]}
}

// listJSON runs keys list --json.
func listJSON(t *testing.T, args ...string) []gateway.KeyInfo {
	t.Helper()
	out := mustRunKeys(t, append([]string{"list", "--json"}, args...)...)
	var doc struct {
		Keys []gateway.KeyInfo `json:"keys"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Keys == nil {
		t.Fatalf("keys list --json printed %q: %v", out, err)
	}
	return doc.Keys
}

// listTable runs keys list and returns its rows by key id, each row's
// columns split on white space.
func listTable(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	out := mustRunKeys(t, append([]string{"list"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "ACCESS KEY ID USER ROLES STATUS CREATED" {
		t.Fatalf("keys list header: %q", lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("keys list row %q", l)
		}
		rows[f[0]] = f
	}
	return rows
}

// serving runs serve with cfg until the test ends and returns its S3 and
// operations URLs and what it printed.
func serving(t *testing.T, cfg config.Config) (s3URL, opsURL string, stdout *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &lockedBuffer{}
	var stderr lockedBuffer
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	})
	waitFor(t, `the "s3gate ready" line`, func() bool {
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
		default:
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "s3gate ready" {
				s3URL, _ = rec["s3"].(string)
				opsURL, _ = rec["ops"].(string)
				return true
			}
		}
		return false
	})
	return s3URL, opsURL, stdout
}

// listBucketsCode sends ListBuckets with creds and returns the S3 error
// code, "" on success.
func listBucketsCode(t *testing.T, s3URL string, creds aws.Credentials) string {
	t.Helper()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(s3URL), UsePathStyle: true, Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	_, err := client.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("ListBuckets: %v", err)
	}
	return ae.ErrorCode()
}

// adminGet sends a SigV4-signed GET to the admin API.
func adminGet(t *testing.T, opsURL, path string, creds aws.Credentials) (int, []byte) {
	t.Helper()
	hr, err := http.NewRequest("GET", opsURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	hr.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, hr, emptySHA256, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestKeysCommand drives every keys command against a catalogue, then
// starts serve on the same configuration and checks that the keys the
// commands left work (or do not) there, for both catalogues. One config
// file serves both commands.
func TestKeysCommand(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()
			dataDir := filepath.Join(dir, "data")
			yaml := fmt.Sprintf(`
data_dir: %s
listen: 127.0.0.1:0
ops_listen: 127.0.0.1:0
log:
  format: json
identity:
  key_refresh: 100ms
backends:
  - {name: archive, type: fs, dir: %s}
buckets:
  old: {backend: archive}
`, dataDir, filepath.Join(dir, "archive"))
			var root aws.Credentials
			if db == "postgres" {
				root = aws.Credentials{AccessKeyID: "AKROOTKEYSCLITEST", SecretAccessKey: "root-secret-for-the-cli-test"}
				yaml += fmt.Sprintf("catalog:\n  dsn: %s\nroot:\n  access_key: %s\n  secret_key: %s\n", freshPostgres(t), root.AccessKeyID, root.SecretAccessKey)
				yaml = strings.Replace(yaml, "identity:\n", "identity:\n  master_key: "+randomHex(t, 32)+"\n", 1)
			}
			file := writeFile(t, yaml)
			cf := []string{"--config", file}

			// Before anything was created: SQLite has no catalogue yet,
			// and the command says so rather than making an empty one.
			if db == "sqlite" {
				keysFailure(t, []string{"no catalogue", dataDir, "--data-dir"}, append([]string{"list"}, cf...)...)
				if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("keys list made the data dir: %v", err)
				}
			} else if out := mustRunKeys(t, append([]string{"list"}, cf...)...); out != "No access keys.\n" {
				t.Fatalf("keys list on an empty catalogue: %q", out)
			}

			alice := createKey(t, "create", "--config", file, "--user", "alice", "--roles", "reader,writer", "--groups", "eng,ops",
				"--display-name", "Alice A.", "--description", "laptop")
			// Flags of keys may also come before the subcommand.
			bob := createKey(t, "--config", file, "create", "--user", "bob", "--roles", "reader")
			if db == "sqlite" && !notExist(filepath.Join(dataDir, identity.RootCredentialsFile)) {
				t.Error("keys create generated a root key; that is serve's job, which shows it once")
			}

			rows := listTable(t, cf...)
			if len(rows) != 2 || strings.Join(rows[alice.AccessKeyID][1:4], " ") != "alice reader,writer active" ||
				strings.Join(rows[bob.AccessKeyID][1:4], " ") != "bob reader active" {
				t.Fatalf("keys list rows: %v", rows)
			}
			if _, err := time.Parse(time.RFC3339, rows[alice.AccessKeyID][4]); err != nil {
				t.Errorf("created column: %v", err)
			}
			out := mustRunKeys(t, append([]string{"list", "--json"}, cf...)...)
			if strings.Contains(out, alice.SecretAccessKey) || strings.Contains(out, "secret") {
				t.Fatalf("keys list --json shows a secret:\n%s", out)
			}
			keys := listJSON(t, append(cf, "--user", "alice")...)
			if len(keys) != 1 {
				t.Fatalf("keys list --user alice: %+v", keys)
			}
			if k := keys[0]; k.AccessKeyID != alice.AccessKeyID || k.DisplayName != "Alice A." || strings.Join(k.Roles, ",") != "reader,writer" ||
				strings.Join(k.Groups, ",") != "eng,ops" || k.Description != "laptop" || k.Status != "active" || time.Since(k.Created) > time.Minute {
				t.Errorf("alice's key: %+v", k)
			}
			if out := mustRunKeys(t, append([]string{"list", "--user", "carol"}, cf...)...); out != "No access keys for carol.\n" {
				t.Errorf("keys list --user carol: %q", out)
			}

			if out := mustRunKeys(t, append([]string{"disable", alice.AccessKeyID}, cf...)...); !strings.Contains(out, alice.AccessKeyID+" disabled") {
				t.Errorf("keys disable printed %q", out)
			}
			if got := listJSON(t, append(cf, "--user", "alice")...); got[0].Status != "disabled" {
				t.Fatalf("after disable: %+v", got[0])
			}
			mustRunKeys(t, append([]string{"enable", alice.AccessKeyID}, cf...)...)
			if got := listJSON(t, append(cf, "--user", "alice")...); got[0].Status != "active" {
				t.Fatalf("after enable: %+v", got[0])
			}
			mustRunKeys(t, append([]string{"delete", bob.AccessKeyID}, cf...)...)
			if got := listJSON(t, cf...); len(got) != 1 || got[0].AccessKeyID != alice.AccessKeyID {
				t.Fatalf("after deleting bob's key: %+v", got)
			}
			for _, verb := range []string{"delete", "disable", "enable"} {
				keysFailure(t, []string{"no access key " + bob.AccessKeyID}, append([]string{verb, bob.AccessKeyID}, cf...)...)
			}
			keysFailure(t, []string{"invalid key", "role"}, append([]string{"create", "--user", "carol", "--roles", "bad role"}, cf...)...)
			keysFailure(t, []string{"--roles"}, append([]string{"create", "--user", "carol"}, cf...)...)
			if db == "postgres" {
				keysFailure(t, []string{root.AccessKeyID, "root key", "root.access_key", "cannot be disabled"}, append([]string{"disable", root.AccessKeyID}, cf...)...)
			}

			// Restart: serve on the same configuration honours what the
			// commands did.
			s, err := parse(t, nil, cf...)
			if err != nil {
				t.Fatal(err)
			}
			s3URL, opsURL, stdout := serving(t, s.Config)
			if db == "sqlite" {
				if !strings.Contains(stdout.String(), "s3gate generated root credentials") {
					t.Fatalf("serve did not generate a root key on the data dir's first start:\n%s", stdout.String())
				}
				k, _, err := identity.LoadOrCreateRoot(dataDir)
				if err != nil {
					t.Fatal(err)
				}
				root = aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
			}
			if code := listBucketsCode(t, s3URL, alice); code != "" {
				t.Fatalf("ListBuckets with a key the command created: %s", code)
			}
			if code := listBucketsCode(t, s3URL, bob); code != "InvalidAccessKeyId" {
				t.Fatalf("ListBuckets with a key the command deleted: %q, want InvalidAccessKeyId", code)
			}
			status, body := adminGet(t, opsURL, "/api/v1/keys", root)
			if status != http.StatusOK || !strings.Contains(string(body), alice.AccessKeyID) || strings.Contains(string(body), bob.AccessKeyID) {
				t.Fatalf("admin API on the operations listener: %d %s", status, body)
			}
			if status, body := adminGet(t, opsURL, "/api/v1/keys", alice); status != http.StatusForbidden {
				t.Fatalf("admin API with a reader's key: %d %s", status, body)
			}

			// A change made by the command while serve runs reaches it
			// within identity.key_refresh.
			mustRunKeys(t, append([]string{"disable", alice.AccessKeyID}, cf...)...)
			waitFor(t, "the disabled key to be refused", func() bool { return listBucketsCode(t, s3URL, alice) == "InvalidAccessKeyId" })
			mustRunKeys(t, append([]string{"enable", alice.AccessKeyID}, cf...)...)
			waitFor(t, "the enabled key to work", func() bool { return listBucketsCode(t, s3URL, alice) == "" })

			// The root key is served from the configuration (or the data
			// dir's file); the command refuses to change it and says where
			// it comes from.
			source := "root.access_key"
			if db == "sqlite" {
				source = filepath.Join(dataDir, identity.RootCredentialsFile)
			}
			keysFailure(t, []string{root.AccessKeyID, "root key", source, "cannot be deleted"}, append([]string{"delete", root.AccessKeyID}, cf...)...)
			if code := listBucketsCode(t, s3URL, root); code != "" {
				t.Fatalf("ListBuckets with the root key: %s", code)
			}
		})
	}
}

// The keys command reads and checks its settings exactly as serve does.
func TestKeysCommandSettings(t *testing.T) {
	clearEnv(t)
	dataDir := t.TempDir()
	keysFailure(t, []string{"listen", "S3GATE_LISTEN", "host:port"}, "list", "--data-dir", dataDir, "--listen", "nonsense")
	keysFailure(t, []string{"unknown setting", "lisen"}, "list", "--config", writeFile(t, "lisen: 127.0.0.1:1\n"))
	keysFailure(t, []string{"backends[0].type"}, "list", "--config", writeFile(t, "backends:\n  - {name: x, type: ftp}\n"))
	keysFailure(t, []string{"sts.roles"}, "list", "--config", writeFile(t, "sts:\n  roles: [{name: r, issuers: [corp]}]\n"))
	keysFailure(t, []string{"catalog.dsn"}, "list", "--data-dir", dataDir, "--catalog-dsn", "mysql://nowhere")

	t.Setenv("S3GATE_DATA_DIR", dataDir)
	k := createKey(t, "create", "--user", "erin", "--roles", "reader")
	if got := listJSON(t); len(got) != 1 || got[0].AccessKeyID != k.AccessKeyID {
		t.Fatalf("keys in S3GATE_DATA_DIR: %+v", got)
	}
	// The command's own flags take no S3GATE_ variables and no config file
	// keys: a configuration meant for serve must not change what a key is
	// made with.
	t.Setenv("S3GATE_USER", "mallory")
	keysFailure(t, []string{"--user"}, "create", "--roles", "reader")
	shared := writeFile(t, "user: mallory\nroles: [admin]\njson: true\n")
	keysFailure(t, []string{"config file", "user"}, "create", "--config", shared, "--roles", "reader")
	keysFailure(t, []string{"config file", "roles"}, "create", "--config", shared, "--user", "erin")
	keysFailure(t, []string{"config file", "user"}, "list", "--config", shared)
	keysFailure(t, []string{"config file", "json"}, "list", "--config", writeFile(t, "json: true\n"))
	if got := listJSON(t); len(got) != 1 {
		t.Fatalf("refused commands changed the keys: %+v", got)
	}
}

// TestPostgresCatalogueNeedsMasterKey: replicas sharing a PostgreSQL
// catalogue must share a master key, so neither serve nor the keys command
// generates one; both refuse to start and name the settings.
func TestPostgresCatalogueNeedsMasterKey(t *testing.T) {
	clearEnv(t)
	dsn := freshPostgres(t)
	dataDir := t.TempDir()
	want := []string{"master key", "identity.master_key_file", "S3GATE_IDENTITY_MASTER_KEY"}
	keysFailure(t, want, "list", "--data-dir", dataDir, "--catalog-dsn", dsn)
	keysFailure(t, want, "create", "--user", "alice", "--roles", "reader", "--data-dir", dataDir, "--catalog-dsn", dsn)

	s, err := parse(t, nil, "--data-dir", dataDir, "--catalog-dsn", dsn, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = serve(ctx, s.Config, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started on a PostgreSQL catalogue without a master key")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("serve: %q does not mention %q", err, w)
		}
	}
	if !notExist(filepath.Join(dataDir, MasterKeyFile)) {
		t.Error("a master key was generated in the data dir")
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
