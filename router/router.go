// Package router is the MCP server side of the gateway: the catalog (an immutable snapshot
// swapped atomically), exposed naming, and the pipeline of one tools/call.
package router

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// Upstreams is what the router needs of the upstream manager.
type Upstreams interface {
	// Listings returns every listed upstream's tools, sorted by upstream name.
	Listings() []upstream.Listing
	// Call sends tools/call for req.Tool (the upstream's own name) to upstream name; idempotent
	// calls may be retried on another instance after a transport failure. The result names the
	// instance the call last reached, also on error.
	Call(ctx context.Context, name registry.ServiceName, req upstream.CallRequest) (upstream.CallResult, error)
	// Request sends another request (prompts/get, resources/read, ...) to upstream name.
	Request(ctx context.Context, name registry.ServiceName, method string, params map[string]any) (json.RawMessage, error)
}

// Options configure a Router.
type Options struct {
	Naming Naming
	// PageSize is the number of tools per tools/list page.
	PageSize int
	// Version is reported to clients in initialize.
	Version string
	// View returns what the caller (in ctx) may see and call: a key naming that view (callers
	// with the same key see the same tools) and a predicate on exposed names, nil for every
	// tool. Nil View: everyone may use every tool. A tool outside a caller's view is unknown to it.
	View func(ctx context.Context) (key string, allowed func(name string) bool)
	// ResourceView returns which resources and templates the caller may see and read, by their
	// upstream's namespace and exposed URI; nil (or a nil predicate): every one. Like a tool, a
	// resource outside the view is answered exactly as one that does not exist.
	ResourceView func(ctx context.Context) func(namespace, uri string) bool
	// Policy gives each tool its rate limit and cache rule.
	Policy Policy
	// Cache holds cached results; nil: nothing is cached.
	Cache *cache.Cache
	// MaxEntryBytes: results larger than this are not cached.
	MaxEntryBytes int
	// Observer, if not nil, is told of every finished call (metrics, audit).
	Observer callrecord.Observer
	// MaxBuckets bounds the rate limiter's table. Default 100000.
	MaxBuckets int
	// Limiter holds the rate limits' buckets (ratelimit.Shared: cluster-wide). Nil: buckets in
	// this process, MaxBuckets of them.
	Limiter Limiter
	// Sessions configure the sealed sessions of the 2025-11-25 era.
	Sessions SessionOptions
	// AllowedHosts are Host values served on a loopback listener besides loopback names (DNS
	// rebinding protection refuses the others): public_url's host and allowed_hosts.
	AllowedHosts []string
	// Root is what /mcp serves (nil: the whole catalog; SetServers changes it); Servers are
	// the virtual servers.
	Root    *Server
	Servers []*Server
}

// Router serves the aggregated catalog over MCP and routes calls to upstreams.
type Router struct {
	upstreams Upstreams
	naming    Naming
	policy    Policy
	limiter   Limiter
	cache     *cache.Cache
	maxEntry  int
	observer  callrecord.Observer
	log       *slog.Logger
	mcp       *server.MCPServer
	modern    *server.StreamableHTTPServer // the 2026-07-28 era, which has no sessions
	sessions  *sessionHTTP                 // the 2025-11-25 era
	catalog   atomic.Pointer[Catalog]
	rebuildMu sync.Mutex // one rebuild at a time, so an older listing never replaces a newer one
	inFlight  atomic.Int64
	draining  atomic.Bool
	extras    atomic.Pointer[extras]
	subs      subscriptions
	view      func(context.Context) (string, func(string) bool)
	resView   func(context.Context) func(namespace, uri string) bool
	pageSize  int
	pages     atomic.Pointer[listPages]
	servers   atomic.Pointer[servers]
	sizes     atomic.Pointer[viewSizes]
	indexes   atomic.Pointer[searchIndexes]
	parked    *parked // 2026-era calls waiting for their clients' input
	// allowedHosts: see Options.AllowedHosts; lowercased.
	allowedHosts map[string]bool
	// gatewayToolsJSON are the gateway's own tools as tools/list shows them.
	gatewayToolsJSON [][]byte
	changedAt        atomic.Int64 // unix nanoseconds of the last catalog change seen by clients
}

// StreamsOpen is the number of 2025-era GET streams open on this replica (sessions themselves
// cost nothing here: their state is in the sealed id and sessions.State).
func (r *Router) StreamsOpen() int { return r.sessions.streams.len() }

// AnswersHandler is /internal/answers, where other replicas hand this one a client's answer to
// a request it sent (mount it on the admin listener).
func (r *Router) AnswersHandler() http.Handler { return r.sessions.asks }

// CatalogChanged is when the tools clients see last changed.
func (r *Router) CatalogChanged() time.Time {
	if n := r.changedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// New returns a Router with an empty catalog; Run fills it.
func New(ups Upstreams, opts Options, log *slog.Logger) *Router {
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = 100_000
	}
	if opts.Cache == nil {
		opts.Policy.Cache = nil // nothing to cache into
	}
	if opts.Limiter == nil {
		opts.Limiter = ratelimit.New(opts.MaxBuckets)
	}
	r := &Router{upstreams: ups, naming: opts.Naming, policy: opts.Policy, limiter: opts.Limiter,
		cache: opts.Cache, maxEntry: opts.MaxEntryBytes, observer: opts.Observer, view: opts.View, resView: opts.ResourceView,
		pageSize: opts.PageSize, log: log}
	hooks := &server.Hooks{}
	r.subs.hooks(r, hooks)
	r.filterLists(hooks)
	serverOpts := []server.ServerOption{
		server.WithHooks(hooks),
		server.WithToolCapabilities(true),
		server.WithPromptCapabilities(true),
		server.WithResourceCapabilities(true, true),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completions{r}),
		server.WithResourceCompletionProvider(completions{r}),
		server.WithLogging(),
		server.WithPaginationLimit(opts.PageSize),
		server.WithRecovery(),
	}
	// mcp-go applies the filter to tools/list and, with the requested tool alone, to tools/call.
	// A call is let through to the pipeline, whose authorize step answers it exactly as an
	// unknown tool and records the refusal (the filter cannot tell who asked). A list shows the
	// caller's view (listedTools).
	serverOpts = append(serverOpts, server.WithToolFilter(func(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
		if middleware.RPCMethodFrom(ctx) == string(mcp.MethodToolsCall) {
			return tools
		}
		_, listed := r.listedTools(ctx)
		visible := tools[:0:0]
		for _, t := range tools {
			if listed(t.Name) {
				visible = append(visible, t)
			}
		}
		return visible
	}))
	r.mcp = server.NewMCPServer("switchboard", opts.Version, serverOpts...)
	// mcp-go's Streamable HTTP server serves only the 2026-07-28 era, which has no sessions;
	// sessionHTTP serves the 2025-11-25 era with sealed ones.
	// sessionHTTP checks the Host (rejectRebinding, with allowed_hosts) before it hands a request
	// on, so mcp-go's own check, which knows no allowed hosts, is off.
	r.modern = server.NewStreamableHTTPServer(r.mcp, server.WithStateLess(true), server.WithStreamableHTTPLogger(log),
		server.WithDisableLocalhostProtection(true))
	r.sessions = newSessionHTTP(r, r.modern, opts.Sessions, log)
	r.parked = newParked(r.sessions.opts.Sealer, r.sessions.opts.ReplicaAddress).overTLS(r.sessions.opts.PeerTLS)
	r.allowedHosts = map[string]bool{}
	for _, h := range opts.AllowedHosts {
		r.allowedHosts[strings.ToLower(h)] = true
	}
	r.catalog.Store(&Catalog{byName: map[ExposedName]*Entry{}})
	if opts.Root == nil {
		opts.Root = &Server{All: true, Search: Search{Mode: SearchOff}}
	}
	r.servers.Store(newServers(opts.Root, opts.Servers))
	for _, t := range gatewayToolDefs() {
		b, _ := json.Marshal(t)
		r.gatewayToolsJSON = append(r.gatewayToolsJSON, b)
	}
	r.extras.Store(&extras{promptByName: map[string]*extraEntry{}, resourceByURI: map[string]*extraEntry{}, templateByURI: map[string]*extraEntry{}})
	return r
}

// Handler is the MCP endpoint (mount it at /mcp): Streamable HTTP for both protocol eras.
// While draining it refuses requests that would start something new (no session yet).
func (r *Router) Handler() http.Handler {
	var unknownTool func()
	if r.observer != nil {
		unknownTool = func() {
			r.observer.ObserveCall(callrecord.Record{Time: time.Now(), Outcome: callrecord.OutcomeUnknownTool})
		}
	}
	h := withJSONRPCErrors(r.sessions, unknownTool)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.draining.Load() && req.Method == http.MethodPost && req.Header.Get("Mcp-Session-Id") == "" {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "shutting down: new sessions are refused; connect to another replica", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// Drain refuses new sessions and streams from now on, closes the open GET streams (their
// clients reconnect, through the balancer, to another replica), and waits until no call is in
// flight or ctx ends. It returns the number of calls still in flight (0 unless ctx ended first).
func (r *Router) Drain(ctx context.Context) int64 {
	r.draining.Store(true)
	r.sessions.streams.closeAll()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := r.inFlight.Load()
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

// Catalog returns the current catalog.
func (r *Router) Catalog() *Catalog { return r.catalog.Load() }

// Run rebuilds the catalog now and on every signal of changes, until ctx ends. Clients get
// notifications/tools/list_changed only when the tools they see really changed.
func (r *Router) Run(ctx context.Context, changes <-chan struct{}) {
	for {
		r.Rebuild()
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
	}
}

// Rebuild builds the catalog from the upstreams' current listings and swaps it in if it differs.
func (r *Router) Rebuild() {
	r.rebuildMu.Lock()
	defer r.rebuildMu.Unlock()
	listings := r.upstreams.Listings()
	policy := r.policy
	x := buildExtras(listings, r.naming, r.log)
	if prevX := r.extras.Swap(x); !bytes.Equal(prevX.json, x.json) {
		r.registerExtras(x)
	}
	next := buildCatalog(listings, r.naming, policy, r.log)
	prev := r.catalog.Swap(next) // limits may have changed even when the tools did not
	if prev.sameTools(next) {
		return
	}
	tools := make([]server.ServerTool, len(next.entries), len(next.entries)+2)
	for i, e := range next.entries {
		tools[i] = server.ServerTool{Tool: e.def, Handler: r.callTool}
	}
	tools = append(tools, r.gatewayTools()...) // listed only where tool search is on
	r.mcp.SetTools(tools...)                   // also announces tools/list_changed to every session
	r.changedAt.Store(time.Now().UnixNano())
	r.log.Info("catalog changed", "tools", next.Len())
}

// SetPolicy replaces how tools get their rate limits and cache rules (a reloaded config) and
// rebuilds the catalog with it.
func (r *Router) SetPolicy(p Policy) {
	r.rebuildMu.Lock()
	if r.cache == nil {
		p.Cache = nil
	}
	r.policy = p
	r.rebuildMu.Unlock()
	r.Rebuild()
}

// Shutdown closes every GET stream.
func (r *Router) Shutdown(ctx context.Context) error {
	r.sessions.streams.closeAll()
	return r.modern.Shutdown(ctx)
}

// ServeUpdates passes resource updates published by any replica to this replica's subscribed
// streams, until ctx ends.
func (r *Router) ServeUpdates(ctx context.Context) {
	r.sessions.opts.State.Updates(ctx, r.sessions.resourceUpdated)
}
