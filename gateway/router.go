package gateway

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/s3gate/s3gate/identity/sts"
)

// route is one S3 operation at one level (service, bucket or object): the
// operation's name, what singles it out among requests of the same method
// (a query parameter such as ?location, a header), and its handler.
type route struct {
	op    string
	match func(*http.Request) bool
	h     handlerFunc
}

// formAuthenticated are the operations that are not authenticated before
// their handler runs: a form upload's credentials are fields of the form,
// which its handler reads first, a CORS preflight has none (browsers send
// none), and AssumeRoleWithWebIdentity carries a token instead. Every other operation is authenticated first.
var formAuthenticated = map[string]bool{"PostObject": true, "PreflightRequest": true, "AssumeRoleWithWebIdentity": true}

// q matches requests that carry query parameter name (S3's subresources).
func q(name string) func(*http.Request) bool {
	return func(r *http.Request) bool { _, ok := query(r)[name]; return ok }
}

// qv matches requests whose query parameter name has value v.
func qv(name, v string) func(*http.Request) bool {
	return func(r *http.Request) bool { return query(r).Get(name) == v }
}

// hdr matches requests that carry header name.
func hdr(name string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Header.Get(name) != "" }
}

func both(a, b func(*http.Request) bool) func(*http.Request) bool {
	return func(r *http.Request) bool { return a(r) && b(r) }
}

// bucketRoutes and objectRoutes list every operation by method, most
// specific first; the last entry of a method (match nil) is its default.
// Operations s3gate does not support yet are routed too, so that they answer
// NotImplemented instead of being taken for another operation.
func (g *Gateway) bucketRoutes() map[string][]route {
	ni := g.notImplemented
	none := func(code string) handlerFunc { return g.notConfigured(code) }
	return map[string][]route{
		http.MethodGet: {
			{"GetBucketLocation", q("location"), g.getBucketLocation},
			{"GetBucketVersioning", q("versioning"), g.getBucketVersioning},
			{"GetBucketAcl", q("acl"), g.getBucketACL},
			{"GetBucketCors", q("cors"), g.getBucketCors},
			{"GetBucketPolicy", q("policy"), none("NoSuchBucketPolicy")},
			{"GetBucketPolicyStatus", q("policyStatus"), none("NoSuchBucketPolicy")},
			{"GetBucketLifecycleConfiguration", q("lifecycle"), none("NoSuchLifecycleConfiguration")},
			{"GetBucketTagging", q("tagging"), g.getBucketTagging},
			{"GetBucketEncryption", q("encryption"), none("ServerSideEncryptionConfigurationNotFoundError")},
			{"GetBucketWebsite", q("website"), none("NoSuchWebsiteConfiguration")},
			{"GetObjectLockConfiguration", q("object-lock"), none("ObjectLockConfigurationNotFoundError")},
			{"GetBucketReplication", q("replication"), none("ReplicationConfigurationNotFoundError")},
			{"GetBucketOwnershipControls", q("ownershipControls"), none("OwnershipControlsNotFoundError")},
			{"GetPublicAccessBlock", q("publicAccessBlock"), none("NoSuchPublicAccessBlockConfiguration")},
			{"GetBucketLogging", q("logging"), g.emptyDocument("BucketLoggingStatus")},
			{"GetBucketNotificationConfiguration", q("notification"), g.emptyDocument("NotificationConfiguration")},
			{"GetBucketAccelerateConfiguration", q("accelerate"), g.emptyDocument("AccelerateConfiguration")},
			{"GetBucketRequestPayment", q("requestPayment"), g.getBucketRequestPayment},
			{"ListMultipartUploads", q("uploads"), g.listMultipartUploads},
			{"ListObjectVersions", q("versions"), ni},
			{"GetBucketIntelligentTieringConfiguration", q("intelligent-tiering"), ni},
			{"GetBucketAnalyticsConfiguration", q("analytics"), ni},
			{"GetBucketMetricsConfiguration", q("metrics"), ni},
			{"GetBucketInventoryConfiguration", q("inventory"), ni},
			{"ListObjectsV2", qv("list-type", "2"), g.listObjectsV2},
			{"ListObjects", nil, g.listObjectsV1},
		},
		http.MethodHead: {
			{"HeadBucket", nil, g.headBucket},
		},
		http.MethodPut: append([]route{
			{"PutBucketCors", q("cors"), g.putBucketCors},
			{"PutBucketTagging", q("tagging"), g.putBucketTagging},
		}, append(notImplementedPuts(g, "Bucket",
			"acl", "policy", "lifecycle", "encryption", "website", "object-lock",
			"replication", "ownershipControls", "publicAccessBlock", "logging", "notification",
			"requestPayment", "accelerate", "versioning", "intelligent-tiering", "analytics",
			"metrics", "inventory"),
			route{"CreateBucket", nil, g.createBucket})...),
		http.MethodDelete: {
			// Deleting a configuration a bucket does not have succeeds.
			{"DeleteBucketCors", q("cors"), g.deleteBucketCors},
			{"DeleteBucketPolicy", q("policy"), g.deleteNothing},
			{"DeleteBucketLifecycle", q("lifecycle"), g.deleteNothing},
			{"DeleteBucketTagging", q("tagging"), g.deleteBucketTagging},
			{"DeleteBucketEncryption", q("encryption"), g.deleteNothing},
			{"DeleteBucketWebsite", q("website"), g.deleteNothing},
			{"DeleteBucketReplication", q("replication"), g.deleteNothing},
			{"DeleteBucketOwnershipControls", q("ownershipControls"), g.deleteNothing},
			{"DeletePublicAccessBlock", q("publicAccessBlock"), g.deleteNothing},
			{"DeleteBucketIntelligentTieringConfiguration", q("intelligent-tiering"), ni},
			{"DeleteBucketAnalyticsConfiguration", q("analytics"), ni},
			{"DeleteBucketMetricsConfiguration", q("metrics"), ni},
			{"DeleteBucketInventoryConfiguration", q("inventory"), ni},
			{"DeleteBucket", nil, g.deleteBucket},
		},
		http.MethodPost: {
			{"DeleteObjects", q("delete"), g.deleteObjects},
			{"PostObject", nil, g.postObject},
		},
		http.MethodOptions: {
			{"PreflightRequest", nil, g.preflight},
		},
	}
}

func (g *Gateway) objectRoutes() map[string][]route {
	ni := g.notImplemented
	return map[string][]route{
		http.MethodGet: {
			{"GetObjectAcl", q("acl"), g.getObjectACL},
			{"GetObjectTagging", q("tagging"), g.getObjectTagging},
			{"GetObjectRetention", q("retention"), g.objectNotConfigured("NoSuchObjectLockConfiguration")},
			{"GetObjectLegalHold", q("legal-hold"), g.objectNotConfigured("NoSuchObjectLockConfiguration")},
			{"GetObjectAttributes", q("attributes"), g.getObjectAttributes},
			{"ListParts", q("uploadId"), g.listParts},
			{"GetObjectTorrent", q("torrent"), ni},
			{"GetObject", nil, g.getObject},
		},
		http.MethodHead: {
			{"HeadObject", nil, g.headObject},
		},
		http.MethodPut: append([]route{
			{"UploadPartCopy", both(q("uploadId"), hdr("x-amz-copy-source")), g.uploadPartCopy},
			{"UploadPart", q("uploadId"), g.uploadPart},
			{"PutObjectTagging", q("tagging"), g.putObjectTagging},
		}, append(notImplementedPuts(g, "Object", "acl", "retention", "legal-hold"),
			route{"CopyObject", hdr("x-amz-copy-source"), g.copyObject},
			route{"PutObject", nil, g.putObject},
		)...),
		http.MethodDelete: {
			{"AbortMultipartUpload", q("uploadId"), g.abortMultipartUpload},
			{"DeleteObjectTagging", q("tagging"), g.deleteObjectTagging},
			{"DeleteObject", nil, g.deleteObject},
		},
		http.MethodPost: {
			{"CreateMultipartUpload", q("uploads"), g.createMultipartUpload},
			{"CompleteMultipartUpload", q("uploadId"), g.completeMultipartUpload},
			{"RestoreObject", q("restore"), ni},
			{"SelectObjectContent", q("select"), ni},
			{"PostToObject", nil, ni},
		},
		http.MethodOptions: {
			{"PreflightRequest", nil, g.preflight},
		},
	}
}

// notImplementedPuts names the Put<Level><Subresource> operations that are
// not supported yet.
func notImplementedPuts(g *Gateway, level string, subresources ...string) []route {
	out := make([]route, 0, len(subresources))
	for _, s := range subresources {
		out = append(out, route{"Put" + level + opSuffix(s), q(s), g.notImplemented})
	}
	return out
}

// opSuffix turns a subresource into the tail of an operation name:
// object-lock -> ObjectLock, publicAccessBlock -> PublicAccessBlock.
func opSuffix(s string) string {
	out := make([]byte, 0, len(s))
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		out = append(out, c)
	}
	return string(out)
}

// routes registers the S3 API on r: virtual-hosted style for each configured
// domain first, then path style.
func (g *Gateway) routes(r *mux.Router) {
	for _, d := range g.opts.Domains {
		host := r.Host("{bucket:.+}." + d).Subrouter()
		host.Use(markVirtualHost)
		g.register(host, "/", g.bucketRoutes())
		g.register(host, "/{key:.+}", g.objectRoutes())
	}
	g.register(r, "/", map[string][]route{
		// STS shares the endpoint, as AWS's clients expect of an S3 service
		// configured as their STS endpoint: an unsigned form POST to /.
		http.MethodGet:  {{"AssumeRoleWithWebIdentity", sts.IsRequest, g.assumeRole}, {"ListBuckets", nil, g.listBuckets}},
		http.MethodPost: {{"AssumeRoleWithWebIdentity", sts.IsRequest, g.assumeRole}},
	})
	g.register(r, "/{bucket:[^/]+}{slash:/?}", g.bucketRoutes())
	g.register(r, "/{bucket:[^/]+}/{key:.+}", g.objectRoutes())
	r.NotFoundHandler = g.op("Unknown", g.methodNotAllowed)
	r.MethodNotAllowedHandler = g.op("Unknown", g.methodNotAllowed)
}

// register adds one mux route per method on path; its handler picks the
// operation among the method's routes with cheap checks of the query and
// headers. (One mux route per operation made every request run the path's
// regular expression once per candidate operation: a sixth of the CPU of
// a small GET.) The method is matched before the path, for the same reason.
func (g *Gateway) register(r *mux.Router, path string, byMethod map[string][]route) {
	for method, routes := range byMethod {
		r.Methods(method).Path(path).Handler(g.dispatch(routes))
	}
	// Any other method on this path.
	r.Path(path).Handler(g.op("Unknown", g.methodNotAllowed))
}

// dispatch serves the first of routes whose match accepts the request; the
// last route of each method matches everything.
func (g *Gateway) dispatch(routes []route) http.Handler {
	handlers := make([]http.Handler, len(routes))
	for i, rt := range routes {
		handlers[i] = g.op(rt.op, rt.h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, rt := range routes {
			if rt.match == nil || rt.match(r) {
				handlers[i].ServeHTTP(w, r)
				return
			}
		}
		g.op("Unknown", g.methodNotAllowed).ServeHTTP(w, r)
	})
}

// markVirtualHost records that the request names its bucket in the Host
// header (answers that name the object, like Location, follow suit).
func markVirtualHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestState(r.Context()).virtualHost = true
		next.ServeHTTP(w, r)
	})
}

// op wraps an operation's handler: it records the operation, bucket and key,
// authenticates the request (unless the handler does), and renders the
// error the handler returns.
func (g *Gateway) op(name string, h handlerFunc) http.Handler {
	g.ops[name] = true
	selfAuth := formAuthenticated[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := requestState(r.Context())
		st.op = name
		vars := mux.Vars(r)
		st.bucket = unescape(vars["bucket"])
		st.key = unescape(vars["key"])
		g.applyCORS(w, r)
		if !selfAuth {
			if err := g.authenticate(r); err != nil {
				g.writeError(w, r, err)
				return
			}
		}
		if err := g.authorize(r, name); err != nil {
			g.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			g.writeError(w, r, err)
		}
	})
}

// query returns the request's parsed query string, parsed once: the router
// consults it for every candidate route.
func query(r *http.Request) url.Values {
	st := requestState(r.Context())
	if st.query == nil {
		st.query = r.URL.Query()
	}
	return st.query
}

// unescape decodes a path variable; the router matches the encoded path so
// that %2F and // in keys survive.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// assumeRole is STS's AssumeRoleWithWebIdentity, which writes its own
// answers (STS documents, not S3's).
func (g *Gateway) assumeRole(w http.ResponseWriter, r *http.Request) error {
	if g.opts.Sessions == nil {
		return s3Error("NotImplemented", "AssumeRoleWithWebIdentity is not configured (no sts roles).")
	}
	g.opts.Sessions.ServeHTTP(w, r)
	return nil
}

func (g *Gateway) notImplemented(w http.ResponseWriter, r *http.Request) error {
	return s3Error("NotImplemented")
}

func (g *Gateway) methodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	return s3Error("MethodNotAllowed").with("Method", r.Method).with("ResourceType", resourceType(r))
}

func resourceType(r *http.Request) string {
	st := requestState(r.Context())
	switch {
	case st.key != "":
		return "OBJECT"
	case st.bucket != "":
		return "BUCKET"
	}
	return "SERVICE"
}
