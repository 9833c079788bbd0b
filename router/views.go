package router

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// A caller's view covers every method: tools (View, applied by mcp-go's tool filter and again
// in the call pipeline), prompts (View, by mcp-go's prompt filter on list and get), and
// resources and templates (ResourceView, here). Whatever is outside a caller's view is
// answered exactly as what does not exist: left out of lists, and the same error as for an
// unknown name or URI, so the catalog does not leak.

// resourceAllowed reports whether the caller of ctx may see and read e (a resource or
// template): its server selects it and its policy allows it.
func (r *Router) resourceAllowed(ctx context.Context, e *extraEntry) bool {
	if !r.serverOf(ctx).resource(e.exposed) {
		return false
	}
	if r.resView == nil {
		return true
	}
	allowed := r.resView(ctx)
	return allowed == nil || allowed(e.namespace, e.exposed)
}

// policyAllows reports whether the caller's policy allows the tool or prompt name.
func (r *Router) policyAllows(ctx context.Context, name string) bool {
	if r.view == nil {
		return true
	}
	_, allowed := r.view(ctx)
	return allowed == nil || allowed(name)
}

// promptAllowed reports whether the caller of ctx may see and use the prompt name.
func (r *Router) promptAllowed(ctx context.Context, name string) bool {
	return r.serverOf(ctx).prompt(name) && r.policyAllows(ctx, name)
}

// toolView returns the key of the caller's view of tools (callers with the same key see the
// same) and the predicate on exposed tool names: server selection and policy.
func (r *Router) toolView(ctx context.Context) (string, func(name string) bool) {
	s := r.serverOf(ctx)
	key, policy := "all", func(string) bool { return true }
	if r.view != nil {
		var only func(string) bool
		if key, only = r.view(ctx); only != nil {
			policy = only
		}
	}
	return s.key() + "|" + key, func(name string) bool { return s.tool(name) && policy(name) }
}

// filterLists drops from prompts/list, resources/list and resources/templates/list what the
// caller may not see; mcp-go's after-list hooks get the result to change (its prompt filter
// would also answer prompts/get, before the gateway could record the refusal).
func (r *Router) filterLists(h *server.Hooks) {
	h.AddAfterListPrompts(func(ctx context.Context, _ any, _ *mcp.ListPromptsRequest, res *mcp.ListPromptsResult) {
		if res == nil {
			return
		}
		visible := res.Prompts[:0]
		for _, p := range res.Prompts {
			if r.promptAllowed(ctx, p.Name) {
				visible = append(visible, p)
			}
		}
		res.Prompts = visible
	})
	h.AddAfterListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		if res == nil {
			return
		}
		x := r.extras.Load()
		visible := res.Resources[:0]
		for _, item := range res.Resources {
			if e := x.resourceByURI[item.URI]; e != nil && r.resourceAllowed(ctx, e) {
				visible = append(visible, item)
			}
		}
		res.Resources = visible
	})
	h.AddAfterListResourceTemplates(func(ctx context.Context, _ any, _ *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
		if res == nil {
			return
		}
		x := r.extras.Load()
		visible := res.ResourceTemplates[:0]
		for _, item := range res.ResourceTemplates {
			if item.URITemplate == nil {
				continue
			}
			if e := x.templateByURI[item.URITemplate.Raw()]; e != nil && r.resourceAllowed(ctx, e) {
				visible = append(visible, item)
			}
		}
		res.ResourceTemplates = visible
	})
}

// resourceNotFound is mcp-go's own answer to a URI that no resource or template matches, word
// for word, so that a resource outside the caller's view cannot be told from a missing one.
func resourceNotFound(ctx context.Context, uri string) error {
	code := mcp.RESOURCE_NOT_FOUND
	if mcp.IsModernProtocol(server.RequestProtocolVersion(ctx)) {
		code = mcp.INVALID_PARAMS
	}
	return jsonRPCError(ctx, &upstream.RPCError{Code: code,
		Message: fmt.Sprintf("handler not found for resource URI '%s': %v", uri, server.ErrResourceNotFound)})
}

// promptNotFound is mcp-go's own answer to an unknown prompt, word for word.
func promptNotFound(ctx context.Context, name string) error {
	return jsonRPCError(ctx, &upstream.RPCError{Code: mcp.INVALID_PARAMS,
		Message: fmt.Sprintf("prompt '%s' not found: %v", name, server.ErrPromptNotFound)})
}

// refused tells the observers (audit, metrics) that the caller of ctx asked for name, which
// exists but is outside its view, with method. The caller was answered as for a missing one.
func (r *Router) refused(ctx context.Context, method, name string) {
	if r.observer == nil {
		return
	}
	rec := newCallRecord(ctx, nil)
	rec.Method, rec.Tool, rec.Outcome = method, name, callrecord.OutcomeNotAllowed
	r.observer.ObserveCall(rec)
}
