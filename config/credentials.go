package config

import (
	"fmt"
	"strings"
)

// Credential is a named way for the gateway to get a token toward an upstream. Static upstreams
// refer to one with upstreams[].credentials, Consul services with the service meta
// mcp_credentials.
type Credential struct {
	// Type is the kind of credential; "token_exchange" is the only one.
	Type string `yaml:"type"`
	// TokenURL is the authorization server's token endpoint.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret identify the gateway to the token endpoint (client_secret_basic).
	// ClientSecret is a secret.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Audience is the upstream the exchanged token is for, sent as the "audience" parameter.
	// Empty: the authorization server picks (from Scopes or its own policy).
	Audience string `yaml:"audience"`
	// Scopes to request for the exchanged token. Empty: none are asked for.
	Scopes []string `yaml:"scopes"`
}

// CredentialTokenExchange is OAuth 2.0 Token Exchange (RFC 8693): each call's caller token is
// exchanged for a token of the same user toward the upstream.
const CredentialTokenExchange = "token_exchange"

// validateCredentials checks the credentials section and the upstreams that refer to it.
func (c *Config) validateCredentials() Errors {
	var errs Errors
	fail := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range sortedKeys(c.Credentials) {
		p := fmt.Sprintf("credentials[%q]", name)
		cr := c.Credentials[name]
		if !upstreamName.MatchString(name) {
			fail(p, "want a name of 1 to 64 characters of A-Z a-z 0-9 _ -")
		}
		switch cr.Type {
		case "":
			fail(p+".type", "required: %q", CredentialTokenExchange)
			continue
		case CredentialTokenExchange:
		default:
			fail(p+".type", "want %q, got %q", CredentialTokenExchange, cr.Type)
			continue
		}
		if err := checkHTTPURL(cr.TokenURL); err != nil {
			fail(p+".token_url", "%v", err)
		}
		if cr.ClientID == "" {
			fail(p+".client_id", "required")
		}
		if c.Auth.Mode != AuthOIDC {
			fail(p, "token exchange needs the caller's verified token: set auth.mode: oidc")
		}
	}
	for i, u := range c.Upstreams {
		if u.Credentials == "" {
			continue
		}
		p := fmt.Sprintf("upstreams[%d].credentials", i)
		if _, ok := c.Credentials[u.Credentials]; !ok {
			fail(p, "unknown credential %q: define it under credentials", u.Credentials)
			continue
		}
		switch {
		case len(u.Command) > 0:
			fail(p, "a stdio upstream (command) cannot carry a per-request token")
		case u.Transport == TransportSSE:
			fail(p, "a legacy SSE upstream (transport: sse) cannot carry a per-request token: use streamable-http")
		}
		if u.OAuth2 != nil {
			fail(p, "conflicts with oauth2: choose one credential")
		}
		for k := range u.Headers {
			if strings.EqualFold(k, "Authorization") {
				fail(p, "conflicts with headers.%s: choose one credential", k)
			}
		}
	}
	return errs
}
