package config

import (
	"errors"
	"strings"
	"testing"
)

const oidcAuth = "auth: {mode: oidc, issuer: 'https://idp', audience: gw}\n"

const ticketsCredential = "credentials: {tickets: {type: token_exchange, token_url: 'https://idp/token', client_id: gw, client_secret: s3cret, audience: tickets, scopes: [tickets.read]}}\n"

func TestCredentialsParse(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(oidcAuth+"credentials: {tickets: {type: token_exchange, token_url: 'https://idp/token', client_id: gw, client_secret: '${SECRET}', audience: tickets, scopes: [tickets.read, tickets.write]}}\n"+
		"upstreams: [{name: t, url: 'http://h/mcp', credentials: tickets}]"), env(map[string]string{"SECRET": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Credential{Type: CredentialTokenExchange, TokenURL: "https://idp/token", ClientID: "gw", ClientSecret: "from-env",
		Audience: "tickets", Scopes: []string{"tickets.read", "tickets.write"}}
	got := cfg.Credentials["tickets"]
	if got.Type != want.Type || got.TokenURL != want.TokenURL || got.ClientID != want.ClientID || got.ClientSecret != want.ClientSecret ||
		got.Audience != want.Audience || strings.Join(got.Scopes, " ") != strings.Join(want.Scopes, " ") {
		t.Errorf("credential: got %+v, want %+v", got, want)
	}
	if cfg.Upstreams[0].Credentials != "tickets" {
		t.Errorf("upstream credentials: got %q", cfg.Upstreams[0].Credentials)
	}
}

func TestCredentialsConsulOnly(t *testing.T) {
	t.Parallel()
	// A credential no static upstream names is for Consul services (mcp_credentials).
	if _, err := Parse([]byte(oidcAuth+ticketsCredential+"consul: {}"), env(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsReportEveryError(t *testing.T) {
	t.Parallel()
	const up = "upstreams: [{name: a, url: 'http://h/mcp'}]\n"
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"unknown type", oidcAuth + "credentials: {x: {type: saml, token_url: 'https://idp/token', client_id: c}}\n" + up,
			[]string{`credentials["x"].type: want "token_exchange", got "saml"`}},
		{"missing type", oidcAuth + "credentials: {x: {token_url: 'https://idp/token', client_id: c}}\n" + up,
			[]string{`credentials["x"].type: required`}},
		{"missing token_url and client_id", oidcAuth + "credentials: {x: {type: token_exchange}}\n" + up,
			[]string{`credentials["x"].token_url: required`, `credentials["x"].client_id: required`}},
		{"bad token_url", oidcAuth + "credentials: {x: {type: token_exchange, token_url: 'ftp://idp', client_id: c}}\n" + up,
			[]string{`credentials["x"].token_url: want an http:// or https:// URL`}},
		{"bad name", oidcAuth + "credentials: {'a b': {type: token_exchange, token_url: 'https://idp/token', client_id: c}}\n" + up,
			[]string{`credentials["a b"]: want a name of 1 to 64 characters`}},
		{"unknown key", oidcAuth + "credentials: {x: {type: token_exchange, token_url: 'https://idp/token', client_id: c, secret: s}}\n" + up,
			[]string{`credentials["x"].secret: unknown key`}},
		{"auth off", ticketsCredential + up,
			[]string{`credentials["tickets"]: token exchange needs the caller's verified token: set auth.mode: oidc`}},
		{"unknown credential", oidcAuth + ticketsCredential + "upstreams: [{name: a, url: 'http://h/mcp', credentials: nope}]",
			[]string{`upstreams[0].credentials: unknown credential "nope": define it under credentials`}},
		{"unknown credential without any", oidcAuth + "upstreams: [{name: a, url: 'http://h/mcp', credentials: nope}]",
			[]string{`upstreams[0].credentials: unknown credential "nope"`}},
		{"stdio", oidcAuth + ticketsCredential + "upstreams: [{name: a, command: [x], credentials: tickets}]",
			[]string{"upstreams[0].credentials: a stdio upstream (command) cannot carry a per-request token"}},
		{"legacy sse", oidcAuth + ticketsCredential + "upstreams: [{name: a, url: 'http://h/sse', transport: sse, credentials: tickets}]",
			[]string{"upstreams[0].credentials: a legacy SSE upstream (transport: sse) cannot carry a per-request token"}},
		{"and oauth2", oidcAuth + ticketsCredential + "upstreams: [{name: a, url: 'http://h/mcp', credentials: tickets, oauth2: {token_url: 'https://idp/token', client_id: c}}]",
			[]string{"upstreams[0].credentials: conflicts with oauth2: choose one credential"}},
		{"and an Authorization header", oidcAuth + ticketsCredential + "upstreams: [{name: a, url: 'http://h/mcp', credentials: tickets, headers: {authorization: 'Bearer x'}}]",
			[]string{"upstreams[0].credentials: conflicts with headers.authorization: choose one credential"}},
		{"many at once", ticketsCredential + "upstreams: [{name: a, command: [x], credentials: tickets}, {name: b, url: 'http://h/mcp', credentials: other}]",
			[]string{`credentials["tickets"]: token exchange needs`, "upstreams[0].credentials: a stdio upstream", `upstreams[1].credentials: unknown credential "other"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), env(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("want %d errors, got %d:\n%v", len(tc.want), len(errs), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("an error shows the client secret:\n%v", err)
			}
		})
	}
}
