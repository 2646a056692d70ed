package policy

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// Package is the Rego package every s3gate policy defines.
const Package = "s3gate.authz"

// defaultFS holds the default policy and its tests; the tests are run by
// Test when it is given no directory.
//
//go:embed default/*.rego
var defaultFS embed.FS

const defaultRoot = "default"

var (
	packageRef = ast.MustParseRef("data." + Package)
	nowRef     = ast.NowNanos.Ref()
)

// query is a prepared query for some of the policy's rules, built for the
// rules the policy defines: evaluating them straight costs a fraction of a
// query that would also cope with the rules it lacks.
type query struct {
	prepared rego.PreparedEvalQuery
	// rules are the rules the query binds, each to the variable of its
	// name; wrapped ones are bound to an array of their value ([] when
	// undefined).
	rules   []string
	wrapped map[string]bool
}

// buildQuery binds each of names the policy defines, by any rule whose
// reference starts with it (deny contains ..., deny[x] if ..., deny.x := ...):
// a rule that is always defined (one with a default, or a multi-value rule
// such as deny contains ...) straight, another through an array
// comprehension so that the query does not fail when it is undefined.
func buildQuery(c *ast.Compiler, names ...string) (ast.Body, *query, error) {
	q := &query{wrapped: map[string]bool{}}
	var parts []string
	for _, name := range names {
		ref := packageRef.Append(ast.InternedTerm(name))
		rules := c.GetRulesWithPrefix(ref)
		if len(rules) == 0 {
			continue
		}
		always := false
		for _, r := range rules {
			if r.Ref().Equal(ref) && (r.Default || r.Head.RuleKind() == ast.MultiValue) {
				always = true
			}
		}
		q.rules = append(q.rules, name)
		if always {
			parts = append(parts, fmt.Sprintf("%s := %v", name, ref))
		} else {
			q.wrapped[name] = true
			parts = append(parts, fmt.Sprintf("%s := [x | x := %v]", name, ref))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "true")
	}
	body, err := ast.ParseBodyWithOpts(strings.Join(parts, "; "), ast.ParserOptions{RegoVersion: ast.RegoV1})
	return body, q, err
}

// eval runs the query and returns the value of each rule it binds; a rule
// that is undefined is absent.
func (q *query) eval(ctx context.Context, opts ...rego.EvalOption) (map[string]any, error) {
	// Cancelling through context.AfterFunc spares the goroutine that
	// rego would otherwise start for every evaluation to watch ctx.
	c := topdown.NewCancel()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.Cancel)
		defer stop()
	}
	rs, err := q.prepared.Eval(ctx, append(opts, rego.EvalExternalCancel(c))...)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNoDecision
	}
	out := make(map[string]any, len(q.rules))
	for _, name := range q.rules {
		v, ok := rs[0].Bindings[name]
		if !ok {
			continue
		}
		if q.wrapped[name] {
			arr, _ := v.([]any)
			if len(arr) == 0 {
				continue
			}
			v = arr[0]
		}
		out[name] = v
	}
	return out, nil
}

// fileFilter excludes what a policy directory holds besides the policy:
// names starting with "." (editor files, the ..data links of a Kubernetes
// ConfigMap volume, which would load every file twice) and, unless tests
// are wanted, *_test.rego files.
func fileFilter(tests bool) loader.Filter {
	return func(_ string, info fs.FileInfo, depth int) bool {
		name := info.Name()
		if depth > 0 && strings.HasPrefix(name, ".") {
			return true
		}
		return !tests && !info.IsDir() && strings.HasSuffix(name, "_test.rego")
	}
}

// loadFiles reads dirs (none for the embedded default policy) as OPA's
// loader does: .rego modules, and .json and .yaml documents mounted under
// data at their directory's path relative to the dir they are in.
func loadFiles(dirs []string, tests bool) (*loader.Result, error) {
	fl := loader.NewFileLoader().WithRegoVersion(ast.RegoV1).WithProcessAnnotation(true)
	if len(dirs) == 0 {
		fl = fl.WithFS(defaultFS)
		dirs = []string{defaultRoot}
	}
	return fl.Filtered(dirs, fileFilter(tests))
}

// dirList is the loadFiles argument for Options.Dir.
func dirList(dir string) []string {
	if dir == "" {
		return nil
	}
	return []string{dir}
}

// compile loads, compiles and prepares the policy in Dir.
func (e *Engine) compile(ctx context.Context) (*snapshot, error) {
	res, err := loadFiles(dirList(e.opts.Dir), false)
	if err != nil {
		return nil, fmt.Errorf("policy: load %s: %w", e.source(), err)
	}
	modules := res.ParsedModules()
	if !declaresPackage(modules) {
		return nil, fmt.Errorf("policy: no module in %s declares package %s", e.source(), Package)
	}

	// Data is kept as OPA values, so that policies read it without a
	// conversion per decision.
	store := inmem.NewFromObjectWithOpts(res.Documents, inmem.OptReturnASTValuesOnRead(true))
	compiler, err := compileModules(ctx, store, modules)
	if err != nil {
		return nil, fmt.Errorf("policy: compile %s: %w", e.source(), err)
	}
	hook := printHook{e.log}
	prepare := func(names ...string) (*query, error) {
		body, q, err := buildQuery(compiler, names...)
		if err != nil {
			return nil, err
		}
		q.prepared, err = rego.New(
			rego.ParsedQuery(body),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.EnablePrintStatements(true),
			rego.PrintHook(hook),
		).PrepareForEval(ctx)
		return q, err
	}
	s := &snapshot{}
	s.need, s.usesNow = readFields(compiler)
	if s.decision, err = prepare("allow", "deny", "reasons"); err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", e.source(), err)
	}
	if s.readable, err = prepare("readable"); err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", e.source(), err)
	}
	if e.opts.CacheSize > 0 {
		s.cache = newLRU(e.opts.CacheSize, e.opts.CacheTTL)
	}
	return s, nil
}

func declaresPackage(modules map[string]*ast.Module) bool {
	for _, m := range modules {
		if m.Package.Path.Equal(packageRef) {
			return true
		}
	}
	return false
}

// compileModules compiles modules against store, whose documents may not
// overlap the rules.
func compileModules(ctx context.Context, store storage.Store, modules map[string]*ast.Module) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer store.Abort(ctx, txn)
	c := ast.NewCompiler().
		WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(modules); c.Failed() {
		return nil, c.Errors
	}
	return c, nil
}

// readFields finds what of the input document the policy may read: every
// field that one of its references reaches (input.principal.roles[_]
// reads roles; input.request[x], input and every other reference that
// stops short of a field read all that is under it). It also reports
// whether the policy calls time.now_ns, which the engine pins to the
// request time.
func readFields(c *ast.Compiler) (need *fields, usesNow bool) {
	need = &fields{}
	for _, m := range c.Modules {
		// Rules only: an import's reference is resolved into the rules
		// that use it, to the fields they read.
		for _, rule := range m.Rules {
			ast.WalkRefs(rule, func(r ast.Ref) bool {
				if r.Equal(nowRef) {
					usesNow = true
				}
				if !r[0].Equal(ast.InputRootDocument) {
					return false
				}
				var path []string
				for _, t := range r[1:] {
					s, ok := t.Value.(ast.String)
					if !ok {
						break
					}
					path = append(path, string(s))
				}
				need.add(path)
				return false
			})
		}
	}
	return need, usesNow
}

// printHook sends the output of print() in policies to the debug log.
type printHook struct{ log *slog.Logger }

func (h printHook) Print(pc print.Context, msg string) error {
	loc := ""
	if pc.Location != nil {
		loc = pc.Location.String()
	}
	h.log.DebugContext(pc.Context, "policy print", "location", loc, "msg", msg)
	return nil
}

// fingerprint describes the files of the policy in dir, as the loader would
// read them: their paths, sizes, modes and modification times. The embedded
// policy has none.
func fingerprint(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	paths, err := loader.FilteredPaths([]string{dir}, fileFilter(false))
	if err != nil {
		return "", fmt.Errorf("policy: list %s: %w", dir, err)
	}
	slices.Sort(paths)
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("policy: list %s: %w", dir, err)
		}
		fmt.Fprintf(&b, "%q %d %v %d\n", p, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}
