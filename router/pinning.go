package router

import (
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/registry"
)

// CodeDefinitionChanged is the gateway error of a call of a held tool: its upstream changed the
// definition, and pinning (mode hold) keeps the change out until an operator approves it.
const CodeDefinitionChanged = "definition_changed"

// definitionChanged is the answer to a call of a held tool.
func definitionChanged(e *Entry) *mcp.CallToolResult {
	return gatewayError(CodeDefinitionChanged, e.Upstream,
		"definition changed: the upstream changed this tool's definition and the change awaits an operator's approval; the tool cannot be called until then")
}

// ExposedNameOf is the name the tool of upstream service would be exposed as: its catalog
// name when it is in the catalog, else the name naming gives it (a held new tool is in none).
func (r *Router) ExposedNameOf(service registry.ServiceName, tool string) string {
	for _, e := range r.catalog.Load().entries {
		if e.Upstream == service && e.Tool == tool {
			return string(e.Name)
		}
	}
	for _, l := range r.upstreams.Listings() {
		if l.Name == service {
			name, _ := r.naming.candidate(l.Namespace, tool)
			return string(name)
		}
	}
	return ""
}
