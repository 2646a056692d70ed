package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/s3gate/s3gate/backends"
)

// Location says where variants are stored. The variant of preset NAME of
// bucket/key is
//
//	bucket   PREFIX key/NAME.EXT    with a reserved prefix (Bucket empty)
//	Bucket   bucket/key/NAME.EXT    in a bucket of their own
//
// Both are one-to-one: a variant key ends in "/NAME.EXT" and preset names
// hold no "/", so cutting the last segment gives back the original. An
// original whose variant keys would pass S3's key length gets none.
type Location struct {
	// Bucket keeps every variant in this bucket; empty keeps them in the
	// original's bucket under Prefix.
	Bucket string
	// Prefix is the reserved prefix, ending in "/"; the gateway hides it.
	Prefix string
}

func (l Location) validate() error {
	if l.Bucket != "" {
		if !backends.ValidBucketName(l.Bucket) {
			return fmt.Errorf("image: variants bucket %q is not a valid bucket name", l.Bucket)
		}
		return nil
	}
	if l.Prefix == "" || !strings.HasSuffix(l.Prefix, "/") || strings.HasPrefix(l.Prefix, "/") {
		return fmt.Errorf("image: variants prefix %q must be a non-empty key prefix ending in / (like .variants/)", l.Prefix)
	}
	return nil
}

// maxNameExt is the longest "NAME.EXT" of a preset.
const maxNameExt = 32 + 4

// dir returns the bucket and key prefix of bucket/key's variants.
func (l Location) dir(bucket, key string) (string, string, error) {
	vb, dir := bucket, l.Prefix+key+"/"
	if l.Bucket != "" {
		vb, dir = l.Bucket, bucket+"/"+key+"/"
	}
	if len(dir)+maxNameExt > backends.MaxKeyLength {
		return "", "", fmt.Errorf("image: key %q is too long for its variants' keys", key)
	}
	return vb, dir, nil
}

// variant returns where preset ps's variant of bucket/key is stored.
func (l Location) variant(bucket, key string, ps Preset) (string, string, error) {
	vb, dir, err := l.dir(bucket, key)
	return vb, dir + ps.Name + ps.ext(), err
}

// holds reports whether bucket/key is where variants are stored.
func (l Location) holds(bucket, key string) bool {
	if l.Bucket != "" {
		return bucket == l.Bucket
	}
	return strings.HasPrefix(key, l.Prefix)
}

var variantNameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}\.(jpg|png)$`)

// isVariantName reports whether a key's last segment is a variant's
// NAME.EXT.
func isVariantName(last string) bool { return variantNameRE.MatchString(last) }
