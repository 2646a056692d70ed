package gateway

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/catalog"
	"github.com/s3gate/s3gate/identity"
)

// validBucketName applies S3's naming rules for new buckets: the ones
// every backend checks (backends.ValidBucketName), and no period next to a
// hyphen.
func validBucketName(name string) bool {
	return backends.ValidBucketName(name) && !strings.Contains(name, ".-") && !strings.Contains(name, "-.")
}

// createBucketConfiguration is CreateBucket's optional document; the
// constraint is a list so that a repeated one is refused.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint []string `xml:"LocationConstraint"`
}

// createBucket is CreateBucket.
func (g *Gateway) createBucket(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if !validBucketName(st.bucket) {
		return s3Error("InvalidBucketName").with("BucketName", st.bucket)
	}
	if r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled") == "true" {
		return s3Error("NotImplemented", "Object Lock is not supported yet.")
	}
	if r.ContentLength != 0 {
		up, err := g.uploadBody(r, "")
		if err != nil {
			return err
		}
		var cfg createBucketConfiguration
		if err := readXML(up.body, bucketConfigLimits, &cfg); err != nil {
			return err
		}
		if len(cfg.LocationConstraint) > 1 {
			return s3Error("MalformedXML")
		}
		lc := strings.Join(cfg.LocationConstraint, "")
		if lc == "us-east-1" && g.opts.Region == "us-east-1" {
			// S3's us-east-1 takes no constraint, not even its own name.
			return s3Error("InvalidLocationConstraint").with("LocationConstraint", lc)
		}
		if lc != "" && lc != g.opts.Region {
			return s3Error("IllegalLocationConstraintException",
				"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", lc)
		}
	}
	// The catalogue decides who gets the name, across every replica; the
	// backend then makes the bucket (or already has it).
	rec := catalog.Bucket{Name: st.bucket, Created: g.now()}
	if st.principal != nil {
		rec.OwnerID, rec.OwnerName = st.principal.ID, st.principal.DisplayName
	}
	if err := g.catalog.CreateBucket(r.Context(), rec); err != nil {
		if errors.Is(err, catalog.ErrBucketExists) {
			if cur, gerr := g.catalog.GetBucket(r.Context(), st.bucket); gerr == nil && cur.OwnerID != rec.OwnerID {
				return s3Error("BucketAlreadyExists").with("BucketName", st.bucket)
			}
		}
		return catalogError(err)
	}
	if err := g.backend.CreateBucket(r.Context(), st.bucket); err != nil && !errors.Is(err, backends.ErrBucketExists) {
		if derr := g.catalog.DeleteBucket(context.WithoutCancel(r.Context()), st.bucket); derr != nil {
			g.log.ErrorContext(r.Context(), "rolling back a bucket record", "bucket", st.bucket, "err", derr)
		}
		return err
	}
	w.Header().Set("Location", "/"+st.bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket is DeleteBucket.
func (g *Gateway) deleteBucket(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if err := g.backend.DeleteBucket(r.Context(), st.bucket); err != nil {
		return err
	}
	if err := g.catalog.DeleteBucket(r.Context(), st.bucket); err != nil && !errors.Is(err, catalog.ErrNoSuchBucket) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AdoptBuckets records in the catalogue every bucket the backend holds and
// the catalogue does not know (a data directory from before the catalogue,
// say), owned by owner. It returns how many it adopted.
func (g *Gateway) AdoptBuckets(ctx context.Context, owner identity.Principal) (int, error) {
	have, err := g.backend.ListBuckets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range have {
		_, err := g.catalog.GetBucket(ctx, b.Name)
		if err == nil {
			continue
		}
		if !errors.Is(err, catalog.ErrNoSuchBucket) {
			return n, err
		}
		err = g.catalog.CreateBucket(ctx, catalog.Bucket{Name: b.Name, OwnerID: owner.ID, OwnerName: owner.DisplayName, Created: b.Created})
		if err != nil && !errors.Is(err, catalog.ErrBucketExists) {
			return n, err
		}
		n++
	}
	return n, nil
}

// headBucket is HeadBucket.
func (g *Gateway) headBucket(w http.ResponseWriter, r *http.Request) error {
	st := requestState(r.Context())
	if _, err := g.backend.HeadBucket(r.Context(), st.bucket); err != nil {
		return err
	}
	w.Header().Set("x-amz-bucket-region", g.opts.Region)
	w.WriteHeader(http.StatusOK)
	return nil
}

type listAllMyBucketsResult struct {
	XMLName           xml.Name     `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             owner        `xml:"Owner"`
	Buckets           []bucketInfo `xml:"Buckets>Bucket"`
	ContinuationToken string       `xml:"ContinuationToken,omitempty"`
	Prefix            string       `xml:"Prefix,omitempty"`
}

type bucketInfo struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion"`
}

// listBuckets is ListBuckets, with the optional prefix, max-buckets and
// continuation-token paging.
func (g *Gateway) listBuckets(w http.ResponseWriter, r *http.Request) error {
	qs := query(r)
	max := 10000
	if v := qs.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return s3Error("InvalidArgument", "max-buckets must be an integer between 1 and 10000").
				with("ArgumentName", "max-buckets").with("ArgumentValue", v)
		}
		max = n
	}
	after := ""
	if tok := qs.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return s3Error("InvalidArgument", "The continuation token provided is incorrect").
				with("ArgumentName", "continuation-token")
		}
		after = string(b)
	}
	prefix := qs.Get("prefix")
	buckets, err := g.catalog.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].Name < buckets[j].Name })
	visible, err := g.bucketFilter(r)
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{Owner: g.owner(r), Prefix: prefix, Buckets: []bucketInfo{}}
	for _, b := range buckets {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) || !visible(b.Name) {
			continue
		}
		if len(res.Buckets) == max {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketInfo{Name: b.Name, CreationDate: s3Time(b.Created), BucketRegion: g.opts.Region})
	}
	writeXML(w, http.StatusOK, &res)
	return nil
}

// owner is the Owner element for the caller. Until buckets record their
// owners, the authenticated principal is shown as the owner.
func (g *Gateway) owner(r *http.Request) owner {
	st := requestState(r.Context())
	if st.principal == nil {
		return owner{}
	}
	return owner{ID: st.principal.ID, DisplayName: st.principal.DisplayName}
}

type locationConstraint struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Location string   `xml:",chardata"`
}

// getBucketLocation is GetBucketLocation; us-east-1 is the empty
// constraint, as S3 answers.
func (g *Gateway) getBucketLocation(w http.ResponseWriter, r *http.Request) error {
	if err := g.bucketExists(r); err != nil {
		return err
	}
	loc := g.opts.Region
	if loc == "us-east-1" {
		loc = ""
	}
	writeXML(w, http.StatusOK, &locationConstraint{Location: loc})
	return nil
}

func (g *Gateway) bucketExists(r *http.Request) error {
	_, err := g.backend.HeadBucket(r.Context(), requestState(r.Context()).bucket)
	return err
}

func (g *Gateway) objectExists(r *http.Request) error {
	st := requestState(r.Context())
	_, err := g.backend.HeadObject(r.Context(), st.bucket, st.key, backends.GetOptions{})
	return err
}

// emptyDocument answers a read of a bucket setting that has nothing in it
// (versioning never enabled, no logging, no notifications).
func (g *Gateway) emptyDocument(root string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := g.bucketExists(r); err != nil {
			return err
		}
		writeXML(w, http.StatusOK, &struct{ XMLName xml.Name }{xml.Name{Space: s3NS, Local: root}})
		return nil
	}
}

// getBucketVersioning: a bucket whose versioning was never enabled.
func (g *Gateway) getBucketVersioning(w http.ResponseWriter, r *http.Request) error {
	return g.emptyDocument("VersioningConfiguration")(w, r)
}

type requestPayment struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ RequestPaymentConfiguration"`
	Payer   string   `xml:"Payer"`
}

func (g *Gateway) getBucketRequestPayment(w http.ResponseWriter, r *http.Request) error {
	if err := g.bucketExists(r); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, &requestPayment{Payer: "BucketOwner"})
	return nil
}

// notConfigured answers a read of a bucket configuration the bucket does not
// have with S3's error for that configuration.
func (g *Gateway) notConfigured(code string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := g.bucketExists(r); err != nil {
			return err
		}
		return s3Error(code).with("BucketName", requestState(r.Context()).bucket)
	}
}

// objectNotConfigured is notConfigured for object settings.
func (g *Gateway) objectNotConfigured(code string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := g.objectExists(r); err != nil {
			return err
		}
		return s3Error(code)
	}
}

// deleteNothing deletes a configuration the bucket does not have: S3
// answers 204.
func (g *Gateway) deleteNothing(w http.ResponseWriter, r *http.Request) error {
	if err := g.bucketExists(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XSI         string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// acl is the ACL of a bucket or object with ACLs disabled (S3's default):
// the owner has full control and access is decided by policy.
func (g *Gateway) acl(w http.ResponseWriter, r *http.Request) {
	o := g.owner(r)
	writeXML(w, http.StatusOK, &accessControlPolicy{
		Owner: o,
		Grants: []grant{{
			Grantee:    grantee{XSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
			Permission: "FULL_CONTROL",
		}},
	})
}

func (g *Gateway) getBucketACL(w http.ResponseWriter, r *http.Request) error {
	if err := g.bucketExists(r); err != nil {
		return err
	}
	g.acl(w, r)
	return nil
}

func (g *Gateway) getObjectACL(w http.ResponseWriter, r *http.Request) error {
	if err := g.objectExists(r); err != nil {
		return err
	}
	g.acl(w, r)
	return nil
}
