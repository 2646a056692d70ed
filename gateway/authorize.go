package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/identity"
	"github.com/s3gate/s3gate/policy"
)

// Authorizer judges requests: the policy engine (package policy).
type Authorizer interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	// Readable lists where a principal may read (bucket "*": every bucket).
	Readable(ctx context.Context, p policy.Principal) ([]policy.Grant, error)
}

// authorize asks the policy whether the authenticated caller may perform
// operation op on the request's resource; a copy is also judged as a read
// of its source. Denials are AccessDenied, with the policy's reasons in the
// message for callers who proved who they are.
func (g *Gateway) authorize(r *http.Request, op string) error {
	if g.opts.Authorizer == nil || unauthorized[op] || perKey[op] || bodyJudged[op] {
		return nil
	}
	st := requestState(r.Context())
	action, ok := actions[op]
	if !ok {
		// An operation without a mapping is a defect; refusing it keeps
		// the default a denial.
		g.log.ErrorContext(r.Context(), "operation has no IAM action", "op", op)
		return s3Error("AccessDenied")
	}
	in := g.policyInput(r, action, st.bucket, st.key)
	if op == "CopyObject" || op == "UploadPartCopy" {
		if src, err := parseCopySource(r); err == nil {
			in.Request.CopySource = src.bucket + "/" + src.key
			if err := g.decide(r, g.policyInput(r, "s3:GetObject", src.bucket, src.key)); err != nil {
				return err
			}
		} // a malformed source is the handler's to refuse
	}
	return g.decide(r, in)
}

// bodyJudged are the operations whose policy input holds what their body
// says (PutObjectTagging's tags: input.request.tags): their handler judges
// them with authorizeBody once the body is read, instead of authorize
// before it.
var bodyJudged = map[string]bool{"PutObjectTagging": true}

// authorizeBody judges an operation of bodyJudged, as authorize would
// have, with the facts of its body that fill adds to the input.
func (g *Gateway) authorizeBody(r *http.Request, fill func(*policy.Input)) error {
	if g.opts.Authorizer == nil {
		return nil
	}
	st := requestState(r.Context())
	action, ok := actions[st.op]
	if !ok {
		g.log.ErrorContext(r.Context(), "operation has no IAM action", "op", st.op)
		return s3Error("AccessDenied")
	}
	in := g.policyInput(r, action, st.bucket, st.key)
	fill(&in)
	return g.decide(r, in)
}

// allowed reports whether the caller may perform action on bucket/key: the
// per-key judgement of DeleteObjects and PostObject, and the filter of
// ListBuckets. An engine failure is an error.
func (g *Gateway) allowed(r *http.Request, action, bucket, key string) error {
	if g.opts.Authorizer == nil {
		return nil
	}
	return g.decide(r, g.policyInput(r, action, bucket, key))
}

// bucketFilter returns whether the caller may see a bucket in ListBuckets:
// it may read in it (the policy's readable grants) or list it.
func (g *Gateway) bucketFilter(r *http.Request) (func(bucket string) bool, error) {
	if g.opts.Authorizer == nil {
		return func(string) bool { return true }, nil
	}
	in := g.policyInput(r, "s3:ListBucket", "", "")
	grants, err := g.opts.Authorizer.Readable(r.Context(), in.Principal)
	if err != nil {
		return nil, err
	}
	readable := map[string]bool{}
	for _, gr := range grants {
		readable[gr.Bucket] = true
	}
	return func(bucket string) bool {
		if readable["*"] || readable[bucket] {
			return true
		}
		in := g.policyInput(r, "s3:ListBucket", bucket, "")
		d, err := g.opts.Authorizer.Decide(r.Context(), in)
		return err == nil && d.Allow
	}, nil
}

// objectActions read or change an existing object: with
// Options.PolicyExistingTags their input carries that object's tags.
var objectActions = map[string]bool{
	"s3:GetObject": true, "s3:PutObject": true, "s3:DeleteObject": true, "s3:GetObjectAttributes": true,
	"s3:GetObjectTagging": true, "s3:PutObjectTagging": true, "s3:DeleteObjectTagging": true,
}

// existingTags adds the tags of the object in names, when the
// configuration asks for them: they cost a backend call per decision. A
// missing object has none; a failed lookup fails the request rather than
// judging it without them.
func (g *Gateway) existingTags(r *http.Request, in *policy.Input) error {
	if !g.opts.PolicyExistingTags || in.Resource.Key == "" || !objectActions[in.Action] {
		return nil
	}
	tags, err := g.backend.GetObjectTagging(r.Context(), in.Resource.Bucket, in.Resource.Key)
	switch {
	case errors.Is(err, backends.ErrNoSuchKey), errors.Is(err, backends.ErrNoSuchBucket):
		return nil
	case err != nil:
		return err
	}
	if len(tags) > 0 {
		in.Request.ExistingTags = tags
	}
	return nil
}

func (g *Gateway) decide(r *http.Request, in policy.Input) error {
	st := requestState(r.Context())
	if err := g.existingTags(r, &in); err != nil {
		return err
	}
	d, err := g.opts.Authorizer.Decide(r.Context(), in)
	if err != nil {
		g.log.ErrorContext(r.Context(), "policy evaluation failed", "request_id", st.id, "op", st.op, "err", err)
		return s3Error("InternalError")
	}
	if d.Allow {
		return nil
	}
	g.log.InfoContext(r.Context(), "access denied by policy", "request_id", st.id, "op", st.op,
		"principal", in.Principal.ID, "action", in.Action, "resource", in.Resource.ARN, "reasons", d.Reasons)
	if st.authKind == identity.AuthAnonymous || len(d.Reasons) == 0 {
		return s3Error("AccessDenied") // policy internals are not for strangers
	}
	return s3Error("AccessDenied", "Access Denied: %s", strings.Join(d.Reasons, "; "))
}

// policyInput describes the request to the policy.
func (g *Gateway) policyInput(r *http.Request, action, bucket, key string) policy.Input {
	st := requestState(r.Context())
	in := policy.Input{
		Version:  policy.InputVersion,
		Action:   action,
		Resource: policy.Resource{Bucket: bucket, Key: key, ARN: resourceARN(bucket, key)},
		Request: policy.Request{
			Method:   r.Method,
			SourceIP: sourceIP(r),
			Time:     g.now().UTC(),
		},
	}
	p := policy.Principal{ID: "anonymous", Auth: string(identity.AuthAnonymous), Roles: []string{}, Groups: []string{}}
	if st.principal != nil {
		p = policy.Principal{ID: st.principal.ID, DisplayName: st.principal.DisplayName,
			Roles: st.principal.Roles, Groups: st.principal.Groups, Claims: st.principal.Claims, Auth: string(st.authKind)}
		if p.Roles == nil {
			p.Roles = []string{}
		}
		if p.Groups == nil {
			p.Groups = []string{}
		}
	}
	in.Principal = p
	switch action {
	case "s3:PutObject":
		in.Request.ContentType = r.Header.Get("Content-Type")
		in.Request.ContentLength = r.ContentLength
		if n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
			in.Request.ContentLength = n
		}
		if tags, err := parseTaggingHeader(r.Header); err == nil && len(tags) > 0 {
			in.Request.Tags = tags
		}
	case "s3:ListBucket", "s3:ListBucketMultipartUploads":
		q := query(r)
		in.Request.Prefix, in.Request.Delimiter = q.Get("prefix"), q.Get("delimiter")
	}
	return in
}

// resourceARN is S3's ARN of a bucket or object ("" for the service).
func resourceARN(bucket, key string) string {
	switch {
	case bucket == "":
		return "arn:aws:s3:::*"
	case key == "":
		return "arn:aws:s3:::" + bucket
	}
	return "arn:aws:s3:::" + bucket + "/" + key
}

// sourceIP is the client's address (no proxy headers are trusted).
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
