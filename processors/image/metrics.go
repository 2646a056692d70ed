package image

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	renders  *prometheus.CounterVec
	seconds  prometheus.Histogram
	variants prometheus.Counter
	removed  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_image_renders_total",
			Help: "Images rendered into their variants, by result (made, failed: corrupt, unsupported or too large).",
		}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3gate_image_render_seconds",
			Help:    "Time to read an image and make all its variants.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		variants: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_image_variants_stored_total",
			Help: "Variants written to the backend.",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_image_variants_removed_total",
			Help: "Variants deleted because their original was deleted, changed or is no longer an image.",
		}),
	}
	reg.MustRegister(m.renders, m.seconds, m.variants, m.removed)
	return m
}
