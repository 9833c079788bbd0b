package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

// toolNames lists an open legacy session's tools (every page).
func toolNames(t *testing.T, url, token, session string) []string {
	t.Helper()
	var all []string
	cursor := ""
	for {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		r := rpc(t, url, token, session, "tools/list", params)
		var page struct {
			Tools []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"tools"`
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal(r.Result, &page); err != nil {
			t.Fatalf("tools/list: %v %s", err, r.Result)
		}
		for _, tool := range page.Tools {
			all = append(all, tool.Name)
		}
		if cursor = page.NextCursor; cursor == "" {
			return all
		}
	}
}

// TestVirtualServers: a virtual server lists exactly what its selectors match (tools, prompts,
// resources), refuses the rest as unknown, to the official TypeScript client too; a session
// of one server is unknown at another; policy and server views intersect.
func TestVirtualServers(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "fx", false)
	everything := startNPMEverything(t)
	g := startGateway(t, fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %s
  audience: %s
  policies: [{when: {scope: fx}, allow: ["fx__*", "everything__echo"]}]
servers:
  - {name: research, description: "Research tools", tools: ["everything__*", "fx__echo"], prompts: ["everything__simple-prompt"], resources: ["everything+demo://resource/static/document/s*"]}
  - {name: clock, tools: ["fx__now"]}
upstreams: [{name: fx, url: %s}, {name: everything, url: %s}]
`, iss.URL, resource, demo.URL, everything.URL))
	admin := iss.Sign("ec-1", iss.Claims("admin", resource, "mcp"))
	research := strings.TrimSuffix(g.URL, "/mcp") + "/mcp/research"

	s := initialize(t, research, admin)
	tools := toolNames(t, research, admin, s)
	for _, name := range tools {
		if !strings.HasPrefix(name, "everything__") && name != "fx__echo" {
			t.Errorf("research lists %s, which its selectors do not match", name)
		}
	}
	if !slices.Contains(tools, "fx__echo") || !slices.Contains(tools, "everything__echo") {
		t.Errorf("research lists %v", tools)
	}
	if got := names(t, rpc(t, research, admin, s, "prompts/list", map[string]any{}), "prompts", "name"); !slices.Equal(got, []string{"everything__simple-prompt"}) {
		t.Errorf("research prompts: %v", got)
	}
	for _, uri := range names(t, rpc(t, research, admin, s, "resources/list", map[string]any{}), "resources", "uri") {
		if !strings.HasPrefix(uri, "everything+demo://resource/static/document/s") {
			t.Errorf("research lists resource %s", uri)
		}
	}
	outside := rpc(t, research, admin, s, "tools/call", map[string]any{"name": "fx__now", "arguments": map[string]any{}})
	if outside.Error == nil || outside.Error.Message != "unknown tool: fx__now" {
		t.Errorf("research called fx__now: %+v", outside)
	}
	// A session opened on research is unknown at /mcp/clock and at /mcp.
	if got := mcpPost(t, strings.TrimSuffix(research, "/research")+"/clock", admin, s, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("a research session at /mcp/clock: HTTP %d, want 404", got)
	}
	if got := mcpPost(t, g.URL, admin, s, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("a research session at /mcp: HTTP %d, want 404", got)
	}
	// An unknown server is not found; each server has its own protected resource metadata.
	if got := mcpPost(t, strings.TrimSuffix(g.URL, "/mcp")+"/mcp/nope", admin, "", initializeBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("/mcp/nope: HTTP %d, want 404", got)
	}
	resp, err := http.Get(strings.TrimSuffix(g.URL, "/mcp") + "/.well-known/oauth-protected-resource/mcp/research")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(meta), `"resource":"`+strings.TrimSuffix(g.URL, "/mcp")+`/mcp/research"`) {
		t.Errorf("research's metadata: %s", meta)
	}
	unauth := mcpPost(t, research, "", "", initializeBody)
	if !strings.Contains(unauth.Header.Get("WWW-Authenticate"), "/.well-known/oauth-protected-resource/mcp/research") {
		t.Errorf("research's 401 points at %s", unauth.Header.Get("WWW-Authenticate"))
	}

	// Policy and server intersect: fx-scoped callers see fx__echo and everything__echo here.
	fx := iss.Sign("ec-1", iss.Claims("fx-user", resource, "mcp fx"))
	fs := initialize(t, research, fx)
	if got := toolNames(t, research, fx, fs); !slices.Equal(got, []string{"everything__echo", "fx__echo"}) {
		t.Errorf("policy ∩ research: %v, want everything__echo and fx__echo", got)
	}

	// The official TypeScript client at a virtual server.
	cmd := tsClient(t, strings.TrimSuffix(g.URL, "/mcp")+"/mcp/clock", `[{"name":"fx__now","arguments":{}}]`, "fx__echo")
	cmd.Env = append(os.Environ(), "TOKEN="+admin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("TypeScript client: %v", err)
	}
	var report struct {
		Tools []struct{ Name string }
		Calls []struct {
			IsError bool `json:"isError"`
		}
		Unknown struct{ Code int }
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(report.Tools) != 1 || report.Tools[0].Name != "fx__now" || len(report.Calls) != 1 || report.Calls[0].IsError || report.Unknown.Code != -32602 {
		t.Errorf("the TypeScript client at /mcp/clock: %s", out)
	}
}

// TestReloadChangesServers: SIGHUP adds a server and changes one; the changed server's
// sessions get tools/list_changed and see the new selection.
func TestReloadChangesServers(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "fx", false)
	g := startGateway(t, fmt.Sprintf("servers: [{name: clock, tools: [\"fx__now\"]}]\nupstreams: [{name: fx, url: %s}]\n", demo.URL))
	path := g.proc.cmd.Args[len(g.proc.cmd.Args)-1]
	orig, _ := os.ReadFile(path)
	base := strings.TrimSuffix(g.URL, "/mcp")
	var mu sync.Mutex
	changed := 0
	c := connect(t, base+"/mcp/clock", true, func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationToolsListChanged) {
			mu.Lock()
			changed++
			mu.Unlock()
		}
	})
	if got := len(rawTools(t, c)); got != 1 {
		t.Fatalf("clock lists %d tools, want 1", got)
	}
	next := strings.Replace(string(orig), `servers: [{name: clock, tools: ["fx__now"]}]`,
		`servers: [{name: clock, tools: ["fx__now", "fx__echo"]}, {name: added, tools: ["fx__add"]}]`, 1)
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = g.proc.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "list_changed and the new selection", func() error {
		mu.Lock()
		n := changed
		mu.Unlock()
		if n == 0 {
			return fmt.Errorf("no tools/list_changed yet")
		}
		if got := len(rawTools(t, c)); got != 2 {
			return fmt.Errorf("clock lists %d tools, want 2", got)
		}
		return nil
	})
	s := initialize(t, base+"/mcp/added", "")
	if got := toolNames(t, base+"/mcp/added", "", s); !slices.Equal(got, []string{"fx__add"}) {
		t.Errorf("the added server lists %v", got)
	}
}
