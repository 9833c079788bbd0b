package router

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/toolsearch"
)

// Tool search for big catalogs. When it is on for the caller (the server's tool_search is on,
// or auto and the caller's view has more tools than max_tools), tools/list lists the server's
// always tools and two gateway tools: switchboard__search_tools finds tools of the caller's
// view by a text query, switchboard__call_tool calls any of them through the normal pipeline.
// A direct tools/call of a tool in the view works either way; only the list is shorter.

// The gateway's own tools.
const (
	SearchToolsName = "switchboard__search_tools"
	CallToolName    = "switchboard__call_tool"
)

func isGatewayTool(name string) bool { return name == SearchToolsName || name == CallToolName }

// listedTools returns the key of what the caller of ctx gets in tools/list and the predicate
// on tool names (gateway tools included) that decides it.
func (r *Router) listedTools(ctx context.Context) (string, func(name string) bool) {
	key, inView := r.toolView(ctx)
	s := r.serverOf(ctx)
	if !r.searchOn(s, key, inView) {
		return key, func(name string) bool { return !isGatewayTool(name) && inView(name) }
	}
	return key + "|search", func(name string) bool { return isGatewayTool(name) || (inView(name) && s.always(name)) }
}

// searchOn reports whether tool search is on for a caller of server s whose view (key, inView)
// it is.
func (r *Router) searchOn(s *Server, key string, inView func(string) bool) bool {
	mode, most := s.searchMode()
	switch mode {
	case SearchOn:
		return true
	case SearchAuto:
		return r.viewSize(key, inView) > most
	}
	return false
}

// viewSizes remembers the number of tools in each view of one catalog.
type viewSizes struct {
	catalog *Catalog
	sizes   sync.Map // view key -> int
}

// viewSize is the number of catalog tools in the view (key, inView), counted once per catalog.
func (r *Router) viewSize(key string, inView func(string) bool) int {
	c := r.catalog.Load()
	vs := r.sizes.Load()
	if vs == nil || vs.catalog != c {
		vs = &viewSizes{catalog: c}
		r.sizes.Store(vs)
	}
	if n, ok := vs.sizes.Load(key); ok {
		return n.(int)
	}
	n := 0
	for _, e := range c.entries {
		if inView(string(e.Name)) {
			n++
		}
	}
	vs.sizes.Store(key, n)
	return n
}

// gatewayToolDefs are the definitions of the gateway's own tools.
func gatewayToolDefs() []mcp.Tool {
	return []mcp.Tool{
		mcp.NewTool(SearchToolsName,
			mcp.WithDescription("Finds the tools of this server that match what you want to do. Returns their names, descriptions and input schemas, best match first. Then call one with "+CallToolName+" (or directly by its name)."),
			mcp.WithString("query", mcp.Required(), mcp.Description("What you want to do, in words: the task, the object, the system.")),
			mcp.WithNumber("limit", mcp.Description("How many tools to return (default 10, at most 50).")),
			mcp.WithReadOnlyHintAnnotation(true),
		),
		mcp.NewTool(CallToolName,
			mcp.WithDescription("Calls a tool of this server by its name (as "+SearchToolsName+" returned it) with its arguments."),
			mcp.WithString("name", mcp.Required(), mcp.Description("The tool's name.")),
			mcp.WithObject("arguments", mcp.Description("The tool's arguments, as its input schema says.")),
		),
	}
}

// gatewayTools are the gateway's own tools as mcp-go serves them; listedTools hides them where
// tool search is off, and their handlers answer as for an unknown tool there.
func (r *Router) gatewayTools() []server.ServerTool {
	defs := gatewayToolDefs()
	return []server.ServerTool{{Tool: defs[0], Handler: r.searchTools}, {Tool: defs[1], Handler: r.callFoundTool}}
}

// searchActive reports whether tool search is on for the caller of ctx.
func (r *Router) searchActive(ctx context.Context) bool {
	key, inView := r.toolView(ctx)
	return r.searchOn(r.serverOf(ctx), key, inView)
}

// searchIndexes keeps the words of one catalog's tools (read once) and the search index of each
// view of it (statistics over that view's tools only).
type searchIndexes struct {
	catalog *Catalog
	corpus  *toolsearch.Corpus
	entries []*Entry // the corpus's documents; Hit.Index points here
	byView  sync.Map // view key -> *toolsearch.Index
}

// indexOf returns the search index of the view (key, inView), built once per catalog. Held
// tools (pinning) are left out: their new definition is not approved, their old one is stale.
func (r *Router) indexOf(key string, inView func(string) bool) (*toolsearch.Index, []*Entry) {
	c := r.catalog.Load()
	all := r.indexes.Load()
	if all == nil || all.catalog != c {
		all = &searchIndexes{catalog: c}
		var docs []toolsearch.Doc
		for _, e := range c.entries {
			if !e.Held {
				all.entries = append(all.entries, e)
				docs = append(docs, searchDoc(e))
			}
		}
		all.corpus = toolsearch.NewCorpus(docs)
		r.indexes.Store(all)
	}
	if ix, ok := all.byView.Load(key); ok {
		return ix.(*toolsearch.Index), all.entries
	}
	ix := all.corpus.Index(func(i int) bool { return inView(string(all.entries[i].Name)) })
	all.byView.Store(key, ix)
	return ix, all.entries
}

// searchDoc is what the search ranks of a tool: its names, texts and parameters.
func searchDoc(e *Entry) toolsearch.Doc {
	d := toolsearch.Doc{Name: string(e.Name), Original: e.Tool, Title: e.def.Title, Description: e.def.Description}
	var schema struct {
		Properties map[string]struct {
			Description string `json:"description"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(e.def.RawInputSchema, &schema)
	for _, name := range slices.Sorted(maps.Keys(schema.Properties)) {
		d.Params = append(d.Params, toolsearch.Param{Name: name, Description: schema.Properties[name].Description})
	}
	return d
}

// foundTool is one search result as the LLM gets it.
type foundTool struct {
	Name        string          `json:"name"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// searchTools is switchboard__search_tools: the best matches for the query in the caller's view.
func (r *Router) searchTools(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if !r.searchActive(ctx) {
		return nil, unknownTool(ctx, SearchToolsName)
	}
	query := req.GetString("query", "")
	if strings.TrimSpace(query) == "" {
		return mcp.NewToolResultError("query is required: say in words what you want to do"), nil
	}
	limit := min(max(int(req.GetFloat("limit", 10)), 1), 50)
	key, inView := r.toolView(ctx)
	index, entries := r.indexOf(key, inView)
	found := []foundTool{}
	for _, h := range index.Search(query, limit) {
		e := entries[h.Index]
		found = append(found, foundTool{Name: string(e.Name), Title: e.def.Title, Description: e.def.Description, InputSchema: e.def.RawInputSchema})
	}
	text, _ := json.Marshal(found)
	res := mcp.NewToolResultText(string(text))
	res.StructuredContent = map[string]any{"tools": found}
	return res, nil
}

// callFoundTool is switchboard__call_tool: a call of any tool of the caller's view, through the
// whole pipeline under the tool's own name (policy, limits, cache, breaker, audit).
func (r *Router) callFoundTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if !r.searchActive(ctx) {
		return nil, unknownTool(ctx, CallToolName)
	}
	var params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	raw := req.Params.RawArguments
	if len(raw) == 0 {
		raw, _ = json.Marshal(req.Params.Arguments)
	}
	if err := json.Unmarshal(raw, &params); err != nil || params.Name == "" {
		return mcp.NewToolResultError("name is required: the name of a tool " + SearchToolsName + " returned"), nil
	}
	if isGatewayTool(params.Name) {
		return mcp.NewToolResultError(CallToolName + " calls the server's tools, not the gateway's own"), nil
	}
	if len(params.Arguments) == 0 || string(params.Arguments) == "null" {
		params.Arguments = json.RawMessage(`{}`)
	}
	inner := mcp.CallToolRequest{}
	inner.Params.Name, inner.Params.Meta, inner.Params.RawArguments = params.Name, req.Params.Meta, params.Arguments
	var args map[string]any
	_ = json.Unmarshal(params.Arguments, &args)
	inner.Params.Arguments = args
	return r.callTool(ctx, inner)
}
