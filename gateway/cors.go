package gateway

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/catalog"
)

// S3's limits on a bucket's CORS configuration.
const maxCORSRules = 100

var corsMethods = []string{"GET", "PUT", "POST", "DELETE", "HEAD"}

// corsConfiguration is the CORSConfiguration document of
// Put/GetBucketCors.
type corsConfiguration struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
}

type corsConfigurationIn struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
}

type corsRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

var corsLimits = xmlLimits{bytes: 64 << 10, depth: 3, elements: maxCORSRules*32 + 8}

// putBucketCors is PutBucketCors.
func (g *Gateway) putBucketCors(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	up, err := g.uploadBody(r, "")
	if err != nil {
		return err
	}
	var doc corsConfigurationIn
	if err := readXML(up.body, corsLimits, &doc); err != nil {
		return err
	}
	if len(doc.Rules) == 0 || len(doc.Rules) > maxCORSRules {
		return s3Error("MalformedXML")
	}
	rules := make([]catalog.CORSRule, len(doc.Rules))
	for i, cr := range doc.Rules {
		if len(cr.AllowedOrigins) == 0 || len(cr.AllowedMethods) == 0 {
			return s3Error("MalformedXML")
		}
		for _, m := range cr.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return s3Error("InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range cr.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return s3Error("InvalidRequest", "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range cr.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return s3Error("InvalidRequest", "AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
		rules[i] = catalog.CORSRule{ID: cr.ID, AllowedOrigins: cr.AllowedOrigins, AllowedMethods: cr.AllowedMethods,
			AllowedHeaders: cr.AllowedHeaders, ExposeHeaders: cr.ExposeHeaders, MaxAgeSeconds: -1}
		if cr.MaxAgeSeconds != nil {
			rules[i].MaxAgeSeconds = *cr.MaxAgeSeconds
		}
	}
	if err := g.catalog.PutBucketCORS(r.Context(), st.bucket, rules); err != nil {
		return catalogError(err)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketCors is GetBucketCors.
func (g *Gateway) getBucketCors(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	rules, err := g.catalog.GetBucketCORS(r.Context(), st.bucket)
	if err != nil {
		return catalogError(err)
	}
	doc := corsConfiguration{}
	for _, cr := range rules {
		out := corsRule{ID: cr.ID, AllowedOrigins: cr.AllowedOrigins, AllowedMethods: cr.AllowedMethods,
			AllowedHeaders: cr.AllowedHeaders, ExposeHeaders: cr.ExposeHeaders}
		if cr.MaxAgeSeconds >= 0 {
			age := cr.MaxAgeSeconds
			out.MaxAgeSeconds = &age
		}
		doc.Rules = append(doc.Rules, out)
	}
	writeXML(w, http.StatusOK, &doc)
	return nil
}

// deleteBucketCors is DeleteBucketCors: 204 with or without rules.
func (g *Gateway) deleteBucketCors(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.bucketExists(r); err != nil {
		return err
	}
	if err := g.catalog.DeleteBucketCORS(r.Context(), st.bucket); err != nil && !errors.Is(err, catalog.ErrNoSuchCORSConfiguration) {
		return catalogError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wildcardMatch matches s against a pattern with at most one "*" that
// stands for any run of characters.
func wildcardMatch(pattern, s string) bool {
	before, after, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// matchCORS finds the first rule that allows origin, method and every one
// of headers (lower case), as S3 evaluates them.
func matchCORS(rules []catalog.CORSRule, origin, method string, headers []string) (catalog.CORSRule, bool) {
	for _, rule := range rules {
		if !slices.ContainsFunc(rule.AllowedOrigins, func(p string) bool { return wildcardMatch(p, origin) }) ||
			!slices.Contains(rule.AllowedMethods, method) {
			continue
		}
		allowed := true
		for _, h := range headers {
			if !slices.ContainsFunc(rule.AllowedHeaders, func(p string) bool { return wildcardMatch(strings.ToLower(p), h) }) {
				allowed = false
				break
			}
		}
		if allowed {
			return rule, true
		}
	}
	return catalog.CORSRule{}, false
}

// setCORSHeaders adds the Access-Control-* headers of a matched rule.
func setCORSHeaders(h http.Header, rule catalog.CORSRule, origin string) {
	if slices.Contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds >= 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
	h.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
}

// preflight answers a CORS preflight (OPTIONS) from the bucket's rules,
// without credentials, as browsers send none.
func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return s3Error("BadRequest", "Insufficient information. Origin request header needed.")
	}
	if _, err := g.backend.HeadBucket(r.Context(), st.bucket); err != nil {
		return err
	}
	rules, err := g.catalog.GetBucketCORS(r.Context(), st.bucket)
	if err != nil && !errors.Is(err, catalog.ErrNoSuchCORSConfiguration) {
		return catalogError(err)
	}
	var headers []string
	for _, v := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			headers = append(headers, v)
		}
	}
	rule, ok := matchCORS(rules, origin, method, headers)
	if !ok {
		return s3Error("AccessForbidden", "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
	}
	h := w.Header()
	setCORSHeaders(h, rule, origin)
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// applyCORS adds the Access-Control-* headers to the answer of a request
// from a browser page (one with an Origin header) when a rule of the bucket
// allows it. It runs before the handler, so errors carry them too.
func (g *Gateway) applyCORS(w http.ResponseWriter, r *http.Request) {
	st := requestState(r.Context())
	origin := r.Header.Get("Origin")
	if origin == "" || st.bucket == "" || g.catalog == nil {
		return
	}
	rules, err := g.catalog.GetBucketCORS(r.Context(), st.bucket)
	if err != nil {
		return
	}
	if rule, ok := matchCORS(rules, origin, r.Method, nil); ok {
		setCORSHeaders(w.Header(), rule, origin)
	}
}
