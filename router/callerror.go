package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// Codes of failures the gateway decides on a call, in _meta["io.switchboard/error"].code. Each
// is also the call's outcome in its callrecord.Record.
const (
	CodeRateLimited         = callrecord.OutcomeRateLimited
	CodeCircuitOpen         = callrecord.OutcomeCircuitOpen
	CodeNoInstance          = callrecord.OutcomeNoInstance
	CodeTimeout             = callrecord.OutcomeTimeout
	CodeUpstreamUnavailable = callrecord.OutcomeUpstreamUnavailable
	CodeUpstreamAuth        = callrecord.OutcomeUpstreamAuth
)

// ErrorMetaKey is the _meta key of a gateway-decided failure.
const ErrorMetaKey = "io.switchboard/error"

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
	case errors.Is(err, upstream.ErrAuth):
		// The error names the credential and the OAuth error code, never a token or a secret.
		return gatewayError(CodeUpstreamAuth, e.Upstream,
			fmt.Sprintf("upstream auth: %s cannot be called on your behalf: %v. The call was not sent; ask an operator whether your account may use %s.", e.Upstream, err, e.Upstream)), nil
	case errors.Is(err, upstream.ErrNoInstance):
		return gatewayError(CodeNoInstance, e.Upstream,
			fmt.Sprintf("no instance: %s has no instance to take the call. Retry later.", e.Upstream)), nil
	case errors.Is(err, upstream.ErrUnavailable):
		return gatewayError(CodeUpstreamUnavailable, e.Upstream,
			fmt.Sprintf("upstream unavailable: %s cannot be reached (%v). Retry later.", e.Upstream, err)), nil
	case ctx.Err() != nil:
		return nil, ctx.Err() // the client went away; nobody reads this
	default:
		r.log.ErrorContext(ctx, "unexpected call error", "upstream", e.Upstream, "tool", e.Tool, "err", err)
		return gatewayError(CodeUpstreamUnavailable, e.Upstream,
			fmt.Sprintf("upstream unavailable: the call to %s failed. Retry later.", e.Upstream)), nil
	}
}

// gatewayError is the design.md shape of a failure the gateway decided: a tool error result the
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
