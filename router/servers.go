package router

import (
	"context"
	"net/http"

	"github.com/switchboard-mcp/switchboard/glob"
)

// Server is one MCP server the gateway serves: the root (/mcp, the whole catalog) or a virtual
// server (/mcp/{name}), which shows only what its selectors match. A caller sees the
// intersection of the server's selection and its own policy view.
type Server struct {
	// Name is "" for the root.
	Name        string
	Description string
	// All selects the whole catalog (the root); otherwise the selectors do.
	All bool
	// Tools and Prompts are globs over exposed names; Resources over exposed URIs and templates
	// (glob.CompileURI).
	Tools, Prompts, Resources glob.List
	Search                    Search
}

// Search is a server's tool search: when on, tools/list lists the Always tools and the
// gateway's search and call tools (search.go).
type Search struct {
	// Mode is "off", "on" or "auto" (on when the caller's view has more than MaxTools tools).
	Mode     string
	MaxTools int
	Always   glob.List
}

// Tool search modes.
const (
	SearchOff  = "off"
	SearchOn   = "on"
	SearchAuto = "auto"
)

// servers is the set served, swapped whole on reload.
type servers struct {
	root   *Server // nil: /mcp serves nothing (root_server: false)
	byName map[string]*Server
}

func (s *Server) tool(name string) bool { return s.All || s.Tools.Match(name) }

// Selects reports whether the server's selectors pick the tool exposed as name.
func (s *Server) Selects(name string) bool  { return s.tool(name) }
func (s *Server) prompt(name string) bool   { return s.All || s.Prompts.Match(name) }
func (s *Server) resource(uri string) bool  { return s.All || s.Resources.Match(uri) }
func (s *Server) key() string               { return "s:" + s.Name }
func (s *Server) always(name string) bool   { return s.Search.Always.Match(name) }
func (s *Server) searchMode() (string, int) { return s.Search.Mode, s.Search.MaxTools }

func newServers(root *Server, virtual []*Server) *servers {
	set := &servers{root: root, byName: map[string]*Server{}}
	for _, s := range virtual {
		set.byName[s.Name] = s
	}
	return set
}

type serverKey struct{}

// serverOf returns the server the request of ctx came to (the root when none was set).
func (r *Router) serverOf(ctx context.Context) *Server {
	if s, ok := ctx.Value(serverKey{}).(*Server); ok {
		return s
	}
	if root := r.servers.Load().root; root != nil {
		return root
	}
	return &Server{All: true}
}

// SetServers replaces the servers served (a reloaded config): root nil serves nothing at /mcp.
// Clients are told tools/list_changed, since what a server shows may have changed.
func (r *Router) SetServers(root *Server, virtual []*Server) {
	r.servers.Store(newServers(root, virtual))
	r.pages.Store(nil)
	r.sizes.Store(nil)
	r.indexes.Store(nil)
	r.mcp.SendNotificationToAllClients("notifications/tools/list_changed", nil)
}

// ServerHandler is the MCP endpoint of every server: mount it at /mcp (the root) and at
// /mcp/{server} (a virtual server). It is Handler, for what that server shows. A server
// unknown, removed by a reload, or the root with root_server false, answers 404.
func (r *Router) ServerHandler() http.Handler {
	h := r.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		set := r.servers.Load()
		s := set.root
		if name := req.PathValue("server"); name != "" {
			s = set.byName[name]
		}
		if s == nil {
			http.Error(w, "no such MCP server here", http.StatusNotFound)
			return
		}
		ctx := context.WithValue(req.Context(), serverKey{}, s)
		if req.Method == http.MethodPost {
			ctx = context.WithValue(ctx, errorSlotKey{}, &errorSlot{}) // Handler's, made here: one request copy
		}
		h.ServeHTTP(w, req.WithContext(ctx))
	})
}

// Servers returns the virtual servers, for the admin view.
func (r *Router) Servers() (root *Server, virtual map[string]*Server) {
	set := r.servers.Load()
	return set.root, set.byName
}

// KnownServer passes requests whose {server} path value names a virtual server on to next, and
// answers 404 for others (a virtual server's metadata exists only while the server does).
func (r *Router) KnownServer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.servers.Load().byName[req.PathValue("server")] == nil {
			http.NotFound(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}
