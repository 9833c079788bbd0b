package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/upstream"
)

const shutdownTimeout = 10 * time.Second

// serve wires the gateway and runs it until ctx ends, then drains.
func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	upstream.Version = version
	if cfg.Auth.Mode == config.AuthNone && cfg.Auth.AllowUnauthenticated {
		log.Warn("authentication is off (auth.mode: none, allow_unauthenticated: true): anyone who reaches " + cfg.Listen + " may call every tool")
	}

	// Listen first: a port in use is reported before anything starts.
	mcpLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	adminLn := mcpLn
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			mcpLn.Close()
			return err
		}
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	ready := &admin.Readiness{}

	manager := upstream.NewManager(log, upstream.Settings{
		ConnectTimeout:  cfg.Defaults.ConnectTimeout.D(),
		BreakerFailures: cfg.Breaker.Failures,
		BreakerOpenFor:  cfg.Breaker.OpenFor.D(),
		MaxConcurrent:   cfg.Bulkhead.MaxConcurrent,
		QueueTimeout:    cfg.Bulkhead.QueueTimeout.D(),
	})
	defer manager.Close()
	static := registry.Static(cfg)
	manager.Apply(registry.Merge(static, nil, cfg.Defaults.Timeout.D(), log))

	var auth *authn.Authenticator
	var view func(context.Context) func(string) bool
	if cfg.Auth.Mode == config.AuthOIDC {
		auth, view = startAuth(runCtx, cfg, ready, log)
	}

	responses, err := newCache(cfg.Cache, log)
	if err != nil {
		return err
	}
	rt := router.New(manager, router.Options{
		Naming:        router.Naming{Separator: cfg.Naming.Separator, MaxLength: cfg.Naming.MaxLength},
		PageSize:      cfg.PageSize,
		Version:       version,
		View:          view,
		Policy:        router.Policy{Limit: limitFunc(cfg.Limits), Cache: cacheRuleFunc(cfg.Cache)},
		Cache:         responses,
		MaxEntryBytes: cfg.Cache.MaxEntryBytes,
	}, log)
	manager.OnResourceUpdated(rt.ResourceUpdated)
	go rt.Run(runCtx, manager.Changes())

	// Ready once every source has synced once and every upstream it named was tried once.
	ready.Wait("upstreams", "not tried yet")
	sourcesSynced := make(chan struct{})
	details := func() map[string]any { return nil }
	if cfg.Consul != nil {
		consul, err := registry.NewConsul(cfg.Consul, log)
		if err != nil {
			return err
		}
		details = func() map[string]any { return map[string]any{"consul": consul.State()} }
		var once sync.Once
		go consul.Run(runCtx, func(discovered registry.Snapshot) {
			manager.Apply(registry.Merge(static, discovered, cfg.Defaults.Timeout.D(), log))
			once.Do(func() { close(sourcesSynced) })
		})
	} else {
		close(sourcesSynced)
	}
	go func() {
		select {
		case <-sourcesSynced:
		case <-runCtx.Done():
			return
		}
		if manager.WaitTried(runCtx) {
			rt.Rebuild()
			ready.Done("upstreams")
			log.Info("upstreams tried", "tools", rt.Catalog().Len())
		}
	}()

	mcpMux := http.NewServeMux()
	var mcpHandler http.Handler = rt.Handler()
	if auth != nil {
		mcpHandler = auth.Wrap(mcpHandler)
	}
	mcpHandler = middleware.Chain(mcpHandler,
		middleware.Origin(append([]string{originOf(cfg.PublicURL)}, cfg.AllowedOrigins...)),
		middleware.BodyLimit(int64(cfg.MaxRequestBytes)),
		middleware.JSONRPC,
	)
	if auth != nil {
		mcpMux.HandleFunc("GET "+authn.MetadataPath, auth.ServeMetadata)
		mcpMux.HandleFunc("GET "+authn.MetadataPath+"/mcp", auth.ServeMetadata)
	}
	mcpMux.Handle("/mcp", mcpHandler)
	adminMux := mcpMux
	if adminLn != mcpLn {
		adminMux = http.NewServeMux()
	}
	admin.Register(adminMux, ready, details)
	admin.RegisterCachePurge(adminMux, func(ctx context.Context, upstreamName, tool string) (int, error) {
		if tool != "" { // an exposed name: the cache knows tools by upstream and original name
			e, ok := rt.Catalog().Lookup(tool)
			if !ok {
				return 0, fmt.Errorf("unknown tool %q", tool)
			}
			return responses.Purge(ctx, string(e.Upstream), e.Tool)
		}
		return responses.Purge(ctx, upstreamName, "")
	})

	withRecover := middleware.Recover(log)
	servers := []*http.Server{{Handler: withRecover(mcpMux), ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{mcpLn}
	if adminLn != mcpLn {
		servers = append(servers, &http.Server{Handler: withRecover(adminMux), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, adminLn)
	}
	failed := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	fmt.Fprintf(stdout, "switchboard %s: MCP endpoint http://%s/mcp (admin: http://%s/readyz)\n", version, mcpLn.Addr(), adminLn.Addr())

	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	// Drain: not ready (load balancers stop sending), no new sessions, calls in flight finish
	// within the grace period; then client sessions and streams end, and the deferred
	// manager.Close stops upstream sessions and stdio children.
	log.Info("shutting down: draining calls in flight", "grace", cfg.ShutdownGrace.D())
	ready.Drain()
	grace, cancelGrace := context.WithTimeout(context.Background(), cfg.ShutdownGrace.D())
	defer cancelGrace()
	if left := rt.Drain(grace); left > 0 {
		log.Warn("grace period over; calls still in flight are cut", "calls", left)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = rt.Shutdown(shutdown) // ends client sessions and their GET streams
	for _, srv := range servers {
		_ = srv.Shutdown(shutdown)
	}
	log.Info("stopped")
	return err
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

// startAuth starts OIDC discovery (not ready until it succeeds) and returns the HTTP
// authenticator and each caller's tool view for the router.
func startAuth(ctx context.Context, cfg *config.Config, ready *admin.Readiness, log *slog.Logger) (*authn.Authenticator, func(context.Context) func(string) bool) {
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

	var policies authn.Policies
	var scopes []string
	for _, p := range cfg.Auth.Policies {
		policies = append(policies, authn.Policy{Scope: p.When.Scope, Claims: p.When.Claim, Allow: p.Allow})
		if p.When.Scope != "" {
			scopes = append(scopes, p.When.Scope)
		}
	}
	auth := authn.NewAuthenticator(v, authn.AuthenticatorConfig{
		PublicURL: cfg.PublicURL, Resource: cfg.PublicURL, Issuer: cfg.Auth.Issuer,
		RequiredScopes: cfg.Auth.RequiredScopes, ScopesSupported: scopes,
	})
	view := func(ctx context.Context) func(string) bool {
		return policies.View(authn.PrincipalFrom(ctx))
	}
	return auth, view
}
