// Package gateway is s3gate's HTTP front end: the middleware chain, the
// router, the S3 operation handlers and the rendering of S3 XML and errors.
//
// A request passes, outermost first: request state and id -> recover ->
// access log and metrics -> concurrency cap -> router -> authenticate ->
// handler. Handlers return an error; writeError renders it.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/processors/analytics"
	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/sigv4"
)

// Catalog is the part of the catalogue (package catalog) the gateway
// uses: bucket records, CORS rules and bucket tags.
type Catalog interface {
	CreateBucket(ctx context.Context, b catalog.Bucket) error
	GetBucket(ctx context.Context, name string) (catalog.Bucket, error)
	ListBuckets(ctx context.Context) ([]catalog.Bucket, error)
	DeleteBucket(ctx context.Context, name string) error
	PutBucketCORS(ctx context.Context, bucket string, rules []catalog.CORSRule) error
	GetBucketCORS(ctx context.Context, bucket string) ([]catalog.CORSRule, error)
	DeleteBucketCORS(ctx context.Context, bucket string) error
	PutBucketTagging(ctx context.Context, bucket string, tags map[string]string) error
	GetBucketTagging(ctx context.Context, bucket string) (map[string]string, error)
	DeleteBucketTagging(ctx context.Context, bucket string) error
}

// KeyStore resolves SigV4 access key ids to their secret and principal.
type KeyStore interface {
	Lookup(ctx context.Context, id string) (identity.AccessKey, error)
}

// Options configure a Gateway.
type Options struct {
	// Region is the region s3gate answers as; SigV4 scopes must name it.
	Region string
	// Domains enable virtual-hosted-style requests: bucket.DOMAIN.
	Domains []string
	// MaxRequests caps requests in flight; more get SlowDown.
	MaxRequests int
	// MaxHeaderBytes bounds a request's header section (request line and
	// headers); larger ones get RequestHeaderSectionTooLarge. 0: no bound.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields; 0 means 256.
	MaxHeaders int
	// BodyIdleTimeout is the longest pause allowed while a request body is
	// read; a stalled client gets RequestTimeout instead of holding a
	// request slot for ever. 0 means 20 seconds, S3's figure.
	BodyIdleTimeout time.Duration
	// AccessLog logs one line per request.
	AccessLog bool
	Logger    *slog.Logger
	// Registry receives the gateway's metrics; nil keeps them private.
	Registry prometheus.Registerer
	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time

	// Tokens verifies bearer tokens; nil refuses them.
	Tokens TokenVerifier
	// Sessions answers AssumeRoleWithWebIdentity and opens the temporary
	// credentials it issues; nil refuses session tokens.
	Sessions Sessions
	// Authorizer judges every authenticated request (deny unless its
	// policy allows). nil judges nothing: every authenticated caller may do
	// everything. serve always sets it; nil is for tests of other layers.
	Authorizer Authorizer
	// PolicyExistingTags gives the policy the tags of the object a request
	// reads or changes (input.request.existing_tags), at the cost of a
	// backend call per decision.
	PolicyExistingTags bool

	// Outbox records an event for every mutation (see Outbox); nil emits
	// none.
	Outbox Outbox
	// Sequencer orders the events of one key; nil makes one with a random
	// replica id.
	Sequencer *events.Sequencer
	// Hooks is the event pipeline the admin API inspects (dead letters,
	// backfill); nil answers those routes EventsDisabled.
	Hooks Hooks
	// Objects is the object catalogue GET /api/v1/objects lists; nil
	// answers it CatalogueDisabled.
	Objects ObjectCatalog
	// Variants serves image variants (?variant=NAME); nil answers such
	// requests InvalidArgument.
	Variants Variants
	// Search is the search index of GET /api/v1/search; nil answers it
	// SearchDisabled.
	Search Search
	// Stats is the analytics store GET /api/v1/stats reads; nil answers
	// it AnalyticsDisabled. Storage, the catalogue's view of stored
	// bytes, adds storage growth to it when set.
	Stats   analytics.Stats
	Storage StorageStats
	// Analytics, when set, is handed one row per S3 request once its
	// response is done; it must not block (analytics.Recorder queues it).
	Analytics AccessRecorder
}

// Gateway serves the S3 API over one backend.
type Gateway struct {
	backend  backends.Backend
	catalog  Catalog
	keys     KeyStore
	opts     Options
	log      *slog.Logger
	verifier *sigv4.Verifier
	metrics  *metrics
	slots    chan struct{}
	hostID   string
	now      func() time.Time
	handler  http.Handler
	// ops are the names of the operations routed, each of which the
	// policy must be able to judge (see actions).
	ops map[string]bool
}

// New builds a Gateway.
func New(backend backends.Backend, cat Catalog, keys KeyStore, opts Options) *Gateway {
	g := &Gateway{backend: timeBackend(backend), catalog: cat, keys: keys, opts: opts, log: opts.Logger, now: opts.Now, ops: map[string]bool{}}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = 1024
	}
	if opts.MaxHeaders <= 0 {
		opts.MaxHeaders = 256
	}
	if opts.Sequencer == nil {
		opts.Sequencer = events.NewSequencer(0)
	}
	if opts.BodyIdleTimeout <= 0 {
		opts.BodyIdleTimeout = 20 * time.Second
	}
	g.opts = opts
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g.metrics = newMetrics(reg)
	g.slots = make(chan struct{}, opts.MaxRequests)
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "/" + strconv.Itoa(os.Getpid())))
	g.hostID = base64.StdEncoding.EncodeToString(sum[:])
	g.verifier = &sigv4.Verifier{
		Region:  opts.Region,
		Service: "s3",
		Now:     g.now,
		Secret:  g.secret,
	}
	router := mux.NewRouter().SkipClean(true).UseEncodedPath()
	g.routes(router)
	g.handler = g.withRequest(g.recover(g.observe(g.limit(router))))
	return g
}

// ServeHTTP serves the S3 API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// handlerFunc is an S3 operation: it writes a response or returns the error
// to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error
