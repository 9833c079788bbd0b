package router

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// completions routes completion/complete to the upstream of the prompt or resource template.
type completions struct{ r *Router }

func (c completions) CompletePromptArgument(ctx context.Context, name string, arg mcp.CompleteArgument, cctx mcp.CompleteContext) (*mcp.Completion, error) {
	e := c.r.extras.Load().promptByName[name]
	if e == nil || !c.r.promptAllowed(ctx, name) { // outside the view: as if there were no such prompt
		return nil, jsonRPCError(ctx, &upstream.RPCError{Code: mcp.INVALID_PARAMS, Message: "unknown prompt: " + name})
	}
	return c.complete(ctx, e.upstream, map[string]any{"type": "ref/prompt", "name": e.original}, arg, cctx)
}

func (c completions) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, cctx mcp.CompleteContext) (*mcp.Completion, error) {
	if e := c.r.extras.Load().templateByURI[uri]; e != nil && c.r.resourceAllowed(ctx, e) {
		return c.complete(ctx, e.upstream, map[string]any{"type": "ref/resource", "uri": e.original}, arg, cctx)
	}
	return &mcp.Completion{Values: []string{}}, nil // an unknown template, or one outside the view
}

func (c completions) complete(ctx context.Context, up registry.ServiceName, ref map[string]any, arg mcp.CompleteArgument, cctx mcp.CompleteContext) (*mcp.Completion, error) {
	params := map[string]any{"ref": ref, "argument": arg}
	if len(cctx.Arguments) > 0 {
		params["context"] = cctx
	}
	raw, err := c.r.request(ctx, up, string(mcp.MethodCompletionComplete), params)
	if err != nil {
		return nil, err
	}
	var res struct {
		Completion mcp.Completion `json:"completion"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s sent an unreadable completion result: %w", up, err)
	}
	if res.Completion.Values == nil {
		res.Completion.Values = []string{}
	}
	return &res.Completion, nil
}
