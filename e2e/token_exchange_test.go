package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

// exchangeTTL is the lifetime of exchanged tokens in these tests: short, so that one expires
// during a test; long enough for a few calls to fit in it.
const exchangeTTL = 4 * time.Second

// ticketsUpstream is mcp-demo verifying every bearer token against iss's keys for the audience
// tickets-api, recording the SHA-256 of each token it receives in the returned file.
func ticketsUpstream(t *testing.T, iss *oidctest.Issuer) (*upstreamHTTP, string) {
	t.Helper()
	tokenLog := filepath.Join(t.TempDir(), "tokens")
	up := runDemoHTTP(t, "tickets", fmt.Sprintf("127.0.0.1:%d", freePort(t)), false,
		"--jwks", iss.URL+"/jwks", "--issuer", iss.URL, "--audience", "tickets-api", "--token-log", tokenLog)
	return up, tokenLog
}

// exchangeIssuer is an IdP whose token exchange takes the gateway's tokens and issues
// tickets-api tokens that live exchangeTTL; it refuses mallory.
func exchangeIssuer(t *testing.T) *oidctest.Issuer {
	t.Helper()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	iss.SetSubjectAudience(resource)
	iss.SetExchangeAudiences("tickets-api")
	iss.SetExchangeTTL(exchangeTTL)
	iss.RefuseExchange("mallory")
	return iss
}

// exchangeConfig is the auth and credentials part of a gateway's config: "tickets" exchanges
// with the right client secret, "wrong" with a wrong one.
func exchangeConfig(iss *oidctest.Issuer) string {
	return fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %[1]s
  audience: %[2]s
  required_scopes: [mcp]
credentials:
  tickets: {type: token_exchange, token_url: %[1]s/token, client_id: gateway, client_secret: gateway-secret, audience: tickets-api, scopes: [tickets.read]}
  wrong: {type: token_exchange, token_url: %[1]s/token, client_id: gateway, client_secret: not-the-secret, audience: tickets-api}
`, iss.URL, resource)
}

func userToken(iss *oidctest.Issuer, sub string) string {
	return iss.Sign("rsa-1", iss.Claims(sub, resource, "mcp"))
}

// whoami calls whoami through c and returns whom the upstream's verified token named.
func whoami(t *testing.T, c *client.Client, tool string) (sub string, aud []string) {
	t.Helper()
	res := call(t, c, tool, nil)
	if res.IsError {
		t.Fatalf("%s failed: %s", tool, text(res))
	}
	var got struct {
		Sub string   `json:"sub"`
		Aud []string `json:"aud"`
	}
	if err := json.Unmarshal([]byte(text(res)), &got); err != nil {
		t.Fatalf("%s answered %q, not a verified token's sub and aud", tool, text(res))
	}
	return got.Sub, got.Aud
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	iss := exchangeIssuer(t)
	up, tokenLog := ticketsUpstream(t, iss)
	g := startGateway(t, exchangeConfig(iss)+fmt.Sprintf(`
upstreams:
  - name: tickets
    url: %[1]s
    credentials: tickets
  - name: misconfigured
    url: %[1]s
    credentials: wrong
`, up.URL))
	callers := map[string]string{}
	as := func(sub string) *client.Client {
		callers[sub] = userToken(iss, sub)
		return connectAs(t, g.URL, callers[sub])
	}
	alice, bob := as("alice"), as("bob")

	t.Run("each caller is themselves upstream", func(t *testing.T) {
		for _, tc := range []struct {
			c    *client.Client
			want string
		}{{alice, "alice"}, {bob, "bob"}} {
			sub, aud := whoami(t, tc.c, "tickets__whoami")
			if sub != tc.want || !slices.Equal(aud, []string{"tickets-api"}) {
				t.Errorf("the upstream saw sub %q aud %v, want %q for tickets-api", sub, aud, tc.want)
			}
		}
		// The 2026-07-28 era (no session) carries the caller's token just the same.
		carol := dialMCP(t, g.URL, false, map[string]string{"Authorization": "Bearer " + userToken(iss, "carol")}, nil)
		if sub, _ := whoami(t, carol, "tickets__whoami"); sub != "carol" {
			t.Errorf("a 2026-07-28 call: the upstream saw %q, want carol", sub)
		}
	})

	t.Run("cached while it lives, renewed when it expired", func(t *testing.T) {
		dave := as("dave")
		for range 3 {
			whoami(t, dave, "tickets__whoami")
		}
		if n := iss.Exchanges("dave"); n != 1 {
			t.Errorf("three calls within the token's lifetime: %d exchanges, want 1", n)
		}
		time.Sleep(exchangeTTL + 500*time.Millisecond)
		// The upstream refuses an expired token, so this call succeeds only with a new one.
		if sub, _ := whoami(t, dave, "tickets__whoami"); sub != "dave" {
			t.Errorf("after expiry the upstream saw %q", sub)
		}
		if n := iss.Exchanges("dave"); n != 2 {
			t.Errorf("a call after the token expired: %d exchanges in all, want 2", n)
		}
	})

	refused := func(t *testing.T, c *client.Client, tool, oauthCode string, secrets ...string) {
		t.Helper()
		res := call(t, c, tool, nil)
		if !res.IsError || gatewayErrorCode(res) != "upstream_auth" {
			t.Fatalf("want isError with code upstream_auth, got %v %q: %s", res.IsError, gatewayErrorCode(res), text(res))
		}
		msg := text(res)
		t.Logf("%s answered: %s", tool, msg)
		upstreamName, _, _ := strings.Cut(tool, "__")
		if !strings.Contains(msg, upstreamName) || !strings.Contains(msg, oauthCode) {
			t.Errorf("the text names neither the upstream nor %s: %s", oauthCode, msg)
		}
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("the text carries a secret: %s", msg)
			}
		}
	}
	t.Run("a user the IdP refuses", func(t *testing.T) {
		mallory := as("mallory")
		refused(t, mallory, "tickets__whoami", "invalid_grant", "gateway-secret", callers["mallory"])
	})
	t.Run("a wrong client secret", func(t *testing.T) {
		refused(t, alice, "misconfigured__whoami", "invalid_client", "not-the-secret", "gateway-secret", callers["alice"])
	})

	t.Run("no caller's token reaches the upstream", func(t *testing.T) {
		data, err := os.ReadFile(tokenLog)
		if err != nil {
			t.Fatal(err)
		}
		seen := strings.Fields(string(data))
		// alice, bob, carol, and dave twice: each a token of its own.
		if len(seen) != 5 {
			t.Errorf("the upstream saw %d distinct tokens, want 5", len(seen))
		}
		for sub, tok := range callers {
			if slices.Contains(seen, sha256Hex(tok)) {
				t.Errorf("%s's own token reached the upstream", sub)
			}
		}
		if subjects := iss.SubjectTokensSeen(); !slices.Contains(subjects, callers["alice"]) {
			t.Error("the IdP was not handed alice's token to exchange")
		}
	})
}

func TestTokenExchangeConsulMeta(t *testing.T) {
	t.Parallel()
	needConsul(t)
	iss := exchangeIssuer(t)
	up, _ := ticketsUpstream(t, iss)
	agent := startConsul(t)
	agent.register(t, "tickets", "tickets-1", up, map[string]string{"mcp_credentials": "tickets"})
	agent.register(t, "orphan", "orphan-1", up, map[string]string{"mcp_credentials": "nope"})
	g := startGateway(t, exchangeConfig(iss)+fmt.Sprintf("consul: {address: %q}\n", agent.Addr))

	alice := connectAs(t, g.URL, userToken(iss, "alice"))
	eventually(t, 30*time.Second, "tickets discovered", func() error {
		if _, ok := rawTools(t, alice)["tickets__whoami"]; !ok {
			return fmt.Errorf("not listed yet")
		}
		return nil
	})
	if sub, aud := whoami(t, alice, "tickets__whoami"); sub != "alice" || !slices.Equal(aud, []string{"tickets-api"}) {
		t.Errorf("the upstream saw sub %q aud %v, want alice for tickets-api", sub, aud)
	}
	line := waitLine(t, g.proc, `credentials \"nope\"`)
	if !strings.Contains(line, "orphan") || !strings.Contains(line, "not defined") {
		t.Errorf("the log does not say which instance names which unknown credentials: %s", line)
	}
	if _, ok := rawTools(t, alice)["orphan__whoami"]; ok {
		t.Error("an instance naming unknown credentials was listed: it must not connect")
	}
}
