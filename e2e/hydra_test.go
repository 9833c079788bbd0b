package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestGatewayAcceptsHydraTokens puts a real Ory Hydra in front of the gateway: tokens from its
// client-credentials grant are verified through the gateway's normal OIDC path (discovery of the
// issuer, Hydra's own JWKS), with no Hydra-specific setting beyond the issuer and the audience.
func TestGatewayAcceptsHydraTokens(t *testing.T) {
	t.Parallel()
	const (
		id, secret = "mcp-agent", "mcp-agent-secret"
		elsewhere  = "https://elsewhere.test"
	)
	h := startHydra(t)
	h.createClient(t, id, secret, []string{"mcp", "other"}, []string{resource, elsewhere})
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %s
  audience: %s
  required_scopes: [mcp]
  policies:
    - when: {scope: other}
      allow: ["demo__now"]
upstreams:
  - name: demo
    url: %s
`, h.Issuer, resource, demo.URL))

	mcpToken := h.clientCredentialsToken(t, id, secret, "mcp", resource)

	t.Run("claims", func(t *testing.T) {
		// What the gateway relies on, as Hydra issues it: iss is URLS_SELF_ISSUER as written, aud
		// is the list of requested audiences, scopes are the list claim scp.
		claims := jwtClaims(t, mcpToken)
		aud, _ := claims["aud"].([]any)
		scp, _ := claims["scp"].([]any)
		if claims["iss"] != h.Issuer || !slices.Equal(aud, []any{resource}) || !slices.Equal(scp, []any{"mcp"}) ||
			claims["sub"] != id || claims["client_id"] != id {
			t.Errorf("hydra's access token claims: %v", claims)
		}
	})

	t.Run("scope mcp for the gateway's audience", func(t *testing.T) {
		logClaimsOnFailure(t, mcpToken)
		c := connectAs(t, g.URL, mcpToken)
		tools := slices.Sorted(maps.Keys(rawTools(t, c)))
		if !slices.Contains(tools, "demo__echo") || !slices.Contains(tools, "demo__now") {
			t.Errorf("tools: %v", tools)
		}
		if got := text(call(t, c, "demo__echo", map[string]any{"text": "from hydra"})); got != "from hydra" {
			t.Errorf("demo__echo answered %q", got)
		}
	})

	altered := func(token string) string {
		parts := strings.Split(token, ".")
		sig := []byte(parts[2])
		// A character in the middle: all six of its bits are signature bits (the last
		// character's low bits may be padding).
		i := len(sig) / 2
		if sig[i] == 'A' {
			sig[i] = 'B'
		} else {
			sig[i] = 'A'
		}
		return parts[0] + "." + parts[1] + "." + string(sig)
	}
	refusals := []struct {
		name, token string
		status      int
		errorCode   string
	}{
		{"another audience", h.clientCredentialsToken(t, id, secret, "mcp", elsewhere), 401, "invalid_token"},
		{"no mcp scope", h.clientCredentialsToken(t, id, secret, "other", resource), 403, "insufficient_scope"},
		{"altered signature", altered(mcpToken), 401, "invalid_token"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			logClaimsOnFailure(t, tc.token)
			resp := post(t, g.URL, "Bearer "+tc.token)
			www := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tc.status || !strings.Contains(www, `error="`+tc.errorCode+`"`) {
				t.Errorf("status %d, WWW-Authenticate %q; want %d with error=%q", resp.StatusCode, www, tc.status, tc.errorCode)
			}
		})
	}

	t.Run("policy on scope other", func(t *testing.T) {
		token := h.clientCredentialsToken(t, id, secret, "mcp other", resource)
		logClaimsOnFailure(t, token)
		c := connectAs(t, g.URL, token)
		if tools := slices.Sorted(maps.Keys(rawTools(t, c))); !slices.Equal(tools, []string{"demo__now"}) {
			t.Errorf("with scopes mcp and other: tools %v, want only demo__now", tools)
		}
		if res := call(t, c, "demo__now", nil); res.IsError {
			t.Errorf("demo__now: %s", text(res))
		}
		if resp := rawCall(t, c, "demo__echo", map[string]any{"text": "x"}); resp.Error == nil || resp.Error.Code != -32602 {
			t.Errorf("demo__echo outside the policy: %+v", resp)
		}
	})
}

// logClaimsOnFailure logs token's claims when t fails, to show what Hydra put in it.
func logClaimsOnFailure(t *testing.T, token string) {
	t.Helper()
	claims := jwtClaims(t, token)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("token claims: %v", claims)
		}
	})
}
