package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/glob"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// instantUpstreams answers every call at once with a fixed result: what is measured is the
// gateway's own work on a call.
type instantUpstreams struct{ tools []upstream.Listing }

func (u instantUpstreams) Listings() []upstream.Listing { return u.tools }
func (u instantUpstreams) Request(context.Context, registry.ServiceName, string, map[string]any) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
func (u instantUpstreams) Call(context.Context, registry.ServiceName, upstream.CallRequest) (upstream.CallResult, error) {
	return upstream.CallResult{Raw: json.RawMessage(`{"content":[{"type":"text","text":"hello"}]}`), Instance: "instant"}, nil
}

// newBenchRouter returns a router over one upstream tool "demo__echo", cached or not, and the
// session id of an initialized client session.
func newBenchRouter(b *testing.B, cached bool) (http.Handler, string) {
	opts := Options{Naming: defaultNaming, PageSize: 100, Version: "bench"}
	if cached {
		opts.Cache = cache.New(cache.NewMemory(1<<20), time.Second, quiet)
		opts.MaxEntryBytes = 1 << 20
		opts.Policy.Cache = func(ExposedName, time.Duration, mcp.ToolAnnotation) *CacheRule { return &CacheRule{TTL: time.Hour} }
	}
	r := New(instantUpstreams{tools: []upstream.Listing{listing("demo", "demo", "echo")}}, opts, quiet)
	r.Rebuild()
	h := r.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, mcpRequest(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`, ""))
	session := rec.Header().Get("Mcp-Session-Id")
	if session == "" {
		b.Fatalf("no session: %d %s", rec.Code, rec.Body.String())
	}
	return h, session
}

func mcpRequest(body, session string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	return req
}

// BenchmarkCall is the gateway's own cost of one tools/call over HTTP (no network): the miss
// path (to an upstream that answers at once) and the cache-hit path.
func BenchmarkCall(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			h, session := newBenchRouter(b, cached)
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{"text":"hello"}}}`
			b.ResetTimer()
			for range b.N {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, mcpRequest(body, session))
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), "hello") {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// BenchmarkToolsList is the server time of one tools/list of 1,000 tools (50 upstreams x 20
// tools), over HTTP through the gateway's handler.
func BenchmarkToolsList(b *testing.B) {
	var listings []upstream.Listing
	for u := range 50 {
		l := upstream.Listing{Name: registry.ServiceName(fmt.Sprintf("up%02d", u)), Namespace: fmt.Sprintf("up%02d", u)}
		for t := range 20 {
			raw, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("tool%02d", t), "description": "a tool of the benchmark",
				"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}})
			l.Tools = append(l.Tools, upstream.Tool{Name: fmt.Sprintf("tool%02d", t), Raw: raw})
		}
		listings = append(listings, l)
	}
	r := New(instantUpstreams{tools: listings}, Options{Naming: defaultNaming, PageSize: 1000, Version: "bench"}, quiet)
	r.Rebuild()
	h := r.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, mcpRequest(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`, ""))
	session := rec.Header().Get("Mcp-Session-Id")
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	b.ResetTimer()
	for range b.N {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, mcpRequest(body, session))
		if rec.Code != 200 || strings.Count(rec.Body.String(), `"name":"up`) != 1000 {
			b.Fatalf("%d, %d tools", rec.Code, strings.Count(rec.Body.String(), `"name":"up`))
		}
	}
}

// benchCatalog is the 1,000-tool catalog of the tools/list benchmark (50 upstreams of 20 tools),
// with descriptions that differ per tool.
func benchCatalog() []upstream.Listing {
	verbs := []string{"reconcile", "export", "summarize", "validate", "archive", "forecast", "translate", "schedule", "audit", "index"}
	objects := []string{"invoices", "tickets", "contracts", "shipments", "payroll", "telemetry", "reviews", "leads", "backups", "receipts"}
	var listings []upstream.Listing
	for u := range 50 {
		l := upstream.Listing{Name: registry.ServiceName(fmt.Sprintf("up%02d", u)), Namespace: fmt.Sprintf("up%02d", u)}
		for t := range 20 {
			raw, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("tool%02d", t),
				"description": fmt.Sprintf("%s the %s of team %d and report what changed", verbs[t%10], objects[(t/10+u)%10], u),
				"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}})
			l.Tools = append(l.Tools, upstream.Tool{Name: fmt.Sprintf("tool%02d", t), Raw: raw})
		}
		listings = append(listings, l)
	}
	return listings
}

// BenchmarkVirtualServer is tools/list of a virtual server over the 1,000-tool catalog (420 of
// its tools selected), and a tool search over the whole catalog through switchboard__search_tools.
func BenchmarkVirtualServer(b *testing.B) {
	half := &Server{Name: "half", Tools: glob.List{glob.MustCompile("up0*"), glob.MustCompile("up1*"), glob.MustCompile("up40__*")}}
	search := &Server{Name: "search", All: true, Search: Search{Mode: SearchOn, MaxTools: 100}}
	r := New(instantUpstreams{tools: benchCatalog()}, Options{Naming: defaultNaming, PageSize: 1000, Version: "bench", Servers: []*Server{half, search}}, quiet)
	r.Rebuild()
	h := r.ServerHandler()
	mux := http.NewServeMux()
	mux.Handle("/mcp/{server}", h)
	open := func(path string) string {
		rec := httptest.NewRecorder()
		req := mcpRequest(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`, "")
		req.URL.Path = path
		mux.ServeHTTP(rec, req)
		return rec.Header().Get("Mcp-Session-Id")
	}
	post := func(path, session, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := mcpRequest(body, session)
		req.URL.Path = path
		mux.ServeHTTP(rec, req)
		return rec
	}
	b.Run("tools/list", func(b *testing.B) {
		session := open("/mcp/half")
		for b.Loop() {
			rec := post("/mcp/half", session, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
			if n := strings.Count(rec.Body.String(), `"name":"up`); rec.Code != 200 || n != 420 {
				b.Fatalf("%d, %d tools: %.300s", rec.Code, n, rec.Body.String())
			}
		}
	})
	b.Run("search", func(b *testing.B) {
		session := open("/mcp/search")
		body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"switchboard__search_tools","arguments":{"query":"forecast the payroll of team 7","limit":10}}}`
		post("/mcp/search", session, body) // builds the view's index once per catalog
		for b.Loop() {
			rec := post("/mcp/search", session, body)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `up07__tool05`) {
				b.Fatalf("%d: %.500s", rec.Code, rec.Body.String())
			}
		}
	})
}
