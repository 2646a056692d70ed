package config

import (
	"strings"
	"time"
)

// Images configures the image hook: the variants (thumbnails, previews)
// s3gate makes of uploaded images and serves with GET ?variant=NAME. The
// presets themselves are the config file's image_presets section.
type Images struct {
	Enabled        bool          `default:"true" negatable:"" help:"Make image variants of uploaded images (presets: the config file's image_presets) and serve them with GET ?variant=NAME; needs events-enabled."`
	VariantsBucket string        `name:"variants-bucket" placeholder:"BUCKET" help:"Keep variants in this bucket, as BUCKET/KEY/PRESET.EXT (created at start if missing); empty keeps them under images-variants-prefix in each original's bucket."`
	VariantsPrefix string        `name:"variants-prefix" default:".variants/" help:"Key prefix reserved for variants in every bucket: clients cannot see, read or write it, and DeleteBucket ignores it."`
	OnDemand       bool          `name:"on-demand" default:"true" negatable:"" help:"Make a variant that is asked for before the hook made it (one render per image at a time); off answers NoSuchKey until then."`
	MaxPixels      int64         `name:"max-pixels" default:"50000000" help:"Largest image, in pixels as its header declares them (checked before decoding), that variants are made of."`
	MaxBytes       int64         `name:"max-bytes" default:"67108864" help:"Largest image file, in bytes, that variants are made of."`
	Timeout        time.Duration `default:"60s" help:"Time limit for making one image's variants; an image that takes longer fails for good."`
	GPS            bool          `name:"gps" help:"Record the EXIF GPS position of images in the catalogue (personal data, so off by default)."`
	Workers        int           `default:"2" help:"Images the hook renders at once on this replica; each takes a core and up to a few hundred MiB."`
	CacheControl   string        `name:"cache-control" default:"max-age=86400" help:"Cache-Control stored with every variant and sent when it is served."`
}

// ImagePreset is one entry of the config file's image_presets: a variant
// to make, and which originals get it.
type ImagePreset struct {
	Name   string `yaml:"name"`
	Width  int    `yaml:"width"`
	Height int    `yaml:"height"`
	// Mode is fit (default), fill or exact; Format jpeg (default) or png.
	Mode    string `yaml:"mode"`
	Format  string `yaml:"format"`
	Quality int    `yaml:"quality"`
	// Buckets the preset applies to (empty: all); ContentTypes the sniffed
	// media types of originals that get it (image/png, image/*; empty:
	// every image type s3gate reads).
	Buckets      []string `yaml:"buckets"`
	ContentTypes []string `yaml:"content_types"`
}

// imageKeys are the config file's sections LoadImagePresets reads.
var imageKeys = []string{"image_presets"}

// LoadImagePresets reads the image_presets section of the YAML file at
// path; nil when there is none (the built-in presets apply), empty when it
// lists none (no variants are made).
func LoadImagePresets(path string) (*[]ImagePreset, error) {
	var doc struct {
		Presets *[]ImagePreset `yaml:"image_presets"`
	}
	err := decodeSections(path, imageKeys, &doc)
	if doc.Presets != nil {
		for i, p := range *doc.Presets {
			if p.Mode == "" {
				p.Mode = "fit"
			}
			if p.Format == "" {
				p.Format = "jpeg"
			}
			if p.Quality == 0 && p.Format == "jpeg" {
				p.Quality = 85
			}
			p.Mode, p.Format = strings.ToLower(p.Mode), strings.ToLower(p.Format)
			(*doc.Presets)[i] = p
		}
	}
	return doc.Presets, err
}

func (im Images) validate() error {
	if !im.Enabled {
		return nil
	}
	if im.VariantsBucket == "" && (im.VariantsPrefix == "" || !strings.HasSuffix(im.VariantsPrefix, "/") || strings.HasPrefix(im.VariantsPrefix, "/")) {
		return settingError("images-variants-prefix", "must be a key prefix ending in / (like .variants/), not starting with /")
	}
	if im.MaxPixels < 1 {
		return settingError("images-max-pixels", "must be at least 1")
	}
	if im.MaxBytes < 1 {
		return settingError("images-max-bytes", "must be at least 1")
	}
	if im.Timeout <= 0 {
		return settingError("images-timeout", "must be a positive duration (like 60s)")
	}
	if im.Workers < 1 || im.Workers > 256 {
		return settingError("images-workers", "must be between 1 and 256")
	}
	return nil
}
