package gateway

import (
	"os"
	"strings"
	"testing"

	"github.com/s3gate/s3gate/backends"
)

// TestEveryOperationHasAnAction: every operation the gateway routes, S3 or
// admin, is judged by an IAM action (or deliberately by none), so that no
// request slips past the policy because nobody named its action.
func TestEveryOperationHasAnAction(t *testing.T) {
	e := newEnv(t, func(o *Options, _ *backends.Backend) { o.Domains = []string{testDomain} })
	e.gw.AdminHandler(nil)
	if len(e.gw.ops) < 100 {
		t.Fatalf("only %d operations recorded; the router changed?", len(e.gw.ops))
	}
	for op := range e.gw.ops {
		action, ok := actions[op]
		switch {
		case unauthorized[op]:
			if ok {
				t.Errorf("%s is both judged (%s) and exempt", op, action)
			}
		case !ok:
			t.Errorf("operation %s has no IAM action in actions", op)
		case !strings.HasPrefix(action, "s3:") && !strings.HasPrefix(action, "s3gate:"):
			t.Errorf("%s: action %q is neither s3: nor s3gate:", op, action)
		}
	}
	for op := range actions {
		if !e.gw.ops[op] {
			t.Errorf("actions names %s, which is not routed", op)
		}
	}
}

// TestReadmeListsEveryAction: the README's table of actions is the one
// the gateway uses.
func TestReadmeListsEveryAction(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		action, ops, ok := strings.Cut(strings.TrimPrefix(line, "| `"), "` | ")
		if !ok || !strings.HasPrefix(line, "| `s3") {
			continue
		}
		for _, op := range strings.Split(strings.TrimSuffix(ops, " |"), ", ") {
			rows[op] = action
		}
	}
	for op, action := range actions {
		if rows[op] != action {
			t.Errorf("README's action table: %s is %q, the gateway uses %q", op, rows[op], action)
		}
	}
}
