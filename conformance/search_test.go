package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3gate/s3gate/catalog/catalogtest"
)

// searchTimeout bounds how long the search hook may take to index the
// writes of a test.
const searchTimeout = 30 * time.Second

// searchOwnPolicy gives every principal with role "user" a bucket of its
// own (data.own.buckets[id]) and the right to search. With the example
// policies' roles.rego (admin) and home.rego (home/ID/ in the shared
// bucket) it makes the policy the search test runs with.
const searchOwnPolicy = `package s3gate.authz

own_bucket := data.own.buckets[input.principal.id] if "user" in input.principal.roles

own_actions := {
	"s3:GetObject",
	"s3:GetObjectTagging",
	"s3:GetObjectAttributes",
	"s3:PutObject",
	"s3:PutObjectTagging",
	"s3:DeleteObject",
	"s3:DeleteObjectTagging",
	"s3:AbortMultipartUpload",
	"s3:ListMultipartUploadParts",
	"s3:ListBucket",
	"s3:ListBucketMultipartUploads",
	"s3:GetBucketLocation",
}

allow if {
	own_actions[input.action]
	input.resource.bucket == own_bucket
}

allow if {
	"user" in input.principal.roles
	input.action == "s3gate:Search"
}

readable contains {"bucket": own_bucket, "prefix": ""} if own_bucket
`

// searchFile is one file of the tree the search test uploads; kind is the
// media type the index is expected to give it (for text/* only its type
// part is certain: Markdown and CSV may be declared or sniffed as plain text).
type searchFile struct {
	path string
	data []byte
	kind string
}

// searchTree is a tree of mixed files, each with a made-up word of its own
// in its name or body.
func searchTree(t *testing.T) []searchFile {
	return []searchFile{
		{"notes/plain.txt", []byte("The zorblax protocol is written down here.\n"), "text/plain"},
		{"docs/Quarterly_Budget-reportFinal.txt", []byte("numbers for the quarter\n"), "text/plain"},
		{"docs/readme.md", []byte("# Notes\n\nThe *flumoxite* reactor runs **hot**.\n"), "text/markdown"},
		{"data/table.csv", []byte("name,mineral\nrock,quandrite\n"), "text/csv"},
		{"data/config.json", []byte(`{"setting": "vexillum", "level": 3}` + "\n"), "application/json"},
		{"web/page.html", []byte(`<!DOCTYPE html><html><head><title>Status page</title>` +
			`<script>var hiddenscriptzebu = 1;</script></head>` +
			`<body><p>visible glimmerwort text</p></body></html>` + "\n"), "text/html"},
		{"images/pixel.png", picture(t, "png", 16, 16), "image/png"},
		{"bin/blob.bin", testData("search-blob", 4096), "application/octet-stream"},
		{"deep/a/b/c/nested-deepfile.txt", []byte("far down the tree\n"), "text/plain"},
	}
}

// searchObject is one object the test expects in the index.
type searchObject struct {
	owner       string // the user who wrote it
	bucket, key string
	file        searchFile
	tags        map[string]string
}

func (o searchObject) String() string { return o.bucket + "/" + o.key }

// searchCase is one query and the objects it must find, among those the
// caller may read.
type searchCase struct {
	name  string
	query url.Values
	match func(o searchObject) bool
}

// searchResult is the JSON of GET /api/v1/search.
type searchResult struct {
	Hits []struct {
		Bucket      string `json:"bucket"`
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		ContentType string `json:"content_type"`
		Highlight   string `json:"highlight"`
	} `json:"hits"`
	Total  int64 `json:"total"`
	Facets map[string][]struct {
		Value string `json:"value"`
		Count int64  `json:"count"`
	} `json:"facets"`
	NextPageToken string `json:"next_page_token"`
}

// searcher is a principal that searches: its key, and whose objects it
// may read.
type searcher struct {
	name  string
	creds aws.Credentials
	sees  func(owner string) bool
}

// search asks GET /api/v1/search as who, with at most 1,000 hits.
func (s *server) search(t *testing.T, who searcher, q url.Values) searchResult {
	t.Helper()
	q2 := url.Values{"limit": {"1000"}}
	for k, v := range q {
		q2[k] = v
	}
	q = q2
	signer := &server{OpsURL: s.OpsURL, AccessKey: who.creds.AccessKeyID, SecretKey: who.creds.SecretAccessKey}
	status, body := signer.admin(t, http.MethodGet, "/api/v1/search?"+q.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/search?%s as %s: %d %s", q.Encode(), who.name, status, body)
	}
	var res searchResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("GET /api/v1/search?%s as %s: %v: %s", q.Encode(), who.name, err, body)
	}
	return res
}

// hitNames are the hits as sorted bucket/key strings.
func (r searchResult) hitNames() []string {
	names := []string{}
	for _, h := range r.Hits {
		names = append(names, h.Bucket+"/"+h.Key)
	}
	slices.Sort(names)
	return names
}

// expected are the sorted bucket/key names of the objects of model that
// who may read and c matches, and their count per bucket.
func (c searchCase) expected(who searcher, model []searchObject) ([]string, map[string]int64) {
	names, buckets := []string{}, map[string]int64{}
	for _, o := range model {
		if who.sees(o.owner) && c.match(o) {
			names = append(names, o.String())
			buckets[o.bucket]++
		}
	}
	slices.Sort(names)
	return names, buckets
}

// check asks c as who once and requires exactly the expected hits, total
// and bucket facets.
func (c searchCase) check(t *testing.T, s *server, who searcher, model []searchObject) {
	t.Helper()
	want, wantBuckets := c.expected(who, model)
	res := s.search(t, who, c.query)
	got := res.hitNames()
	if !slices.Equal(got, want) || res.Total != int64(len(want)) || res.NextPageToken != "" {
		t.Errorf("%s as %s (%s):\n got %q (total %d, next %q)\nwant %q", c.name, who.name, c.query.Encode(), got, res.Total, res.NextPageToken, want)
		return
	}
	gotBuckets := map[string]int64{}
	for _, f := range res.Facets["bucket"] {
		gotBuckets[f.Value] = f.Count
	}
	if len(want) > 0 && fmt.Sprint(gotBuckets) != fmt.Sprint(wantBuckets) {
		t.Errorf("%s as %s: bucket facets %v, want %v", c.name, who.name, gotBuckets, wantBuckets)
	}
}

// wait polls c as who until its hits are exactly the expected ones.
func (c searchCase) wait(t *testing.T, s *server, who searcher, model []searchObject) {
	t.Helper()
	want, _ := c.expected(who, model)
	deadline := time.Now().Add(searchTimeout)
	for {
		got := s.search(t, who, c.query).hitNames()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s as %s: after %v the search finds\n %q\nwant %q", c.name, who.name, searchTimeout, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bodyHas reports whether o's content holds word.
func bodyHas(word string) func(searchObject) bool {
	return func(o searchObject) bool { return bytes.Contains(o.file.data, []byte(word)) }
}

// searchPolicyDir writes the policy of the search test: the example
// policies' roles and home prefixes (home/ID/ in shared), and a bucket of
// each user's own.
func searchPolicyDir(t *testing.T, shared string, own map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"roles.rego", "home.rego"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "policies", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), b)
	}
	home, _ := json.Marshal(map[string]any{"home": map[string]any{"buckets": []string{shared}}})
	writeFile(t, filepath.Join(dir, "home.json"), home)
	ownData, _ := json.Marshal(map[string]any{"own": map[string]any{"buckets": own}})
	writeFile(t, filepath.Join(dir, "own.json"), ownData)
	writeFile(t, filepath.Join(dir, "own.rego"), []byte(searchOwnPolicy))
	return dir
}

// TestSearchRclone: trees of mixed files uploaded with rclone by two users,
// each into a bucket of their own and their home prefix of a shared bucket,
// are found by the words of their names, bodies and tags and by their
// types, each user finding only their own objects and the root key
// everyone's; deletes and overwrites reach the index, and a reindex
// changes no answer. On the fs backend, and through the s3 backend in front
// of versitygw with a PostgreSQL catalogue.
func TestSearchRclone(t *testing.T) {
	t.Parallel()
	for _, c := range backendCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := c.opts(t)
			if c.name == "s3-proxy" { // scaled out: the catalogue in PostgreSQL
				opts.Args = append(opts.Args, "--catalog-dsn", catalogtest.FreshPostgres(t), "--identity-master-key", randomHex(32))
			}
			testSearch(t, opts)
		})
	}
}

func testSearch(t *testing.T, opts serverOptions) {
	rcloneBin := requireTool(t, "rclone")
	awsBin := requireTool(t, "aws")
	shared, aliceBucket, bobBucket := newBucketName(t), newBucketName(t), newBucketName(t)
	own := map[string]string{"alice": aliceBucket, "bob": bobBucket}
	opts.Args = append(opts.Args, "--policy-dir", searchPolicyDir(t, shared, own))
	s := startServerOpts(t, opts)
	root := s.client()
	for _, b := range []string{shared, aliceBucket, bobBucket} {
		createBucket(t, root, b)
	}
	users := map[string]searcher{}
	for _, name := range []string{"alice", "bob"} {
		users[name] = searcher{name: name, creds: s.adminCreateKey(t, name, "user"), sees: func(owner string) bool { return owner == name }}
	}
	admin := searcher{name: "root", creds: aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}, sees: func(string) bool { return true }}
	everyone := []searcher{users["alice"], users["bob"], admin}

	work := t.TempDir()
	rclone := func(user string, args ...string) string {
		t.Helper()
		c := users[user].creds
		env := clientEnv(t, nil,
			"RCLONE_CONFIG_S3GATE_TYPE=s3",
			"RCLONE_CONFIG_S3GATE_PROVIDER=Other",
			"RCLONE_CONFIG_S3GATE_ENDPOINT="+s.S3URL,
			"RCLONE_CONFIG_S3GATE_ACCESS_KEY_ID="+c.AccessKeyID,
			"RCLONE_CONFIG_S3GATE_SECRET_ACCESS_KEY="+c.SecretAccessKey,
			"RCLONE_CONFIG_S3GATE_REGION=us-east-1",
			"RCLONE_CONFIG_S3GATE_FORCE_PATH_STYLE=true",
			// The buckets exist; users may not create buckets.
			"RCLONE_CONFIG_S3GATE_NO_CHECK_BUCKET=true",
		)
		return runTool(t, env, work, rcloneBin, append([]string{"--config", "/dev/null", "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	awsAs := func(user string, args ...string) string {
		t.Helper()
		c := users[user].creds
		env := clientEnv(t, nil, "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1")
		return runTool(t, env, work, awsBin, append([]string{"--endpoint-url", s.S3URL}, args...)...)
	}

	// 1. Both users upload the same tree to their bucket and their home.
	files := searchTree(t)
	src := filepath.Join(work, "tree")
	var local []treeFile
	for _, f := range files {
		local = append(local, treeFile{f.path, f.data})
	}
	writeTree(t, src, local)
	var model []searchObject
	for _, user := range []string{"alice", "bob"} {
		rclone(user, "copy", src, rcloneRemote+own[user])
		rclone(user, "copy", src, rcloneRemote+shared+"/home/"+user)
		for _, f := range files {
			model = append(model,
				searchObject{owner: user, bucket: own[user], key: f.path, file: f},
				searchObject{owner: user, bucket: shared, key: "home/" + user + "/" + f.path, file: f})
		}
	}
	// One tagged object each: alice's in her bucket, bob's in his home.
	tagged := map[string][2]string{"alice": {aliceBucket, "docs/readme.md"}, "bob": {shared, "home/bob/docs/readme.md"}}
	for user, o := range tagged {
		awsAs(user, "s3api", "put-object-tagging", "--bucket", o[0], "--key", o[1], "--tagging", "TagSet=[{Key=project,Value=nebula}]")
		for i := range model {
			if model[i].bucket == o[0] && model[i].key == o[1] {
				model[i].tags = map[string]string{"project": "nebula"}
			}
		}
	}

	all := searchCase{"everything", url.Values{}, func(searchObject) bool { return true }}
	tag := searchCase{"tag project=nebula", url.Values{"tag.project": {"nebula"}}, func(o searchObject) bool { return o.tags["project"] == "nebula" }}
	zorblax := searchCase{"plain text body word", url.Values{"q": {"zorblax"}}, bodyHas("zorblax")}
	quandrite := searchCase{"CSV body word", url.Values{"q": {"quandrite"}}, bodyHas("quandrite")}
	xenolithic := searchCase{"word of the overwrite", url.Values{"q": {"xenolithic"}}, bodyHas("xenolithic")}
	cases := []searchCase{
		all, tag, zorblax, quandrite, xenolithic,
		{"file-name word", url.Values{"q": {"budget"}}, func(o searchObject) bool { return strings.Contains(o.key, "Budget") }},
		{"camelCase file-name word", url.Values{"q": {"Final"}}, func(o searchObject) bool { return strings.Contains(o.key, "reportFinal") }},
		{"file-name word of a nested file", url.Values{"q": {"deepfile"}}, func(o searchObject) bool { return strings.HasSuffix(o.key, "deep/a/b/c/nested-deepfile.txt") }},
		{"directory word", url.Values{"q": {"images"}}, func(o searchObject) bool { return strings.Contains(o.key, "images/") }},
		{"Markdown body word", url.Values{"q": {"flumoxite"}}, bodyHas("flumoxite")},
		{"JSON body word", url.Values{"q": {"vexillum"}}, bodyHas("vexillum")},
		{"HTML text word", url.Values{"q": {"glimmerwort"}}, bodyHas("glimmerwort")},
		{"word only inside an HTML script", url.Values{"q": {"hiddenscriptzebu"}}, func(searchObject) bool { return false }},
		{"two words", url.Values{"q": {"zorblax protocol"}}, bodyHas("zorblax protocol")},
		{"tag value as a word", url.Values{"q": {"nebula"}}, func(o searchObject) bool { return o.tags["project"] == "nebula" }},
		{"tag and word", url.Values{"q": {"flumoxite"}, "tag.project": {"nebula"}}, func(o searchObject) bool { return o.tags["project"] == "nebula" }},
		{"content type image/png", url.Values{"content_type": {"image/png"}}, func(o searchObject) bool { return o.file.kind == "image/png" }},
		{"content type image/*", url.Values{"content_type": {"image/*"}}, func(o searchObject) bool { return o.file.kind == "image/png" }},
		{"content type text/html", url.Values{"content_type": {"text/html"}}, func(o searchObject) bool { return o.file.kind == "text/html" }},
		{"content type text/*", url.Values{"content_type": {"text/*"}}, func(o searchObject) bool { return strings.HasPrefix(o.file.kind, "text/") }},
		{"content type application/octet-stream", url.Values{"content_type": {"application/octet-stream"}}, func(o searchObject) bool { return o.file.kind == "application/octet-stream" }},
		{"word in alice's home", url.Values{"q": {"zorblax"}, "bucket": {shared}, "prefix": {"home/alice/"}},
			func(o searchObject) bool {
				return o.bucket == shared && strings.HasPrefix(o.key, "home/alice/") && bodyHas("zorblax")(o)
			}},
		{"bob's bucket", url.Values{"bucket": {bobBucket}}, func(o searchObject) bool { return o.bucket == bobBucket }},
	}
	checkAll := func() {
		t.Helper()
		for _, c := range cases {
			for _, who := range everyone {
				c.check(t, s, who, model)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// 2. Once everything is indexed, every query finds exactly what its
	// caller may read.
	start := time.Now()
	all.wait(t, s, admin, model)
	tag.wait(t, s, admin, model)
	t.Logf("%d objects indexed %v after the uploads and tagging", len(model), time.Since(start).Round(time.Millisecond))
	checkAll()
	res := s.search(t, users["alice"], url.Values{"q": {"zorblax"}})
	for _, h := range res.Hits {
		if !strings.Contains(strings.ToLower(h.Highlight), "<em>zorblax</em>") || h.Size != int64(len(files[0].data)) || h.ContentType != "text/plain" {
			t.Errorf("hit %s/%s: highlight %q, size %d, type %q", h.Bucket, h.Key, h.Highlight, h.Size, h.ContentType)
		}
	}

	// The CLI, as alice: a table, and JSON with filters.
	searchCLI := func(who searcher, args ...string) string {
		t.Helper()
		full := append([]string{"search"}, args...)
		full = append(full, "--admin-url", s.OpsURL, "--admin-access-key", who.creds.AccessKeyID, "--admin-secret-key", who.creds.SecretAccessKey)
		return runTool(t, clientEnv(t, nil), t.TempDir(), s3gateBinary(t), full...)
	}
	out := searchCLI(users["alice"], "find", "zorblax", "protocol")
	if !strings.Contains(out, aliceBucket) || !strings.Contains(out, "notes/plain.txt") || !strings.Contains(out, "home/alice/notes/plain.txt") ||
		strings.Contains(out, bobBucket) || strings.Contains(out, "home/bob/") || !strings.Contains(out, "2 of 2 matching objects") {
		t.Errorf("s3gate search find zorblax protocol as alice:\n%s", out)
	}
	out = searchCLI(users["alice"], "find", "--tag", "project=nebula", "--type", "text/*", "--bucket", aliceBucket, "--json")
	var cliRes searchResult
	if err := json.Unmarshal([]byte(out), &cliRes); err != nil {
		t.Fatalf("s3gate search find --json: %v\n%s", err, out)
	}
	if got := cliRes.hitNames(); !slices.Equal(got, []string{aliceBucket + "/docs/readme.md"}) || cliRes.Total != 1 {
		t.Errorf("s3gate search find --tag project=nebula --type text/* --bucket %s --json as alice: %q (total %d)", aliceBucket, got, cliRes.Total)
	}

	// 3. A delete and an overwrite reach the index.
	rclone("alice", "deletefile", rcloneRemote+aliceBucket+"/notes/plain.txt")
	model = slices.DeleteFunc(model, func(o searchObject) bool { return o.bucket == aliceBucket && o.key == "notes/plain.txt" })
	newTable := []byte("name,mineral,note\nrock,xenolithic,replaced\n")
	writeFile(t, filepath.Join(work, "table-v2.csv"), newTable)
	rclone("alice", "copyto", filepath.Join(work, "table-v2.csv"), rcloneRemote+aliceBucket+"/data/table.csv")
	for i := range model {
		if model[i].bucket == aliceBucket && model[i].key == "data/table.csv" {
			model[i].file.data = newTable
		}
	}
	zorblax.wait(t, s, users["alice"], model)    // the deleted file gone
	xenolithic.wait(t, s, users["alice"], model) // the overwrite found
	quandrite.wait(t, s, users["alice"], model)  // its old body gone
	checkAll()

	// 4. Reindexing is not for users; it changes no answer: alice's bucket
	// with the CLI, the shared bucket through the API.
	alice := &server{OpsURL: s.OpsURL, AccessKey: users["alice"].creds.AccessKeyID, SecretKey: users["alice"].creds.SecretAccessKey}
	if status, body := alice.admin(t, http.MethodPost, "/api/v1/search/reindex", map[string]string{"bucket": aliceBucket}); status != http.StatusForbidden {
		t.Errorf("POST /api/v1/search/reindex as alice: %d %s, want 403", status, body)
	}
	out = searchCLI(admin, "reindex", "--bucket", aliceBucket)
	if want := fmt.Sprintf("reindex %s: %d objects indexed, 0 documents", aliceBucket, len(files)-1); !strings.Contains(out, want) {
		t.Errorf("s3gate search reindex --bucket %s: want %q in\n%s", aliceBucket, want, out)
	}
	status, body := s.admin(t, http.MethodPost, "/api/v1/search/reindex", map[string]string{"bucket": shared})
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var last struct {
		Bucket  string `json:"bucket"`
		Indexed int64  `json:"indexed"`
		Removed int64  `json:"removed"`
		Done    bool   `json:"done"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); status != http.StatusOK || err != nil ||
		!last.Done || last.Error != "" || last.Indexed != int64(2*len(files)) || last.Removed != 0 {
		t.Errorf("POST /api/v1/search/reindex {bucket: shared}: %d %s (%v)", status, body, err)
	}
	checkAll()
}
