// Package admin serves the operator endpoints: /healthz and /readyz (later /metrics and /admin/*).
package admin

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// Readiness is the gateway's readiness: not ready until every configured source has synced
// once, and not ready again once draining starts. Safe for concurrent use.
type Readiness struct {
	synced   atomic.Bool
	draining atomic.Bool
}

// Synced records that every source was tried once.
func (r *Readiness) Synced() { r.synced.Store(true) }

// Drain records that the gateway is shutting down; /readyz answers 503 from now on.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Ready reports readiness and, when not ready, why.
func (r *Readiness) Ready() (bool, string) {
	switch {
	case r.draining.Load():
		return false, "draining"
	case !r.synced.Load():
		return false, "upstreams not tried yet"
	}
	return true, ""
}

// Register adds /healthz and /readyz to mux. details, if not nil, adds what it returns to the
// /readyz body (the state of each source), whether ready or not.
func Register(mux *http.ServeMux, ready *Readiness, details func() map[string]any) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"status": "ready"}
		if details != nil {
			body["details"] = details()
		}
		status := http.StatusOK
		if ok, why := ready.Ready(); !ok {
			body["status"], body["reason"] = "not ready", why
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
