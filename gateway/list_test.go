package gateway

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

type listResult struct {
	IsTruncated           bool
	NextMarker            string
	NextContinuationToken string
	KeyCount              int
	MaxKeys               int
	EncodingType          string
	Prefix                string
	Contents              []struct {
		Key               string
		ETag              string
		Size              int64
		Owner             *struct{ ID string }
		ChecksumAlgorithm string
	}
	CommonPrefixes []struct{ Prefix string }
}

func (e *env) listPage(bucket, q string) listResult {
	e.t.Helper()
	var r listResult
	b := expectStatus(e.t, e.do(req{path: "/" + bucket + "?" + q}), 200)
	if err := xml.Unmarshal(b, &r); err != nil {
		e.t.Fatalf("%s: %v", b, err)
	}
	return r
}

// model lists keys as S3 does: sorted, filtered by prefix, rolled up at
// the delimiter.
func model(keys []string, prefix, delim string) []string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var out []string
	seen := map[string]bool{}
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if !seen[cp] {
					seen[cp] = true
					out = append(out, "P:"+cp)
				}
				continue
			}
		}
		out = append(out, "K:"+k)
	}
	return out
}

func TestListingPagesMatchModel(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("lst")
	keys := []string{"a", "a-b", "a/b", "a/c/d", "a/", "a0", "b/x", "b/y/z", "c", "photos/2024/x.jpg", "photos/2025/y.jpg", "sp ace/k", "ünï/k"}
	for _, k := range keys {
		expectStatus(t, e.put("lst", k, []byte(k), nil), 200)
	}
	for _, prefix := range []string{"", "a", "a/", "photos/", "zzz"} {
		for _, delim := range []string{"", "/", "-"} {
			want := model(keys, prefix, delim)
			for _, maxKeys := range []int{1, 2, 3, 1000} {
				for _, version := range []string{"v1", "v2"} {
					var got []string
					token, marker := "", ""
					for page := 0; page < 50; page++ {
						q := url.Values{"prefix": {prefix}, "delimiter": {delim}, "max-keys": {fmt.Sprint(maxKeys)}}
						if version == "v2" {
							q.Set("list-type", "2")
							if token != "" {
								q.Set("continuation-token", token)
							}
						} else if marker != "" {
							q.Set("marker", marker)
						}
						r := e.listPage("lst", strings.ReplaceAll(q.Encode(), "+", "%20"))
						if n := len(r.Contents) + len(r.CommonPrefixes); n > maxKeys {
							t.Fatalf("%s page of %d for max-keys %d", version, n, maxKeys)
						}
						if version == "v2" && r.KeyCount != len(r.Contents)+len(r.CommonPrefixes) {
							t.Fatalf("KeyCount %d", r.KeyCount)
						}
						for _, c := range r.Contents {
							got = append(got, "K:"+c.Key)
						}
						for _, p := range r.CommonPrefixes {
							got = append(got, "P:"+p.Prefix)
						}
						if !r.IsTruncated {
							break
						}
						token, marker = r.NextContinuationToken, r.NextMarker
						if token == "" && marker == "" {
							t.Fatalf("%s truncated without a way on", version)
						}
					}
					// Within a page S3 lists keys and prefixes separately;
					// compare as sorted sets plus the page order checks above.
					sort.Strings(got)
					w := append([]string(nil), want...)
					sort.Strings(w)
					if strings.Join(got, "|") != strings.Join(w, "|") {
						t.Fatalf("%s prefix=%q delim=%q max=%d:\n got %v\nwant %v", version, prefix, delim, maxKeys, got, w)
					}
				}
			}
		}
	}
}

func TestListingDetails(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("det")
	for _, k := range []string{"x y+z", "x/1", "x/2"} {
		expectStatus(t, e.put("det", k, []byte("v"), nil), 200)
	}
	r := e.listPage("det", "list-type=2&max-keys=0")
	if r.IsTruncated || len(r.Contents) != 0 || r.MaxKeys != 0 {
		t.Fatalf("max-keys=0: %+v", r)
	}
	r = e.listPage("det", "list-type=2&encoding-type=url&prefix=x%20")
	if r.EncodingType != "url" || len(r.Contents) != 1 || r.Contents[0].Key != "x%20y%2Bz" || r.Prefix != "x%20" {
		t.Fatalf("encoding-type=url: %+v", r)
	}
	r = e.listPage("det", "list-type=2")
	if r.Contents[0].Owner != nil {
		t.Fatal("v2 lists owners without fetch-owner")
	}
	if r.Contents[0].ETag != `"`+md5hex("v")+`"` || r.Contents[0].Size != 1 {
		t.Fatalf("entry: %+v", r.Contents[0])
	}
	r = e.listPage("det", "list-type=2&fetch-owner=true")
	if r.Contents[0].Owner == nil || r.Contents[0].Owner.ID != "root" {
		t.Fatal("fetch-owner=true without owner")
	}
	if r = e.listPage("det", ""); r.Contents[0].Owner == nil {
		t.Fatal("v1 lists without owners")
	}
	// start-after applies when there is no token.
	r = e.listPage("det", "list-type=2&start-after=x%2F1")
	if len(r.Contents) != 1 || r.Contents[0].Key != "x/2" {
		t.Fatalf("start-after: %+v", r)
	}
	expectError(t, e.do(req{path: "/det?list-type=2&continuation-token=%21%21%21"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/det?max-keys=-1"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/det?max-keys=abc"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/det?encoding-type=base64"}), 400, "InvalidArgument")
	expectError(t, e.do(req{path: "/nosuch?list-type=2"}), 404, "NoSuchBucket")
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("dob")
	for _, k := range []string{"a", "b", "c & d"} {
		expectStatus(t, e.put("dob", k, []byte("v"), nil), 200)
	}
	doc := `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object><Object><Key>c &amp; d</Key></Object><Object><Key>missing</Key></Object></Delete>`
	b := expectStatus(t, e.do(req{method: "POST", path: "/dob?delete", body: []byte(doc)}), 200)
	var res struct {
		Deleted []struct{ Key string }
		Error   []struct{ Key, Code string }
	}
	if err := xml.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 3 || len(res.Error) != 0 {
		t.Fatalf("result: %s", b)
	}
	if e.get("dob", "a") != nil || e.get("dob", "c & d") != nil || e.get("dob", "b") == nil {
		t.Fatal("wrong objects deleted")
	}
	quiet := `<Delete><Quiet>true</Quiet><Object><Key>b</Key></Object></Delete>`
	b = expectStatus(t, e.do(req{method: "POST", path: "/dob?delete", body: []byte(quiet)}), 200)
	if strings.Contains(string(b), "<Deleted>") {
		t.Fatalf("quiet mode listed deletions: %s", b)
	}
	errs := []struct{ name, body, code string }{
		{"malformed", "<Delete><Object><Key>a</Key>", "MalformedXML"},
		{"empty", "<Delete></Delete>", "MalformedXML"},
		{"not xml", "hello", "MalformedXML"},
		{"no key", "<Delete><Object></Object></Delete>", "MalformedXML"},
		{"too many", "<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 1001) + "</Delete>", "MalformedXML"},
		{"bad quiet", "<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>", "MalformedXML"},
		{"oversized", "<Delete>" + strings.Repeat(" ", maxXMLBody+1) + "</Delete>", "MaxMessageLengthExceeded"},
	}
	expectStatus(t, e.put("dob", "k", []byte("v"), nil), 200)
	for _, c := range errs {
		resp := e.do(req{method: "POST", path: "/dob?delete", body: []byte(c.body)})
		expectError(t, resp, 400, c.code)
		if e.get("dob", "k") == nil {
			t.Fatalf("%s: deleted an object", c.name)
		}
	}
	// A body whose signed hash does not match deletes nothing.
	doc = `<Delete><Object><Key>k</Key></Object></Delete>`
	expectError(t, e.do(req{method: "POST", path: "/dob?delete", body: []byte(doc), payloadHash: strings.Repeat("0", 64)}), 400, "XAmzContentSHA256Mismatch")
	if e.get("dob", "k") == nil {
		t.Fatal("tampered DeleteObjects deleted an object")
	}
	expectError(t, e.do(req{method: "POST", path: "/nosuch?delete", body: []byte(doc)}), 404, "NoSuchBucket")
}
