package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// startAuth starts OIDC discovery (not ready until it succeeds) and returns the HTTP
// authenticator and each caller's tool view for the router, which reads policies (reloadable).
func startAuth(ctx context.Context, cfg *config.Config, policies *atomic.Pointer[authn.Policies], ready *admin.Readiness, log *slog.Logger) (*authn.Authenticator, func(context.Context) (string, func(string) bool)) {
	v := authn.NewVerifier(authn.VerifierConfig{
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, Skew: cfg.Auth.ClockSkew.D(),
	}, log)
	ready.Wait("oidc", "discovery not attempted yet")
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		done := make(chan struct{})
		go v.Run(ctx, func() { close(done) })
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				ready.Done("oidc")
				return
			case <-tick.C:
				ready.Wait("oidc", v.NotReadyReason())
			}
		}
	}()

	var scopes []string
	for _, p := range cfg.Auth.Policies {
		if p.When.Scope != "" {
			scopes = append(scopes, p.When.Scope)
		}
	}
	auth := authn.NewAuthenticator(v, authn.AuthenticatorConfig{
		PublicURL: cfg.PublicURL, Resource: cfg.PublicURL, Issuer: cfg.Auth.Issuer,
		RequiredScopes: cfg.Auth.RequiredScopes, ScopesSupported: scopes,
	})
	view := func(ctx context.Context) (string, func(string) bool) {
		ps := policies.Load()
		return ps.ViewKey(authn.PrincipalFrom(ctx)), ps.View(authn.PrincipalFrom(ctx))
	}
	return auth, view
}

// policiesOf converts the config's policies.
func policiesOf(cfg *config.Config) *authn.Policies {
	ps := authn.Policies{}
	for _, p := range cfg.Auth.Policies {
		ps = append(ps, authn.Policy{Scope: p.When.Scope, Claims: p.When.Claim, Allow: p.Allow})
	}
	return &ps
}

// newLogger builds the gateway's log from the config.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// auditSinks returns the audit log's writers (none: the audit log is off) and how to close them.
func auditSinks(c config.Audit, stdout io.Writer) (io.Writer, func()) {
	var ws []io.Writer
	closeAll := func() {}
	if c.Stdout {
		ws = append(ws, stdout)
	}
	if c.File != "" {
		f := telemetry.RotatingFile(c.File, c.MaxSizeMB, c.MaxBackups)
		ws = append(ws, f)
		closeAll = func() { _ = f.Close() }
	}
	if len(ws) == 0 {
		return nil, closeAll
	}
	return io.MultiWriter(ws...), closeAll
}

// toolPolicy is how the router gets limits and cache rules from the config.
func toolPolicy(cfg *config.Config) router.Policy {
	return router.Policy{Limit: limitFunc(cfg.Limits), Cache: cacheRuleFunc(cfg.Cache)}
}

// limitFunc resolves each tool's rate limit: limits.tools by exact name, then by glob (sorted),
// then the upstream's own mcp_rate_limit, then limits.default; none when nothing applies.
func limitFunc(l config.Limits) router.LimitFunc {
	return func(name router.ExposedName, upstreamRate config.Rate) ratelimit.Limit {
		if lim, ok := config.MatchTool(l.Tools, string(name)); ok {
			return toLimit(lim)
		}
		if upstreamRate.PerSecond > 0 {
			return toLimit(config.Limit{Rate: upstreamRate})
		}
		if l.Default != nil {
			return toLimit(*l.Default)
		}
		return ratelimit.Unlimited
	}
}

// cacheRuleFunc resolves each tool's cache rule: cache.tools by exact name, then by glob, then
// the upstream's mcp_cache_ttl for tools annotated readOnlyHint. A destructive tool is never
// cached (destructiveHint counts only when readOnlyHint is not true, as the MCP spec reads).
func cacheRuleFunc(c config.Cache) func(router.ExposedName, time.Duration, mcp.ToolAnnotation) *router.CacheRule {
	return func(name router.ExposedName, upstreamTTL time.Duration, a mcp.ToolAnnotation) *router.CacheRule {
		readOnly := a.ReadOnlyHint != nil && *a.ReadOnlyHint
		if a.DestructiveHint != nil && *a.DestructiveHint && !readOnly {
			return nil
		}
		if rule, ok := config.MatchTool(c.Tools, string(name)); ok {
			return &router.CacheRule{TTL: rule.TTL.D(), Shared: rule.Shared}
		}
		if upstreamTTL > 0 && readOnly {
			return &router.CacheRule{TTL: upstreamTTL}
		}
		return nil
	}
}

// originOf returns the origin (scheme://host[:port]) of a URL.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// newCache returns the response cache: Redis when configured, else in process.
func newCache(c config.Cache, log *slog.Logger) (*cache.Cache, error) {
	if c.Redis == nil {
		return cache.New(cache.NewMemory(c.MemoryBytes), time.Second, log), nil
	}
	opts, err := cache.RedisOptions(c.Redis)
	if err != nil {
		return nil, err
	}
	return cache.New(cache.NewRedis(redis.NewUniversalClient(opts)), c.Redis.Timeout.D(), log), nil
}

// toLimit defaults the burst to one second's worth of calls, at least 1.
func toLimit(l config.Limit) ratelimit.Limit {
	burst := l.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(l.Rate.PerSecond)))
	}
	return ratelimit.Limit{Rate: l.Rate.PerSecond, Burst: burst}
}
