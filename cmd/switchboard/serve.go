package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

const shutdownTimeout = 10 * time.Second

// serve wires the gateway and runs it until ctx ends, then drains. On SIGHUP it reloads the
// config file at path.
func serve(ctx context.Context, path string, cfg *config.Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
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
	stopTracing, err := telemetry.StartTracing(runCtx, version)
	if err != nil {
		log.Warn("tracing is off: the OTLP exporter could not start", "err", err)
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(flush)
	}()

	manager := upstream.NewManager(log, upstream.Settings{
		ConnectTimeout:  cfg.Defaults.ConnectTimeout.D(),
		BreakerFailures: cfg.Breaker.Failures,
		BreakerOpenFor:  cfg.Breaker.OpenFor.D(),
		MaxConcurrent:   cfg.Bulkhead.MaxConcurrent,
		QueueTimeout:    cfg.Bulkhead.QueueTimeout.D(),

		MaxResponseBytes: int64(cfg.Defaults.MaxResponseBytes),
	})
	defer manager.Close()
	// The sources: the config file's upstreams (replaced on reload) and Consul's.
	var sources struct {
		sync.Mutex
		static, discovered registry.Snapshot
		timeout            time.Duration
	}
	applySources := func() {
		sources.Lock()
		defer sources.Unlock()
		manager.Apply(registry.Merge(sources.static, sources.discovered, sources.timeout, log))
	}
	sources.static, sources.timeout = registry.Static(cfg), cfg.Defaults.Timeout.D()
	applySources()

	var policies atomic.Pointer[authn.Policies]
	policies.Store(policiesOf(cfg))
	var auth *authn.Authenticator
	var view func(context.Context) (string, func(string) bool)
	if cfg.Auth.Mode == config.AuthOIDC {
		auth, view = startAuth(runCtx, cfg, &policies, ready, log)
	}

	responses, err := newCache(cfg.Cache, log)
	if err != nil {
		return err
	}
	var rt *router.Router
	var consul *registry.Consul
	state := telemetry.State{
		Instances:      func() []telemetry.InstanceState { return instanceStates(manager) },
		CatalogTools:   func() int { return rt.Catalog().Len() },
		CatalogChanged: func() time.Time { return rt.CatalogChanged() },
		SessionsOpen:   func() int { return rt.SessionsOpen() },

		CacheStoreErrors:    responses.StoreErrors,
		CacheStoreAvailable: responses.StoreAvailable,
	}
	if cfg.Consul != nil { // without Consul the gauges are absent, not 0
		state.ConsulReachable = func() bool { return consul != nil && consul.State().Reachable }
		state.ConsulSynced = func() bool { return consul != nil && consul.State().Synced }
	}
	metrics := telemetry.NewMetrics(state)
	observer := telemetry.Observers{metrics}
	if sink, closeSink := auditSinks(cfg.Audit, stdout); sink != nil {
		defer closeSink()
		observer = append(observer, telemetry.NewAudit(sink))
	}
	rt = router.New(manager, router.Options{
		Naming:        router.Naming{Separator: cfg.Naming.Separator, MaxLength: cfg.Naming.MaxLength},
		PageSize:      cfg.PageSize,
		Version:       version,
		View:          view,
		Policy:        toolPolicy(cfg),
		Cache:         responses,
		MaxEntryBytes: cfg.Cache.MaxEntryBytes,
		Observer:      observer,
	}, log)
	manager.OnResourceUpdated(rt.ResourceUpdated)
	go rt.Run(runCtx, manager.Changes())

	// Ready once every source has synced once and every upstream it named was tried once.
	ready.Wait("upstreams", "not tried yet")
	sourcesSynced := make(chan struct{})
	details := func() map[string]any { return nil }
	if cfg.Consul != nil {
		if consul, err = registry.NewConsul(cfg.Consul, log); err != nil {
			return err
		}
		details = func() map[string]any { return map[string]any{"consul": consul.State()} }
		ready.Wait("upstreams", "waiting for Consul's first answer (details.consul says why not)")
		var once sync.Once
		go consul.Run(runCtx, func(discovered registry.Snapshot) {
			sources.Lock()
			sources.discovered = discovered
			sources.Unlock()
			applySources()
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

	// Reload on SIGHUP: what can change without a restart does; a bad file changes nothing.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		current := cfg
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
			}
			next, err := config.Load(path)
			if err != nil {
				log.Error("reload refused; the running config stays", "err", err.Error())
				continue
			}
			sources.Lock()
			sources.static, sources.timeout = registry.Static(next), next.Defaults.Timeout.D()
			sources.Unlock()
			applySources()
			policies.Store(policiesOf(next))
			rt.SetPolicy(toolPolicy(next))
			if restartNeeded(current, next) {
				log.Warn("reloaded upstreams, limits, cache rules and policies; the other keys that changed take effect at the next start")
			} else {
				log.Info("config reloaded", "upstreams", len(next.Upstreams))
			}
			current = next
		}
	}()

	mcpMux := http.NewServeMux()
	var mcpHandler http.Handler = rt.Handler()
	if auth != nil {
		mcpHandler = auth.Wrap(mcpHandler)
	}
	mcpHandler = middleware.Chain(mcpHandler,
		telemetry.ExtractTraceContext,
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
	adminMux.Handle("GET /metrics", metrics.Handler())
	if os.Getenv("SWITCHBOARD_PPROF") == "1" { // profiling on the admin listener, for performance work
		adminMux.HandleFunc("/debug/pprof/", pprof.Index)
		adminMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	// The operator endpoints that show or change state: on a loopback admin listener, or behind
	// the admin scope when auth is on.
	opsMux := http.NewServeMux()
	admin.RegisterViews(opsMux,
		func() any { return catalogView(rt, manager, policies.Load()) },
		func() any { return upstreamsView(manager) })
	var ops http.Handler = opsMux
	if auth != nil && (adminLn == mcpLn || !isLoopbackAddr(adminLn.Addr())) {
		ops = auth.WrapAdmin(opsMux, cfg.Auth.AdminScope)
	}
	adminMux.Handle("/admin/", ops)
	admin.RegisterCachePurge(opsMux, func(ctx context.Context, upstreamName, tool string) (int, error) {
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

// isLoopbackAddr reports whether a listener address only accepts local connections.
func isLoopbackAddr(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// restartNeeded reports whether next changes keys a reload cannot apply: anything but static
// upstreams, defaults.timeout, limits, cache rules and policies.
func restartNeeded(cur, next *config.Config) bool {
	strip := func(c config.Config) config.Config {
		c.Upstreams, c.Defaults.Timeout, c.Limits, c.Cache.Tools, c.Auth.Policies = nil, 0, config.Limits{}, nil, nil
		return c
	}
	return !reflect.DeepEqual(strip(*cur), strip(*next))
}
