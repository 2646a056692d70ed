package s3

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/s3gate/s3gate/backends"
)

// loc is where a gateway bucket lives in the backend.
type loc struct {
	name   string // the gateway bucket
	bucket string // the backend bucket
	prefix string // prepended to every key; "" for a whole backend bucket
}

// key is the backend key of a gateway key.
func (l loc) key(k string) string { return l.prefix + k }

// prefixed reports whether the gateway bucket is a part of a backend
// bucket. Such a bucket exists while its marker, the empty object at the
// key prefix itself (the gateway key "", which no client can use), does.
func (l loc) prefixed() bool { return l.prefix != "" }

// marker is the key of a prefixed bucket's existence marker.
func (l loc) marker() string { return l.prefix }

// bucketMap resolves gateway bucket names.
type bucketMap struct {
	explicit map[string]Mapping
	// template is the "*" entry; {Bucket: "*"} (same name) by default.
	template Mapping
	// prefixes lists, per backend bucket, the prefixes of its explicit
	// mappings: no other gateway bucket may reach into them.
	prefixes map[string][]string
}

// errUnmapped: the name is no bucket this Store can reach.
var errUnmapped = errors.New("s3: bucket name is invalid or reserved")

func newBucketMap(m map[string]Mapping) (bucketMap, error) {
	bm := bucketMap{explicit: map[string]Mapping{}, template: Mapping{Bucket: "*"}, prefixes: map[string][]string{}}
	for name, mp := range m {
		if name == "*" {
			if strings.Count(mp.Bucket, "*") > 1 || strings.Count(mp.Prefix, "*") > 1 ||
				!strings.Contains(mp.Bucket+mp.Prefix, "*") {
				return bm, fmt.Errorf("s3: bucket mapping \"*\": one \"*\" in Bucket or Prefix (or one in each) stands for the gateway bucket")
			}
			// Distinct names must never give nested prefixes: "a" and
			// "ab" in "x/*" would. A "/" right after the name prevents
			// it, since bucket names have none.
			if i := strings.Index(mp.Prefix, "*"); i >= 0 && !strings.HasPrefix(mp.Prefix[i+1:], "/") {
				return bm, fmt.Errorf("s3: bucket mapping \"*\": the \"*\" in Prefix must be followed by \"/\"")
			}
			if mp.Bucket == "" {
				return bm, fmt.Errorf("s3: bucket mapping \"*\": Bucket is empty")
			}
			bm.template = mp
			continue
		}
		if !backends.ValidBucketName(name) {
			return bm, fmt.Errorf("s3: bucket mapping for %q: not a valid bucket name", name)
		}
		if mp.Bucket == "" || strings.Contains(mp.Bucket+mp.Prefix, "*") {
			return bm, fmt.Errorf("s3: bucket mapping for %q: Bucket must be set, and \"*\" is only for the \"*\" entry", name)
		}
		if !utf8.ValidString(mp.Prefix) || len(mp.Prefix) >= backends.MaxKeyLength {
			return bm, fmt.Errorf("s3: bucket mapping for %q: invalid Prefix", name)
		}
		for other, om := range bm.explicit {
			if om.Bucket == mp.Bucket && (strings.HasPrefix(om.Prefix, mp.Prefix) || strings.HasPrefix(mp.Prefix, om.Prefix)) {
				return bm, fmt.Errorf("s3: bucket mappings for %q and %q overlap in backend bucket %q", name, other, mp.Bucket)
			}
		}
		bm.explicit[name] = mp
		bm.prefixes[mp.Bucket] = append(bm.prefixes[mp.Bucket], mp.Prefix)
	}
	return bm, nil
}

// resolve finds a gateway bucket. It returns errUnmapped for a name that is
// not a valid bucket name or that would reach into another bucket's keys.
func (bm bucketMap) resolve(name string) (loc, error) {
	if !backends.ValidBucketName(name) {
		return loc{}, errUnmapped
	}
	if mp, ok := bm.explicit[name]; ok {
		return loc{name: name, bucket: mp.Bucket, prefix: mp.Prefix}, nil
	}
	l := loc{name: name,
		bucket: strings.Replace(bm.template.Bucket, "*", name, 1),
		prefix: strings.Replace(bm.template.Prefix, "*", name, 1)}
	if !backends.ValidBucketName(l.bucket) || len(l.prefix) >= backends.MaxKeyLength {
		return loc{}, errUnmapped
	}
	for _, p := range bm.prefixes[l.bucket] {
		if strings.HasPrefix(p, l.prefix) || strings.HasPrefix(l.prefix, p) {
			return loc{}, errUnmapped
		}
	}
	return l, nil
}

// resolveOr resolves name, turning errUnmapped into notFound.
func (s *Store) resolveOr(name string, notFound error) (loc, error) {
	l, err := s.buckets.resolve(name)
	if err != nil {
		return l, notFound
	}
	return l, nil
}

// bucket resolves a bucket that must exist: an unknown name is
// ErrNoSuchBucket.
func (s *Store) bucket(name string) (loc, error) { return s.resolveOr(name, backends.ErrNoSuchBucket) }
