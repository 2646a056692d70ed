package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3gate/s3gate/backends"
)

// OpsHandler serves the operations listener: /health (the backend answers)
// and /metrics (Prometheus). Neither needs credentials; keep the listener
// off public interfaces.
func OpsHandler(reg *prometheus.Registry, backend backends.Backend) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		status, code := "ok", http.StatusOK
		if _, err := backend.ListBuckets(ctx); err != nil {
			status, code = "backend unavailable: "+err.Error(), http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"status": status})
	})
	return mux
}
