// Package admin serves the operator endpoints: /healthz, /readyz, the /admin/* views and the
// cache purge.
package admin

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Readiness is the gateway's readiness: a set of named conditions that each must hold (every
// source synced once, the identity provider discovered, ...), and not draining. Safe for
// concurrent use.
type Readiness struct {
	mu       sync.Mutex
	waiting  map[string]string // condition -> why it does not hold yet
	draining bool
}

// Wait records that condition does not hold yet, and why.
func (r *Readiness) Wait(condition, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting == nil {
		r.waiting = map[string]string{}
	}
	r.waiting[condition] = why
}

// Done records that condition holds.
func (r *Readiness) Done(condition string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting, condition)
}

// Drain records that the gateway is shutting down; /readyz answers 503 from now on.
func (r *Readiness) Drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.draining = true
}

// Ready reports readiness and, when not ready, why.
func (r *Readiness) Ready() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return false, "draining"
	}
	if len(r.waiting) == 0 {
		return true, ""
	}
	var reasons []string
	for _, c := range slices.Sorted(maps.Keys(r.waiting)) {
		reasons = append(reasons, c+": "+r.waiting[c])
	}
	return false, strings.Join(reasons, "; ")
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
			if d := details(); d != nil {
				body["details"] = d
			}
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

// RegisterCachePurge adds POST /admin/cache/purge?upstream=NAME (every cached result of an
// upstream) or ?tool=EXPOSED_NAME (one tool's), answered with {"purged": N}.
func RegisterCachePurge(mux *http.ServeMux, purge func(ctx context.Context, upstream, tool string) (int, error)) {
	mux.HandleFunc("POST /admin/cache/purge", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		upstream, tool := q.Get("upstream"), q.Get("tool")
		if (upstream == "") == (tool == "") {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "give upstream=NAME or tool=EXPOSED_NAME"})
			return
		}
		n, err := purge(r.Context(), upstream, tool)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "purged": n})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"purged": n})
	})
}

// RegisterViews adds GET /admin/catalog and GET /admin/upstreams, answering with what catalog
// and upstreams return, as JSON.
func RegisterViews(mux *http.ServeMux, catalog, upstreams func() any) {
	mux.HandleFunc("GET /admin/catalog", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, catalog())
	})
	mux.HandleFunc("GET /admin/upstreams", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, upstreams())
	})
}
