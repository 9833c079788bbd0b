package router

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// callTool is the handler of every exposed tool. A call of a 2026-07-28 client may have to ask
// it for input on the way (mrtr.go); every other call runs the pipeline at once.
func (r *Router) callTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if server.IsModernRequest(ctx) {
		if req.Params.RequestState != "" {
			return r.resumeCall(ctx, req)
		}
		return r.callAskingInput(ctx, req)
	}
	return r.runCall(ctx, req, r.relay(ctx, req))
}

// runCall runs the pipeline of a call mcp-go decoded and makes its answer the result mcp-go
// sends (the fast path, fastpath.go, writes the answer's bytes itself).
func (r *Router) runCall(ctx context.Context, req mcp.CallToolRequest, relay upstream.Relay) (*mcp.CallToolResult, error) {
	a, err := r.pipeline(ctx, callOf(req), relay)
	if err != nil {
		return nil, err
	}
	return r.decoded(ctx, a), nil
}

// toolCall is what the pipeline reads of one tools/call, however it arrived: decoded by mcp-go
// (callOf), or read off the request's bytes (the fast path).
type toolCall struct {
	name string
	args json.RawMessage
	// traceParent and traceState are the W3C trace context in the request's _meta, if any.
	traceParent, traceState string
}

func callOf(req mcp.CallToolRequest) toolCall {
	c := toolCall{name: req.Params.Name, args: req.Params.RawArguments}
	if req.Params.Meta != nil {
		c.traceParent, _ = req.Params.Meta.AdditionalFields["traceparent"].(string)
		c.traceState, _ = req.Params.Meta.AdditionalFields["tracestate"].(string)
	}
	return c
}

// answer is what the pipeline answers a call with: the upstream's result as it sent it (raw,
// from the upstream or, when hit is not nil, the cache), or a result the gateway made (made).
// A JSON-RPC error is the pipeline's error instead.
type answer struct {
	raw     json.RawMessage
	hit     *cache.Hit
	isError bool // raw is a tool error
	made    *mcp.CallToolResult
	// upstream is the upstream of the tool called, "" before lookup found it.
	upstream registry.ServiceName
}

func (a answer) outcome(ctx context.Context, err error) string {
	switch {
	case err != nil || a.made != nil:
		return outcomeOf(ctx, a.made, err)
	case a.isError:
		return callrecord.OutcomeToolError
	}
	return callrecord.OutcomeOK
}

// pipeline is the pipeline of one tools/call, each step a function of its own, in the order
// of design.md: lookup -> authorize -> limit -> cache -> call upstream -> check the result
// (or map the error, callError). relay is where what the upstream says to the client goes.
func (r *Router) pipeline(ctx context.Context, call toolCall, relay upstream.Relay) (a answer, err error) {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	var rec callrecord.Record // filled only for an observer
	ctx, span := startCallSpan(ctx, call)
	defer func() { endCallSpan(span, a.outcome(ctx, err)) }()
	if r.observer != nil {
		rec = newCallRecord(ctx, call.args)
		defer func() {
			if rec.Outcome == "" {
				rec.Outcome = a.outcome(ctx, err)
			}
			rec.Duration = time.Since(rec.Time)
			r.observer.ObserveCall(rec)
		}()
	}
	entry, ok := r.lookup(call.name)
	switch {
	case !ok:
		rec.Outcome = callrecord.OutcomeUnknownTool
		return answer{}, unknownTool(ctx, call.name)
	case !r.authorize(ctx, entry):
		// The same answer as for an unknown tool; the record says what it was.
		rec.Outcome, rec.Tool, rec.Upstream = callrecord.OutcomeNotAllowed, string(entry.Name), string(entry.Upstream)
		return answer{}, unknownTool(ctx, call.name)
	}
	rec.Tool, rec.Upstream, rec.Cacheable = string(entry.Name), string(entry.Upstream), entry.Cache != nil
	if entry.Held {
		return answer{made: definitionChanged(entry)}, nil
	}
	if limited := r.limit(ctx, entry); limited != nil {
		return answer{made: limited}, nil
	}
	f, err := r.fetch(ctx, entry, call.args, relay)
	rec.CacheHit, rec.Instance = f.hit != nil, string(f.instance)
	if err != nil {
		res, err := r.callError(ctx, entry, err)
		return answer{made: res, upstream: entry.Upstream}, err
	}
	return r.check(ctx, entry, f), nil
}

// lookup is the first step: the catalog entry of the exposed name, if there is one.
func (r *Router) lookup(name string) (*Entry, bool) {
	return r.catalog.Load().Lookup(name)
}

// authorize reports whether the caller in ctx may call e: whether e is in the caller's view.
// mcp-go's tool filter hides the other tools from lists; calls are decided here.
func (r *Router) authorize(ctx context.Context, e *Entry) bool {
	return r.serverOf(ctx).tool(string(e.Name)) && r.policyAllows(ctx, string(e.Name))
}

// unknownTool is the answer to a call of a tool the catalog does not have or the caller may not
// call: the same for both, so the catalog does not leak.
func unknownTool(ctx context.Context, name string) error {
	return jsonRPCError(ctx, &upstream.RPCError{Code: mcp.INVALID_PARAMS, Message: "unknown tool: " + name})
}

// Limiter holds the buckets of the limit step: Allow takes a token for one call of tool by
// principal, or says how long until one is there. Safe for concurrent use; it never fails a
// call (a store it cannot reach is its own business).
type Limiter interface {
	Allow(ctx context.Context, tool, principal string, limit ratelimit.Limit) (ok bool, retryAfter time.Duration)
}

var (
	_ Limiter = (*ratelimit.Limiter)(nil)
	_ Limiter = (*ratelimit.Shared)(nil)
)

// limit returns the rate-limited result when the caller's bucket for e is empty, else nil.
func (r *Router) limit(ctx context.Context, e *Entry) *mcp.CallToolResult {
	if e.Limit.Rate <= 0 {
		return nil // the principal's key is built only for limited tools
	}
	if ok, wait := r.limiter.Allow(ctx, string(e.Name), principalKey(ctx), e.Limit); !ok {
		return rateLimited(e, wait)
	}
	return nil
}

// relay is where what the upstream says to the client during the call goes: the calling
// client's session, with its progress token.
func (r *Router) relay(ctx context.Context, req mcp.CallToolRequest) *callRelay {
	var token any
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	return &callRelay{mcp: r.mcp, ctx: ctx, token: token}
}

// fetched is a call's raw result and where it came from.
type fetched struct {
	raw json.RawMessage
	// hit is not nil when the result came from the cache.
	hit *cache.Hit
	// instance is the upstream instance the call last reached ("" on a hit); for calls that
	// shared one fill, the instance that served the fill.
	instance registry.InstanceID
	// usable and isError are what resultShape finds of raw, read once where raw arrives (read).
	usable, isError bool
}

// read returns f with its result's shape read: a client could read it (from a shared store, it
// must be JSON, which the upstream's transport checked of the upstream's), and a tool error.
func (f fetched) read() fetched {
	f.isError, f.usable = resultShape(f.raw)
	if f.usable && f.hit != nil {
		f.usable = json.Valid(f.raw)
	}
	return f
}

// fetch is the cache step: it returns the tool's result from the cache when the tool is
// cacheable and a result is there, else from the upstream, once for concurrent identical
// misses, filling the cache with results that may be cached. On error, fetched still names the
// instance reached, if any.
func (r *Router) fetch(ctx context.Context, e *Entry, args json.RawMessage, relay upstream.Relay) (fetched, error) {
	if e.Cache == nil {
		return r.callUpstream(ctx, e, args, relay)
	}
	canon, err := cache.Canonical(args)
	if err != nil { // not JSON: let the upstream say what it thinks of it, uncached
		return r.callUpstream(ctx, e, args, relay)
	}
	scope := ""
	if !e.Cache.Shared {
		scope = cacheScope(ctx) // one principal never sees another's result
	}
	key := cache.Key{Upstream: string(e.Upstream), Tool: e.Tool, DefHash: e.DefHash, Scope: scope, Args: canon}.String()
	if hit, ok := r.cache.Get(ctx, key); ok {
		return fetched{raw: hit.Value, hit: &hit}.read(), nil
	}
	v, _, err := r.cache.Flight(ctx, key, func(ctx context.Context) (any, error) {
		f, err := r.callUpstream(ctx, e, args, relay)
		if err == nil && len(f.raw) <= r.maxEntry && f.usable && !f.isError {
			r.cache.Set(ctx, key, f.raw, e.Cache.TTL)
		}
		return f, err
	})
	f, _ := v.(fetched) // zero when the caller left before the fill ended
	return f, err
}

// callUpstream is the upstream step: tools/call of e's own tool name on an instance of e's
// upstream.
func (r *Router) callUpstream(ctx context.Context, e *Entry, args json.RawMessage, relay upstream.Relay) (fetched, error) {
	res, err := r.upstreams.Call(ctx, e.Upstream, upstream.CallRequest{Tool: e.Tool, Args: args, Idempotent: e.Idempotent, Relay: relay})
	f := fetched{raw: res.Raw, instance: res.Instance}
	if err == nil {
		f = f.read()
	}
	return f, err
}

// CacheMetaKey is the _meta key that marks a result served from the cache.
const CacheMetaKey = "io.switchboard/cache"

// check is the last step: a result no client could read (fetched.read, without decoding it)
// becomes an upstream_unavailable error.
func (r *Router) check(ctx context.Context, e *Entry, f fetched) answer {
	if !f.usable {
		return answer{made: r.unusable(ctx, e.Upstream, nil), upstream: e.Upstream}
	}
	return answer{raw: f.raw, hit: f.hit, isError: f.isError, upstream: e.Upstream}
}

// unusable is the answer to a result the gateway cannot read.
func (r *Router) unusable(ctx context.Context, up registry.ServiceName, err error) *mcp.CallToolResult {
	r.log.WarnContext(ctx, "upstream sent an unusable result", "upstream", up, "err", err)
	return gatewayError(CodeUpstreamUnavailable, up,
		"upstream "+string(up)+" sent a result the gateway cannot read; the call may have run")
}

// decoded is a as mcp-go sends it: decoded, and marked when it came from the cache.
func (r *Router) decoded(ctx context.Context, a answer) *mcp.CallToolResult {
	if a.made != nil {
		return a.made
	}
	result, err := mcp.ParseCallToolResult(&a.raw)
	if err != nil { // a field of a content item of the wrong type: resultShape does not look inside
		return r.unusable(ctx, a.upstream, err)
	}
	if a.hit != nil {
		if result.Meta == nil {
			result.Meta = &mcp.Meta{}
		}
		if result.Meta.AdditionalFields == nil {
			result.Meta.AdditionalFields = map[string]any{}
		}
		result.Meta.AdditionalFields[CacheMetaKey] = map[string]any{"hit": true, "ageMs": a.hit.Age.Milliseconds()}
	}
	return result
}

// principalKey names whose bucket a call draws from: the authenticated subject, else the
// client's address (middleware.ClientAddr; an IPv6 one by its /64, which one host commonly
// has whole), else one bucket shared by every anonymous caller. Never the MCP session: a caller
// could reset its limit by opening a new one.
func principalKey(ctx context.Context) string {
	if p := authn.PrincipalFrom(ctx); p != nil {
		return "sub:" + p.Subject
	}
	if addr := middleware.ClientAddrFrom(ctx); addr != "" {
		if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() {
			addr = netip.PrefixFrom(ip, 64).Masked().String()
		}
		return "addr:" + addr
	}
	return "anonymous"
}

// cacheScope names whose cached results a call may get: the authenticated subject, else the
// MCP session, else one scope of every stateless anonymous call. Finer than principalKey on
// purpose: callers behind one address do not see each other's results.
func cacheScope(ctx context.Context) string {
	if p := authn.PrincipalFrom(ctx); p != nil {
		return "sub:" + p.Subject
	}
	if id := sessionID(ctx); id != "" {
		return "session:" + id
	}
	return "anonymous"
}

// sessionID is the client's MCP session, or "" (the 2026-07-28 era has none).
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}
