package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/policy"
)

// runPolicy runs `s3gate policy ARGS...` and returns what it printed.
func runPolicy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var c cli
	k, err := kong.New(&c, options()...)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := k.Parse(append([]string{"policy"}, args...))
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	c.Policy.Test.stdout, c.Policy.Eval.stdout = &out, &out
	err = kctx.Run()
	return out.String(), err
}

func TestPolicyTestCommand(t *testing.T) {
	out, err := runPolicy(t, "test", "../../examples/policies")
	if err != nil || !strings.Contains(out, "PASS: ") {
		t.Fatalf("policy test of the shipped examples: %v\n%s", err, out)
	}
	// A failing Rego test fails the command and is named.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package s3gate.authz\n\nimport rego.v1\n\ndefault allow := false\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "p_test.rego"), []byte("package s3gate.authz_test\n\nimport rego.v1\n\ntest_everyone_allowed if data.s3gate.authz.allow with input as {}\n"), 0o600)
	out, err = runPolicy(t, "test", dir)
	if err == nil || !strings.Contains(out+err.Error(), "test_everyone_allowed") {
		t.Fatalf("a failing policy test: err %v\n%s", err, out)
	}
}

func TestPolicyEvalCommand(t *testing.T) {
	write := func(in policy.Input) string {
		b, _ := json.Marshal(in)
		p := filepath.Join(t.TempDir(), "input.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	decide := func(in policy.Input, args ...string) policy.Decision {
		t.Helper()
		out, err := runPolicy(t, append([]string{"eval", "--input", write(in)}, args...)...)
		if err != nil {
			t.Fatalf("policy eval: %v\n%s", err, out)
		}
		var d policy.Decision
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("policy eval printed no decision: %v\n%s", err, out)
		}
		return d
	}
	reader := policy.Input{
		Principal: policy.Principal{ID: "rita", Roles: []string{"reader"}, Groups: []string{}, Auth: "sigv4"},
		Resource:  policy.Resource{Bucket: "b", Key: "k", ARN: "arn:aws:s3:::b/k"},
	}
	get, put := reader, reader
	get.Action, put.Action = "s3:GetObject", "s3:PutObject"
	if d := decide(get); !d.Allow {
		t.Errorf("built-in policy: a reader may not GET: %+v", d)
	}
	if d := decide(put); d.Allow || len(d.Reasons) == 0 {
		t.Errorf("built-in policy: a reader's PUT: %+v, want a denial with reasons", d)
	}
	if _, err := runPolicy(t, "eval", "--input", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing input file was accepted")
	}

	// --input - reads the document from standard input.
	f, err := os.Open(write(put))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	out, err := runPolicy(t, "eval", "--input", "-")
	var d policy.Decision
	if err != nil || json.Unmarshal([]byte(out), &d) != nil || d.Allow || len(d.Reasons) == 0 {
		t.Errorf("policy eval --input - of a reader's PUT: %v\n%s", err, out)
	}
}

// TestOpenPolicyError: a policy that does not compile stops s3gate with
// the compiler's message, named once as the policy's.
func TestOpenPolicyError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package s3gate.authz\n\nallow if {"), 0o600)
	var cfg config.Config
	cfg.Policy.Dir = dir
	_, err := openPolicy(context.Background(), cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err == nil || !strings.HasPrefix(err.Error(), "policy: ") || strings.Contains(err.Error(), "policy: policy:") {
		t.Fatalf("openPolicy of a broken policy: %v; want one \"policy: \" prefix", err)
	}
}
