package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// request is a request by principal id with roles for action on
// bucket/key.
func request(id string, roles []string, action, bucket, key string) Input {
	arn := "arn:aws:s3:::*"
	switch {
	case key != "":
		arn = "arn:aws:s3:::" + bucket + "/" + key
	case bucket != "":
		arn = "arn:aws:s3:::" + bucket
	}
	return Input{
		Version:   InputVersion,
		Principal: Principal{ID: id, Roles: roles, Groups: []string{}, Auth: "sigv4"},
		Action:    action,
		Resource:  Resource{Bucket: bucket, Key: key, ARN: arn},
		Request:   Request{Method: "GET", SourceIP: "192.0.2.10", Time: t0},
	}
}

func decide(t testing.TB, e *Engine, in Input) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("Decide(%s %s): %v", in.Action, in.Resource.ARN, err)
	}
	return d
}

func TestDefaultPolicy(t *testing.T) {
	e := newEngine(t, Options{})
	all := []string{
		"s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAttributes", "s3:ListBucket",
		"s3:ListAllMyBuckets", "s3:GetBucketLocation",
		"s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging", "s3:DeleteObjectTagging",
		"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads",
		"s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketCORS", "s3:GetBucketCORS",
		"s3:PutBucketTagging", "s3:GetBucketTagging",
		"s3gate:CreateAccessKey", "s3gate:ListAccessKeys", "s3gate:DisableAccessKey",
		"s3gate:EnableAccessKey", "s3gate:DeleteAccessKey", "s3gate:ListObjects",
		"s3gate:ListDeadLetters", "s3gate:ReplayDeadLetters", "s3gate:Backfill",
	}
	reader := []string{
		"s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAttributes", "s3:ListBucket",
		"s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3gate:ListObjects",
	}
	writer := append(slices.Clone(reader),
		"s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging", "s3:DeleteObjectTagging",
		"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads")
	for _, tc := range []struct {
		roles   []string
		allowed []string
	}{
		{[]string{"admin"}, all},
		{[]string{"writer"}, writer},
		{[]string{"reader"}, reader},
		{[]string{"reader", "writer"}, writer},
		{[]string{"auditor", "reader"}, reader},
		{nil, nil},
		{[]string{}, nil},
		{[]string{"auditor"}, nil},
		{[]string{"ADMIN"}, nil},
	} {
		for _, action := range all {
			in := request("alice", tc.roles, action, "photos", "2024/cat.jpg")
			if strings.HasPrefix(action, "s3gate:") || action == "s3:ListAllMyBuckets" {
				in = request("alice", tc.roles, action, "", "")
			}
			d := decide(t, e, in)
			if want := slices.Contains(tc.allowed, action); d.Allow != want {
				t.Errorf("roles %v, %s: Allow = %v, want %v (%v)", tc.roles, action, d.Allow, want, d.Reasons)
			}
		}
	}
}

func TestDefaultPolicyDenialReason(t *testing.T) {
	e := newEngine(t, Options{})
	for _, tc := range []struct {
		in   Input
		want string
	}{
		{request("alice", []string{"reader"}, "s3:PutObject", "photos", "cat.jpg"), "no policy allows s3:PutObject on arn:aws:s3:::photos/cat.jpg"},
		{request("alice", []string{"writer"}, "s3:CreateBucket", "photos", ""), "no policy allows s3:CreateBucket on arn:aws:s3:::photos"},
		{request("alice", nil, "s3gate:ListAccessKeys", "", ""), "no policy allows s3gate:ListAccessKeys on arn:aws:s3:::*"},
	} {
		d := decide(t, e, tc.in)
		if d.Allow || !reflect.DeepEqual(d.Reasons, []string{tc.want}) {
			t.Errorf("%s: got %+v, want a denial because %q", tc.in.Action, d, tc.want)
		}
	}
	in := request("alice", []string{"writer"}, "s3:CreateBucket", "", "")
	in.Resource.ARN = ""
	if d := decide(t, e, in); len(d.Reasons) != 1 || d.Reasons[0] != "no policy allows s3:CreateBucket on *" {
		t.Errorf("without an ARN: reasons %q", d.Reasons)
	}
}

// denyPolicy allows every request of role "staff", gives reasons for it
// and denies some with one or two reasons.
const denyPolicy = `package s3gate.authz

default allow := false

allow if "staff" in input.principal.roles

reasons contains "staff may do anything" if allow

reasons contains sprintf("%s is staff", [input.principal.id]) if allow

deny contains "deleting is switched off" if input.action == "s3:DeleteObject"

deny contains sprintf("bucket %s is frozen", [input.resource.bucket]) if input.resource.bucket in data.frozen
`

func TestDenyWinsAndReasons(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyPolicy)
	write(t, dir, "frozen.json", `{"frozen": ["archive"]}`)
	e := newEngine(t, Options{Dir: dir})

	d := decide(t, e, request("bob", []string{"staff"}, "s3:GetObject", "photos", "a"))
	if !d.Allow || !reflect.DeepEqual(d.Reasons, []string{"bob is staff", "staff may do anything"}) {
		t.Errorf("allowed request: %+v, want the allow's reasons in order", d)
	}
	d = decide(t, e, request("bob", []string{"staff"}, "s3:DeleteObject", "archive", "a"))
	if d.Allow || !reflect.DeepEqual(d.Reasons, []string{"bucket archive is frozen", "deleting is switched off"}) {
		t.Errorf("denied request: %+v, want both deny reasons and no allow reason", d)
	}
	d = decide(t, e, request("eve", nil, "s3:GetObject", "photos", "a"))
	if d.Allow || !reflect.DeepEqual(d.Reasons, []string{"no policy allows s3:GetObject on arn:aws:s3:::photos/a"}) {
		t.Errorf("request nothing allows: %+v", d)
	}
	d, err := e.Explain(context.Background(), request("bob", []string{"staff"}, "s3:DeleteObject", "photos", "a"))
	if err != nil || d.Allow || !reflect.DeepEqual(d.Reasons, []string{"deleting is switched off"}) {
		t.Errorf("Explain: %+v, %v", d, err)
	}
}

func TestPolicyWithoutDefaultsOrOptionalRules(t *testing.T) {
	for name, src := range map[string]string{
		"allow without default":  "package s3gate.authz\nallow if input.principal.id == \"root\"\n",
		"deny as a complete set": "package s3gate.authz\nallow if input.principal.id == \"root\"\ndeny := {\"no guests\"} if input.principal.id == \"guest\"\n",
		"allow as a value":       "package s3gate.authz\nallow := input.principal.id == \"root\"\n",
		"deny as an object":      "package s3gate.authz\nallow := true\ndeny[\"no guests\"] if input.principal.id == \"guest\"\n",
		"deny by reference":      "package s3gate.authz\nallow := true\ndeny.guests := \"no guests\" if input.principal.id == \"guest\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "p.rego", src)
			e := newEngine(t, Options{Dir: dir})
			if d := decide(t, e, request("root", nil, "s3:GetObject", "b", "k")); !d.Allow {
				t.Errorf("root: %+v, want an allow", d)
			}
			d := decide(t, e, request("guest", nil, "s3:GetObject", "b", "k"))
			if d.Allow || len(d.Reasons) != 1 {
				t.Errorf("guest: %+v, want a denial with one reason", d)
			}
			if want := map[string]string{"deny as a complete set": "no guests", "deny as an object": "no guests", "deny by reference": "guests"}[name]; want != "" && d.Reasons[0] != want {
				t.Errorf("guest: reasons %q, want %q", d.Reasons, want)
			}
			if g, err := e.Readable(context.Background(), Principal{ID: "root"}); err != nil || len(g) != 0 {
				t.Errorf("Readable without a readable rule = %v, %v; want none", g, err)
			}
		})
	}
}

func TestCustomDirDataMountedByPath(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", `package s3gate.authz

default allow := false

allow if input.principal.id in data.teams[input.resource.bucket].members

allow if input.principal.id in data.admins
`)
	write(t, dir, "admins.yaml", "admins: [root]\n")
	write(t, dir, "teams/photos/members.json", `{"members": ["alice"]}`)
	write(t, dir, "teams/logs/data.json", `{"members": ["bob"]}`)
	write(t, dir, "policy_test.rego", "package s3gate.authz_test\ntest_broken if {") // tests are not loaded
	write(t, dir, ".swap.rego", "not rego at all")                                   // nor hidden files
	e := newEngine(t, Options{Dir: dir})
	for _, tc := range []struct {
		id, bucket string
		want       bool
	}{
		{"alice", "photos", true},
		{"alice", "logs", false},
		{"bob", "logs", true},
		{"bob", "photos", false},
		{"root", "anything", true},
		{"eve", "photos", false},
	} {
		if d := decide(t, e, request(tc.id, nil, "s3:GetObject", tc.bucket, "k")); d.Allow != tc.want {
			t.Errorf("%s on %s: Allow = %v, want %v", tc.id, tc.bucket, d.Allow, tc.want)
		}
	}
}

func TestCompileErrorAtStart(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"parse":  {"package s3gate.authz\nallow if {\n", "rego_parse_error"},
		"type":   {"package s3gate.authz\nallow if upper(1) == \"A\"\n", "rego_type_error"},
		"unsafe": {"package s3gate.authz\nallow if x > 1\n", "rego_unsafe_var_error"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "policy.rego", tc.src)
			_, err := New(context.Background(), Options{Dir: dir})
			if err == nil {
				t.Fatal("New succeeded with a broken policy")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, "policy.rego")+":") {
				t.Errorf("error %q lacks the compiler's %s at policy.rego:<line>", err, tc.want)
			}
		})
	}
}

func TestNewRefusesDirWithoutPolicy(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "other.rego", "package other\nallow := true\n")
	if _, err := New(context.Background(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "package s3gate.authz") {
		t.Errorf("dir without package s3gate.authz: err = %v", err)
	}
	if _, err := New(context.Background(), Options{Dir: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing dir: New succeeded")
	}
	write(t, dir, "conflict.json", `{"s3gate": {"authz": {"allow": true}}}`)
	write(t, dir, "policy.rego", "package s3gate.authz\nallow := false\n")
	if _, err := New(context.Background(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "conflicting rule") {
		t.Errorf("data overlapping the policy's rules: err = %v", err)
	}
}

const (
	denyAll  = "package s3gate.authz\n\ndefault allow := false\n"
	allowAll = "package s3gate.authz\n\ndefault allow := false\n\nallow if input.principal.id != \"\"\n"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyAll)
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Dir: dir, PollInterval: 10 * time.Millisecond, Registry: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Watch(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	in := request("alice", nil, "s3:GetObject", "b", "k")
	if decide(t, e, in).Allow {
		t.Fatal("allowed before the change")
	}
	write(t, dir, "policy.rego", allowAll)
	eventually(t, "the changed policy allows", func() bool { return decide(t, e, in).Allow })

	// A new file counts as a change too.
	write(t, dir, "extra.rego", "package s3gate.authz\n\ndeny contains \"closed\" if input.resource.bucket == \"b\"\n")
	eventually(t, "the added deny rule applies", func() bool {
		d := decide(t, e, in)
		return !d.Allow && slices.Equal(d.Reasons, []string{"closed"})
	})
	// And so does a removed one.
	if err := os.Remove(filepath.Join(dir, "extra.rego")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed deny rule no longer applies", func() bool { return decide(t, e, in).Allow })
	if n := testutil.ToFloat64(e.m.reloads); n < 3 {
		t.Errorf("reloads = %v, want at least 3", n)
	}
}

func TestWatchStopsOnCloseAndContext(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyAll)
	e := newEngine(t, Options{Dir: dir, PollInterval: time.Millisecond})
	done := make(chan struct{})
	go func() { e.Watch(context.Background()); close(done) }()
	e.Close()
	e.Close() // idempotent
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	// Decide answers after Close (decide fails the test on an error).
	if d := decide(t, e, request("a", nil, "s3:GetObject", "b", "k")); d.Allow {
		t.Errorf("after Close: %+v, want the policy's denial", d)
	}

	e2 := newEngine(t, Options{Dir: dir, PollInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { e2.Watch(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func TestBrokenReloadKeepsOldPolicy(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", allowAll)
	logs := &syncWriter{w: &bytes.Buffer{}}
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{
		Dir: dir, Registry: reg, PollInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	in := request("alice", nil, "s3:GetObject", "b", "k")
	if !decide(t, e, in).Allow {
		t.Fatal("not allowed before the change")
	}

	write(t, dir, "policy.rego", "package s3gate.authz\nallow if {\n")
	err := e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rego_parse_error") {
		t.Fatalf("Reload of a broken policy: err = %v, want the parser's message", err)
	}
	if !decide(t, e, in).Allow {
		t.Error("the broken reload replaced the running policy")
	}
	if n, _ := gathered(t, reg, "s3gate_policy_reload_errors_total"); n != 1 {
		t.Errorf("reload errors = %v, want 1", n)
	}

	// Watch does not retry (and count) the same broken files on every
	// poll; it does once they change again.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Watch(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	start := e.polls.Load()
	eventually(t, "Watch has polled thrice", func() bool { return e.polls.Load() >= start+3 })
	if n, _ := gathered(t, reg, "s3gate_policy_reload_errors_total"); n != 1 {
		t.Errorf("reload errors after polling unchanged files = %v, want 1", n)
	}
	write(t, dir, "policy.rego", denyAll+"\n# fixed, and allowing nothing now\n")
	eventually(t, "the fixed policy is in force", func() bool { return !decide(t, e, in).Allow })
	if n, _ := gathered(t, reg, "s3gate_policy_reload_errors_total"); n != 1 {
		t.Errorf("reload errors = %v, want still 1", n)
	}
	if !strings.Contains(logs.String(), "policy reload failed") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}

// syncWriter lets the log be written by Watch while the test reads it.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// gathered reads a counter or gauge from reg by name.
func gathered(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		v := 0.0
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return v, true
	}
	return 0, false
}

func TestReloadOnSignal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyAll)
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Dir: dir, Registry: reg, PollInterval: time.Hour})
	in := request("alice", nil, "s3:GetObject", "b", "k")
	if decide(t, e, in).Allow {
		t.Fatal("allowed before the change")
	}
	write(t, dir, "policy.rego", allowAll)
	// Nothing polls (PollInterval is an hour): the cached denial stands...
	if decide(t, e, in).Allow {
		t.Fatal("allowed before Reload")
	}
	// ...until Reload, as on SIGHUP, which also empties the cache.
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !decide(t, e, in).Allow {
		t.Error("not allowed after Reload")
	}
	if n, _ := gathered(t, reg, "s3gate_policy_reloads_total"); n != 1 {
		t.Errorf("reloads = %v, want 1", n)
	}
	if _, ok := gathered(t, reg, "s3gate_policy_last_load_timestamp_seconds"); !ok {
		t.Error("no s3gate_policy_last_load_timestamp_seconds")
	}
	// The embedded policy reloads too (to itself).
	if err := newEngine(t, Options{}).Reload(context.Background()); err != nil {
		t.Errorf("Reload of the embedded policy: %v", err)
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", `package s3gate.authz

default allow := false

allow if {
	input.principal.id == "alice"
	net.cidr_contains("192.0.2.0/24", input.request.source_ip)
}
`)
	reg := prometheus.NewRegistry()
	e := newEngine(t, Options{Dir: dir, Registry: reg, CacheTTL: time.Hour})
	hits := func() float64 { return testutil.ToFloat64(e.m.cacheHits) }
	misses := func() float64 { return testutil.ToFloat64(e.m.cacheMisses) }

	in := request("alice", nil, "s3:GetObject", "b", "k")
	if !decide(t, e, in).Allow || hits() != 0 || misses() != 1 {
		t.Fatalf("first decision: hits %v misses %v", hits(), misses())
	}
	if !decide(t, e, in).Allow || hits() != 1 {
		t.Fatalf("same request: hits %v, want 1", hits())
	}
	// The policy reads neither the key nor the time: another object, an
	// hour later, is the same decision.
	other := in
	other.Resource.Key, other.Resource.ARN = "other", "arn:aws:s3:::b/other"
	other.Request.Time = t0.Add(time.Hour)
	if !decide(t, e, other).Allow || hits() != 2 {
		t.Errorf("request differing in what the policy does not read: hits %v, want 2", hits())
	}
	// The source address it reads is in the key.
	outside := in
	outside.Request.SourceIP = "198.51.100.1"
	if decide(t, e, outside).Allow || misses() != 2 {
		t.Errorf("request from another address: misses %v, want 2", misses())
	}
	if decide(t, e, outside).Allow || hits() != 3 {
		t.Errorf("cached denial: hits %v, want 3", hits())
	}
	if n, _ := gathered(t, reg, "s3gate_policy_decisions_total"); n != 5 {
		t.Errorf("decisions = %v, want 5", n)
	}

	// A reload empties the cache.
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	decide(t, e, in)
	if hits() != 3 || misses() != 3 {
		t.Errorf("after reload: hits %v misses %v, want 3 and 3", hits(), misses())
	}

	// A negative size disables the cache.
	e2 := newEngine(t, Options{Dir: dir, CacheSize: -1})
	decide(t, e2, in)
	decide(t, e2, in)
	if h, m := testutil.ToFloat64(e2.m.cacheHits), testutil.ToFloat64(e2.m.cacheMisses); h != 0 || m != 0 {
		t.Errorf("disabled cache: hits %v misses %v", h, m)
	}
}

func TestCachedReasonsAreCopies(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyPolicy)
	write(t, dir, "frozen.json", `{"frozen": []}`)
	e := newEngine(t, Options{Dir: dir})
	in := request("bob", []string{"staff"}, "s3:DeleteObject", "b", "k")
	d := decide(t, e, in)
	d.Reasons[0] = "changed by the caller"
	if d2 := decide(t, e, in); d2.Reasons[0] != "deleting is switched off" {
		t.Errorf("a caller's change reached the cache: %q", d2.Reasons)
	}
}

func TestTimeWindowPolicy(t *testing.T) {
	dir := t.TempDir()
	// Writes only in office hours (UTC).
	write(t, dir, "policy.rego", `package s3gate.authz

default allow := false

allow if {
	[hour, _, _] := time.clock(time.parse_rfc3339_ns(input.request.time))
	hour >= 8
	hour < 18
}
`)
	e := newEngine(t, Options{Dir: dir, CacheTTL: time.Hour})
	in := request("alice", nil, "s3:PutObject", "b", "k")
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2025, 6, 1, 17, 59, 59, 999e6, time.UTC), true},
		{time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC), false},
		{time.Date(2025, 6, 1, 17, 59, 59, 0, time.UTC), true},
		{time.Date(2025, 6, 1, 18, 0, 0, 500e6, time.UTC), false},
		{time.Date(2025, 6, 1, 8, 0, 0, 0, time.FixedZone("CEST", 2*3600)), false}, // 06:00 UTC
	} {
		in.Request.Time = tc.at
		if d := decide(t, e, in); d.Allow != tc.want {
			t.Errorf("at %v: Allow = %v, want %v", tc.at, d.Allow, tc.want)
		}
	}
}

func TestTimeNowIsTheRequestTime(t *testing.T) {
	dir := t.TempDir()
	// Open until a deadline, by time.now_ns: the engine pins it to the
	// request time, and keys the cache on it.
	deadline := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	write(t, dir, "policy.rego", "package s3gate.authz\n\ndefault allow := false\n\nallow if time.now_ns() < "+
		itoa(deadline.UnixNano())+"\n")
	e := newEngine(t, Options{Dir: dir, CacheTTL: time.Hour})
	in := request("alice", nil, "s3:PutObject", "b", "k")
	in.Request.Time = deadline.Add(-time.Second)
	if !decide(t, e, in).Allow {
		t.Error("denied before the deadline")
	}
	in.Request.Time = deadline
	if decide(t, e, in).Allow {
		t.Error("allowed at the deadline: time.now_ns is not the request time, or the cache ignored it")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestReadFields(t *testing.T) {
	for name, tc := range map[string]struct {
		src, want string
		usesNow   bool
	}{
		"default":  {"", "action,principal{roles}", false},
		"whole":    {"package s3gate.authz\nallow if count(input) > 0\n", "*", false},
		"iterated": {"package s3gate.authz\nallow if input.request[_] == \"x\"\n", "request", false},
		"import": {"package s3gate.authz\nimport input.principal as p\nallow if p.id == \"x\"\n" +
			"allow if time.now_ns() > 0\n", "principal{id}", true},
		"function": {"package s3gate.authz\nf(x) := x.id\nallow if f(input.principal) == \"x\"\n", "principal", false},
		"nested": {`package s3gate.authz

allow if {
	every t in input.request.tags {
		t != ""
	}
	count([x | some x in input.principal.groups]) > 0
}

allow := false if {
	input.action == "x"
} else := true if {
	input.resource.bucket == "b"
}

deny contains input.request.method if false

deny contains "x" if {
	data.s3gate.authz.allow with input.principal.auth as "sigv4"
}

n := time.now_ns()
`, "action,principal{auth,groups},request{method,tags},resource{bucket}", true},
	} {
		t.Run(name, func(t *testing.T) {
			opts := Options{}
			if tc.src != "" {
				opts.Dir = t.TempDir()
				write(t, opts.Dir, "p.rego", tc.src)
			}
			s := newEngine(t, opts).cur.Load()
			if got := s.need.String(); got != tc.want || s.usesNow != tc.usesNow {
				t.Errorf("reads %q, calls time.now_ns %v; want %q, %v", got, s.usesNow, tc.want, tc.usesNow)
			}
		})
	}
}

func TestPolicyReadingAllSeesTheJSONOfInput(t *testing.T) {
	dir := t.TempDir()
	// The whole input, as the policy sees it, is the deny reason.
	write(t, dir, "policy.rego", "package s3gate.authz\ndeny contains json.marshal(input) if true\n")
	e := newEngine(t, Options{Dir: dir})
	in := fullInput()
	d := decide(t, e, in)
	var got map[string]any
	if err := json.Unmarshal([]byte(d.Reasons[0]), &got); err != nil {
		t.Fatal(err)
	}
	normalize(&in)
	want := jsonRoundTrip(t, in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("policy reading all the input saw\n%v\nwant\n%v", got, want)
	}
}

func fullInput() Input {
	return Input{
		Version: InputVersion,
		Principal: Principal{
			ID: "alice", DisplayName: "Alice \"A\" Liddell\n", Roles: []string{"writer", "reader"}, Groups: []string{"staff"},
			Claims: map[string]any{"sub": "alice", "n": 3, "nested": map[string]any{"x": []any{1.5, "y", true, nil}}},
			Auth:   "jwt",
		},
		Action:   "s3:PutObject",
		Resource: Resource{Bucket: "photos", Key: "2024/é.jpg", ARN: "arn:aws:s3:::photos/2024/é.jpg"},
		Request: Request{
			Method: "PUT", SourceIP: "2001:db8::1", Time: time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600)),
			ContentType: "image/jpeg", ContentLength: 1 << 40, Prefix: "2024/", Delimiter: "/",
			CopySource: "other/src.jpg", Tags: map[string]string{"b": "2", "a": "1"}, ExistingTags: map[string]string{"c": "3"},
		},
	}
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInputValueIsTheJSONOfInput(t *testing.T) {
	for name, in := range map[string]Input{
		"full":    fullInput(),
		"minimal": {Action: "s3:ListAllMyBuckets", Resource: Resource{ARN: "arn:aws:s3:::*"}},
	} {
		t.Run(name, func(t *testing.T) {
			normalize(&in)
			v, err := inputValue(&in, allFields)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(appendCanonical(nil, v), &got); err != nil {
				t.Fatalf("canonical encoding is not JSON: %v", err)
			}
			if want := jsonRoundTrip(t, in); !reflect.DeepEqual(got, want) {
				t.Errorf("input value\n%v\nJSON of the input\n%v", got, want)
			}
		})
	}
	in := Input{}
	normalize(&in)
	if in.Version != InputVersion || in.Principal.Roles == nil || in.Principal.Groups == nil ||
		time.Since(in.Request.Time) > time.Minute || in.Request.Time.Location() != time.UTC || in.Request.Time.Nanosecond() != 0 {
		t.Errorf("normalize left %+v", in)
	}
}

func TestCanonicalEncodingOrdersKeys(t *testing.T) {
	a, b := fullInput(), fullInput()
	b.Principal.Claims = map[string]any{"nested": map[string]any{"x": []any{1.5, "y", true, nil}}, "n": 3.0, "sub": "alice"}
	normalize(&a)
	normalize(&b)
	va, _ := inputValue(&a, allFields)
	vb, _ := inputValue(&b, allFields)
	if cacheKey('d', va, nil) != cacheKey('d', vb, nil) {
		t.Error("equal inputs have different keys")
	}
	b.Principal.Claims["n"] = 4
	vb, _ = inputValue(&b, allFields)
	if cacheKey('d', va, nil) == cacheKey('d', vb, nil) {
		t.Error("different claims have the same key")
	}
	if cacheKey('d', va, nil) == cacheKey('r', va, nil) {
		t.Error("a decision and a readable answer share a key")
	}
	now := t0
	if cacheKey('d', va, nil) == cacheKey('d', va, &now) {
		t.Error("the pinned time is not in the key")
	}
}

func TestReadableDefault(t *testing.T) {
	e := newEngine(t, Options{})
	everything := []Grant{{Bucket: "*", Prefix: ""}}
	for _, tc := range []struct {
		roles []string
		want  []Grant
	}{
		{[]string{"admin"}, everything},
		{[]string{"writer"}, everything},
		{[]string{"reader"}, everything},
		{[]string{"admin", "reader"}, everything},
		{[]string{"auditor"}, []Grant{}},
		{nil, []Grant{}},
	} {
		got, err := e.Readable(context.Background(), Principal{ID: "alice", Roles: tc.roles})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("roles %v: Readable = %v, want %v", tc.roles, got, tc.want)
		}
		// Again, from the cache.
		if again, _ := e.Readable(context.Background(), Principal{ID: "alice", Roles: tc.roles}); !reflect.DeepEqual(again, tc.want) {
			t.Errorf("roles %v: cached Readable = %v, want %v", tc.roles, again, tc.want)
		}
	}
}

func TestReadableErrors(t *testing.T) {
	for name, src := range map[string]string{
		"not objects": "package s3gate.authz\nreadable contains \"photos\" if true\n",
		"no bucket":   "package s3gate.authz\nreadable contains {\"prefix\": \"a/\"} if true\n",
		"not a set":   "package s3gate.authz\nreadable := \"photos\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "p.rego", src)
			if g, err := newEngine(t, Options{Dir: dir}).Readable(context.Background(), Principal{ID: "a"}); err == nil {
				t.Errorf("Readable = %v, want an error", g)
			}
		})
	}
}

func TestMinimalGrants(t *testing.T) {
	got := minimalGrants([]Grant{
		{"photos", "a/b/"}, {"photos", "a/"}, {"logs", ""}, {"photos", "c/"}, {"logs", "x/"}, {"home", "home/alice/"},
	})
	want := []Grant{{"home", "home/alice/"}, {"logs", ""}, {"photos", "a/"}, {"photos", "c/"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := minimalGrants([]Grant{{"photos", ""}, {"*", ""}, {"logs", "a/"}}); !reflect.DeepEqual(got, []Grant{{"*", ""}}) {
		t.Errorf("with everything: got %v", got)
	}
	if got := minimalGrants([]Grant{{"*", "public/"}, {"photos", "public/x/"}, {"photos", "private/"}}); !reflect.DeepEqual(got, []Grant{{"*", "public/"}, {"photos", "private/"}}) {
		t.Errorf("with a prefix in every bucket: got %v", got)
	}
}

func TestConcurrentDecideWhileReloading(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", denyAll)
	e := newEngine(t, Options{Dir: dir, PollInterval: time.Millisecond, CacheSize: 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchDone := make(chan struct{})
	go func() { e.Watch(ctx); close(watchDone) }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				in := request("user", nil, "s3:GetObject", "b", itoa(int64(i%100)))
				if g%2 == 1 {
					if _, err := e.Readable(ctx, in.Principal); err != nil {
						errs <- err
						return
					}
					continue
				}
				d, err := e.Decide(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				// Either policy, whole: an allow has no reason, a
				// denial its one.
				if d.Allow == (len(d.Reasons) == 1) {
					errs <- &decisionError{d}
					return
				}
			}
		})
	}
	for i := range 20 {
		src := denyAll
		if i%2 == 0 {
			src = allowAll
		}
		write(t, dir, "policy.rego", src+strings.Repeat("\n", i)) // sizes differ, so each write is a change
		if err := e.Reload(ctx); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	cancel()
	<-watchDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type decisionError struct{ d Decision }

func (e *decisionError) Error() string { return "inconsistent decision" }

func TestExamplesInTheEngine(t *testing.T) {
	e := newEngine(t, Options{Dir: examplesDir})
	user := func(id, action, bucket, key string) Input {
		return request(id, []string{"user"}, action, bucket, key)
	}
	anon := func(action, bucket, key string) Input {
		in := request("anonymous", nil, action, bucket, key)
		in.Principal.Auth = "anonymous"
		return in
	}
	put := func(in Input, contentType string, length int64, ip string) Input {
		in.Request.Method, in.Request.ContentType, in.Request.ContentLength, in.Request.SourceIP = "PUT", contentType, length, ip
		return in
	}
	list := func(in Input, prefix string) Input { in.Request.Prefix = prefix; return in }
	copyFrom := func(in Input, src string) Input { in.Request.Method, in.Request.CopySource = "PUT", src; return in }
	writer := func(action, bucket, key string) Input { return request("w", []string{"writer"}, action, bucket, key) }

	for _, tc := range []struct {
		name   string
		in     Input
		allow  bool
		reason string
	}{
		{"home read", user("alice", "s3:GetObject", "home", "home/alice/a.txt"), true, "arn:aws:s3:::home/home/alice/a.txt is in the home of alice"},
		{"home write", put(user("alice", "s3:PutObject", "home", "home/alice/a.txt"), "text/plain", 10, "198.51.100.1"), true, ""},
		{"other home", user("alice", "s3:GetObject", "home", "home/bob/a.txt"), false, "no policy allows s3:GetObject on arn:aws:s3:::home/home/bob/a.txt"},
		{"home list", list(user("alice", "s3:ListBucket", "home", ""), "home/alice/"), true, ""},
		{"home list outside", list(user("alice", "s3:ListBucket", "home", ""), "home/"), false, ""},
		{"home copy", copyFrom(user("alice", "s3:PutObject", "home", "home/alice/b"), "home/home/alice/a"), true, ""},
		{"home copy from elsewhere", copyFrom(user("alice", "s3:PutObject", "home", "home/alice/b"), "home/home/bob/a"), false, ""},
		{"public read", anon("s3:GetObject", "downloads", "v1.tar.gz"), true, "bucket downloads is public-read"},
		{"public write", anon("s3:PutObject", "downloads", "v1.tar.gz"), false, ""},
		{"private read", anon("s3:GetObject", "photos", "cat.jpg"), false, ""},
		{"upload ok", put(writer("s3:PutObject", "media", "a.png"), "image/png", 100, "198.51.100.1"), true, ""},
		{"upload type", put(writer("s3:PutObject", "media", "a.sh"), "text/x-sh", 100, "198.51.100.1"), false,
			"bucket media accepts only image/png, image/jpeg, image/webp, video/mp4, not text/x-sh"},
		{"backup inside", put(writer("s3:PutObject", "backups", "db"), "", 100, "10.0.0.7"), true, ""},
		{"backup outside", put(writer("s3:PutObject", "backups", "db"), "", 100, "203.0.113.9"), false,
			`writes to bucket backups are accepted only from 10.0.0.0/8, 192.168.0.0/16, fd00::/8, not from "203.0.113.9"`},
		{"admin creates", request("root", []string{"admin"}, "s3:CreateBucket", "new", ""), true, ""},
	} {
		d := decide(t, e, tc.in)
		if d.Allow != tc.allow || (tc.reason != "" && !slices.Contains(d.Reasons, tc.reason)) {
			t.Errorf("%s: %+v, want Allow %v with reason %q", tc.name, d, tc.allow, tc.reason)
		}
	}

	for _, tc := range []struct {
		p    Principal
		want []Grant
	}{
		{Principal{ID: "alice", Roles: []string{"user"}}, []Grant{{"downloads", ""}, {"home", "home/alice/"}}},
		{Principal{ID: "alice/x", Roles: []string{"user"}}, []Grant{{"downloads", ""}}},
		{Principal{ID: "anonymous", Auth: "anonymous"}, []Grant{{"downloads", ""}}},
		{Principal{ID: "root", Roles: []string{"admin", "user"}}, []Grant{{"*", ""}}},
	} {
		got, err := e.Readable(context.Background(), tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Readable(%s %v) = %v, want %v", tc.p.ID, tc.p.Roles, got, tc.want)
		}
	}
}

func TestExampleRolesAreTheDefault(t *testing.T) {
	for _, name := range []string{"roles.rego", "roles_test.rego"} {
		def, err := defaultFS.ReadFile("default/" + name)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := os.ReadFile(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(def, ex) {
			t.Errorf("%s/%s differs from the embedded default/%s", examplesDir, name, name)
		}
	}
}

func TestPrintGoesToTheDebugLog(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "policy.rego", "package s3gate.authz\n\nallow if {\n\tprint(\"judging\", input.principal.id)\n}\n")
	logs := &syncWriter{w: &bytes.Buffer{}}
	e := newEngine(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	decide(t, e, request("alice", nil, "s3:GetObject", "b", "k"))
	if !strings.Contains(logs.String(), `msg="policy print"`) || !strings.Contains(logs.String(), "judging alice") ||
		!strings.Contains(logs.String(), "policy.rego:4") {
		t.Errorf("print output not in the log:\n%s", logs.String())
	}
}
