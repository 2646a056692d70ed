package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthCheck reports whether one component s3gate depends on answers.
type HealthCheck func(context.Context) error

// OpsHandler serves the operations listener: /health (every component
// answers: 200, else 503 naming the ones that do not) and /metrics
// (Prometheus). Neither needs credentials; keep the listener off public
// interfaces. withPprof adds Go's profiler under /debug/pprof/, for
// measuring s3gate under load. A non-nil admin (Gateway.AdminHandler) is
// mounted at /api/; it authenticates every request itself.
func OpsHandler(reg *prometheus.Registry, checks map[string]HealthCheck, withPprof bool, admin http.Handler) http.Handler {
	mux := http.NewServeMux()
	if admin != nil {
		mux.Handle("/api/", admin)
	}
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		status, code := map[string]string{}, http.StatusOK
		for _, name := range slices.Sorted(maps.Keys(checks)) {
			if err := checks[name](ctx); err != nil {
				status[name], code = "unavailable: "+err.Error(), http.StatusServiceUnavailable
			} else {
				status[name] = "ok"
			}
		}
		if code == http.StatusOK {
			status["status"] = "ok"
		} else {
			status["status"] = "degraded"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(status)
	})
	return mux
}
