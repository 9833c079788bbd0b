// Package authn authenticates MCP clients with OAuth 2.1 bearer tokens from an OIDC provider, as
// the MCP authorization spec asks: token verification (go-oidc), the principal, the 401/403
// answers with WWW-Authenticate, RFC 9728 protected resource metadata, and tool policies.
package authn

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Principal is who a verified token speaks for. Immutable; shared by every call of the token.
type Principal struct {
	Issuer   string // the token's iss
	Subject  string
	ClientID string // azp or client_id; empty when the token has neither
	Scopes   []string
	Expiry   time.Time
	// Claims holds every claim of the token, for policies that match on claims.
	Claims map[string]json.RawMessage
}

// HasScope reports whether the token grants scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// HasClaim reports whether claim equals value, or, for a list claim (such as groups), contains it.
func (p *Principal) HasClaim(claim, value string) bool {
	raw, ok := p.Claims[claim]
	if !ok {
		return false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == value
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.Contains(many, value)
	}
	return strings.Trim(string(raw), `"`) == value // numbers and booleans, compared as written
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of the request, or nil when auth is off.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// principalFromClaims reads the standard claims of a verified token.
func principalFromClaims(raw []byte, expiry time.Time) (*Principal, error) {
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	p := &Principal{Expiry: expiry, Claims: claims}
	str := func(key string) string {
		var s string
		_ = json.Unmarshal(claims[key], &s)
		return s
	}
	p.Issuer, p.Subject = str("iss"), str("sub")
	p.ClientID = str("azp")
	if p.ClientID == "" {
		p.ClientID = str("client_id")
	}
	// "scope" is a space-separated string (RFC 8693, most IdPs); Entra ID and others use "scp",
	// sometimes a list.
	if s := str("scope"); s != "" {
		p.Scopes = strings.Fields(s)
	} else if s := str("scp"); s != "" {
		p.Scopes = strings.Fields(s)
	} else {
		_ = json.Unmarshal(claims["scp"], &p.Scopes)
	}
	return p, nil
}
