package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/internal/oidctest"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// seenRequest is one HTTP request an upstream got: its JSON-RPC method ("" for a GET) and
// Authorization header.
type seenRequest struct{ method, authorization string }

// recordingUpstream is a real MCP server over Streamable HTTP that records what each request
// carried.
type recordingUpstream struct {
	URL  string
	mu   sync.Mutex
	seen []seenRequest
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	s := server.NewMCPServer("recorder", "1")
	s.AddTool(mcp.NewTool("echo"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	})
	u := &recordingUpstream{}
	h := server.NewStreamableHTTPServer(s)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Method string `json:"method"`
		}
		if r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(body, &msg)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{msg.Method, r.Header.Get("Authorization")})
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL = srv.URL + "/mcp"
	return u
}

// requests returns what the requests of method carried, in order.
func (u *recordingUpstream) requests(method string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, s := range u.seen {
		if s.method == method {
			out = append(out, s.authorization)
		}
	}
	return out
}

const gatewayAudience = "https://gw.test"

// newCredentialManager is a Manager with the credential "tickets" (token exchange at iss) that
// runs instances and waits until they were tried.
func newCredentialManager(t *testing.T, iss *oidctest.Issuer, instances ...registry.Instance) *Manager {
	t.Helper()
	m := NewManager(quietLog, Settings{
		ConnectTimeout: 5 * time.Second, BreakerFailures: 1, BreakerOpenFor: time.Minute, MaxConcurrent: 4, QueueTimeout: time.Second,
		Credentials: map[string]tokenexchange.Config{
			"tickets": {TokenURL: iss.URL + "/token", ClientID: iss.ClientID, ClientSecret: iss.ClientSecret, Audience: "tickets"},
		},
	})
	t.Cleanup(m.Close)
	m.Apply(registry.Snapshot{{Name: "svc", Namespace: "svc", Timeout: 5 * time.Second, Instances: instances}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !m.WaitTried(ctx) {
		t.Fatal("instances were not tried")
	}
	return m
}

// as returns a context of a call by sub, with a token of iss for the gateway.
func as(iss *oidctest.Issuer, sub string) context.Context {
	ctx := authn.WithPrincipal(context.Background(), &authn.Principal{Issuer: iss.URL, Subject: sub})
	return authn.WithToken(ctx, iss.Sign("rsa-1", iss.Claims(sub, gatewayAudience, "mcp")))
}

func subjectOf(t *testing.T, authorization string) (sub, aud string) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(authorization, "Bearer "), ".")
	if len(parts) != 3 {
		t.Fatalf("not a bearer JWT: %q", authorization)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Sub, Aud string }
	_ = json.Unmarshal(raw, &c)
	return c.Sub, c.Aud
}

func TestCallsCarryTheirCallersExchangedToken(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	iss.SetSubjectAudience(gatewayAudience)
	iss.RefuseExchange("mallory")
	up := newRecordingUpstream(t)
	m := newCredentialManager(t, iss, registry.Instance{ID: "a", Transport: registry.StreamableHTTP, URL: up.URL, Credentials: "tickets"})

	for _, sub := range []string{"alice", "bob", "alice"} {
		if _, err := m.Call(as(iss, sub), "svc", CallRequest{Tool: "echo"}); err != nil {
			t.Fatalf("%s: %v", sub, err)
		}
	}
	calls := up.requests("tools/call")
	if len(calls) != 3 {
		t.Fatalf("%d calls reached the upstream, want 3", len(calls))
	}
	for i, want := range []string{"alice", "bob", "alice"} {
		if sub, aud := subjectOf(t, calls[i]); sub != want || aud != "tickets" {
			t.Errorf("call %d: token of %q for %q, want %q for tickets", i, sub, aud, want)
		}
	}
	if calls[0] != calls[2] || iss.Exchanges("alice") != 1 {
		t.Errorf("alice's second call did not reuse her token (%d exchanges)", iss.Exchanges("alice"))
	}
	for _, method := range []string{"initialize", "tools/list", "notifications/initialized"} {
		for _, a := range up.requests(method) {
			if a != "" {
				t.Errorf("the session's own %s carried %q", method, a)
			}
		}
	}

	t.Run("refused exchange", func(t *testing.T) {
		_, err := m.Call(as(iss, "mallory"), "svc", CallRequest{Tool: "echo"})
		var te *tokenexchange.Error
		if !errors.Is(err, ErrAuth) || !errors.As(err, &te) || te.Code != "invalid_grant" {
			t.Fatalf("want ErrAuth with invalid_grant, got %v", err)
		}
		// The exchange's failure says nothing about the upstream: its breaker (one failure
		// opens it) stays closed.
		if _, err := m.Call(as(iss, "alice"), "svc", CallRequest{Tool: "echo"}); err != nil {
			t.Errorf("after a refused exchange: %v", err)
		}
	})
	t.Run("no caller token", func(t *testing.T) {
		if _, err := m.Call(context.Background(), "svc", CallRequest{Tool: "echo"}); !errors.Is(err, ErrAuth) {
			t.Errorf("want ErrAuth, got %v", err)
		}
		if _, err := m.Request(context.Background(), "svc", "prompts/list", nil); !errors.Is(err, ErrAuth) {
			t.Errorf("another request: want ErrAuth, got %v", err)
		}
	})
	if n := len(up.requests("tools/call")); n != 4 {
		t.Errorf("%d calls reached the upstream, want 4: a call without a token of its caller went out", n)
	}
}

func TestInstancesThatCannotCarryTheirCredentialsDoNotConnect(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	up := newRecordingUpstream(t)
	tests := []struct {
		name string
		spec registry.Instance
		want string
	}{
		{"unknown name", registry.Instance{ID: "a", Transport: registry.StreamableHTTP, URL: up.URL, Credentials: "nope"},
			`credentials "nope" (Consul meta mcp_credentials) are not defined`},
		{"legacy SSE", registry.Instance{ID: "a", Transport: registry.SSE, URL: up.URL, Credentials: "tickets"},
			`credentials "tickets" need the streamable-http transport`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newCredentialManager(t, iss, tc.spec)
			st := m.Upstream("svc").Instances()[0]
			if st.Connected || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("status %+v, want not connected with %q", st, tc.want)
			}
			_, err := m.Call(as(iss, "alice"), "svc", CallRequest{Tool: "echo"})
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("call: want ErrAuth naming the cause, got %v", err)
			}
		})
	}
	if n := len(up.requests("initialize")); n != 0 {
		t.Errorf("the upstream got %d initialize requests from instances that must not connect", n)
	}
}
