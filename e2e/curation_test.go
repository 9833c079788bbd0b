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

// TestToolSearchOverABigCatalog: with 300 tools and tool_search auto, tools/list has fewer than
// max_tools entries (the always tools and the two gateway tools); a search for words of one
// tool's description returns it first; switchboard__call_tool calls it, audited under its name.
func TestToolSearchOverABigCatalog(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gen := runDemoHTTP(t, "gen", addr, false, "--generated", "300")
	g := startGateway(t, fmt.Sprintf("audit: {stdout: true}\ntool_search: auto\nmax_tools: 100\nalways: [\"gen__now\"]\nupstreams: [{name: gen, url: %s}]\n", gen.URL))
	c := connect(t, g.URL, true, nil)
	listed := rawTools(t, c)
	if len(listed) >= 100 || len(listed) != 3 {
		t.Fatalf("tools/list with 300+ tools and tool_search auto: %d tools (%v), want gen__now and the two gateway tools", len(listed), keys(listed))
	}
	for _, want := range []string{"gen__now", "switchboard__search_tools", "switchboard__call_tool"} {
		if _, ok := listed[want]; !ok {
			t.Errorf("%s is not listed: %v", want, keys(listed))
		}
	}
	// gen_0137: verb 137%15=2 (summarize), object (137/15)%15=9 (calendars), place 0 (ledger).
	res := call(t, c, "switchboard__search_tools", map[string]any{"query": "summarize the calendars in the ledger", "limit": 5})
	var found []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"inputSchema"`
	}
	if err := json.Unmarshal([]byte(text(res)), &found); err != nil || len(found) == 0 {
		t.Fatalf("search answered %q: %v", text(res), err)
	}
	if found[0].Name != "gen__gen_0137" || len(found) > 5 || len(found[0].InputSchema) == 0 {
		t.Errorf("search: first %s of %d, want gen__gen_0137 with its schema: %+v", found[0].Name, len(found), found)
	}
	got := call(t, c, "switchboard__call_tool", map[string]any{"name": found[0].Name, "arguments": map[string]any{}})
	if text(got) != "gen_0137 done" {
		t.Errorf("switchboard__call_tool answered %q", text(got))
	}
	// A direct call of a tool in the view but not listed works too.
	if direct := call(t, c, "gen__gen_0001", map[string]any{}); text(direct) != "gen_0001 done" {
		t.Errorf("direct call: %q", text(direct))
	}
	eventually(t, 5*time.Second, "the audit line under the real tool's name", func() error {
		for _, l := range auditLines(g) {
			if l["tool"] == "gen__gen_0137" && l["outcome"] == "ok" {
				return nil
			}
		}
		return fmt.Errorf("no audit line for gen__gen_0137")
	})
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// description returns the listed description of a tool.
func description(t *testing.T, tools map[string]json.RawMessage, name string) string {
	t.Helper()
	var def struct {
		Description string `json:"description"`
	}
	_ = json.Unmarshal(tools[name], &def)
	return def.Description
}

// TestPinningAndOverrides: an upstream that changes a tool's description. warn logs and serves
// the change; hold keeps listing the approved definition and refuses calls with
// definition_changed until /admin/pins/approve, and the approval survives a restart. Overrides
// change what tools/list shows, and disabled hides a tool.
func TestPinningAndOverrides(t *testing.T) {
	t.Parallel()
	const steady = "Answers the word steady."
	t.Run("warn", func(t *testing.T) {
		demo := startDemoHTTP(t, "demo", false)
		g := startGateway(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL))
		c := connect(t, g.URL, true, nil)
		call(t, c, "demo__toggle_description", map[string]any{})
		eventually(t, 10*time.Second, "the change served and logged", func() error {
			if d := description(t, rawTools(t, c), "demo__shifty"); d == steady {
				return fmt.Errorf("still the old description")
			}
			if !strings.Contains(g.logs(), "tool definition changed; serving the new one") {
				return fmt.Errorf("not logged")
			}
			return nil
		})
		if n := scrape(t, g, "switchboard_pin_changes_total"); n < 1 {
			t.Errorf("switchboard_pin_changes_total = %v", n)
		}
	})
	t.Run("hold", func(t *testing.T) {
		demo := startDemoHTTP(t, "demo", false)
		pins := t.TempDir() + "/pins.json"
		cfg := fmt.Sprintf(`pinning: {mode: hold, file: %s}
tools:
  "demo__echo": {description: "The operator's echo.", title: "Echo"}
  "demo__fail": {disabled: true}
upstreams: [{name: demo, url: %s}]
`, pins, demo.URL)
		g := startGateway(t, cfg)
		c := connect(t, g.URL, true, nil)
		tools := rawTools(t, c)
		if d := description(t, tools, "demo__echo"); d != "The operator's echo." {
			t.Errorf("override: demo__echo's description %q", d)
		}
		if _, ok := tools["demo__fail"]; ok {
			t.Error("a disabled tool is listed")
		}
		if _, err := callErr(c, "demo__fail", map[string]any{}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
			t.Errorf("a disabled tool's call: %v", err)
		}
		call(t, c, "demo__toggle_description", map[string]any{})
		eventually(t, 10*time.Second, "the change held", func() error {
			res := call(t, c, "demo__shifty", map[string]any{})
			if gatewayErrorCode(res) != "definition_changed" {
				return fmt.Errorf("shifty answered %q", text(res))
			}
			return nil
		})
		if d := description(t, rawTools(t, c), "demo__shifty"); d != steady {
			t.Errorf("hold lists %q, want the approved description", d)
		}
		resp, err := http.Get(g.Admin + "/admin/pins")
		if err != nil {
			t.Fatal(err)
		}
		held, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(held), `"tool":"demo__shifty"`) || !strings.Contains(string(held), "ignore earlier instructions") {
			t.Errorf("/admin/pins: %s", held)
		}
		resp, err = http.Post(g.Admin+"/admin/pins/approve", "application/json", strings.NewReader(`{"tool":"demo__shifty"}`))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("approve: %v %v", err, resp)
		}
		resp.Body.Close()
		eventually(t, 10*time.Second, "the approved change served", func() error {
			if d := description(t, rawTools(t, c), "demo__shifty"); d == steady {
				return fmt.Errorf("still the old description")
			}
			if res := call(t, c, "demo__shifty", map[string]any{}); text(res) != "steady" {
				return fmt.Errorf("shifty answered %q", text(res))
			}
			return nil
		})
		// The approval survives a restart: a new gateway on the same pin file serves it at once.
		g.proc.kill()
		g2 := startGateway(t, cfg)
		c2 := connect(t, g2.URL, true, nil)
		if res := call(t, c2, "demo__shifty", map[string]any{}); text(res) != "steady" {
			t.Errorf("after a restart shifty answered %q (%s)", text(res), gatewayErrorCode(res))
		}
	})
}
