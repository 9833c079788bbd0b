package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// StdioOptions are what `switchboard stdio` adds to Options.
type StdioOptions struct {
	// Server names the virtual server (servers[].name) whose view the client gets; "": the
	// root, what /mcp serves.
	Server string
}

// stdioSetup is what NewStdio adds to a gateway: who its one client is, and what it is served.
type stdioSetup struct {
	principal *authn.Principal // stdio.principal; nil: nobody
	server    string
}

// hasPrincipal reports whether the stdio client is someone, so that policies apply to it; false
// for a gateway that serves HTTP.
func (s *stdioSetup) hasPrincipal() bool { return s != nil && s.principal != nil }

// stdioIssuer is the issuer of the stdio client's principal: no token was issued, and its
// fingerprint must not be a token's of the same subject.
const stdioIssuer = "switchboard:stdio"

// NewStdio builds the gateway of `switchboard stdio --config FILE`: everything New builds
// (catalog, sources and Consul, upstream sessions and stdio children, policies, limits, cache,
// breakers, audit, metrics), for the one client that launched it, which RunStdio serves on a pair
// of streams. There is no MCP listener. The admin listener (/healthz, /readyz, /metrics,
// /admin/*) runs only when admin_listen is set and its address is free. Nobody presents a token
// on stdio: the client is stdio.principal, to which the policies apply, or nobody (every tool,
// as with auth.mode none); no OIDC discovery runs. The audit log's stdout sink writes to
// opts.Stderr, since stdout carries JSON-RPC only. A server that the config does not serve is
// an error.
func NewStdio(cfg *config.Config, opts Options, stdio StdioOptions) (*Gateway, error) {
	switch {
	case stdio.Server == "" && cfg.RootServer != nil && !*cfg.RootServer:
		return nil, errors.New("root_server is false: name one of servers[] to serve (switchboard stdio --server NAME)")
	case stdio.Server != "" && !slices.ContainsFunc(cfg.Servers, func(s config.Server) bool { return s.Name == stdio.Server }):
		return nil, fmt.Errorf("no virtual server is named %q in servers[]", stdio.Server)
	}
	opts.stdio = &stdioSetup{principal: stdioPrincipal(cfg.Stdio.Principal), server: stdio.Server}
	opts.Stdout = opts.Stderr
	g, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.Mode == config.AuthOIDC && cfg.Stdio.Principal == nil {
		g.log.Warn("over stdio nobody presents a token: without stdio.principal the client is nobody, whom auth.policies do not restrict (it sees every tool); set stdio.principal to apply them")
	}
	return g, nil
}

// stdioPrincipal is the principal stdio.principal describes, as a verified token would carry it.
func stdioPrincipal(c *config.StdioPrincipal) *authn.Principal {
	if c == nil {
		return nil
	}
	p := &authn.Principal{Issuer: stdioIssuer, Subject: c.Subject, Scopes: c.Scopes, Claims: map[string]json.RawMessage{}}
	for claim, values := range c.Claims {
		p.Claims[claim], _ = json.Marshal(values)
	}
	p.Claims["sub"], _ = json.Marshal(c.Subject)
	p.Claims["scope"], _ = json.Marshal(strings.Join(c.Scopes, " "))
	return p
}

// listenStdio opens the admin listener when admin_listen is set. A busy address (a `serve` of
// the same config running) does not keep the client from its tools: the gateway goes on without
// it.
func (g *Gateway) listenStdio(cfg *config.Config) error {
	if cfg.AdminListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		g.log.Warn("admin_listen is not served (no /readyz, /metrics, /admin/*); stdio is", "addr", cfg.AdminListen, "err", err)
		return nil
	}
	g.adminLn = ln
	g.onClose(func() { ln.Close() })
	return nil
}

// buildStdioServers builds the admin server, if there is an admin listener. No token can be
// verified on it (stdio has no verifier), so with auth.mode oidc the operator endpoints are
// served only on a loopback address, as over HTTP they need the admin scope elsewhere.
func (g *Gateway) buildStdioServers(cfg *config.Config, metrics *telemetry.Metrics) {
	if g.adminLn == nil {
		return
	}
	mux := http.NewServeMux()
	g.registerAdmin(mux, nil, cfg.Auth.AdminScope, metrics)
	var h http.Handler = mux
	if cfg.Auth.Mode == config.AuthOIDC && !isLoopbackAddr(g.adminLn.Addr()) {
		h = withoutOperatorEndpoints(mux)
	}
	srv := &http.Server{Handler: middleware.Chain(h, middleware.Recover(g.log), middleware.RequestID, middleware.AccessLog(g.log)),
		ReadHeaderTimeout: 10 * time.Second}
	if g.certs != nil {
		srv.TLSConfig = g.certs.serverConfig(true)
	}
	g.servers, g.listeners = []*http.Server{srv}, []net.Listener{g.adminLn}
}

// withoutOperatorEndpoints answers /admin/* with 403 and serves the rest (health, metrics).
func withoutOperatorEndpoints(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/admin/") {
			http.Error(w, "the operator endpoints of switchboard stdio need a loopback admin_listen when auth.mode is oidc: no token can be verified here", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// stdioStartWait bounds how long RunStdio waits, past connect_timeout, for every source to sync
// and every upstream to be tried before it reads the client's first message.
const stdioStartWait = 5 * time.Second

// RunStdio serves the one client on in (its messages, one per line) and out (the gateway's,
// nothing else) until in ends or ctx ends, and then stops as Run does: calls in flight get
// shutdown_grace, then every loop stops (Close, after it, stops upstream sessions and stdio
// children). The client's first message is read once the gateway is ready (every source synced
// and every upstream tried, so that its first tools/list has the catalog), or after
// connect_timeout and a few seconds more. It returns nil when in ended, the error of reading in
// or writing out, or the admin listener's. Call it once, on a gateway built by NewStdio.
func (g *Gateway) RunStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	if g.opts.stdio == nil {
		return errors.New("RunStdio needs a gateway built by NewStdio")
	}
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	var group errgroup.Group // every goroutine of the gateway's own: loops and the admin server
	g.startLoops(&group, loopCtx)
	failed := g.serveHTTP(&group)
	if g.adminLn != nil {
		g.log.Info("admin endpoints", "url", fmt.Sprintf("%s://%s/readyz", g.scheme(), g.adminLn.Addr()))
	}

	cfg := g.currentConfig()
	g.waitReady(ctx, cfg.Defaults.ConnectTimeout.D()+stdioStartWait)
	clientCtx := context.Background()
	if p := g.opts.stdio.principal; p != nil {
		clientCtx = authn.WithPrincipal(clientCtx, p)
	}
	clientCtx, endClient := context.WithCancel(clientCtx)
	defer endClient()
	served := make(chan error, 1)
	go func() {
		served <- g.router.ServeStdio(clientCtx, in, out, router.StdioOptions{
			Server: g.opts.stdio.server, MaxMessageBytes: cfg.MaxRequestBytes, Grace: cfg.ShutdownGrace.D()})
	}()

	var err error
	select {
	case err = <-served:
		served = nil
		if err == nil {
			g.log.Info("the client closed its input: shutting down")
		}
	case <-ctx.Done():
	case err = <-failed:
	}
	g.ready.Drain()
	if served != nil {
		grace := cfg.ShutdownGrace.D()
		g.log.Info("shutting down: draining calls in flight", "grace", grace)
		graceCtx, cancelGrace := context.WithTimeout(context.Background(), grace)
		if left := g.router.Drain(graceCtx); left > 0 {
			g.log.Warn("grace period over; calls still in flight are cut", "calls", left)
		}
		cancelGrace()
		endClient()
		<-served
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = g.router.Shutdown(shutdown)
	for _, srv := range g.servers {
		_ = srv.Shutdown(shutdown)
	}
	stopLoops()
	_ = group.Wait()
	g.log.Info("stopped")
	return err
}

// waitReady waits until the gateway is ready, ctx ends, or wait passes (then it says why not).
func (g *Gateway) waitReady(ctx context.Context, wait time.Duration) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, _ := g.ready.Ready(); ok {
			g.log.Info("serving the client on stdio", "tools", g.router.Catalog().Len())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			_, why := g.ready.Ready()
			g.log.Warn("serving the client on stdio before the gateway is ready; tools may come later (tools/list_changed)", "reason", why)
			return
		case <-tick.C:
		}
	}
}
