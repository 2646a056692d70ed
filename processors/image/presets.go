package image

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/s3gate/s3gate/processors/image/render"
)

// Preset is one configured variant: how to render it, and which objects
// get it.
type Preset struct {
	render.Preset
	// Buckets the preset applies to; empty means every bucket.
	Buckets []string
	// ContentTypes are the media types (image/jpeg) or type wildcards
	// (image/*) of the originals that get it, matched against the type
	// sniffed from the object's first bytes; empty means DefaultContentTypes.
	ContentTypes []string
}

// DefaultContentTypes are the inputs render reads.
var DefaultContentTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp"}

// DefaultPresets are the variants made when the configuration names none:
// a square thumbnail, a screen-sized preview and a large view.
func DefaultPresets() []Preset {
	return []Preset{
		{Preset: render.Preset{Name: "thumb", Width: 200, Height: 200, Mode: render.Fill, Format: render.JPEG, Quality: 80}},
		{Preset: render.Preset{Name: "preview", Width: 1024, Height: 1024, Mode: render.Fit, Format: render.JPEG, Quality: 85}},
		{Preset: render.Preset{Name: "large", Width: 2048, Height: 2048, Mode: render.Fit, Format: render.JPEG, Quality: 85}},
	}
}

// ValidatePresets checks every preset, and that no bucket has two of one
// name.
func ValidatePresets(presets []Preset) error {
	for i, p := range presets {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("image_presets[%d]: %w", i, err)
		}
		for _, ct := range p.ContentTypes {
			if !validTypePattern(ct) {
				return fmt.Errorf("image_presets[%d] (%s): content type %q is not a media type (image/png) or wildcard (image/*)", i, p.Name, ct)
			}
		}
		for _, q := range presets[:i] {
			if q.Name == p.Name && overlap(q.Buckets, p.Buckets) {
				return fmt.Errorf("image_presets[%d]: preset %q is given twice for the same bucket", i, p.Name)
			}
		}
	}
	return nil
}

func validTypePattern(s string) bool {
	typ, sub, ok := strings.Cut(s, "/")
	return ok && typ != "" && sub != "" && typ != "*" && !strings.ContainsAny(s, " ;,") && s == strings.ToLower(s)
}

// overlap reports whether two bucket lists (empty: all) share a bucket.
func overlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (p Preset) forBucket(bucket string) bool {
	return len(p.Buckets) == 0 || slices.Contains(p.Buckets, bucket)
}

// forType reports whether the preset applies to originals of mediaType.
func (p Preset) forType(mediaType string) bool {
	types := p.ContentTypes
	if len(types) == 0 {
		types = DefaultContentTypes
	}
	for _, t := range types {
		if t == mediaType {
			return true
		}
		if typ, ok := strings.CutSuffix(t, "/*"); ok && strings.HasPrefix(mediaType, typ+"/") {
			return true
		}
	}
	return false
}

// ext is the file extension of the preset's output.
func (p Preset) ext() string {
	if p.Format == render.PNG {
		return ".png"
	}
	return ".jpg"
}

// spec describes how the preset renders; a stored variant made by another
// spec (the configuration changed) is stale.
func (p Preset) spec() string {
	s := strconv.Itoa(p.Width) + "x" + strconv.Itoa(p.Height) + " " + string(p.Mode) + " " + string(p.Format)
	if p.Format == render.JPEG {
		s += " q" + strconv.Itoa(p.Quality)
	}
	return s
}
