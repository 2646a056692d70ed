package outbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the outbox's Prometheus series, registered on the registry
// the caller gives (none when it is nil).
type metrics struct {
	pending       prometheus.Gauge
	spooled       prometheus.Gauge
	segments      prometheus.Gauge
	published     prometheus.Counter
	publishErrors prometheus.Counter
	fsync         prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_outbox_pending",
			Help: "Recorded intents not yet resolved: the write in flight, or its event not yet in the queue.",
		}),
		spooled: f.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_outbox_spooled",
			Help: "Events of committed writes not yet published to the queue.",
		}),
		segments: f.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_outbox_segments",
			Help: "Segment files of the outbox.",
		}),
		published: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_outbox_published_total",
			Help: "Events published to the queue.",
		}),
		publishErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_outbox_publish_errors_total",
			Help: "Failed attempts to publish an event (each is retried).",
		}),
		fsync: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3gate_outbox_fsync_seconds",
			Help:    "Time to fsync a batch of intents (one fsync serves every Begin waiting on it).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
}
