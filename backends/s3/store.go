package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/s3gate/s3gate/backends"
)

// Defaults for Options fields left zero.
const (
	DefaultRegion              = "us-east-1"
	DefaultTimeout             = 30 * time.Second
	DefaultMaxIdleConnsPerHost = 256
)

// Credentials sources (Options.Credentials).
const (
	// CredentialsStatic uses Options.AccessKey and Options.SecretKey.
	CredentialsStatic = "static"
	// CredentialsEnv reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN once, at New, and nothing else.
	CredentialsEnv = "env"
	// CredentialsDefault is the AWS SDK's default chain: environment,
	// shared config and credentials files, web identity, SSO, ECS and EC2
	// instance metadata. Only this source reads files or reaches the
	// metadata service.
	CredentialsDefault = "default"
)

// Options configure a Store.
type Options struct {
	// Endpoint is the backend's URL (http://127.0.0.1:7070,
	// https://s3.eu-west-1.amazonaws.com ...). Empty: AWS S3's endpoint
	// for Region.
	Endpoint string
	// Region signs requests; DefaultRegion when empty.
	Region string
	// Credentials is CredentialsStatic (the default), CredentialsEnv or
	// CredentialsDefault.
	Credentials          string
	AccessKey, SecretKey string
	// PathStyle addresses buckets as ENDPOINT/bucket instead of
	// bucket.ENDPOINT; most non-AWS servers need it.
	PathStyle bool
	// CAFile is a PEM bundle trusted, besides the system roots, for an
	// https Endpoint.
	CAFile string
	// InsecureSkipVerify accepts any certificate (tests only).
	InsecureSkipVerify bool
	// Timeout bounds every backend call that moves no object bytes
	// (DefaultTimeout when zero). Streaming calls (PutObject, UploadPart,
	// GetObject's body) are instead cut when the backend makes no progress
	// for Timeout. Copies and completions get 20 times it.
	Timeout time.Duration
	// MaxIdleConnsPerHost is the pool of idle keep-alive connections kept
	// to the backend (DefaultMaxIdleConnsPerHost when zero).
	MaxIdleConnsPerHost int
	// Buckets maps gateway buckets to backend buckets and key prefixes. A
	// gateway bucket without an entry maps to the entry "*" if there is
	// one, else to the backend bucket of the same name, without a prefix.
	// In the "*" entry, a "*" in Bucket or Prefix stands for the gateway
	// bucket's name (Mapping{Bucket: "tenant-a-*"}, or Mapping{Bucket:
	// "shared", Prefix: "buckets/*/"}).
	Buckets map[string]Mapping
	// Capabilities overrides what the Store declares the backend supports
	// (S3Capabilities when nil; see also VersitygwCapabilities and
	// NamedCapabilities). Declare only what the server really does: the
	// gateway answers NotImplemented for the rest.
	Capabilities *backends.Capabilities
}

// Mapping places a gateway bucket in the backend: its objects are the
// backend bucket's keys that begin with Prefix, with Prefix removed.
type Mapping struct {
	Bucket string
	Prefix string
}

// S3Capabilities is what the Store declares when Options.Capabilities is
// nil: what it provides in front of a server that behaves as AWS S3 does
// (flat keys, default part checksums, atomic completions and reads). Only
// the Store's own limits remain: S3 lists no tag counts, and the Store
// does not read a completed object's part table.
var S3Capabilities = backends.Capabilities{
	ConditionalWrites:  true,
	ConditionalDeletes: true,
	Limits: backends.Limits{
		NoListTagCounts: true,
		NoObjectParts:   true,
	},
}

// VersitygwCapabilities is what the Store proved against versitygw v1.8.0
// (posix): S3Capabilities plus that server's own limits.
var VersitygwCapabilities = backends.Capabilities{
	ConditionalWrites:  true,
	ConditionalDeletes: true,
	Limits: backends.Limits{
		PathKeys:               true,
		NoListTagCounts:        true,
		NoObjectParts:          true,
		NoDefaultPartChecksums: true,
		RacyComplete:           true,
		RacyReads:              true,
	},
}

// Capability profiles, by the names the configuration uses.
const (
	ProfileS3        = "s3"
	ProfileVersitygw = "versitygw"
)

// NamedCapabilities returns the capabilities of a profile: ProfileS3 (also
// for ""), or ProfileVersitygw. Unknown names are an error.
func NamedCapabilities(name string) (backends.Capabilities, error) {
	switch name {
	case "", ProfileS3:
		return S3Capabilities, nil
	case ProfileVersitygw:
		return VersitygwCapabilities, nil
	}
	return backends.Capabilities{}, fmt.Errorf("s3: unknown capabilities %q (s3 or versitygw)", name)
}

// Store is a backends.Backend (and backends.Copier) that keeps buckets and
// objects in another S3 service. See the package documentation.
type Store struct {
	client  *s3sdk.Client
	http    *http.Client
	tr      *http.Transport
	timeout time.Duration
	caps    backends.Capabilities
	buckets bucketMap

	// uploads caches the checksum settings of multipart uploads by id;
	// they never change while an upload lives.
	uploadsMu sync.Mutex
	uploads   map[string]uploadSettings
}

var (
	_ backends.Backend = (*Store)(nil)
	_ backends.Copier  = (*Store)(nil)
)

// copyTimeoutFactor stretches Timeout for calls whose duration grows with
// the object's size on the backend (CopyObject, UploadPartCopy,
// CompleteMultipartUpload).
const copyTimeoutFactor = 20

// New returns a Store for the backend opts describe. It makes no request:
// a backend that is down shows in the first call (ErrBackendUnavailable).
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	bm, err := newBucketMap(opts.Buckets)
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(opts)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: tr}
	s := &Store{http: hc, tr: tr, timeout: opts.Timeout, caps: S3Capabilities, buckets: bm,
		uploads: make(map[string]uploadSettings)}
	if opts.Capabilities != nil {
		s.caps = *opts.Capabilities
	}

	o := s3sdk.Options{
		Region:       opts.Region,
		UsePathStyle: opts.PathStyle,
		HTTPClient:   hc,
		// Idempotent calls retry transient failures (5xx, throttling,
		// broken connections); streaming calls get one attempt
		// (oneAttempt).
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 500 * time.Millisecond
		}),
		// Checksums are computed by s3gate and forwarded, never by the
		// SDK behind its back (it would need to read bodies twice).
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Logger:                     logging.Nop{},
		// No S3 Express session calls, no disabled-by-env surprises.
		DisableS3ExpressSessionAuth: aws.Bool(true),
	}
	if opts.Endpoint != "" {
		o.BaseEndpoint = aws.String(opts.Endpoint)
	}
	switch opts.Credentials {
	case "", CredentialsStatic:
		if opts.AccessKey == "" || opts.SecretKey == "" {
			return nil, errors.New("s3: static credentials need an access key and a secret key")
		}
		o.Credentials = credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")
	case CredentialsEnv:
		ak, sk := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if ak == "" || sk == "" {
			return nil, errors.New("s3: credentials from the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
		}
		o.Credentials = credentials.NewStaticCredentialsProvider(ak, sk, os.Getenv("AWS_SESSION_TOKEN"))
	case CredentialsDefault:
		// The chain's own calls (STS, SSO, instance metadata) use the
		// SDK's HTTP client, not the backend's transport: they go
		// elsewhere, must not inherit the backend's CAFile or
		// InsecureSkipVerify, and AWS_CA_BUNDLE (which the SDK applies
		// only to its own client) must not fail New.
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(opts.Region))
		if err != nil {
			return nil, fmt.Errorf("s3: default credentials: %w", err)
		}
		o.Credentials = aws.NewCredentialsCache(cfg.Credentials)
	default:
		return nil, fmt.Errorf("s3: unknown credentials source %q (static, env or default)", opts.Credentials)
	}
	s.client = s3sdk.New(o)
	return s, nil
}

// newTransport builds the pooled transport: many idle connections per
// host (Go's default of 2 makes a busy gateway dial for most requests), no
// proxy from the environment, no transparent gzip.
func newTransport(opts Options) (*http.Transport, error) {
	dialTimeout := min(opts.Timeout, 10*time.Second)
	tr := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no global cap; per host below
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
	}
	if opts.CAFile != "" || opts.InsecureSkipVerify {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("s3: CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("s3: CA file %s holds no PEM certificate", opts.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	return tr, nil
}

// Close releases idle connections to the backend.
func (s *Store) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// Capabilities reports what the backend supports; it is the same for every
// bucket.
func (s *Store) Capabilities(string) backends.Capabilities { return s.caps }

// call runs a non-streaming backend call under Timeout.
func (s *Store) call(ctx context.Context, factor int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout*time.Duration(factor))
}

// uploadSettings are the checksum settings of a multipart upload.
type uploadSettings struct {
	alg, typ string
	deflt    bool
}

const maxCachedUploads = 10000

func (s *Store) cacheUpload(id string, u uploadSettings) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	if len(s.uploads) >= maxCachedUploads {
		for k := range s.uploads { // drop an arbitrary entry
			delete(s.uploads, k)
			break
		}
	}
	s.uploads[id] = u
}

func (s *Store) cachedUpload(id string) (uploadSettings, bool) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	u, ok := s.uploads[id]
	return u, ok
}

func (s *Store) forgetUpload(id string) {
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	delete(s.uploads, id)
}
