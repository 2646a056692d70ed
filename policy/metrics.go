package policy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the engine's Prometheus series, registered on the registry
// the caller gives (none when it is nil).
type metrics struct {
	allowed      prometheus.Counter
	denied       prometheus.Counter
	errors       prometheus.Counter
	duration     prometheus.Histogram
	cacheHits    prometheus.Counter
	cacheMisses  prometheus.Counter
	reloads      prometheus.Counter
	reloadErrors prometheus.Counter
	lastReload   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	decisions := f.NewCounterVec(prometheus.CounterOpts{
		Name: "s3gate_policy_decisions_total",
		Help: "Policy decisions by result (allow, deny, error), cached or evaluated.",
	}, []string{"result"})
	return &metrics{
		allowed: decisions.WithLabelValues("allow"),
		denied:  decisions.WithLabelValues("deny"),
		errors:  decisions.WithLabelValues("error"),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3gate_policy_evaluation_duration_seconds",
			Help:    "Time to evaluate the policy for a decision the cache did not hold.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .01, .1},
		}),
		cacheHits: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_policy_cache_hits_total",
			Help: "Decisions and readable lookups answered from the decision cache.",
		}),
		cacheMisses: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_policy_cache_misses_total",
			Help: "Decisions and readable lookups the decision cache did not hold.",
		}),
		reloads: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_policy_reloads_total",
			Help: "Successful policy reloads.",
		}),
		reloadErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_policy_reload_errors_total",
			Help: "Policy reloads that failed; the previous policy stayed in force.",
		}),
		lastReload: f.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_policy_last_load_timestamp_seconds",
			Help: "When the policy in force was loaded, in seconds since the Unix epoch.",
		}),
	}
}

func (m *metrics) count(d Decision) {
	if d.Allow {
		m.allowed.Inc()
	} else {
		m.denied.Inc()
	}
}
