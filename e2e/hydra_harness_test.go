package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var hydraPeer peer

// needHydra returns the Ory Hydra make hydra builds into bin/.
func needHydra(t testing.TB) string {
	t.Helper()
	return hydraPeer.need(t, func() (string, error) {
		return installedFile("ory hydra", "../bin/hydra", "make hydra")
	})
}

// hydraServer is a real Ory Hydra (public and admin APIs in one process) on free loopback ports,
// keeping everything in memory and issuing JWT access tokens.
type hydraServer struct {
	Issuer string // base URL of the public API, the issuer of its tokens
	Admin  string // base URL of the admin API
	proc   *proc
}

// startHydra starts Hydra and waits until both APIs are ready.
func startHydra(t testing.TB) *hydraServer {
	t.Helper()
	// As with Consul: a free port can be taken before Hydra binds it, and then Hydra exits at
	// once; a fresh pair of ports is tried.
	for attempt := 1; ; attempt++ {
		h, err := tryStartHydra(t)
		if err != nil && attempt < 3 && strings.Contains(h.proc.out.String(), "address already in use") {
			continue
		}
		if err != nil {
			t.Fatalf("hydra: %v:\n%s", err, h.proc.out.String())
		}
		return h
	}
}

// errHydraExited: the Hydra process ended before it was ready.
var errHydraExited = errors.New("hydra exited")

func tryStartHydra(t testing.TB) (*hydraServer, error) {
	t.Helper()
	ports := freePorts(t, 2) // public, admin
	h := &hydraServer{
		Issuer: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		Admin:  fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	env := []string{
		"DSN=memory",
		"SECRETS_SYSTEM=switchboard-e2e-system-secret-0123456789",
		"STRATEGIES_ACCESS_TOKEN=jwt",
		"URLS_SELF_ISSUER=" + h.Issuer,
		"SERVE_PUBLIC_HOST=127.0.0.1",
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", ports[0]),
		"SERVE_ADMIN_HOST=127.0.0.1",
		fmt.Sprintf("SERVE_ADMIN_PORT=%d", ports[1]),
		"LOG_LEVEL=warn",
	}
	// --dev allows an http:// issuer; --sqa-opt-out keeps Hydra from reporting usage.
	h.proc = start(t, env, needHydra(t), "serve", "all", "--dev", "--sqa-opt-out")
	exited := false
	eventually(t, 60*time.Second, "hydra readiness", func() error {
		select {
		case <-h.proc.done:
			exited = true
			return nil
		default:
		}
		for _, base := range []string{h.Issuer, h.Admin} {
			resp, err := http.Get(base + "/health/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/health/ready: %d", base, resp.StatusCode)
			}
		}
		return nil
	})
	if exited {
		return h, errHydraExited
	}
	return h, nil
}

// createClient registers an OAuth2 client for the client-credentials grant through the admin API:
// it may ask for any of scopes and audience, authenticates with HTTP basic auth, and gets JWT
// access tokens.
func (h *hydraServer) createClient(t testing.TB, id, secret string, scopes, audience []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"client_id":                  id,
		"client_secret":              secret,
		"grant_types":                []string{"client_credentials"},
		"scope":                      strings.Join(scopes, " "),
		"audience":                   audience,
		"token_endpoint_auth_method": "client_secret_basic",
		"access_token_strategy":      "jwt",
	})
	resp, err := http.Post(h.Admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("creating hydra client %s: %d %s", id, resp.StatusCode, msg)
	}
}

// clientCredentialsToken runs the client-credentials grant at Hydra's public token endpoint and
// returns the access token, which must be a JWT. An empty audience asks for none.
func (h *hydraServer) clientCredentialsToken(t testing.TB, id, secret, scope, audience string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	if audience != "" {
		form.Set("audience", audience)
	}
	req, _ := http.NewRequest(http.MethodPost, h.Issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) // RFC 6749 2.3.1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("hydra token for %s (scope %q, audience %q): %d %s", id, scope, audience, resp.StatusCode, raw)
	}
	if parts := strings.Split(tok.AccessToken, "."); len(parts) != 3 {
		t.Fatalf("hydra issued %s a token that is not a JWT (%d parts; opaque tokens cannot be verified by the gateway)", id, len(parts))
	}
	return tok.AccessToken
}

// jwtClaims returns the claims of a JWT without verifying it, for checks and failure logs.
func jwtClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	return claims
}
