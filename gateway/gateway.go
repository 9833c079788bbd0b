// Package gateway builds Switchboard from its config and owns its lifecycle: every component,
// every goroutine, readiness, reload and the HTTP listeners. cmd/switchboard only parses flags,
// loads the config, handles signals and calls Run. See docs/design.md for the whole picture.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/pinning"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// shutdownTimeout bounds closing client sessions and listeners after the drain.
const shutdownTimeout = 10 * time.Second

// Options are what the gateway takes from its process rather than from the config.
type Options struct {
	// Version is reported to clients and upstreams.
	Version string
	// Stdout gets the line naming the MCP URL and, with audit.stdout, the audit log.
	Stdout io.Writer
	// Stderr gets the logs.
	Stderr io.Writer

	stdio *stdioSetup // set by NewStdio: one client on a pair of streams, no HTTP for MCP
}

// Gateway is one replica of Switchboard. New builds it, Run serves until its context ends,
// Reload applies a new config while it runs, Close releases what New acquired.
type Gateway struct {
	opts  Options
	log   *slog.Logger
	ready *admin.Readiness

	mcpLn, adminLn net.Listener
	servers        []*http.Server
	listeners      []net.Listener
	certs          *certFiles // nil without tls

	manager   *upstream.Manager
	static    *registry.StaticSource
	consul    *registry.Consul // nil without Consul
	sources   *registry.Aggregator
	verifier  *authn.Verifier // nil when auth is off
	policies  atomic.Pointer[authn.Rules]
	redis     redis.UniversalClient // nil when no Redis is configured
	observer  callrecord.Observer   // metrics and audit: told of every call and refusal
	pins      *pinning.Pins
	responses *cache.Cache
	router    *router.Router
	console   *admin.Console // the operator console at /admin/; nil without HTTP servers

	reloadMu sync.Mutex // one reload at a time
	current  *config.Config

	closeOnce sync.Once
	closers   []func() // run by Close, last first
}

// New builds every component from cfg (already validated) and listens on its addresses, so that
// a port in use is reported before anything starts. Nothing runs until Run.
func New(cfg *config.Config, opts Options) (_ *Gateway, err error) {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	logs := newLogBuffer(opts.Stderr)
	g := &Gateway{opts: opts, log: newLogger(cfg.Log, logs), ready: &admin.Readiness{}, current: cfg}
	g.onClose(logs.Close) // the first closer, so the last to run: every other one may log
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	upstream.Version = opts.Version
	if cfg.Auth.Mode == config.AuthNone && cfg.Auth.AllowUnauthenticated && opts.stdio == nil {
		g.log.Warn("authentication is off (auth.mode: none, allow_unauthenticated: true): anyone who reaches " + cfg.Listen + " may call every tool")
	}
	if cfg.Auth.Mode == config.AuthNone && len(cfg.Auth.Policies) > 0 && opts.stdio == nil {
		g.log.Warn("auth.policies are for stdio.principal (switchboard stdio): with auth.mode none the callers of " + cfg.Listen + " are anonymous, and they see every tool")
	}
	for _, w := range cfg.Warnings() {
		g.log.Warn("config: "+w.Msg, "key", w.Path)
	}
	listen := g.listen
	if opts.stdio != nil {
		listen = g.listenStdio // MCP is on stdin and stdout
	}
	if err := listen(cfg); err != nil {
		return nil, err
	}
	if err := g.setupTLS(cfg); err != nil {
		return nil, err
	}
	stopTracing, err := telemetry.StartTracing(context.Background(), opts.Version)
	if err != nil {
		g.log.Warn("tracing is off: the OTLP exporter could not start", "err", err)
	}
	g.onClose(func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(flush)
	})

	g.manager = upstream.NewManager(g.log, upstreamSettings(cfg))
	g.onClose(g.manager.Close)
	if err := g.buildSources(cfg); err != nil {
		return nil, err
	}
	policies, err := policiesOf(cfg)
	if err != nil {
		return nil, err
	}
	g.policies.Store(policies)
	if cfg.Auth.Mode == config.AuthOIDC && opts.stdio == nil { // nobody presents a token on stdio
		g.verifier = authn.NewVerifier(authn.VerifierConfig{
			Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, Skew: cfg.Auth.ClockSkew.D(),
		}, g.log)
		g.ready.Wait("oidc", "discovery not attempted yet")
	}
	if g.redis, err = newRedis(cfg.Redis); err != nil {
		return nil, err
	}
	if g.redis != nil {
		rdb := g.redis
		g.onClose(func() { rdb.Close() })
	}
	g.responses = newCache(cfg.Cache, g.redis, redisTimeout(cfg), g.log)
	metrics, observer := g.observers(cfg)
	g.observer = observer
	rules, err := toolPolicy(cfg)
	if err != nil {
		return nil, err
	}
	if g.pins, err = g.newPins(cfg); err != nil {
		return nil, err
	}
	rules.Review = reviewOf(g.pins)
	sessionOpts, err := g.sessionOptions(cfg, observer)
	if err != nil {
		return nil, err
	}
	root, virtual := serversOf(cfg)
	g.router = router.New(g.manager, router.Options{
		Naming:        router.Naming{Separator: cfg.Naming.Separator, MaxLength: cfg.Naming.MaxLength},
		PageSize:      cfg.PageSize,
		Version:       opts.Version,
		View:          g.viewOf(),
		ResourceView:  g.resourceViewOf(),
		Policy:        rules,
		Cache:         g.responses,
		MaxEntryBytes: cfg.Cache.MaxEntryBytes,
		Observer:      observer,
		Sessions:      sessionOpts,
		Root:          root,
		Servers:       virtual,
		Limiter:       g.limiterOf(cfg, metrics),
		AllowedHosts:  allowedHosts(cfg),
	}, g.log)
	g.manager.OnResourceUpdated(g.router.ResourceUpdated)
	if opts.stdio != nil {
		g.buildStdioServers(cfg, metrics)
	} else {
		g.buildServers(cfg, metrics)
		g.useTLS()
	}
	return g, nil
}

// redisTimeout bounds each Redis command.
func redisTimeout(cfg *config.Config) time.Duration {
	if cfg.Redis == nil {
		return 0
	}
	return cfg.Redis.Timeout.D()
}

// listen opens the MCP listener and, when admin_listen is set, the admin one.
func (g *Gateway) listen(cfg *config.Config) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	g.mcpLn, g.adminLn = ln, ln
	g.onClose(func() { ln.Close() })
	if cfg.AdminListen != "" {
		if g.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return err
		}
		adminLn := g.adminLn
		g.onClose(func() { adminLn.Close() })
	}
	return nil
}

// buildSources makes the sources of upstreams: the config file's, then Consul's. Not ready until
// every source has synced once and every upstream it named was tried once.
func (g *Gateway) buildSources(cfg *config.Config) error {
	g.static = registry.NewStatic(registry.Static(cfg))
	sources := []registry.Source{g.static}
	g.ready.Wait("upstreams", "not tried yet")
	if cfg.Consul != nil {
		consul, err := registry.NewConsul(cfg.Consul, g.log)
		if err != nil {
			return err
		}
		g.consul = consul
		sources = append(sources, consul)
		g.ready.Wait("upstreams", "waiting for Consul's first answer (details.consul says why not)")
	}
	g.sources = registry.NewAggregator(sources, cfg.Defaults.Timeout.D(), g.manager.Apply, g.log)
	return nil
}

// observers are told of every call: the metrics always, the audit log when configured.
func (g *Gateway) observers(cfg *config.Config) (*telemetry.Metrics, telemetry.Observers) {
	state := telemetry.State{
		Instances:      func() []telemetry.InstanceState { return instanceStates(g.manager) },
		CatalogTools:   func() int { return g.router.Catalog().Len() },
		CatalogChanged: func() time.Time { return g.router.CatalogChanged() },
		StreamsOpen:    func() int { return g.router.StreamsOpen() },
		PinChanges:     func() uint64 { return g.pins.Changes() },

		CacheStoreErrors:    g.responses.StoreErrors,
		CacheStoreAvailable: g.responses.StoreAvailable,
	}
	if g.consul != nil { // without Consul the gauges are absent, not 0
		state.ConsulReachable = func() bool { return g.consul.State().Reachable }
		state.ConsulSynced = func() bool { return g.consul.State().Synced }
	}
	metrics := telemetry.NewMetrics(state)
	observer := telemetry.Observers{metrics}
	if sink, closeSink := auditSinks(cfg.Audit, g.opts.Stdout); sink != nil {
		g.onClose(closeSink)
		observer = append(observer, telemetry.NewAudit(sink))
	}
	return metrics, observer
}

// viewOf returns each caller's tool view for the router, from the policies (reloadable); nil
// when no caller is anyone (auth off; stdio without stdio.principal): everyone sees every tool.
func (g *Gateway) viewOf() func(context.Context) (string, func(string) bool) {
	if g.verifier == nil && !g.opts.stdio.hasPrincipal() {
		return nil
	}
	return func(ctx context.Context) (string, func(string) bool) {
		rules, p := g.policies.Load(), authn.PrincipalFrom(ctx)
		return rules.ViewKey(p), rules.View(p)
	}
}

// resourceViewOf is resource visibility per principal, like viewOf.
func (g *Gateway) resourceViewOf() func(context.Context) func(namespace, uri string) bool {
	if g.verifier == nil && !g.opts.stdio.hasPrincipal() {
		return nil
	}
	return func(ctx context.Context) func(string, string) bool {
		return g.policies.Load().ResourceView(authn.PrincipalFrom(ctx))
	}
}

// Logger is the gateway's log, for the command that runs it.
func (g *Gateway) Logger() *slog.Logger { return g.log }

// Addr is the MCP listener's address; nil for a stdio gateway, which has none.
func (g *Gateway) Addr() net.Addr {
	if g.mcpLn == nil {
		return nil // switchboard stdio: no MCP listener
	}
	return g.mcpLn.Addr()
}

// Run serves until ctx ends or a listener fails, then drains: not ready (load balancers stop
// sending), no new sessions, calls in flight finish within shutdown_grace; then client sessions
// end and every loop stops. Run returns the listener's error, if one failed. Call it once, on a
// gateway built by New.
func (g *Gateway) Run(ctx context.Context) error {
	if g.opts.stdio != nil {
		return errors.New("a gateway built by NewStdio runs with RunStdio")
	}
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	var group errgroup.Group // every goroutine of the gateway's own: loops and servers
	g.startLoops(&group, loopCtx)
	failed := g.serveHTTP(&group)
	fmt.Fprintf(g.opts.Stdout, "switchboard %s: MCP endpoint %s://%s/mcp (admin: %[2]s://%[4]s/readyz)\n", g.opts.Version, g.scheme(), g.mcpLn.Addr(), g.adminLn.Addr())

	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	grace := g.currentConfig().ShutdownGrace.D()
	g.log.Info("shutting down: draining calls in flight", "grace", grace)
	g.ready.Drain()
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), grace)
	defer cancelGrace()
	if left := g.router.Drain(graceCtx); left > 0 {
		g.log.Warn("grace period over; calls still in flight are cut", "calls", left)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = g.router.Shutdown(shutdown) // ends client sessions and their GET streams
	for _, srv := range g.servers {
		_ = srv.Shutdown(shutdown)
	}
	stopLoops()
	_ = group.Wait()
	g.log.Info("stopped")
	return err
}

// startLoops starts the gateway's loops in group; they run until ctx ends.
func (g *Gateway) startLoops(group *errgroup.Group, ctx context.Context) {
	g.loop(group, ctx, "sources", g.sources.Run)
	g.loop(group, ctx, "catalog", func(ctx context.Context) { g.router.Run(ctx, g.manager.Changes()) })
	g.loop(group, ctx, "readiness", g.waitUpstreams)
	g.loop(group, ctx, "resource updates", g.router.ServeUpdates)
	g.loop(group, ctx, "pins", g.runPins)
	if g.console != nil {
		g.loop(group, ctx, "console rates", g.console.Run)
	}
	if g.verifier != nil {
		g.loop(group, ctx, "oidc", g.runVerifier)
	}
	if g.certs != nil {
		g.loop(group, ctx, "tls", g.certs.Run)
	}
}

// serveHTTP serves every HTTP server in group; the channel gets the error of one that fails.
func (g *Gateway) serveHTTP(group *errgroup.Group) <-chan error {
	failed := make(chan error, len(g.servers))
	for i, srv := range g.servers {
		group.Go(func() error {
			if err := serve(srv, g.listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
			return nil
		})
	}
	return failed
}

// loop runs fn in group until ctx ends. A panic in fn is logged with its stack and fn runs
// again after a pause, so one bad snapshot cannot stop discovery or the catalog for good.
func (g *Gateway) loop(group *errgroup.Group, ctx context.Context, name string, fn func(context.Context)) {
	group.Go(func() error {
		pause := 100 * time.Millisecond
		for ctx.Err() == nil {
			if !g.runRecovered(ctx, name, fn) {
				return nil // fn returned: its work is done
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 10*time.Second)
		}
		return nil
	})
}

// runRecovered runs fn and reports whether it panicked.
func (g *Gateway) runRecovered(ctx context.Context, name string, fn func(context.Context)) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			g.log.Error("a gateway loop panicked; restarting it", "loop", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			panicked = true
		}
	}()
	fn(ctx)
	return false
}

// waitUpstreams marks the gateway ready once every source has synced once and every upstream
// it named was tried once, with the catalog built from them.
func (g *Gateway) waitUpstreams(ctx context.Context) {
	select {
	case <-g.sources.Synced():
	case <-ctx.Done():
		return
	}
	if g.manager.WaitTried(ctx) {
		g.router.Rebuild()
		g.ready.Done("upstreams")
		g.log.Info("upstreams tried", "tools", g.router.Catalog().Len())
	}
}

// runVerifier runs OIDC discovery and key refresh; not ready until discovery succeeds, with
// the reason why not refreshed every second.
func (g *Gateway) runVerifier(ctx context.Context) {
	discovered := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { g.verifier.Run(ctx, func() { once.Do(func() { close(discovered) }) }) })
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-discovered:
			g.ready.Done("oidc")
			<-ctx.Done()
			return
		case <-tick.C:
			g.ready.Wait("oidc", g.verifier.NotReadyReason())
		}
	}
}

// Reload applies next while the gateway runs: static upstreams, defaults.timeout, limits, cache
// rules, policies, servers and tool overrides change now; other keys that changed are logged as needing a restart. An
// error changes nothing.
func (g *Gateway) Reload(next *config.Config) error {
	rules, err := toolPolicy(next)
	if err != nil {
		return err
	}
	rules.Review = reviewOf(g.pins) // pinning's mode takes effect at the next start
	policies, err := policiesOf(next)
	if err != nil {
		return err
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	g.sources.SetDefaultTimeout(next.Defaults.Timeout.D()) // applied by the merge that Set causes
	g.static.Set(registry.Static(next))
	g.policies.Store(policies)
	g.router.SetPolicy(rules)
	if !reflect.DeepEqual(g.current.Servers, next.Servers) || *g.current.RootServer != *next.RootServer || !reflect.DeepEqual(g.current.RootSearch, next.RootSearch) {
		g.router.SetServers(serversOf(next))
	}
	if restartNeeded(g.current, next) {
		g.log.Warn("reloaded upstreams, limits, cache rules, policies, servers and tool overrides; the other keys that changed take effect at the next start")
	} else {
		g.log.Info("config reloaded", "upstreams", len(next.Upstreams))
	}
	g.current = next
	return nil
}

func (g *Gateway) currentConfig() *config.Config {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.current
}

// restartNeeded reports whether next changes keys a reload cannot apply: anything but static
// upstreams, defaults.timeout, limits, cache rules, policies, servers and tool overrides.
func restartNeeded(cur, next *config.Config) bool {
	strip := func(c config.Config) config.Config {
		c.Upstreams, c.Defaults.Timeout, c.Limits, c.Cache.Tools, c.Auth.Policies = nil, 0, config.Limits{}, nil, nil
		c.Auth.DefaultPolicy, c.Servers, c.RootServer, c.RootSearch, c.Tools = "", nil, nil, config.ToolSearch{}, nil
		return c
	}
	return !reflect.DeepEqual(strip(*cur), strip(*next))
}

// onClose adds f to what Close runs.
func (g *Gateway) onClose(f func()) { g.closers = append(g.closers, f) }

// Close stops upstream sessions and stdio children, flushes traces, closes the audit log and the
// listeners. Call it after Run returns (or instead of Run); it is safe to call twice.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		for i := len(g.closers) - 1; i >= 0; i-- {
			g.closers[i]()
		}
	})
}

// upstreamSettings are what every upstream instance gets from the config.
func upstreamSettings(cfg *config.Config) upstream.Settings {
	return upstream.Settings{
		ConnectTimeout:  cfg.Defaults.ConnectTimeout.D(),
		BreakerFailures: cfg.Breaker.Failures,
		BreakerOpenFor:  cfg.Breaker.OpenFor.D(),
		MaxConcurrent:   cfg.Bulkhead.MaxConcurrent,
		QueueTimeout:    cfg.Bulkhead.QueueTimeout.D(),

		MaxResponseBytes: int64(cfg.Defaults.MaxResponseBytes),
		Credentials:      credentialsOf(cfg),
	}
}
