package worker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3gate/s3gate/internal/promreg"
)

// Results of a message, the values of s3gate_hook_events_total's result
// label. Every message a pool takes on ends as ok, permanent or
// dead_letter (or is left to the queue to deliver again when the pool
// stops); retry counts the failed attempts that were retried.
const (
	resultOK         = "ok"          // handled and acknowledged
	resultRetry      = "retry"       // an attempt failed and will be retried
	resultPermanent  = "permanent"   // dead-lettered for a permanent error
	resultDeadLetter = "dead_letter" // dead-lettered otherwise: attempts used up, undecodable
)

// deadLetterSampleMax caps how many dead letters a sample of
// s3gate_hook_dead_letters reads per processor: the queues return them
// with their bodies, so the gauge saturates there rather than cost more.
const deadLetterSampleMax = 1000

// metrics are the pool's Prometheus series, all labelled by processor.
type metrics struct {
	depth       *prometheus.GaugeVec
	lag         *prometheus.GaugeVec
	events      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3gate_hook_queue_depth",
			Help: "Events the processor has not acknowledged yet: waiting plus in hand (sampled).",
		}, []string{"processor"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3gate_hook_lag_seconds",
			Help: "How long the oldest event of the processor's latest read had waited since it happened (eventTime); 0 when the processor is idle.",
		}, []string{"processor"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_hook_events_total",
			Help: "Events by what became of them: ok, dead-lettered for a permanent error or otherwise (attempts used up, undecodable), and failed attempts that were retried.",
		}, []string{"processor", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3gate_hook_retries_total",
			Help: "Attempts at an event after its first: retries after a failure and attempts at events delivered again.",
		}, []string{"processor"}),
		deadLetters: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3gate_hook_dead_letters",
			Help: fmt.Sprintf("Dead letters of the processor awaiting replay (sampled; counts stop at %d).", deadLetterSampleMax),
		}, []string{"processor"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "s3gate_hook_duration_seconds",
			Help:    "Time the processor took to handle one event, successful or not.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"processor"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.depth, err = promreg.Register(reg, m.depth)
	if err == nil {
		m.lag, err = promreg.Register(reg, m.lag)
	}
	if err == nil {
		m.events, err = promreg.Register(reg, m.events)
	}
	if err == nil {
		m.retries, err = promreg.Register(reg, m.retries)
	}
	if err == nil {
		m.deadLetters, err = promreg.Register(reg, m.deadLetters)
	}
	if err == nil {
		m.duration, err = promreg.Register(reg, m.duration)
	}
	if err != nil {
		return nil, fmt.Errorf("worker: registering metrics: %w", err)
	}
	return m, nil
}

// hookMetrics are one processor's series.
type hookMetrics struct {
	depth, lag, deadLetters    prometheus.Gauge
	ok, retry, permanent, dead prometheus.Counter
	retries                    prometheus.Counter
	duration                   prometheus.Observer
}

func (m *metrics) of(name string) hookMetrics {
	return hookMetrics{
		depth:       m.depth.WithLabelValues(name),
		lag:         m.lag.WithLabelValues(name),
		deadLetters: m.deadLetters.WithLabelValues(name),
		ok:          m.events.WithLabelValues(name, resultOK),
		retry:       m.events.WithLabelValues(name, resultRetry),
		permanent:   m.events.WithLabelValues(name, resultPermanent),
		dead:        m.events.WithLabelValues(name, resultDeadLetter),
		retries:     m.retries.WithLabelValues(name),
		duration:    m.duration.WithLabelValues(name),
	}
}
