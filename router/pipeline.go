package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// callTool is the handler of every exposed tool: exposed name -> route -> upstream call ->
// result. Later steps (authz, limits, cache) slot in between route and call.
func (r *Router) callTool(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	var rec CallRecord // filled only for an observer
	ctx, span := startCallSpan(ctx, req)
	defer func() { endCallSpan(span, outcomeOf(ctx, res, err)) }()
	if r.observer != nil {
		rec = newCallRecord(ctx, req.Params.RawArguments)
		var servedBy func() string
		ctx, servedBy = withInstance(ctx)
		defer func() {
			rec.Instance = servedBy()
			if rec.Outcome == "" {
				rec.Outcome = outcomeOf(ctx, res, err)
			}
			rec.Duration = time.Since(rec.Time)
			r.observer.ObserveCall(rec)
		}()
	}
	entry, ok := r.catalog.Load().Lookup(req.Params.Name)
	if !ok {
		rec.Outcome = OutcomeUnknownTool
		return nil, jsonRPCError(ctx, &upstream.RPCError{Code: mcp.INVALID_PARAMS, Message: "unknown tool: " + req.Params.Name})
	}
	rec.Tool, rec.Upstream, rec.Cacheable = entry.Name, string(entry.Upstream), entry.Cache != nil
	if entry.Limit.Rate > 0 { // the principal's key is built only for limited tools
		if ok, wait := r.limiter.Allow(string(entry.Name), principalKey(ctx), entry.Limit); !ok {
			return rateLimited(entry, wait), nil
		}
	}
	var token any
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	ctx = upstream.WithDownstream(ctx, &callDownstream{mcp: r.mcp, levels: &r.levels, ctx: ctx, token: token})
	raw, hit, err := r.fetch(ctx, entry, req.Params.RawArguments)
	rec.CacheHit = hit != nil
	if err != nil {
		return r.callError(ctx, entry, err)
	}
	result, err := mcp.ParseCallToolResult(&raw)
	if err != nil {
		r.log.Warn("upstream sent an unusable result", "upstream", entry.Upstream, "tool", entry.Tool, "err", err)
		return gatewayError(CodeUpstreamUnavailable, entry.Upstream,
			fmt.Sprintf("upstream %s sent a result the gateway cannot read; the call may have run", entry.Upstream)), nil
	}
	if hit != nil {
		if result.Meta == nil {
			result.Meta = &mcp.Meta{}
		}
		if result.Meta.AdditionalFields == nil {
			result.Meta.AdditionalFields = map[string]any{}
		}
		result.Meta.AdditionalFields[CacheMetaKey] = map[string]any{"hit": true, "ageMs": hit.Age.Milliseconds()}
	}
	return result, nil
}

// CacheMetaKey is the _meta key that marks a result served from the cache.
const CacheMetaKey = "io.switchboard/cache"

// fetch returns the tool's result: from the cache when the tool is cacheable and a result is
// there (hit not nil), else from the upstream, once for concurrent identical misses, filling
// the cache with results that may be cached.
func (r *Router) fetch(ctx context.Context, e *Entry, args json.RawMessage) (json.RawMessage, *cache.Hit, error) {
	if e.Cache == nil {
		raw, err := r.upstreams.Call(ctx, e.Upstream, e.Tool, args, e.Idempotent)
		return raw, nil, err
	}
	canon, err := cache.Canonical(args)
	if err != nil { // not JSON: let the upstream say what it thinks of it, uncached
		raw, err := r.upstreams.Call(ctx, e.Upstream, e.Tool, args, e.Idempotent)
		return raw, nil, err
	}
	scope := ""
	if !e.Cache.Shared {
		scope = principalKey(ctx) // one principal never sees another's result
	}
	key := cache.Key{Upstream: string(e.Upstream), Tool: e.Tool, DefHash: e.DefHash, Scope: scope, Args: canon}.String()
	if hit, ok := r.cache.Get(ctx, key); ok {
		return hit.Value, &hit, nil
	}
	v, _, err := r.cache.Flight(ctx, key, func(ctx context.Context) (any, error) {
		raw, err := r.upstreams.Call(ctx, e.Upstream, e.Tool, args, e.Idempotent)
		if err == nil && len(raw) <= r.maxEntry && !isErrorResult(raw) {
			r.cache.Set(ctx, key, raw, e.Cache.TTL)
		}
		return raw, err
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(json.RawMessage), nil, nil
}

// isErrorResult reports whether a raw tools/call result is a tool error (never cached).
func isErrorResult(raw json.RawMessage) bool {
	var r struct {
		IsError bool `json:"isError"`
	}
	return json.Unmarshal(raw, &r) != nil || r.IsError
}

// Codes of failures the gateway decides on a call, in _meta["io.switchboard/error"].code.
const (
	CodeRateLimited         = "rate_limited"
	CodeCircuitOpen         = "circuit_open"
	CodeNoInstance          = "no_instance"
	CodeTimeout             = "timeout"
	CodeUpstreamUnavailable = "upstream_unavailable"
)

// ErrorMetaKey is the _meta key of a gateway-decided failure.
const ErrorMetaKey = "io.switchboard/error"

// principalKey names whose bucket a call draws from: the authenticated subject, else the MCP
// session, else one shared bucket (stateless calls without authentication).
func principalKey(ctx context.Context) string {
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

func rateLimited(e *Entry, wait time.Duration) *mcp.CallToolResult {
	return gatewayErrorAfter(CodeRateLimited, e.Upstream, wait,
		fmt.Sprintf("rate limited: %s allows %g calls per second; retry after %s.", e.Name, e.Limit.Rate, roundUp(wait)))
}

// roundUp shows a wait a person can act on: tenths of a second, never "0s".
func roundUp(d time.Duration) time.Duration {
	return max(((d+99*time.Millisecond)/(100*time.Millisecond))*(100*time.Millisecond), 100*time.Millisecond)
}

// callError is the one place that maps an upstream call's error to what the client sees.
func (r *Router) callError(ctx context.Context, e *Entry, err error) (*mcp.CallToolResult, error) {
	var rpcErr *upstream.RPCError
	wait, _ := upstream.RetryAfter(err)
	switch {
	case errors.As(err, &rpcErr):
		return nil, jsonRPCError(ctx, rpcErr) // the upstream's own error, unchanged
	case errors.Is(err, upstream.ErrCircuitOpen):
		return gatewayErrorAfter(CodeCircuitOpen, e.Upstream, wait,
			fmt.Sprintf("circuit open: %s failed repeatedly and is given a rest; retry after %s.", e.Upstream, roundUp(wait))), nil
	case errors.Is(err, upstream.ErrBusy):
		return gatewayErrorAfter(CodeUpstreamUnavailable, e.Upstream, wait,
			fmt.Sprintf("upstream busy: %s has no free slot for another call (%v); retry after %s.", e.Upstream, err, roundUp(wait))), nil
	case errors.Is(err, upstream.ErrTimeout):
		return gatewayError(CodeTimeout, e.Upstream,
			fmt.Sprintf("timeout: %s did not answer in time (%v); the call was cancelled upstream. Retry, or ask for less work.", e.Upstream, err)), nil
	case errors.Is(err, upstream.ErrNoInstance):
		return gatewayError(CodeNoInstance, e.Upstream,
			fmt.Sprintf("no instance: %s has no instance to take the call. Retry later.", e.Upstream)), nil
	case errors.Is(err, upstream.ErrUnavailable):
		return gatewayError(CodeUpstreamUnavailable, e.Upstream,
			fmt.Sprintf("upstream unavailable: %s cannot be reached (%v). Retry later.", e.Upstream, err)), nil
	case ctx.Err() != nil:
		return nil, ctx.Err() // the client went away; nobody reads this
	default:
		r.log.Error("unexpected call error", "upstream", e.Upstream, "tool", e.Tool, "err", err)
		return gatewayError(CodeUpstreamUnavailable, e.Upstream,
			fmt.Sprintf("upstream unavailable: the call to %s failed. Retry later.", e.Upstream)), nil
	}
}

// gatewayError is the docs/design.md shape of a failure the gateway decided: a tool error result the
// model can read, with a machine-readable code in _meta.
func gatewayError(code string, up registry.ServiceName, text string) *mcp.CallToolResult {
	return gatewayErrorAfter(code, up, 0, text)
}

// gatewayErrorAfter is gatewayError with retryAfterMs, when retryAfter is positive.
func gatewayErrorAfter(code string, up registry.ServiceName, retryAfter time.Duration, text string) *mcp.CallToolResult {
	meta := map[string]any{"code": code, "upstream": string(up)}
	if retryAfter > 0 {
		meta["retryAfterMs"] = max(retryAfter.Milliseconds(), 1)
	}
	res := mcp.NewToolResultError(text)
	res.Meta = &mcp.Meta{AdditionalFields: map[string]any{ErrorMetaKey: meta}}
	return res
}
