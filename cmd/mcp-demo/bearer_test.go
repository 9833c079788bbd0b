package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

func TestVerifyBearer(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	other := oidctest.New()
	t.Cleanup(other.Close)
	logPath := filepath.Join(t.TempDir(), "tokens")
	tokens, err := openTokenLog(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var sub string
	h := verifyBearer(iss.URL+"/jwks", iss.URL, "tickets", tokens, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		sub = ""
		if v := verifiedFrom(r.Context()); v != nil {
			sub = v.Sub
		}
	}))
	good := iss.Sign("rsa-1", iss.Claims("alice", "tickets", ""))
	tests := []struct {
		name, body, token string
		status            int
		sub               string
	}{
		{"verified", `{"method":"tools/call"}`, good, 200, "alice"},
		{"another audience", `{"method":"tools/call"}`, iss.Sign("rsa-1", iss.Claims("alice", "gateway", "")), 401, ""},
		{"another key", `{"method":"tools/list"}`, other.Sign("rsa-1", iss.Claims("alice", "tickets", "")), 401, ""},
		{"a call without a token", `{"method":"tools/call"}`, "", 401, ""},
		{"session traffic without a token", `{"method":"initialize"}`, "", 200, ""},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		sub = "unset"
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || (tc.status == 200 && sub != tc.sub) {
			t.Errorf("%s: got %d sub %q, want %d sub %q", tc.name, rec.Code, sub, tc.status, tc.sub)
		}
	}
	data, _ := os.ReadFile(logPath)
	if n := len(strings.Fields(string(data))); n != 3 {
		t.Errorf("token log has %d entries, want the 3 distinct tokens shown", n)
	}
}
