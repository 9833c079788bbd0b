package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestHydraHasNoTokenExchange: Hydra v2.3.0 implements no RFC 8693 grant. A token-exchange
// credential pointed at Hydra fails the call with upstream_auth and Hydra's own refusal
// (HTTP 400 invalid_request), and never calls the upstream with weaker credentials (docs/auth.md says to exchange elsewhere).
func TestHydraHasNoTokenExchange(t *testing.T) {
	t.Parallel()
	const id, secret = "hydra-exchanger", "hydra-exchanger-secret"
	h := startHydra(t)
	h.createClient(t, id, secret, []string{"mcp"}, []string{resource, "tickets"})
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
auth: {mode: oidc, issuer: %s, audience: %s, required_scopes: [mcp]}
credentials:
  tickets: {type: token_exchange, token_url: %s/oauth2/token, client_id: %s, client_secret: %s, audience: tickets}
upstreams: [{name: demo, url: %s, credentials: tickets}]
`, h.Issuer, resource, h.Issuer, id, secret, demo.URL))
	c := connectAs(t, g.URL, h.clientCredentialsToken(t, id, secret, "mcp", resource))
	res, err := callErr(c, "demo__whoami", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	// Hydra answers the unknown grant type with HTTP 400 invalid_request.
	if code := gatewayErrorCode(res); code != "upstream_auth" || !strings.Contains(text(res), "refused with HTTP 400") {
		t.Errorf("a token exchange at Hydra answered %q: %s; want upstream_auth naming Hydra's refusal", code, text(res))
	}
	if strings.Contains(text(res), secret) {
		t.Errorf("the error shows the client secret: %s", text(res))
	}
}
