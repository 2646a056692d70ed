package gateway

import (
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/policy"
	"github.com/s3gate/s3gate/processors/events"
)

// S3's limits on object tags.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// tagging is the Tagging document of Get/PutObjectTagging (and bucket
// tagging). Key and Value are lists so that a repeated one is refused.
type tagging struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  tagSet   `xml:"TagSet"`
}

type tagSet struct {
	Tags []tag `xml:"Tag"`
}

type tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// taggingIn is the request form of the Tagging document.
type taggingIn struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  []struct {
		Tags []struct {
			Key   []string `xml:"Key"`
			Value []string `xml:"Value"`
		} `xml:"Tag"`
	} `xml:"TagSet"`
}

var taggingLimits = xmlLimits{bytes: 64 << 10, depth: 4, elements: 3*maxBucketTags + 8}

// invalidTag is S3's InvalidTag error.
func invalidTag(msg string, args ...any) error {
	return s3Error("InvalidTag", append([]any{msg}, args...)...)
}

// checkTag applies S3's rules to one tag.
func checkTag(k, v string, seen map[string]string, limit int) error {
	switch {
	case k == "" || utf8.RuneCountInString(k) > maxTagKeyLen || !utf8.ValidString(k):
		return invalidTag("The TagKey you have provided is invalid")
	case utf8.RuneCountInString(v) > maxTagValueLen || !utf8.ValidString(v):
		return invalidTag("The TagValue you have provided is invalid")
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return invalidTag("Your TagKey cannot be prefixed with aws:")
	}
	if _, dup := seen[k]; dup {
		return invalidTag("Cannot provide multiple Tags with the same key")
	}
	seen[k] = v
	if len(seen) > limit {
		return invalidTag("Object tags cannot be greater than %d", limit)
	}
	return nil
}

// parseTaggingHeader reads x-amz-tagging (a URL query string, on PUT, POST
// and CreateMultipartUpload).
func parseTaggingHeader(h http.Header) (map[string]string, error) {
	raw, ok := h["X-Amz-Tagging"]
	if !ok {
		return nil, nil
	}
	tags := map[string]string{}
	if raw[0] == "" {
		return tags, nil
	}
	for _, pair := range strings.Split(raw[0], "&") {
		k, v, _ := strings.Cut(pair, "=")
		var err1, err2 error
		k, err1 = url.QueryUnescape(k)
		v, err2 = url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, invalidTag("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
		}
		if err := checkTag(k, v, tags, maxTags); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// readTagging reads and checks a Tagging request document.
func (g *Gateway) readTagging(r *http.Request) (map[string]string, error) {
	up, err := g.uploadBody(r, "")
	if err != nil {
		return nil, err
	}
	return parseTaggingDoc(up.body)
}

// parseTaggingDoc decodes and checks an object's Tagging document.
func parseTaggingDoc(body io.Reader) (map[string]string, error) {
	return parseTaggingDocLimit(body, maxTags)
}

// parseTaggingDocLimit decodes and checks a Tagging document of at most
// limit tags.
func parseTaggingDocLimit(body io.Reader, limit int) (map[string]string, error) {
	var doc taggingIn
	if err := readXML(body, taggingLimits, &doc); err != nil {
		return nil, err
	}
	if len(doc.TagSet) != 1 {
		return nil, s3Error("MalformedXML")
	}
	tags := map[string]string{}
	for _, t := range doc.TagSet[0].Tags {
		if len(t.Key) != 1 || len(t.Value) != 1 {
			return nil, s3Error("MalformedXML")
		}
		if err := checkTag(t.Key[0], t.Value[0], tags, limit); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// writeTagging renders tags, sorted by key for a stable answer.
func writeTagging(w http.ResponseWriter, tags map[string]string) {
	doc := tagging{}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		doc.TagSet.Tags = append(doc.TagSet.Tags, tag{Key: k, Value: tags[k]})
	}
	writeXML(w, http.StatusOK, &doc)
}

// getObjectTagging is GetObjectTagging.
func (g *Gateway) getObjectTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	tags, err := g.backend.GetObjectTagging(r.Context(), st.bucket, st.key)
	if err != nil {
		return err
	}
	writeTagging(w, tags)
	return nil
}

// putObjectTagging is PutObjectTagging.
func (g *Gateway) putObjectTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	tags, err := g.readTagging(r)
	if err != nil {
		return err
	}
	if err := g.authorizeBody(r, func(in *policy.Input) { in.Request.Tags = tags }); err != nil {
		return err
	}
	_, err = g.mutate(r, events.ObjectTaggingPut, st.key, "", func() (backends.ObjectInfo, error) {
		return backends.ObjectInfo{}, g.backend.PutObjectTagging(r.Context(), st.bucket, st.key, tags)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteObjectTagging is DeleteObjectTagging.
func (g *Gateway) deleteObjectTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	_, err := g.mutate(r, events.ObjectTaggingDelete, st.key, "", func() (backends.ObjectInfo, error) {
		return backends.ObjectInfo{}, g.backend.PutObjectTagging(r.Context(), st.bucket, st.key, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxBucketTags is S3's limit on a bucket's tags.
const maxBucketTags = 50

// putBucketTagging is PutBucketTagging.
func (g *Gateway) putBucketTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	up, err := g.uploadBody(r, "")
	if err != nil {
		return err
	}
	tags, err := parseTaggingDocLimit(up.body, maxBucketTags)
	if err != nil {
		return err
	}
	if err := g.catalog.PutBucketTagging(r.Context(), st.bucket, tags); err != nil {
		return catalogError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketTagging is GetBucketTagging.
func (g *Gateway) getBucketTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	tags, err := g.catalog.GetBucketTagging(r.Context(), st.bucket)
	if err != nil {
		return catalogError(err)
	}
	writeTagging(w, tags)
	return nil
}

// deleteBucketTagging is DeleteBucketTagging.
func (g *Gateway) deleteBucketTagging(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	if err := g.catalog.DeleteBucketTagging(r.Context(), st.bucket); err != nil && !errors.Is(err, catalog.ErrNoSuchTagSet) {
		return catalogError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
