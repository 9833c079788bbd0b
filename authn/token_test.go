package authn

import (
	"context"
	"net/http"
	"testing"
)

func TestTheVerifiedTokenRidesWithThePrincipal(t *testing.T) {
	t.Parallel()
	iss, _, v := newAuth(t)
	a := NewAuthenticator(v, AuthenticatorConfig{PublicURL: "https://gw.example.test", Resource: audience, Issuer: iss.URL, RequiredScopes: []string{"mcp"}})
	var got string
	called := false
	h := a.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		called, got = true, TokenFrom(r.Context())
	}))
	token := iss.Sign("rsa-1", iss.Claims("alice", audience, "mcp"))
	if rec := do(h, "/mcp", "Bearer "+token); rec.Code != http.StatusOK || !called {
		t.Fatalf("a good token was refused: %d", rec.Code)
	}
	if got != token {
		t.Errorf("TokenFrom: got %q, want the request's bearer token", got)
	}
	called = false
	do(h, "/mcp", "Bearer "+iss.Sign("rsa-1", iss.Claims("alice", "https://other.test", "mcp")))
	if called {
		t.Error("a token for another audience reached the handler")
	}
	if TokenFrom(context.Background()) != "" {
		t.Error("a context without a token has one")
	}
}
