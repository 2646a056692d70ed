package config

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Storage is where objects live: the storage backends and the buckets
// routed to them. It is set in the YAML file only (lists of structured
// entries do not fit flags); default_backend is also a flag. The local
// filesystem backend in data_dir is always there, named "fs".
type Storage struct {
	Backends []Backend              `yaml:"backends"`
	Buckets  map[string]BucketRoute `yaml:"buckets"`
}

// Backend configures one storage backend.
type Backend struct {
	Name string `yaml:"name"`
	// Type is "s3" (another S3 service) or "fs" (a local directory).
	Type string `yaml:"type"`

	// s3: the service's endpoint URL, region, addressing and credentials.
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	PathStyle *bool  `yaml:"path_style"`
	// Credentials is "static" (access_key/secret_key), "env"
	// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or "default" (the SDK's
	// default chain, which may ask an instance-metadata service).
	Credentials string `yaml:"credentials"`
	AccessKey   string `yaml:"access_key"`
	SecretKey   string `yaml:"secret_key"`
	// CAFile trusts an extra CA for an https endpoint.
	CAFile             string        `yaml:"ca_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Timeout            time.Duration `yaml:"timeout"`
	MaxIdleConns       int           `yaml:"max_idle_conns"`
	// Capabilities names what the service supports: "s3" (the default:
	// it behaves as AWS S3 does) or "versitygw" (versitygw v1.8.0's
	// limits: keys are file paths, no part checksums without an upload
	// algorithm, completions and reads not atomic with racing writes).
	Capabilities string `yaml:"capabilities"`

	// fs: the directory.
	Dir string `yaml:"dir"`
}

// BucketRoute sends a gateway bucket to a backend, optionally under
// another name and a key prefix there.
type BucketRoute struct {
	Backend string `yaml:"backend"`
	Bucket  string `yaml:"bucket"`
	Prefix  string `yaml:"prefix"`
}

// DefaultFS is the name of the filesystem backend in data_dir.
const DefaultFS = "fs"

// storageKeys are the YAML file's sections LoadStorage reads.
var storageKeys = []string{"backends", "buckets"}

// LoadStorage reads the storage sections of the YAML file at path ("" for
// none). Unknown keys are errors.
func LoadStorage(path string) (Storage, error) {
	var st Storage
	err := decodeSections(path, storageKeys, &st)
	return st, err
}

// structured reports whether a top-level key of the YAML file is one of
// the sections decoded as a whole (lists of structured entries do not fit
// flags); the flag resolver leaves them alone.
func structured(key string) bool {
	return slices.Contains(storageKeys, key) || slices.Contains(authKeys, key) || slices.Contains(imageKeys, key)
}

// decodeSections decodes the named top-level sections of the YAML file at
// path into out, refusing unknown keys.
func decodeSections(path string, keys []string, out any) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	part := map[string]yaml.Node{}
	for _, k := range keys {
		if n, ok := doc[k]; ok {
			part[k] = n
		}
	}
	b, err := yaml.Marshal(part)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("config file: %s: %w", strings.Join(keys, "/"), err)
	}
	return nil
}

// capabilityProfiles are the values of an s3 backend's capabilities
// setting ("" is s3).
var capabilityProfiles = []string{"", "s3", "versitygw"}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the storage configuration together with the default
// backend's name, naming the entry at fault.
func (s Storage) Validate(defaultBackend string) error {
	names := map[string]bool{DefaultFS: true}
	for i, b := range s.Backends {
		where := fmt.Sprintf("invalid setting backends[%d]", i)
		switch {
		case !nameRE.MatchString(b.Name):
			return fmt.Errorf("%s.name: %q must be lower-case letters, digits, - and _", where, b.Name)
		case names[b.Name]:
			return fmt.Errorf("%s.name: %q is used twice (%q is the data dir's fs backend)", where, b.Name, DefaultFS)
		}
		names[b.Name] = true
		switch b.Type {
		case "s3":
			u, err := url.Parse(b.Endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s.endpoint: %q must be an http:// or https:// URL", where, b.Endpoint)
			}
			switch b.Credentials {
			case "", "static":
				if b.AccessKey == "" || b.SecretKey == "" {
					return fmt.Errorf("%s: static credentials need access_key and secret_key", where)
				}
			case "env", "default":
			default:
				return fmt.Errorf("%s.credentials: %q must be static, env or default", where, b.Credentials)
			}
			if !slices.Contains(capabilityProfiles, b.Capabilities) {
				return fmt.Errorf("%s.capabilities: %q must be s3 (a service that behaves as AWS S3 does, the default) or versitygw", where, b.Capabilities)
			}
			if b.Timeout < 0 || b.MaxIdleConns < 0 {
				return fmt.Errorf("%s: timeout and max_idle_conns must not be negative", where)
			}
		case "fs":
			if b.Capabilities != "" {
				return fmt.Errorf("%s.capabilities: only an s3 backend takes capabilities", where)
			}
			if b.Dir == "" {
				return fmt.Errorf("%s.dir: an fs backend needs a directory", where)
			}
		default:
			return fmt.Errorf("%s.type: %q must be s3 or fs", where, b.Type)
		}
	}
	if !names[defaultBackend] {
		return fmt.Errorf("invalid setting default_backend (--default-backend, S3GATE_DEFAULT_BACKEND): %q is not a configured backend", defaultBackend)
	}
	for bucket, r := range s.Buckets {
		if !names[r.Backend] {
			return fmt.Errorf("invalid setting buckets.%s.backend: %q is not a configured backend", bucket, r.Backend)
		}
	}
	return nil
}
