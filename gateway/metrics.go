package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the gateway's Prometheus series, registered on the registry
// the caller gives (never the global one).
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	bytesIn      *prometheus.CounterVec
	bytesOut     *prometheus.CounterVec
	inflight     prometheus.Gauge
	rejected     prometheus.Counter
	authFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_requests_total",
			Help: "S3 requests by operation and HTTP status.",
		}, []string{"op", "status"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "s3gate_request_duration_seconds",
			Help:    "Time to serve an S3 request, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"op"}),
		bytesIn: f.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_received_bytes_total",
			Help: "Request body bytes declared by clients, by operation.",
		}, []string{"op"}),
		bytesOut: f.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_sent_bytes_total",
			Help: "Response body bytes sent, by operation.",
		}, []string{"op"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "s3gate_requests_in_flight",
			Help: "S3 requests being served.",
		}),
		authFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_auth_failures_total",
			Help: "Requests whose authentication failed, by how they tried (sigv4, presigned, sts, jwt, anonymous) and the S3 error code.",
		}, []string{"auth", "code"}),
		rejected: f.NewCounter(prometheus.CounterOpts{
			Name: "s3gate_requests_rejected_total",
			Help: "Requests answered SlowDown because the concurrency cap was reached.",
		}),
	}
}

func (m *metrics) observe(op string, status int, d time.Duration, in, out int64) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(op).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(op).Add(float64(out))
	}
}
