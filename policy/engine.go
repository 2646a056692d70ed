package policy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultCacheSize    = 10000
	DefaultCacheTTL     = time.Second
	DefaultPollInterval = 2 * time.Second
)

// Options configure an Engine.
type Options struct {
	// Dir holds the policy: .rego modules (files named *_test.rego are
	// tests, not policy) and .json/.yaml data documents, which are mounted
	// under data at their directory's path relative to Dir, as OPA's
	// loader does: Dir/x.json {"a": 1} is data.a, Dir/t/y.json {"b": 2}
	// is data.t.b. Names starting with "." are skipped. "" runs the
	// embedded default policy.
	Dir    string
	Logger *slog.Logger
	// Registry receives the engine's metrics; nil registers none.
	Registry prometheus.Registerer
	// CacheSize bounds the decision cache (least recently used entries
	// go first): 0 is DefaultCacheSize, negative disables the cache.
	CacheSize int
	// CacheTTL is how long a cached decision is reused: 0 is
	// DefaultCacheTTL.
	CacheTTL time.Duration
	// PollInterval is how often Watch looks at Dir for changes (file
	// set, sizes, modification times): 0 is DefaultPollInterval.
	PollInterval time.Duration
}

// Engine judges requests with a compiled policy. It is safe for concurrent
// use; Reload swaps the policy atomically, so every decision is taken by
// one whole policy, old or new.
type Engine struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	cur atomic.Pointer[snapshot]

	reloadMu sync.Mutex
	// seen is the fingerprint of Dir that the last load read, whether it
	// compiled or not, so that Watch retries a broken policy only when it
	// changes again.
	seen string

	closeOnce sync.Once
	done      chan struct{}

	// polls counts Watch's looks at Dir, for tests.
	polls atomic.Int64
}

// snapshot is one compiled policy, with its decision cache.
type snapshot struct {
	decision *query // allow, deny, reasons
	readable *query
	// need is what the policy reads of the input: the engine builds, and
	// the cache keys on, only that.
	need *fields
	// usesNow is set when the policy calls time.now_ns (pinned to the
	// request time): the request time is then part of the cache key even
	// if the policy does not read input.request.time.
	usesNow bool
	// cache belongs to the snapshot so that a reload starts with an empty
	// one and a decision still running on the old policy cannot fill the
	// new policy's cache.
	cache *lru
}

// ErrNoDecision is returned when the policy yields no result at all, which
// a compiled s3gate policy cannot do unless evaluation was cut short.
var ErrNoDecision = errors.New("policy: evaluation produced no decision")

// New loads and compiles the policy and prepares its queries. A policy that
// does not compile is an error carrying the compiler's messages.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, log: log.With("component", "policy"), done: make(chan struct{})}
	fp, err := fingerprint(opts.Dir)
	if err != nil {
		return nil, err
	}
	s, err := e.compile(ctx)
	if err != nil {
		return nil, err
	}
	e.seen = fp
	e.cur.Store(s)
	e.m = newMetrics(opts.Registry)
	e.m.lastReload.SetToCurrentTime()
	e.log.Info("policy loaded", "dir", e.source(), "reads", s.need.String(), "calls_time_now", s.usesNow)
	return e, nil
}

func (e *Engine) source() string {
	if e.opts.Dir == "" {
		return "(embedded default)"
	}
	return e.opts.Dir
}

// Decide judges a request. Decision.Allow is the policy's allow with no
// deny; Reasons are the deny messages of a denial, "no policy allows ..."
// when nothing allowed, or the allow's reasons. An error means the policy
// could not be evaluated; callers deny.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	s := e.cur.Load()
	normalize(&in)
	v, err := inputValue(&in, s.need)
	if err != nil {
		e.m.errors.Inc()
		return Decision{}, err
	}
	var key [sha256.Size]byte
	if s.cache != nil {
		key = cacheKey('d', v, s.now(in.Request.Time))
		if c, ok := s.cache.get(key, time.Now()); ok {
			e.m.cacheHits.Inc()
			d := c.(Decision)
			d.Reasons = slices.Clone(d.Reasons)
			e.m.count(d)
			return explain(d, &in), nil
		}
		e.m.cacheMisses.Inc()
	}
	start := time.Now()
	d, err := s.decide(ctx, v, in.Request.Time)
	e.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		e.m.errors.Inc()
		return Decision{}, err
	}
	e.m.count(d)
	if s.cache != nil {
		s.cache.put(key, d, time.Now())
		d.Reasons = slices.Clone(d.Reasons)
	}
	return explain(d, &in), nil
}

// explain gives a denial that no deny rule explains its reason. It is
// written here, not cached, because it names the action and resource,
// which the cache key leaves out when the policy does not read them.
func explain(d Decision, in *Input) Decision {
	if d.Allow || len(d.Reasons) > 0 {
		return d
	}
	arn := in.Resource.ARN
	if arn == "" {
		arn = "*"
	}
	d.Reasons = []string{"no policy allows " + in.Action + " on " + arn}
	return d
}

// Explain evaluates the policy for in, bypassing the decision cache and
// the metrics: what the current policy decides now.
func (e *Engine) Explain(ctx context.Context, in Input) (Decision, error) {
	s := e.cur.Load()
	normalize(&in)
	v, err := inputValue(&in, s.need)
	if err != nil {
		return Decision{}, err
	}
	d, err := s.decide(ctx, v, in.Request.Time)
	if err != nil {
		return Decision{}, err
	}
	return explain(d, &in), nil
}

// Readable evaluates the policy's readable rule with input {"principal": p}:
// where p may read, for filtering listings and searches. Grants covered by
// another grant are dropped, so a principal who may read everywhere gets
// exactly [{"*", ""}].
func (e *Engine) Readable(ctx context.Context, p Principal) ([]Grant, error) {
	s := e.cur.Load()
	normalizePrincipal(&p)
	now := time.Now().UTC().Truncate(time.Second)
	in := ast.NewObject()
	if n := s.need.get("principal"); n != nil {
		pv, err := principalValue(&p, n)
		if err != nil {
			return nil, err
		}
		in.Insert(kPrincipal, ast.NewTerm(pv))
	}
	var key [sha256.Size]byte
	if s.cache != nil {
		key = cacheKey('r', in, s.now(now))
		if c, ok := s.cache.get(key, time.Now()); ok {
			e.m.cacheHits.Inc()
			return slices.Clone(c.([]Grant)), nil
		}
		e.m.cacheMisses.Inc()
	}
	grants, err := s.readableGrants(ctx, in, now)
	if err != nil {
		return nil, err
	}
	if s.cache != nil {
		s.cache.put(key, grants, time.Now())
		grants = slices.Clone(grants)
	}
	return grants, nil
}

// Reload recompiles the policy from Dir and swaps it in, emptying the
// decision cache. On failure the running policy stays, and the error is
// logged, counted and returned.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	fp, err := fingerprint(e.opts.Dir)
	if err == nil {
		e.seen = fp
		var s *snapshot
		if s, err = e.compile(ctx); err == nil {
			e.cur.Store(s)
			e.m.reloads.Inc()
			e.m.lastReload.SetToCurrentTime()
			e.log.Info("policy reloaded", "dir", e.source(), "reads", s.need.String(), "calls_time_now", s.usesNow)
			return nil
		}
	} else {
		// A fingerprint that cannot be taken (Dir gone) is remembered
		// as such, so the error is reported once until Dir changes.
		e.seen = "error: " + err.Error()
	}
	e.m.reloadErrors.Inc()
	e.log.Error("policy reload failed; the previous policy stays in force", "dir", e.source(), "err", err)
	return err
}

// Watch reloads the policy whenever the files in Dir change (their set,
// sizes or modification times), looking every PollInterval, until ctx ends
// or the engine is closed. It returns at once for the embedded policy.
func (e *Engine) Watch(ctx context.Context) {
	if e.opts.Dir == "" {
		return
	}
	t := time.NewTicker(e.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.done:
			return
		case <-t.C:
		}
		fp, err := fingerprint(e.opts.Dir)
		if err != nil {
			fp = "error: " + err.Error()
		}
		e.polls.Add(1)
		e.reloadMu.Lock()
		changed := fp != e.seen
		e.reloadMu.Unlock()
		if changed {
			_ = e.Reload(ctx) // logged and counted by Reload
		}
	}
}

// Close stops Watch. Decide keeps answering with the last policy, so
// requests still in flight at shutdown are judged.
func (e *Engine) Close() {
	e.closeOnce.Do(func() { close(e.done) })
}

// now is the time a policy's time.now_ns returns, as far as it matters to
// the cache key: nil for a policy that does not call it.
func (s *snapshot) now(t time.Time) *time.Time {
	if !s.usesNow {
		return nil
	}
	return &t
}

// decide evaluates the decision query with input v at time now. A denial
// that no deny rule explains has no reasons: explain gives it its own.
func (s *snapshot) decide(ctx context.Context, v ast.Value, now time.Time) (Decision, error) {
	res, err := s.decision.eval(ctx, rego.EvalParsedInput(v), rego.EvalTime(now))
	if err != nil {
		return Decision{}, fmt.Errorf("policy: evaluate: %w", err)
	}
	if deny := messages(res["deny"]); len(deny) > 0 {
		return Decision{Allow: false, Reasons: deny}, nil
	}
	if allow, _ := res["allow"].(bool); !allow {
		return Decision{}, nil
	}
	return Decision{Allow: true, Reasons: messages(res["reasons"])}, nil
}

// readableGrants evaluates the readable query.
func (s *snapshot) readableGrants(ctx context.Context, in ast.Value, now time.Time) ([]Grant, error) {
	res, err := s.readable.eval(ctx, rego.EvalParsedInput(in), rego.EvalTime(now))
	if err != nil {
		return nil, fmt.Errorf("policy: evaluate readable: %w", err)
	}
	var items []any
	switch r := res["readable"].(type) {
	case nil:
	case []any:
		items = r
	default:
		return nil, fmt.Errorf("policy: readable is %v, not a set of {\"bucket\", \"prefix\"} objects", r)
	}
	grants := make([]Grant, 0, len(items))
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("policy: readable holds %v, not an object {\"bucket\", \"prefix\"}", it)
		}
		b, ok := obj["bucket"].(string)
		if !ok || b == "" {
			return nil, fmt.Errorf("policy: readable holds %v without a bucket", it)
		}
		pfx, _ := obj["prefix"].(string)
		grants = append(grants, Grant{Bucket: b, Prefix: pfx})
	}
	return minimalGrants(grants), nil
}

// minimalGrants sorts grants and drops those another grant covers (same
// bucket or "*", and a prefix of theirs).
func minimalGrants(gs []Grant) []Grant {
	covers := func(a, b Grant) bool {
		return (a.Bucket == "*" || a.Bucket == b.Bucket) && strings.HasPrefix(b.Prefix, a.Prefix)
	}
	slices.SortFunc(gs, func(a, b Grant) int {
		// "*" first and shorter prefixes first, so coverers come before
		// what they cover.
		if c := boolCmp(a.Bucket == "*", b.Bucket == "*"); c != 0 {
			return c
		}
		if c := strings.Compare(a.Bucket, b.Bucket); c != 0 {
			return c
		}
		return strings.Compare(a.Prefix, b.Prefix)
	})
	out := gs[:0]
	for _, g := range gs {
		if !slices.ContainsFunc(out, func(o Grant) bool { return covers(o, g) }) {
			out = append(out, g)
		}
	}
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// messages turns the value of deny or reasons into strings: the members of
// a set (or array), the keys of an object (as deny[msg] if ... makes), a
// string itself, and any other value but false and null as JSON. So a deny
// of an unexpected shape still denies.
func messages(v any) []string {
	var out []string
	switch v := v.(type) {
	case nil:
		return nil
	case bool:
		if !v {
			return nil
		}
		out = []string{"true"}
	case string:
		out = []string{v}
	case []any:
		for _, it := range v {
			if s, ok := it.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, toJSON(it))
			}
		}
	case map[string]any:
		for k := range v {
			out = append(out, k)
		}
	default:
		out = []string{toJSON(v)}
	}
	slices.Sort(out)
	return out
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
