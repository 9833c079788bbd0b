package router

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
)

// getPrompt serves prompts/get of an exposed prompt from its upstream.
func (r *Router) getPrompt(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	e := r.extras.Load().promptByName[req.Params.Name]
	if e == nil || !r.promptAllowed(ctx, e.exposed) {
		if e != nil {
			r.refused(ctx, string(mcp.MethodPromptsGet), e.exposed)
		}
		return nil, promptNotFound(ctx, req.Params.Name)
	}
	params := map[string]any{"name": e.original}
	if req.Params.Arguments != nil {
		params["arguments"] = req.Params.Arguments
	}
	raw, err := r.request(ctx, e.upstream, string(mcp.MethodPromptsGet), params)
	if err != nil {
		return nil, err
	}
	return mcp.ParseGetPromptResult(&raw)
}
