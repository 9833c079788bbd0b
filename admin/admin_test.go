package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	ready := &Readiness{}
	ready.Wait("upstreams", "not tried yet")
	ready.Wait("oidc", "discovery failing")
	mux := http.NewServeMux()
	Register(mux, ready, func() map[string]any { return map[string]any{"consul": "ok"} })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "oidc: discovery failing; upstreams: not tried yet") {
		t.Errorf("readyz before sync: %d %s", code, body)
	}
	ready.Done("upstreams")
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with one condition left: %d", code)
	}
	ready.Done("oidc")
	if code, body := get("/readyz"); code != http.StatusOK || !strings.Contains(body, `"consul":"ok"`) {
		t.Errorf("readyz after sync: %d %s", code, body)
	}
	ready.Drain()
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining: %d %s", code, body)
	}
}
