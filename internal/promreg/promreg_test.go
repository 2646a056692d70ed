package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegisterTwice: the second collector of a name gets the first one
// back; one of another type under the same name is an error.
func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	first.Inc()
	second, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"}))
	if err != nil || second != first {
		t.Fatalf("second Register = %v, %v; want the first counter", second, err)
	}
	if _, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"})); err == nil {
		t.Error("a gauge registered in a counter's place")
	}
}
