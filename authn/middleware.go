package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Authenticator is the HTTP layer of authentication: it answers what the MCP authorization spec
// asks for, and passes authenticated requests on with their principal in the context.
type Authenticator struct {
	verifier            *Verifier
	requiredScopes      []string
	publicURL, resource string
	// metadata is the protected resource metadata (RFC 9728) of the gateway; metadataOf makes
	// a virtual server's.
	metadata   []byte
	metadataOf func(resource string) []byte
	refused    func(r *http.Request, status int, reason string)
}

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	// PublicURL is the gateway's base URL as clients see it.
	PublicURL string
	// Resource is the resource identifier in the metadata: the gateway's public URL, which
	// clients check against the URL they connect to. Tokens are checked for the audience the
	// Verifier was given, which an IdP may spell differently (Entra ID: an application ID).
	Resource       string
	Issuer         string
	RequiredScopes []string
	// ScopesSupported are advertised in the metadata, in addition to the required ones.
	ScopesSupported []string
	// Refused, if not nil, is told of every request refused with 401 or 403 and why (one of
	// the Refusal constants); never the token.
	Refused func(r *http.Request, status int, reason string)
}

// Why a request was refused: the reasons in the audit log and the refusals metric.
const (
	RefusalMissingToken      = "missing_token"
	RefusalMalformedToken    = "malformed_token"
	RefusalTokenInURL        = "token_in_url"
	RefusalExpiredToken      = "expired_token"
	RefusalWrongAudience     = "wrong_audience"
	RefusalBadSignature      = "bad_signature"
	RefusalInvalidToken      = "invalid_token"
	RefusalInsufficientScope = "insufficient_scope"
)

// NewAuthenticator returns an Authenticator verifying tokens with v.
func NewAuthenticator(v *Verifier, cfg AuthenticatorConfig) *Authenticator {
	scopes := append([]string{}, cfg.RequiredScopes...)
	for _, s := range cfg.ScopesSupported {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	metadataOf := func(resource string) []byte {
		meta, _ := json.Marshal(map[string]any{
			"resource":                 resource,
			"authorization_servers":    []string{cfg.Issuer},
			"scopes_supported":         scopes,
			"bearer_methods_supported": []string{"header"},
			"resource_name":            "Switchboard MCP gateway",
		})
		return meta
	}
	return &Authenticator{
		refused:        cfg.Refused,
		verifier:       v,
		requiredScopes: cfg.RequiredScopes,
		publicURL:      strings.TrimSuffix(cfg.PublicURL, "/"),
		resource:       strings.TrimSuffix(cfg.Resource, "/"),
		metadata:       metadataOf(cfg.Resource),
		metadataOf:     metadataOf,
	}
}

// metadataURLFor is where a client of the endpoint at path (/mcp, or a virtual server's
// /mcp/NAME) finds its protected resource metadata.
func (a *Authenticator) metadataURLFor(path string) string {
	if name, ok := strings.CutPrefix(path, "/mcp/"); ok && name != "" {
		return a.publicURL + MetadataPath + "/mcp/" + name
	}
	return a.publicURL + MetadataPath + "/mcp"
}

// MetadataPath is the RFC 9728 well-known path; the path-specific form appends "/mcp".
const MetadataPath = "/.well-known/oauth-protected-resource"

// ServeMetadata serves the protected resource metadata document: the gateway's (at the
// well-known path and its /mcp form), or a virtual server's (/mcp/NAME: its resource is
// public_url/mcp/NAME). Which virtual servers exist is the router's business; mount this only
// for the paths that should answer.
func (a *Authenticator) ServeMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if name, ok := strings.CutPrefix(strings.TrimPrefix(r.URL.Path, MetadataPath), "/mcp/"); ok && name != "" {
		_, _ = w.Write(a.metadataOf(a.resource + "/mcp/" + name))
		return
	}
	_, _ = w.Write(a.metadata)
}

// Wrap returns next behind authentication.
func (a *Authenticator) Wrap(next http.Handler) http.Handler { return a.wrap(next, a.requiredScopes) }

// WrapAdmin returns next behind authentication that also requires scope (operator endpoints).
func (a *Authenticator) WrapAdmin(next http.Handler, scope string) http.Handler {
	return a.wrap(next, append(slices.Clone(a.requiredScopes), scope))
}

func (a *Authenticator) wrap(next http.Handler, required []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("access_token") {
			// RFC 6750 allows it; the MCP authorization spec forbids it: URLs end up in logs.
			a.refuse(r, http.StatusUnauthorized, RefusalTokenInURL)
			a.challenge(w, r, required, http.StatusUnauthorized, "invalid_request", "send the token in the Authorization header, not the URL")
			return
		}
		token, ok := ParseBearer(r.Header.Get("Authorization"))
		if !ok {
			if r.Header.Get("Authorization") == "" {
				a.refuse(r, http.StatusUnauthorized, RefusalMissingToken)
				a.challenge(w, r, required, http.StatusUnauthorized, "", "")
			} else {
				a.refuse(r, http.StatusUnauthorized, RefusalMalformedToken)
				a.challenge(w, r, required, http.StatusUnauthorized, "invalid_token", "the Authorization header is not a Bearer token")
			}
			return
		}
		p, err := a.verifier.Verify(r.Context(), token)
		switch {
		case errors.Is(err, ErrNotReady):
			w.Header().Set("Retry-After", "5")
			http.Error(w, "authentication is not available yet: "+a.verifier.NotReadyReason(), http.StatusServiceUnavailable)
			return
		case err != nil:
			a.refuse(r, http.StatusUnauthorized, refusalOf(err))
			a.challenge(w, r, required, http.StatusUnauthorized, "invalid_token", "the token is invalid, expired, or not for this resource")
			return
		}
		for _, s := range required {
			if !p.HasScope(s) {
				a.refuse(r.WithContext(WithPrincipal(r.Context(), p)), http.StatusForbidden, RefusalInsufficientScope)
				a.challenge(w, r, required, http.StatusForbidden, "insufficient_scope", "the token lacks a required scope")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(WithToken(WithPrincipal(r.Context(), p), token)))
	})
}

func (a *Authenticator) refuse(r *http.Request, status int, reason string) {
	if a.refused != nil {
		a.refused(r, status, reason)
	}
}

// refusalOf names why Verify refused a token. go-oidc's errors are told apart by type where it
// has one and by its wording otherwise (pinned by TestRefusalReasons).
func refusalOf(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired), strings.Contains(msg, "expired at"):
		return RefusalExpiredToken
	case strings.Contains(msg, "expected audience"):
		return RefusalWrongAudience
	case strings.Contains(msg, "failed to verify signature"), strings.Contains(msg, "failed to verify id token signature"):
		return RefusalBadSignature
	case strings.Contains(msg, "malformed"):
		return RefusalMalformedToken
	}
	return RefusalInvalidToken
}

// challenge answers with a WWW-Authenticate header per RFC 6750 and the MCP authorization spec,
// naming the scopes this endpoint requires (the admin scope too, on admin endpoints).
func (a *Authenticator) challenge(w http.ResponseWriter, r *http.Request, required []string, status int, code, description string) {
	v := fmt.Sprintf(`Bearer resource_metadata=%q`, a.metadataURLFor(r.URL.Path))
	if len(required) > 0 {
		v += fmt.Sprintf(`, scope=%q`, strings.Join(required, " "))
	}
	if code != "" {
		v += fmt.Sprintf(`, error=%q, error_description=%q`, code, description)
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"error": orDefault(code, "unauthorized"), "error_description": orDefault(description, "a bearer token is required")})
	_, _ = w.Write(body)
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
