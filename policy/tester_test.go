package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const examplesDir = "../examples/policies"

func TestExamplesRegoTestsPass(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), []string{examplesDir}, false, &out)
	if err != nil {
		t.Fatalf("Test: %v\n%s", err, out.String())
	}
	if failed != 0 || passed < 20 {
		t.Fatalf("passed %d, failed %d, want at least 20 passed and none failed:\n%s", passed, failed, out.String())
	}
	t.Logf("%d Rego tests passed", passed)
}

func TestDefaultPolicyRegoTestsPass(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), nil, false, &out)
	if err != nil {
		t.Fatalf("Test: %v\n%s", err, out.String())
	}
	if failed != 0 || passed < 5 {
		t.Fatalf("passed %d, failed %d, want at least 5 passed and none failed:\n%s", passed, failed, out.String())
	}
}

func TestTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", `package s3gate.authz
default allow := false
allow if input.principal.id == "root"
`)
	write(t, dir, "policy_test.rego", `package s3gate.authz_test
import data.s3gate.authz
test_root_allowed if authz.allow with input as {"principal": {"id": "root"}}
test_bob_allowed if authz.allow with input as {"principal": {"id": "bob"}}
twice(x) := 1 if x
twice(x) := 2 if x
test_errors if twice(true) == 1
todo_test_later if false
`)
	var out bytes.Buffer
	passed, failed, err := Test(context.Background(), []string{dir}, false, &out)
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if passed != 1 || failed != 2 {
		t.Fatalf("passed %d, failed %d, want 1 and 2:\n%s", passed, failed, out.String())
	}
	for _, want := range []string{"test_bob_allowed", "FAIL", "test_errors", "ERROR"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTestCompileErrorIsAnError(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", "package s3gate.authz\nallow if undefined_thing\n")
	_, _, err := Test(context.Background(), []string{dir}, false, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "undefined_thing") {
		t.Fatalf("err = %v, want the compiler's message naming undefined_thing", err)
	}
}

func write(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed into place, as a deployment should: a
	// watcher polling every few milliseconds must not read it half written.
	tmp, err := os.CreateTemp(filepath.Dir(p), ".write-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		t.Fatal(err)
	}
}
