package policy

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// normalize fills what the contract promises policies: the input version,
// roles and groups as arrays (never null), and the request time in UTC
// truncated to the second (now when unset). Truncation is what lets a
// cached decision stand for every request of the same second.
func normalize(in *Input) {
	if in.Version == 0 {
		in.Version = InputVersion
	}
	normalizePrincipal(&in.Principal)
	t := in.Request.Time
	if t.IsZero() {
		t = time.Now()
	}
	in.Request.Time = t.UTC().Truncate(time.Second)
}

func normalizePrincipal(p *Principal) {
	if p.Roles == nil {
		p.Roles = []string{}
	}
	if p.Groups == nil {
		p.Groups = []string{}
	}
}

// fields is the part of the input document a policy reads, found by
// readFields: a field is in it when some reference of the policy reaches
// it, with everything under it.
type fields struct {
	all bool
	sub map[string]*fields
}

var allFields = &fields{all: true}

// get returns what is read of field name, nil when nothing is.
func (f *fields) get(name string) *fields {
	if f == nil {
		return nil
	}
	if f.all {
		return allFields
	}
	return f.sub[name]
}

// add marks path, and everything under it, as read.
func (f *fields) add(path []string) {
	n := f
	for _, p := range path {
		if n.all {
			return
		}
		if n.sub == nil {
			n.sub = map[string]*fields{}
		}
		c, ok := n.sub[p]
		if !ok {
			c = &fields{}
			n.sub[p] = c
		}
		n = c
	}
	n.all, n.sub = true, nil
}

// Keys of the input document, made once.
var (
	kVersion       = ast.StringTerm("version")
	kPrincipal     = ast.StringTerm("principal")
	kAction        = ast.StringTerm("action")
	kResource      = ast.StringTerm("resource")
	kRequest       = ast.StringTerm("request")
	kID            = ast.StringTerm("id")
	kDisplayName   = ast.StringTerm("display_name")
	kRoles         = ast.StringTerm("roles")
	kGroups        = ast.StringTerm("groups")
	kClaims        = ast.StringTerm("claims")
	kAuth          = ast.StringTerm("auth")
	kBucket        = ast.StringTerm("bucket")
	kKey           = ast.StringTerm("key")
	kARN           = ast.StringTerm("arn")
	kMethod        = ast.StringTerm("method")
	kSourceIP      = ast.StringTerm("source_ip")
	kTime          = ast.StringTerm("time")
	kContentType   = ast.StringTerm("content_type")
	kContentLength = ast.StringTerm("content_length")
	kPrefix        = ast.StringTerm("prefix")
	kDelimiter     = ast.StringTerm("delimiter")
	kCopySource    = ast.StringTerm("copy_source")
	kTags          = ast.StringTerm("tags")
	kExistingTags  = ast.StringTerm("existing_tags")
)

// inputValue builds the input document straight as an OPA value, with only
// the fields the policy reads (need): each as the JSON of in has it
// (TestInputValueIsTheJSONOfInput), without the encoding and decoding that
// passing a Go value would cost on every decision.
func inputValue(in *Input, need *fields) (ast.Object, error) {
	o := ast.NewObjectWithCapacity(5)
	if need.get("version") != nil {
		o.Insert(kVersion, ast.InternedTerm(in.Version))
	}
	if n := need.get("principal"); n != nil {
		p, err := principalValue(&in.Principal, n)
		if err != nil {
			return nil, err
		}
		o.Insert(kPrincipal, ast.NewTerm(p))
	}
	if need.get("action") != nil {
		o.Insert(kAction, ast.StringTerm(in.Action))
	}
	if n := need.get("resource"); n != nil {
		res := ast.NewObjectWithCapacity(3)
		optString(res, n, kBucket, in.Resource.Bucket)
		optString(res, n, kKey, in.Resource.Key)
		if n.get("arn") != nil {
			res.Insert(kARN, ast.StringTerm(in.Resource.ARN))
		}
		o.Insert(kResource, ast.NewTerm(res))
	}
	if n := need.get("request"); n != nil {
		r := &in.Request
		req := ast.NewObjectWithCapacity(4)
		if n.get("method") != nil {
			req.Insert(kMethod, ast.StringTerm(r.Method))
		}
		if n.get("source_ip") != nil {
			req.Insert(kSourceIP, ast.StringTerm(r.SourceIP))
		}
		if n.get("time") != nil {
			req.Insert(kTime, ast.StringTerm(r.Time.Format(time.RFC3339Nano)))
		}
		optString(req, n, kContentType, r.ContentType)
		if r.ContentLength != 0 && n.get("content_length") != nil {
			req.Insert(kContentLength, ast.InternedTerm(r.ContentLength))
		}
		optString(req, n, kPrefix, r.Prefix)
		optString(req, n, kDelimiter, r.Delimiter)
		optString(req, n, kCopySource, r.CopySource)
		if len(r.Tags) > 0 && n.get("tags") != nil {
			req.Insert(kTags, ast.NewTerm(stringMap(r.Tags)))
		}
		if len(r.ExistingTags) > 0 && n.get("existing_tags") != nil {
			req.Insert(kExistingTags, ast.NewTerm(stringMap(r.ExistingTags)))
		}
		o.Insert(kRequest, ast.NewTerm(req))
	}
	return o, nil
}

func principalValue(p *Principal, need *fields) (ast.Object, error) {
	o := ast.NewObjectWithCapacity(6)
	if need.get("id") != nil {
		o.Insert(kID, ast.StringTerm(p.ID))
	}
	optString(o, need, kDisplayName, p.DisplayName)
	if need.get("roles") != nil {
		o.Insert(kRoles, stringArray(p.Roles))
	}
	if need.get("groups") != nil {
		o.Insert(kGroups, stringArray(p.Groups))
	}
	if len(p.Claims) > 0 && need.get("claims") != nil {
		c, err := claimsValue(p.Claims)
		if err != nil {
			return nil, err
		}
		o.Insert(kClaims, ast.NewTerm(c))
	}
	if need.get("auth") != nil {
		o.Insert(kAuth, ast.StringTerm(p.Auth))
	}
	return o, nil
}

// claimsValue converts claims as their JSON reads, so that a claim of any
// Go type (an int, a json.Number, a struct) is what the policy would see in
// the JSON input.
func claimsValue(c map[string]any) (ast.Value, error) {
	if v, err := ast.InterfaceToValue(c); err == nil {
		return v, nil
	}
	var x any
	b, err := json.Marshal(c)
	if err == nil {
		err = json.Unmarshal(b, &x)
	}
	if err != nil {
		return nil, fmt.Errorf("policy: encode claims: %w", err)
	}
	return ast.InterfaceToValue(x)
}

// optString sets a field that JSON omits when empty.
func optString(o ast.Object, need *fields, k *ast.Term, v string) {
	if v != "" && need.get(string(k.Value.(ast.String))) != nil {
		o.Insert(k, ast.StringTerm(v))
	}
}

func stringArray(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

func stringMap(m map[string]string) ast.Object {
	o := ast.NewObjectWithCapacity(len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		o.Insert(ast.StringTerm(k), ast.StringTerm(m[k]))
	}
	return o
}

// cacheKey is the SHA-256 of the canonical JSON of the input document a
// policy sees (the fields it reads, time included only when it reads it),
// followed, for a policy calling time.now_ns, by the request time it is
// pinned to, and by kind, which keeps decisions and readable answers apart.
func cacheKey(kind byte, v ast.Value, now *time.Time) [sha256.Size]byte {
	b := make([]byte, 0, 256)
	b = appendCanonical(b, v)
	if now != nil {
		b = now.AppendFormat(b, time.RFC3339)
	}
	return sha256.Sum256(append(b, kind))
}

// appendCanonical writes v as JSON with object keys and set members in
// order, so that equal documents have equal encodings.
func appendCanonical(b []byte, v ast.Value) []byte {
	switch v := v.(type) {
	case ast.Null:
		return append(b, "null"...)
	case ast.Boolean:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case ast.Number:
		return append(b, v...)
	case ast.String:
		return appendJSONString(b, string(v))
	case *ast.Array:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, v.Elem(i).Value)
		}
		return append(b, ']')
	case ast.Set:
		return appendCanonical(b, v.Sorted())
	case ast.Object:
		b = append(b, '{')
		for i, k := range v.Keys() { // sorted
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, k.Value)
			b = append(b, ':')
			b = appendCanonical(b, v.Get(k).Value)
		}
		return append(b, '}')
	}
	// Input documents hold only JSON values.
	return append(b, v.String()...)
}

// appendJSONString quotes s as JSON does (bytes that are not UTF-8 are
// kept as they are, which keeps the encoding one to one).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			j := i + 1
			for j < len(s) && s[j] >= utf8.RuneSelf {
				j++
			}
			b = append(b, s[i:j]...)
			i = j
			continue
		}
		i++
	}
	return append(b, '"')
}

// String lists the fields read, for the log: "action,principal{roles}".
func (f *fields) String() string {
	if f.all {
		return "*"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f.sub)) {
		c := f.sub[k]
		if c.all {
			parts = append(parts, k)
		} else {
			parts = append(parts, k+"{"+c.String()+"}")
		}
	}
	return strings.Join(parts, ",")
}
