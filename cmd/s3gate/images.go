package main

import (
	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/processors/image"
	"github.com/s3gate/s3gate/processors/image/render"
)

// imagePresets are the configured image presets, or the built-in ones
// when the config file names none.
func imagePresets(cfg config.Config) ([]image.Preset, error) {
	if cfg.ImagePresets == nil {
		return image.DefaultPresets(), nil
	}
	out := make([]image.Preset, 0, len(*cfg.ImagePresets))
	for _, p := range *cfg.ImagePresets {
		out = append(out, image.Preset{
			Preset: render.Preset{Name: p.Name, Width: p.Width, Height: p.Height,
				Mode: render.Mode(p.Mode), Format: render.Format(p.Format), Quality: p.Quality},
			Buckets: p.Buckets, ContentTypes: p.ContentTypes,
		})
	}
	return out, image.ValidatePresets(out)
}

// openImages makes the image hook the configuration asks for, or nil.
func (h *hooks) openImages() (*image.Processor, error) {
	cfg := h.cfg
	if !cfg.Images.Enabled {
		return nil, nil
	}
	presets, err := imagePresets(cfg)
	if err != nil {
		return nil, err
	}
	opts := image.Options{
		Backend:      h.backend,
		Presets:      presets,
		Location:     image.Location{Bucket: cfg.Images.VariantsBucket, Prefix: cfg.Images.VariantsPrefix},
		Limits:       render.Limits{MaxPixels: cfg.Images.MaxPixels, MaxBytes: cfg.Images.MaxBytes},
		Timeout:      cfg.Images.Timeout,
		GPS:          cfg.Images.GPS,
		CacheControl: cfg.Images.CacheControl,
		OnDemand:     cfg.Images.OnDemand,
		MaxRenders:   cfg.Images.Workers,
		Logger:       h.log,
		Registerer:   h.reg,
	}
	if cfg.Events.Metadata {
		opts.Catalog = h.cat
	}
	return image.New(opts)
}
