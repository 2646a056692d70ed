// Package elastic is the search index of the scaled-out shape: an
// index.Index on Elasticsearch 8, written with the go-elasticsearch typed
// client and its BulkIndexer.
//
// # Indices and mapping versions
//
// Documents live in the index <prefix>-v<MappingVersion> (prefix
// "s3gate-objects" by default), created from an index template of the same
// name, and every read and write goes through the alias <prefix>. When the
// mapping changes, MappingVersion goes up: at start, New creates the new
// index and moves the alias to it in one atomic _aliases request. The new
// index starts empty; `s3gate search reindex` fills it from the catalogue.
// Nothing is lost: the old index stays, untouched, until the operator
// deletes it (and can be put back behind the alias to roll back). A
// replica that finds the alias on a newer version than its own leaves it
// there.
//
// # Ordering
//
// Each document carries the sequencer of the event it was made for. Put
// and Delete are scripted upserts that apply only when the stored
// document has no greater sequencer, so replicas may index in any order;
// Delete leaves a tombstone (deleted: true) that remembers its sequencer,
// queries skip tombstones, and PruneTombstones removes old ones.
//
// # Page tokens
//
// Search pages with search_after. The sort values of a page's last hit go
// into the next-page token with a hash of the query, signed with
// Options.TokenKey (HMAC-SHA256). Replicas behind one load balancer must
// share that key, or a token issued by one is refused by another.
package elastic

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/elastic/go-elasticsearch/v8/typedapi/indices/putindextemplate"
	"github.com/elastic/go-elasticsearch/v8/typedapi/indices/updatealiases"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/dynamicmapping"

	"github.com/s3gate/s3gate/processors/search/index"
)

// MappingVersion is the version of the index mapping; raising it makes New
// create <prefix>-v<MappingVersion> and move the alias to it.
const MappingVersion = 1

// DefaultIndexPrefix names the alias and, with a version, the indices.
const DefaultIndexPrefix = "s3gate-objects"

// Options configure an Index.
type Options struct {
	// URLs of the Elasticsearch nodes (http:// or https://).
	URLs []string
	// Username and Password for basic authentication, or APIKey (the
	// base64 "id:api_key" Elasticsearch issues), which takes precedence.
	Username string
	Password string
	APIKey   string
	// CACert is a PEM bundle to trust for https:// URLs.
	CACert []byte
	// IndexPrefix names the alias; indices are <IndexPrefix>-v<N>.
	// Default DefaultIndexPrefix.
	IndexPrefix string
	// TokenKey signs page tokens. Replicas must share it for a token
	// issued by one to be accepted by another; empty picks a random key,
	// valid for this process only.
	TokenKey []byte
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
	// FlushInterval and FlushBytes bound how long and how much the bulk
	// indexer buffers before it sends; Put returns once its item has been
	// sent and acknowledged. Defaults 200 ms and 1 MiB.
	FlushInterval time.Duration
	FlushBytes    int
	// Workers is the number of concurrent bulk requests; default 2.
	Workers int
	// Refresh is the bulk refresh parameter: "" (Elasticsearch's refresh
	// interval decides when writes become searchable), "wait_for" or
	// "true" (tests, so that a search right after Put sees it).
	Refresh string
}

// Index is an index.Index on Elasticsearch.
type Index struct {
	es       *elasticsearch.TypedClient
	bi       esutil.BulkIndexer
	alias    string
	index    string // the index the alias points to
	migrated []string
	tokenKey []byte
	log      *slog.Logger

	mu     sync.RWMutex // held shared while adding to bi, exclusively to close it
	closed bool
}

var _ index.Index = (*Index)(nil)

// New connects to Elasticsearch, puts the index template, creates the
// index of the current mapping version and points the alias at it.
func New(ctx context.Context, o Options) (*Index, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("elastic: no URLs")
	}
	if o.IndexPrefix == "" {
		o.IndexPrefix = DefaultIndexPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.FlushBytes <= 0 {
		o.FlushBytes = 1 << 20
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if len(o.TokenKey) == 0 {
		o.TokenKey = make([]byte, 32)
		rand.Read(o.TokenKey)
	}
	es, err := elasticsearch.NewTypedClient(elasticsearch.Config{
		Addresses:     o.URLs,
		Username:      o.Username,
		Password:      o.Password,
		APIKey:        o.APIKey,
		CACert:        o.CACert,
		Transport:     o.Transport,
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    3,
		RetryBackoff: func(attempt int) time.Duration {
			return min(retryBackoff<<attempt, 2*time.Second)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("elastic: %w", err)
	}
	ix := &Index{
		es:       es,
		alias:    o.IndexPrefix,
		index:    versionedName(o.IndexPrefix, MappingVersion),
		tokenKey: o.TokenKey,
		log:      o.Logger,
	}
	if err := ix.ensureIndex(ctx); err != nil {
		es.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	ix.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        es,
		NumWorkers:    o.Workers,
		FlushBytes:    o.FlushBytes,
		FlushInterval: o.FlushInterval,
		Refresh:       o.Refresh,
		OnError: func(_ context.Context, err error) {
			o.Logger.Warn("elasticsearch bulk request failed", "err", err)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("elastic: %w", err)
	}
	return ix, nil
}

// Alias is the alias every request goes through.
func (ix *Index) Alias() string { return ix.alias }

// IndexName is the index the alias points to.
func (ix *Index) IndexName() string { return ix.index }

// Migrated lists the indices the alias was moved away from at start, when
// the mapping version went up: the new index is empty until a reindex
// fills it, and the old ones stay until the operator deletes them.
func (ix *Index) Migrated() []string { return ix.migrated }

// Close flushes what the bulk indexer holds and stops it.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	ix.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ix.bi.Close(ctx)
	if cerr := ix.es.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("elastic: close: %w", err)
	}
	return nil
}

func versionedName(prefix string, v int) string {
	return prefix + "-v" + strconv.Itoa(v)
}

// version returns N of <prefix>-v<N>, or 0 for an index named otherwise.
func version(prefix, name string) int {
	s, ok := strings.CutPrefix(name, prefix+"-v")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// retryBackoff is the first pause of the client's retries of requests
// that failed to connect or were answered 429, 502, 503 or 504; it
// doubles with each retry. A variable for tests.
var retryBackoff = 25 * time.Millisecond

// templatePriority puts our template above catch-all ones that would also
// match the index name.
const templatePriority = 200

// template is the index template of the current mapping version.
func template() *putindextemplate.Request {
	prio := int64(templatePriority)
	v := int64(MappingVersion)
	return &putindextemplate.Request{
		Priority: &prio,
		Version:  &v,
		Meta_:    types.Metadata{"managed_by": []byte(`"s3gate"`)},
		Template: &types.IndexTemplateMapping{Settings: settings(), Mappings: mapping()},
	}
}

// analyzer names the analyzer of the text fields: words are runs of
// letters, digits and marks, everything else separates them (so
// "Q3_report.pdf" is q3, report, pdf), without case or diacritics. The
// search splits the user's text the same way.
const analyzer = "s3gate_words"

func settings() *types.IndexSettings {
	pattern := `[^\p{L}\p{N}\p{M}]+`
	return &types.IndexSettings{Analysis: &types.IndexSettingsAnalysis{
		Analyzer: map[string]types.Analyzer{analyzer: types.CustomAnalyzer{
			Tokenizer: analyzer, Filter: []string{"lowercase", "asciifolding"},
		}},
		Tokenizer: map[string]types.Tokenizer{analyzer: types.PatternTokenizer{Pattern: &pattern}},
	}}
}

// mapping is the mapping of MappingVersion. Fields the document does not
// list (dynamic: false) are kept in _source but not indexed.
func mapping() *types.TypeMapping {
	keyword := func() types.Property { return types.KeywordProperty{} }
	text := func() types.Property {
		a := analyzer
		return types.TextProperty{Analyzer: &a}
	}
	date := func() types.Property { return types.DateProperty{} }
	dyn := dynamicmapping.False
	return &types.TypeMapping{
		Dynamic: &dyn,
		Meta_:   types.Metadata{"version": []byte(strconv.Itoa(MappingVersion))},
		Properties: map[string]types.Property{
			"id":           keyword(),
			"bucket":       keyword(),
			"key":          keyword(),
			"sequencer":    keyword(),
			"deleted":      types.BooleanProperty{},
			"deleted_at":   date(),
			"words":        text(),
			"ext":          keyword(),
			"size":         types.LongNumberProperty{},
			"content_type": keyword(),
			"modified":     date(),
			"created":      date(),
			"owner":        keyword(),
			// Flattened: every key's value is an exact keyword, so a term
			// query on tags.<name> matches that tag's value exactly.
			"metadata": types.FlattenedProperty{},
			"tags":     types.FlattenedProperty{},
			// values: the metadata and tag values and the camera as text,
			// for the words.
			"values": text(),
			"image": types.ObjectProperty{Properties: map[string]types.Property{
				"width":    types.IntegerNumberProperty{},
				"height":   types.IntegerNumberProperty{},
				"camera":   keyword(),
				"taken_at": date(),
			}},
			"text": text(),
		},
	}
}

// ensureIndex puts the template, creates the current index and points the
// alias at it.
func (ix *Index) ensureIndex(ctx context.Context) error {
	tpl := template()
	tpl.IndexPatterns = []string{ix.index}
	if _, err := ix.es.Indices.PutIndexTemplate(ix.index).Request(tpl).Do(ctx); err != nil {
		return wrap(ctx, "put index template", err)
	}
	if _, err := ix.es.Indices.Create(ix.index).Do(ctx); err != nil && !isType(err, "resource_already_exists_exception") {
		return wrap(ctx, "create index", err)
	}
	current, err := ix.aliasIndices(ctx)
	if err != nil {
		return err
	}
	var others []string
	for _, name := range current {
		if v := version(ix.alias, name); v > MappingVersion {
			ix.log.Warn("search index alias points to a newer mapping version; leaving it",
				"alias", ix.alias, "index", name, "version", v, "ours", MappingVersion)
			ix.index = name
			return nil
		}
		if name != ix.index {
			others = append(others, name)
		}
	}
	if len(others) == 0 && len(current) == 1 {
		return nil
	}
	if err := ix.switchAlias(ctx, others); err != nil {
		// Another replica may have switched it meanwhile.
		now, aerr := ix.aliasIndices(ctx)
		if aerr != nil || len(now) != 1 || now[0] != ix.index {
			return err
		}
	}
	if len(others) > 0 {
		ix.migrated = others
		ix.log.Warn("search index mapping changed: alias moved to a new, empty index; "+
			"run `s3gate search reindex` to fill it, and delete the old index once done",
			"alias", ix.alias, "index", ix.index, "old", others)
	}
	return nil
}

// aliasIndices lists the indices the alias points to (none if it is
// missing).
func (ix *Index) aliasIndices(ctx context.Context) ([]string, error) {
	res, err := ix.es.Indices.GetAlias().Name(ix.alias).Do(ctx)
	if err != nil {
		var ee *types.ElasticsearchError
		if errors.As(err, &ee) && ee.Status == http.StatusNotFound {
			return nil, nil
		}
		return nil, wrap(ctx, "get alias", err)
	}
	var names []string
	for name := range res {
		names = append(names, name)
	}
	return names, nil
}

// switchAlias removes the alias from the old indices and adds it to the
// current one, atomically.
func (ix *Index) switchAlias(ctx context.Context, old []string) error {
	var actions []types.IndicesAction
	for _, name := range old {
		actions = append(actions, types.IndicesAction{Remove: &types.RemoveAction{
			Index: &name, Alias: &ix.alias,
		}})
	}
	write := true
	actions = append(actions, types.IndicesAction{Add: &types.AddAction{
		Index: &ix.index, Alias: &ix.alias, IsWriteIndex: &write,
	}})
	if _, err := ix.es.Indices.UpdateAliases().Request(&updatealiases.Request{Actions: actions}).Do(ctx); err != nil {
		return wrap(ctx, "update aliases", err)
	}
	return nil
}

// isType reports whether err is an Elasticsearch error of type typ.
func isType(err error, typ string) bool {
	var ee *types.ElasticsearchError
	return errors.As(err, &ee) && ee.ErrorCause.Type == typ
}

// wrap names op in err and marks connection failures, 429 and 5xx
// answers as index.ErrUnavailable.
func wrap(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("elastic: %s: %w", op, err)
	}
	var ee *types.ElasticsearchError
	if errors.As(err, &ee) && ee.Status < 500 && ee.Status != http.StatusTooManyRequests {
		return fmt.Errorf("elastic: %s: %w", op, err)
	}
	return fmt.Errorf("%w: elastic: %s: %w", index.ErrUnavailable, op, err)
}
