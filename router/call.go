package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// callTool is the handler of every exposed tool: exposed name -> route -> upstream call ->
// result. Later steps (authz, limits, cache) slot in between route and call.
func (r *Router) callTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	entry, ok := r.catalog.Load().Lookup(req.Params.Name)
	if !ok {
		return nil, jsonRPCError(ctx, &upstream.RPCError{Code: mcp.INVALID_PARAMS, Message: "unknown tool: " + req.Params.Name})
	}
	raw, err := r.upstreams.Call(ctx, entry.Upstream, entry.Tool, req.Params.RawArguments)
	if err != nil {
		return r.callError(ctx, entry, err)
	}
	result, err := mcp.ParseCallToolResult(&raw)
	if err != nil {
		r.log.Warn("upstream sent an unusable result", "upstream", entry.Upstream, "tool", entry.Tool, "err", err)
		return gatewayError(CodeUpstreamUnavailable, entry.Upstream,
			fmt.Sprintf("upstream %s sent a result the gateway cannot read; the call may have run", entry.Upstream)), nil
	}
	return result, nil
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

// callError is the one place that maps an upstream call's error to what the client sees.
func (r *Router) callError(ctx context.Context, e *Entry, err error) (*mcp.CallToolResult, error) {
	var rpcErr *upstream.RPCError
	switch {
	case errors.As(err, &rpcErr):
		return nil, jsonRPCError(ctx, rpcErr) // the upstream's own error, unchanged
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

// gatewayError is the design.md shape of a failure the gateway decided: a tool error result the
// model can read, with a machine-readable code in _meta.
func gatewayError(code string, up registry.ServiceName, text string) *mcp.CallToolResult {
	res := mcp.NewToolResultError(text)
	res.Meta = &mcp.Meta{AdditionalFields: map[string]any{
		ErrorMetaKey: map[string]any{"code": code, "upstream": string(up)},
	}}
	return res
}
