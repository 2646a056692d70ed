package gateway

import (
	"context"
	"net/http"

	"github.com/s3gate/s3gate/backends"
)

// Variants serves the image variants s3gate makes of uploaded images
// (processors/image): GET and HEAD of an object with ?variant=NAME. The
// request is judged as the GetObject or HeadObject of the original, so
// whoever may read an image may read its variants.
type Variants interface {
	// HasPreset reports whether name is a variant preset of bucket.
	HasPreset(bucket, name string) bool
	// Open and Head return the variant, made on demand where configured;
	// opts (range, conditions) apply to the variant itself.
	Open(ctx context.Context, bucket, key, name string, opts backends.GetOptions) (*backends.Object, error)
	Head(ctx context.Context, bucket, key, name string, opts backends.GetOptions) (backends.ObjectInfo, error)
}

// variantParam returns the ?variant= of a request.
func variantParam(r *http.Request) (string, bool) {
	v, ok := query(r)["variant"]
	if !ok {
		return "", false
	}
	return v[0], true
}

// variantPreset checks the variant a request names.
func (g *Gateway) variantPreset(r *http.Request, name string, opts backends.GetOptions) error {
	st := requestState(r.Context())
	switch {
	case g.opts.Variants == nil:
		return s3Error("InvalidArgument", "This server makes no image variants.").
			with("ArgumentName", "variant").with("ArgumentValue", name)
	case !g.opts.Variants.HasPreset(st.bucket, name):
		return s3Error("InvalidArgument", "No image variant preset of that name applies to this bucket.").
			with("ArgumentName", "variant").with("ArgumentValue", name)
	case opts.PartNumber > 0:
		return s3Error("InvalidRequest", "Cannot specify both partNumber and variant.")
	}
	return nil
}

// getVariant is GetObject of a variant.
func (g *Gateway) getVariant(w http.ResponseWriter, r *http.Request, name string, opts backends.GetOptions) error {
	if err := g.variantPreset(r, name, opts); err != nil {
		return err
	}
	st := requestState(r.Context())
	obj, err := g.opts.Variants.Open(r.Context(), st.bucket, st.key, name, opts)
	if err != nil {
		return g.readError(w, r, err, opts, g.headVariant(name))
	}
	return g.sendObject(w, r, obj, opts)
}

// headVariantObject is HeadObject of a variant.
func (g *Gateway) headVariantObject(w http.ResponseWriter, r *http.Request, name string, opts backends.GetOptions) error {
	if err := g.variantPreset(r, name, opts); err != nil {
		return err
	}
	st := requestState(r.Context())
	info, err := g.opts.Variants.Head(r.Context(), st.bucket, st.key, name, opts)
	if err != nil {
		return g.readError(w, r, err, opts, g.headVariant(name))
	}
	return g.sendHead(w, r, info, opts)
}

// headVariant describes a stored variant, for a 304's validators.
func (g *Gateway) headVariant(name string) func(*http.Request) (backends.ObjectInfo, error) {
	return func(r *http.Request) (backends.ObjectInfo, error) {
		st := requestState(r.Context())
		return g.opts.Variants.Head(r.Context(), st.bucket, st.key, name, backends.GetOptions{})
	}
}
