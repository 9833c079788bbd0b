package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

const resource = "https://mcp.switchboard.test"

// authGateway is a gateway with OIDC auth in front of an HTTP upstream that accepts only the
// gateway's own client-credentials token, and a stdio upstream.
func authGateway(t *testing.T) (*gateway, *oidctest.Issuer) {
	t.Helper()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	p := start(t, nil, bin.demo, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--name", "guarded", "--require-bearer", "cc-token-")
	addr := strings.TrimPrefix(strings.Fields(waitLine(t, p, "serving http://"))[3], "http://")
	addr = strings.TrimSuffix(addr, "/mcp")
	g := startGateway(t, fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %s
  audience: %s
  required_scopes: [mcp]
  policies:
    - when: {scope: "weather:read"}
      allow: ["guarded__now", "guarded__echo", "local__whoami"]
    - when: {claim: {groups: analysts}}
      allow: ["guarded__add"]
upstreams:
  - name: guarded
    url: http://%s/mcp
    oauth2: {token_url: %s/token, client_id: gateway, client_secret: gateway-secret, audience: https://guarded.test}
  - name: local
    command: [%q, "--name", "local"]
`, iss.URL, resource, addr, iss.URL, bin.demo))
	return g, iss
}

// waitLine waits for a line of p's output containing s and returns it.
func waitLine(t *testing.T, p *proc, s string) string {
	t.Helper()
	var line string
	eventually(t, 10*time.Second, "output "+s, func() error {
		for _, l := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(l, s) {
				line = l
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	return line
}

func post(t *testing.T, url, authz string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAuthRejectsBadTokensOverHTTP(t *testing.T) {
	t.Parallel()
	g, iss := authGateway(t)
	base := strings.TrimSuffix(g.URL, "/mcp")
	expired := iss.Claims("alice", resource, "mcp")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	wrongAud := iss.Claims("alice", resource, "mcp")
	wrongAud["aud"] = "https://elsewhere.test"
	tests := []struct {
		name, url, authz string
		status           int
		errorCode        string
	}{
		{"no token", g.URL, "", 401, ""},
		{"garbage", g.URL, "Bearer garbage", 401, "invalid_token"},
		{"expired", g.URL, "Bearer " + iss.Sign("rsa-1", expired), 401, "invalid_token"},
		{"wrong audience", g.URL, "Bearer " + iss.Sign("rsa-1", wrongAud), 401, "invalid_token"},
		{"token in the query", g.URL + "?access_token=" + iss.Sign("rsa-1", iss.Claims("alice", resource, "mcp")), "", 401, "invalid_request"},
		{"missing scope", g.URL, "Bearer " + iss.Sign("ec-1", iss.Claims("alice", resource, "weather:read")), 403, "insufficient_scope"},
		{"valid", g.URL, "Bearer " + iss.Sign("ec-1", iss.Claims("alice", resource, "mcp")), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, tc.url, tc.authz)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if tc.status == 200 {
				return
			}
			want := fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp", scope="mcp"`, base)
			if !strings.HasPrefix(www, want) {
				t.Errorf("WWW-Authenticate %q, want it to start with %q", www, want)
			}
			if tc.errorCode != "" && !strings.Contains(www, `error="`+tc.errorCode+`"`) {
				t.Errorf("WWW-Authenticate %q lacks error=%q", www, tc.errorCode)
			}
		})
	}

	// The official TypeScript client is refused the same way.
	for token, status := range map[string]int{
		"": 401, "garbage": 401, iss.Sign("rsa-1", expired): 401,
		iss.Sign("ec-1", iss.Claims("alice", resource, "weather:read")): 403,
	} {
		cmd := tsClient(t, g.URL, "[]", "x")
		cmd.Env = append(os.Environ(), "TOKEN="+token)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("TypeScript client: %v %s", err, exitStderr(err))
		}
		var report struct{ ConnectError *struct{ Code int } }
		_ = json.Unmarshal(out, &report)
		if report.ConnectError == nil || report.ConnectError.Code != status {
			t.Errorf("TypeScript client with token %.20q: want a %d refusal, got %s", token, status, out)
		}
	}

	// RFC 9728 metadata, at both well-known paths.
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			ScopesSupported      []string `json:"scopes_supported"`
			BearerMethods        []string `json:"bearer_methods_supported"`
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &doc); err != nil || doc.Resource != base || !slices.Equal(doc.AuthorizationServers, []string{iss.URL}) ||
			!slices.Contains(doc.ScopesSupported, "mcp") || !slices.Equal(doc.BearerMethods, []string{"header"}) {
			t.Errorf("%s: %s", path, body)
		}
	}
}

func TestPoliciesShapeEachPrincipalsView(t *testing.T) {
	t.Parallel()
	g, iss := authGateway(t)
	aliceClaims := iss.Claims("alice", resource, "mcp weather:read")
	bobClaims := iss.Claims("bob", resource, "mcp")
	bobClaims["groups"] = []string{"staff", "analysts"}
	carolClaims := iss.Claims("carol", resource, "mcp")
	alice, bob, carol := iss.Sign("rsa-1", aliceClaims), iss.Sign("ec-1", bobClaims), iss.Sign("rsa-1", carolClaims)

	names := func(token string) []string {
		var out []string
		for name := range rawTools(t, connectAs(t, g.URL, token)) {
			out = append(out, name)
		}
		slices.Sort(out)
		return out
	}
	if got := names(alice); !slices.Equal(got, []string{"guarded__echo", "guarded__now", "local__whoami"}) {
		t.Errorf("alice sees %v", got)
	}
	if got := names(bob); !slices.Equal(got, []string{"guarded__add"}) {
		t.Errorf("bob sees %v", got)
	}
	if got := names(carol); len(got) < 16 { // no policy matches carol: every tool of both upstreams
		t.Errorf("carol sees %v", got)
	}

	// A call outside one's view is an unknown tool, exactly as for a tool that does not exist.
	ca := connectAs(t, g.URL, alice)
	denied, missing := rawCall(t, ca, "guarded__add", map[string]any{"a": 1, "b": 2}), rawCall(t, ca, "guarded__nothing", nil)
	if denied.Error == nil || denied.Error.Code != -32602 || denied.Error.Message != "unknown tool: guarded__add" ||
		missing.Error == nil || missing.Error.Code != denied.Error.Code || missing.Error.Message != "unknown tool: guarded__nothing" {
		t.Errorf("denied call: %+v; missing tool: %+v", denied.Error, missing.Error)
	}
	// Allowed calls reach the upstream, which accepts only the gateway's own token.
	if got := text(call(t, ca, "guarded__echo", map[string]any{"text": "hi"})); got != "hi" {
		t.Errorf("alice's echo: %q", got)
	}
	cb := connectAs(t, g.URL, bob)
	if res := call(t, cb, "guarded__add", map[string]any{"a": 40, "b": 2}); text(res) != "42" {
		t.Errorf("bob's add: %q", text(res))
	}
	if iss.TokensIssued.Load() < 1 {
		t.Error("the gateway never fetched its client-credentials token")
	}

	// The official TypeScript client, with a token, sees the same view.
	cmd := tsClient(t, g.URL, `[{"name":"guarded__now","arguments":{}}]`, "guarded__add")
	cmd.Env = append(os.Environ(), "TOKEN="+alice)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("TypeScript client: %v %s", err, exitStderr(err))
	}
	var report struct {
		Tools   []struct{ Name string }
		Calls   []struct{ IsError bool }
		Unknown struct {
			Code    int
			Message string
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(report.Tools) != 3 || len(report.Calls) != 1 || report.Calls[0].IsError || report.Unknown.Code != -32602 {
		t.Errorf("TypeScript client as alice: %s", out)
	}
}

func TestNotReadyUntilTheIdentityProviderAnswers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet: the IdP is down
	g := launchGateway(t, fmt.Sprintf(`
auth: {mode: oidc, issuer: "http://%s", audience: %s}
upstreams: [{name: local, command: [%q]}]
`, addr, resource, bin.demo))
	waitNotReady(t, g, 20*time.Second, "oidc: discovery of http://"+addr+" failing")
	iss := oidctest.NewAt(addr) // the IdP comes up
	t.Cleanup(iss.Close)
	eventually(t, 60*time.Second, "ready once the IdP answers", func() error {
		if st, body := readyz(t, g); st != http.StatusOK {
			return fmt.Errorf("readyz %d %s", st, body)
		}
		return nil
	})
	c := connectAs(t, g.URL, iss.Sign("rsa-1", iss.Claims("dave", resource, "")))
	if got := text(call(t, c, "local__echo", map[string]any{"text": "ok"})); got != "ok" {
		t.Errorf("call after the IdP came up: %q", got)
	}
}

// TestAdminEndpointsNeedTheAdminScope: with auth on and the admin endpoints on the MCP listener,
// /admin/* asks for a token with the admin scope; health and readiness stay open.
func TestAdminEndpointsNeedTheAdminScope(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	g := startGateway(t, fmt.Sprintf(`admin_listen: ""
auth: {mode: oidc, issuer: %s, audience: %s}
upstreams: [{name: local, command: [%q]}]
`, iss.URL, resource, bin.demo))
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, g.Admin+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	operator := iss.Sign("rsa-1", iss.Claims("ops", resource, "switchboard:admin"))
	user := iss.Sign("rsa-1", iss.Claims("user", resource, ""))
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/admin/catalog", "", 401}, {"/admin/catalog", user, 403}, {"/admin/catalog", operator, 200},
		{"/admin/upstreams", operator, 200}, {"/healthz", "", 200}, {"/readyz", "", 200},
	} {
		got, challenge := get(tc.path, tc.token)
		if got != tc.want {
			t.Errorf("GET %s (token %v): %d, want %d", tc.path, tc.token != "", got, tc.want)
		}
		// A refusal names the scope the operator's token needs.
		if (got == 401 || got == 403) && !strings.Contains(challenge, "switchboard:admin") {
			t.Errorf("GET %s: %d with WWW-Authenticate %q, which does not name the admin scope", tc.path, got, challenge)
		}
	}
}
