package policy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
)

// testTimeout bounds each Rego test, as opa test does by default.
const testTimeout = 5 * time.Second

// Test runs the Rego tests (rules named test_*) of the policy in dirs, loaded
// together as opa test loads its paths: every .rego, .json and .yaml file,
// tests included, names starting with "." excepted. With no dirs it tests
// the embedded default policy. It writes opa test's report to out (each
// test's outcome when verbose, else the failures and a summary) and
// returns the counts; a policy that does not load or compile is an error.
// A test that errors counts as failed; todo_ tests count as neither.
func Test(ctx context.Context, dirs []string, verbose bool, out io.Writer) (passed, failed int, err error) {
	res, err := loadFiles(dirs, true)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: load: %w", err)
	}
	modules := res.ParsedModules()
	store := inmem.NewFromObjectWithOpts(res.Documents, inmem.OptReturnASTValuesOnRead(true))
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return 0, 0, err
	}
	defer store.Abort(ctx, txn)

	compiler := ast.NewCompiler().
		WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(verbose).
		StackTraces(true).
		SetTimeout(testTimeout)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return 0, 0, fmt.Errorf("policy: compile: %w", err)
	}

	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range ch {
			switch {
			case r.Pass():
				passed++
			case !r.Skip:
				failed++
			}
			if verbose {
				// As opa test -v: the notes and the failed expressions,
				// not every step of evaluation.
				r.Trace = lineage.Filter(r.Trace, func(e *topdown.Event) bool {
					return e.Op == topdown.NoteOp || e.Op == topdown.FailOp
				})
			}
			counted <- r
		}
	}()
	rep := tester.PrettyReporter{Output: out, Verbose: verbose, FailureLine: true}
	if err := rep.Report(counted); err != nil {
		// Drain, so the counting goroutine and the runner finish.
		for range counted {
		}
		return passed, failed, err
	}
	return passed, failed, nil
}
