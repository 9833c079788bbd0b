package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"time"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// buildServers builds the HTTP servers: MCP (with its layers in docs/design.md's order) and admin,
// one server when admin_listen is empty.
func (g *Gateway) buildServers(cfg *config.Config, metrics *telemetry.Metrics) {
	var auth *authn.Authenticator
	if g.verifier != nil {
		auth = authn.NewAuthenticator(g.verifier, authn.AuthenticatorConfig{
			PublicURL: cfg.PublicURL, Resource: cfg.PublicURL, Issuer: cfg.Auth.Issuer,
			RequiredScopes: cfg.Auth.RequiredScopes, ScopesSupported: policyScopes(cfg),
			Refused: g.auditRefusal,
		})
	}

	mcpMux := http.NewServeMux()
	var mcpHandler http.Handler = g.router.ServerHandler()
	if auth != nil {
		mcpHandler = auth.Wrap(withPrincipalInAccessLog(mcpHandler))
	}
	mcpHandler = middleware.Chain(mcpHandler,
		middleware.ClientAddr(trustedProxies(cfg.TrustedProxies)), // anonymous callers are limited per address
		telemetry.ExtractTraceContext,
		middleware.Origin(append([]string{originOf(cfg.PublicURL)}, cfg.AllowedOrigins...)),
		middleware.BodyLimit(int64(cfg.MaxRequestBytes)),
		middleware.JSONRPC,
	)
	if auth != nil {
		mcpMux.HandleFunc("GET "+authn.MetadataPath, auth.ServeMetadata)
		mcpMux.HandleFunc("GET "+authn.MetadataPath+"/mcp", auth.ServeMetadata)
		mcpMux.Handle("GET "+authn.MetadataPath+"/mcp/{server}", g.router.KnownServer(http.HandlerFunc(auth.ServeMetadata)))
	}
	mcpMux.Handle("/mcp", mcpHandler)
	mcpMux.Handle("/mcp/{server}", mcpHandler) // virtual servers

	adminMux := mcpMux
	if g.adminLn != g.mcpLn {
		adminMux = http.NewServeMux()
	}
	g.registerAdmin(adminMux, auth, cfg.Auth.AdminScope, metrics)
	// Replicas hand each other clients' answers here; the body is sealed with the session key.
	adminMux.Handle("POST /internal/answers", g.router.AnswersHandler())
	adminMux.Handle("POST /internal/resume", g.router.ResumeHandler()) // 2026-era retries, same seal

	// The outer layers, in the contract's order: recover, request id, access log.
	outer := func(h http.Handler) http.Handler {
		return middleware.Chain(h, middleware.Recover(g.log), middleware.RequestID, middleware.AccessLog(g.log))
	}
	g.servers = []*http.Server{{Handler: outer(mcpMux), ReadHeaderTimeout: 10 * time.Second}}
	g.listeners = []net.Listener{g.mcpLn}
	if g.adminLn != g.mcpLn {
		g.servers = append(g.servers, &http.Server{Handler: outer(adminMux), ReadHeaderTimeout: 10 * time.Second})
		g.listeners = append(g.listeners, g.adminLn)
	}
}

// withPrincipalInAccessLog names the authenticated caller in the request's access-log line.
func withPrincipalInAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := authn.PrincipalFrom(r.Context()); p != nil {
			middleware.SetPrincipal(r.Context(), p.Subject)
		}
		next.ServeHTTP(w, r)
	})
}

// registerAdmin mounts /healthz, /readyz, /metrics and the operator endpoints (/admin/*): those
// need the admin scope when auth is on, unless the admin listener is loopback-only.
func (g *Gateway) registerAdmin(mux *http.ServeMux, auth *authn.Authenticator, adminScope string, metrics *telemetry.Metrics) {
	details := func() map[string]any { return nil }
	if g.consul != nil {
		details = func() map[string]any { return map[string]any{"consul": g.consul.State()} }
	}
	admin.Register(mux, g.ready, details)
	mux.Handle("GET /metrics", metrics.Handler())
	if os.Getenv("SWITCHBOARD_PPROF") == "1" { // profiling on the admin listener, for performance work
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	ops := http.NewServeMux()
	admin.RegisterViews(ops,
		func() any { return catalogView(g.router, g.manager, g.policies.Load()) },
		func() any { return upstreamsView(g.manager) })
	admin.RegisterCachePurge(ops, g.purgeCache)
	g.pinAdmin().Register(ops)
	g.console = g.newConsole(g.currentConfig(), metrics)
	g.console.Register(ops)
	mux.Handle(admin.StaticPattern, g.console.Static()) // the console's CSS and script: no data, no auth
	var opsHandler http.Handler = ops
	if auth != nil && (g.adminLn == g.mcpLn || !isLoopbackAddr(g.adminLn.Addr())) {
		opsHandler = g.console.ExplainRefusals(auth.WrapAdmin(ops, adminScope), adminScope)
	}
	mux.Handle("/admin/", opsHandler)
}

// purgeCache drops cached results of an upstream, or of one tool by its exposed name (the cache
// knows tools by upstream and original name).
func (g *Gateway) purgeCache(ctx context.Context, upstreamName, tool string) (int, error) {
	if tool != "" {
		e, ok := g.router.Catalog().Lookup(tool)
		if !ok {
			return 0, fmt.Errorf("unknown tool %q", tool)
		}
		return g.responses.Purge(ctx, string(e.Upstream), e.Tool)
	}
	return g.responses.Purge(ctx, upstreamName, "")
}

// policyScopes are the scopes the policies name, advertised in the RFC 9728 metadata.
func policyScopes(cfg *config.Config) []string {
	var scopes []string
	for _, p := range cfg.Auth.Policies {
		if p.When.Scope != "" {
			scopes = append(scopes, p.When.Scope)
		}
	}
	return scopes
}

// originOf returns the origin (scheme://host[:port]) of a URL.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// isLoopbackAddr reports whether a listener address only accepts local connections.
func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
