package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

// stdioSpec is what node/stdio_client.mjs runs: a command, as a desktop host launches it.
type stdioSpec struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env,omitempty"`
	Calls   []map[string]any  `json:"calls,omitempty"`
	Unknown string            `json:"unknown,omitempty"`
}

// stdioReport is what node/stdio_client.mjs prints.
type stdioReport struct {
	Server struct{ Name, Version string }
	Tools  []string
	Calls  []struct {
		Content []struct{ Type, Text string }
		IsError bool
		Error   *struct {
			Code    int
			Message string
		}
	}
	Unknown *struct {
		Code    int
		Message string
	}
	Sampled int
	Exit    *struct {
		Code   *int
		Signal *string
		Ms     int
	}
	Errors []string
}

// callText is the text of call i, or its error.
func (r stdioReport) callText(i int) string {
	if i >= len(r.Calls) {
		return "(no call)"
	}
	c := r.Calls[i]
	if c.Error != nil {
		return fmt.Sprintf("error %d: %s", c.Error.Code, c.Error.Message)
	}
	var parts []string
	for _, p := range c.Content {
		parts = append(parts, p.Text)
	}
	return strings.Join(parts, "")
}

// runStdioClient runs the TypeScript SDK's stdio client on spec and returns its report and
// what the command wrote on stderr (the gateway's logs), failing on a data race in it.
func runStdioClient(t *testing.T, spec stdioSpec) (stdioReport, string) {
	t.Helper()
	cmd := tsClient(t)
	cmd.Args = []string{cmd.Args[0], strings.Replace(cmd.Args[1], "client.mjs", "stdio_client.mjs", 1)}
	arg, _ := json.Marshal(spec)
	cmd.Args = append(cmd.Args, string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the stdio client did not finish in 90s:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("stdio client: %v\n%s\n%s", err, out, stderr.String())
	}
	if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("switchboard has a data race:\n%s", stderr.String())
	}
	var report stdioReport
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report %s: %v\n%s", out, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of the stdio client and its command:\n%s", stderr.String())
		}
	})
	return report, stderr.String()
}

// writeStdioConfig writes a config for `switchboard stdio` and returns its path.
func writeStdioConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// exitedByItself fails t unless the command ended by itself, with status 0, once its stdin
// was closed (the SDK sends SIGTERM after 2 seconds).
func exitedByItself(t *testing.T, r stdioReport) {
	t.Helper()
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 0 || r.Exit.Signal != nil || r.Exit.Ms >= 2000 {
		t.Errorf("after its stdin closed the command ended %+v, want exit status 0 by itself within 2s", r.Exit)
	}
}

// TestStdioServesHTTPAndConsulUpstreams: a desktop host (the TypeScript SDK's stdio client)
// launches `switchboard stdio --config FILE` and lists and calls tools of a static HTTP
// upstream and of one discovered in a real Consul agent, answers a sampling request an upstream
// sends during a call, gets "unknown tool" for a tool that does not exist, and when it closes
// the gateway's stdin the gateway exits by itself.
func TestStdioServesHTTPAndConsulUpstreams(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	agent := startConsul(t)
	inventory := startDemoHTTP(t, "inventory-1", false)
	agent.register(t, "inventory", "inventory-1", inventory, map[string]string{"mcp_path": "/mcp"})
	path := writeStdioConfig(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\nconsul: {address: %q}\n", demo.URL, agent.Addr))

	r, logs := runStdioClient(t, stdioSpec{Command: bin.switchboard, Args: []string{"stdio", "--config", path},
		Calls: []map[string]any{
			{"name": "demo__echo", "arguments": map[string]any{"text": "over stdio"}},
			{"name": "inventory__echo", "arguments": map[string]any{"text": "from consul"}},
			{"name": "demo__sample", "arguments": map[string]any{"text": "hello"}},
		},
		Unknown: "demo__nope"})
	for _, e := range r.Errors {
		t.Errorf("stdio client: %s", e)
	}
	if r.Server.Name != "switchboard" {
		t.Errorf("server %+v, want switchboard", r.Server)
	}
	for _, tool := range []string{"demo__echo", "demo__sample", "inventory__echo"} {
		if !slices.Contains(r.Tools, tool) {
			t.Errorf("the first tools/list lacks %s: %v", tool, r.Tools)
		}
	}
	for i, want := range []string{"over stdio", "from consul", "sampled: hello"} {
		if got := r.callText(i); got != want {
			t.Errorf("call %d answered %q, want %q", i, got, want)
		}
	}
	if r.Sampled != 1 {
		t.Errorf("the client answered %d sampling requests, want 1", r.Sampled)
	}
	if r.Unknown == nil || r.Unknown.Code != -32602 || !strings.Contains(r.Unknown.Message, "unknown tool: demo__nope") {
		t.Errorf("calling an unknown tool: %+v, want -32602 unknown tool", r.Unknown)
	}
	exitedByItself(t, r)
	if !strings.Contains(logs, "serving the client on stdio") {
		t.Errorf("no log of the gateway on stderr:\n%s", logs)
	}
}

// stdioGateway is `switchboard stdio` run from the test, as a host runs it: the test writes its
// stdin and reads its stdout, where every line must be one JSON-RPC message.
type stdioGateway struct {
	t             *testing.T
	stdin         io.WriteCloser
	lines         chan string
	exited        chan error
	stderr        *syncBuffer
	notifications []map[string]json.RawMessage // what read passed over, in order
}

func startStdioGateway(t *testing.T, args ...string) *stdioGateway {
	t.Helper()
	cmd := exec.Command(bin.switchboard, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g := &stdioGateway{t: t, stdin: stdin, lines: make(chan string, 1000), exited: make(chan error, 1), stderr: &syncBuffer{}}
	cmd.Stderr = g.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			g.lines <- sc.Text()
		}
		close(g.lines)
		g.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if strings.Contains(g.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("switchboard has a data race:\n%s", g.stderr.String())
		}
		if t.Failed() {
			t.Logf("stderr of switchboard stdio:\n%s", g.stderr.String())
		}
	})
	return g
}

func (g *stdioGateway) send(msg string) {
	g.t.Helper()
	if _, err := io.WriteString(g.stdin, msg+"\n"); err != nil {
		g.t.Fatal(err)
	}
}

// read checks every line as it comes and returns the result of the response to id, or, with
// id "", the next notification whose method is method.
func (g *stdioGateway) read(id, method string) json.RawMessage {
	g.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-g.lines:
			if !ok {
				g.t.Fatalf("stdout ended before %s%s", id, method)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &m); err != nil || string(m["jsonrpc"]) != `"2.0"` || (m["method"] == nil && m["id"] == nil) {
				g.t.Fatalf("stdout carries a line that is not a JSON-RPC message: %q", line)
			}
			if m["method"] != nil {
				g.notifications = append(g.notifications, m)
				if id == "" && string(m["method"]) == `"`+method+`"` {
					return m["params"]
				}
				continue
			}
			if id != "" && string(m["id"]) == id {
				if m["error"] != nil {
					g.t.Fatalf("request %s failed: %s", id, m["error"])
				}
				return m["result"]
			}
		case <-timeout:
			g.t.Fatalf("nothing for %s%s in 30s", id, method)
		}
	}
}

// count is how many notifications of method read passed over.
func (g *stdioGateway) count(method string) int {
	n := 0
	for _, m := range g.notifications {
		if string(m["method"]) == `"`+method+`"` {
			n++
		}
	}
	return n
}

func (g *stdioGateway) initialize() {
	g.t.Helper()
	g.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`)
	var init struct{ ProtocolVersion string }
	if err := json.Unmarshal(g.read("0", ""), &init); err != nil || init.ProtocolVersion != "2025-11-25" {
		g.t.Errorf("initialize negotiated %q (%v), want 2025-11-25", init.ProtocolVersion, err)
	}
	g.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// stop closes stdin and waits for the process to exit, which it must do with status 0; what it
// writes meanwhile must still be JSON.
func (g *stdioGateway) stop() {
	g.t.Helper()
	g.stdin.Close()
	for line := range g.lines {
		if !json.Valid([]byte(line)) {
			g.t.Errorf("after stdin closed, stdout got %q", line)
		}
	}
	select {
	case err := <-g.exited:
		if err != nil {
			g.t.Errorf("switchboard stdio exited with %v after stdin closed, want 0", err)
		}
	case <-time.After(20 * time.Second):
		g.t.Fatal("switchboard stdio did not exit after stdin closed")
	}
}

// TestStdioOutputIsOnlyJSONRPC: every line `switchboard stdio` writes on stdout is one JSON-RPC
// message - responses, the progress and log notifications of a call, the answer to a request of
// the 2026-07-28 era - while its logs and the audit log (audit.stdout) go to stderr; when stdin
// closes it exits 0 and stops its stdio upstream.
func TestStdioOutputIsOnlyJSONRPC(t *testing.T) {
	t.Parallel()
	path := writeStdioConfig(t, fmt.Sprintf(`upstreams:
  - name: local
    command: [%q, "--name", "local"]
audit: {stdout: true}
log: {level: debug}
`, bin.demo))
	g := startStdioGateway(t, "stdio", "--config", path)
	g.initialize()
	g.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if !strings.Contains(string(g.read("1", "")), `"name":"local__chatty"`) {
		t.Error("tools/list lacks local__chatty")
	}
	g.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"local__chatty","arguments":{"count":3},"_meta":{"progressToken":"p"}}}`)
	if !strings.Contains(string(g.read("2", "")), "sent 3") {
		t.Error("local__chatty did not answer")
	}
	g.send(`{"jsonrpc":"2.0","id":3,"method":"ping"}`)
	g.read("3", "")
	// A request of the 2026-07-28 era, which says its version itself, is served on the same line.
	const modern = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"e2e","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
	g.send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"local__echo","arguments":{"text":"modern"},` + modern + `}}`)
	if res := string(g.read("4", "")); !strings.Contains(res, `"text":"modern"`) || !strings.Contains(res, `"resultType":"complete"`) {
		t.Errorf("a 2026-07-28 call over stdio: %s", res)
	}
	if n := g.count("notifications/progress"); n != 3 {
		t.Errorf("%d progress notifications on stdout, want 3", n)
	}
	if g.count("notifications/message") == 0 {
		t.Error("no log message of the upstream's on stdout")
	}
	g.stop()
	logs := g.stderr.String()
	for _, want := range []string{"serving the client on stdio", `"tool":"local__chatty"`, "the client closed its input", "stdio upstream exited"} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr lacks %q (logs, the audit line, the clean stop of the stdio upstream)", want)
		}
	}
}

// TestStdioResourceUpdates: the stdio client subscribes to a resource of the npm reference
// server and gets its notifications/resources/updated on stdout.
func TestStdioResourceUpdates(t *testing.T) {
	t.Parallel()
	everything := startNPMEverything(t)
	g := startStdioGateway(t, "stdio", "--config", writeStdioConfig(t, fmt.Sprintf("upstreams: [{name: everything, url: %s}]\n", everything.URL)))
	g.initialize()
	g.send(`{"jsonrpc":"2.0","id":1,"method":"resources/list"}`)
	var list struct{ Resources []struct{ URI string } }
	if err := json.Unmarshal(g.read("1", ""), &list); err != nil || len(list.Resources) == 0 {
		t.Fatalf("resources/list: %v %+v", err, list)
	}
	uri, _ := json.Marshal(list.Resources[0].URI)
	g.send(`{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":` + string(uri) + `}}`)
	g.read("2", "")
	g.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"everything__toggle-subscriber-updates","arguments":{}}}`)
	g.read("3", "")
	var updated struct{ URI string }
	if err := json.Unmarshal(g.read("", "notifications/resources/updated"), &updated); err != nil || updated.URI != list.Resources[0].URI {
		t.Errorf("resources/updated for %q (%v), want %q", updated.URI, err, list.Resources[0].URI)
	}
	g.stop()
}

// TestStdioBridgeToAnAuthenticatedGateway: `switchboard stdio --upstream URL` carries a desktop
// host to a remote gateway with OIDC auth, the bearer token from SWITCHBOARD_TOKEN (or the
// variable --token-env names): tools list and call, and the upstream's sampling request crosses
// the bridge to the client and its answer back. Without a token the host is told 401. At the
// end the bridge deletes its session; the token is never in its logs.
func TestStdioBridgeToAnAuthenticatedGateway(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("auth: {mode: oidc, issuer: %s, audience: %s, required_scopes: [mcp]}\nupstreams: [{name: demo, url: %s}]\n",
		iss.URL, resource, demo.URL))
	token := iss.Sign("rsa-1", iss.Claims("ana", resource, "mcp"))

	r, logs := runStdioClient(t, stdioSpec{Command: bin.switchboard, Args: []string{"stdio", "--upstream", g.URL},
		Env: map[string]string{"SWITCHBOARD_TOKEN": token},
		Calls: []map[string]any{
			{"name": "demo__echo", "arguments": map[string]any{"text": "across"}},
			{"name": "demo__sample", "arguments": map[string]any{"text": "bridged"}},
		}})
	for _, e := range r.Errors {
		t.Errorf("stdio client: %s", e)
	}
	if !slices.Contains(r.Tools, "demo__echo") || r.Server.Name != "switchboard" {
		t.Errorf("through the bridge: server %+v, tools %v", r.Server, r.Tools)
	}
	for i, want := range []string{"across", "sampled: bridged"} {
		if got := r.callText(i); got != want {
			t.Errorf("call %d answered %q, want %q", i, got, want)
		}
	}
	if r.Sampled != 1 {
		t.Errorf("the client answered %d sampling requests, want 1 (the upstream's, across the bridge)", r.Sampled)
	}
	exitedByItself(t, r)
	if strings.Contains(logs, token) {
		t.Error("the bridge logged the token")
	}
	eventually(t, 10*time.Second, "the bridge's DELETE of its session", func() error {
		for _, line := range strings.Split(g.proc.out.String(), "\n") {
			if strings.Contains(line, "method=DELETE") && strings.Contains(line, "status=200") {
				return nil
			}
		}
		return fmt.Errorf("no DELETE answered 200 in the gateway's access log")
	})

	r, _ = runStdioClient(t, stdioSpec{Command: bin.switchboard, Args: []string{"stdio", "--upstream", g.URL, "--token-env", "DESKTOP_TOKEN"},
		Env:   map[string]string{"DESKTOP_TOKEN": token, "SWITCHBOARD_TOKEN": "not-this-one"},
		Calls: []map[string]any{{"name": "demo__echo", "arguments": map[string]any{"text": "named variable"}}}})
	if got := r.callText(0); len(r.Errors) > 0 || got != "named variable" {
		t.Errorf("with --token-env: %q, errors %v", got, r.Errors)
	}

	r, _ = runStdioClient(t, stdioSpec{Command: bin.switchboard, Args: []string{"stdio", "--upstream", g.URL},
		Env: map[string]string{"SWITCHBOARD_TOKEN": ""}})
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "HTTP 401") {
		t.Errorf("without a token: %v, want the host told HTTP 401", r.Errors)
	}
}

// TestStdioPolicyAppliesToTheStdioPrincipal: with stdio.principal the policies decide what the
// stdio client sees, by its scopes and claims, like a token's principal (default_policy deny):
// outside its view a tool is answered as unknown, and the audit log names the principal.
func TestStdioPolicyAppliesToTheStdioPrincipal(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	config := func(principal string) string {
		return writeStdioConfig(t, fmt.Sprintf(`upstreams: [{name: demo, url: %s}]
audit: {stdout: true}
auth:
  default_policy: deny
  policies:
    - when: {claim: {groups: operators}}
      allow: ["demo__*"]
    - when: {scope: "weather:read"}
      allow: ["demo__echo"]
stdio: {principal: %s}
`, demo.URL, principal))
	}
	r, logs := runStdioClient(t, stdioSpec{Command: bin.switchboard,
		Args:    []string{"stdio", "--config", config("{subject: ana, scopes: [weather:read], claims: {groups: [analysts]}}")},
		Calls:   []map[string]any{{"name": "demo__echo", "arguments": map[string]any{"text": "allowed"}}},
		Unknown: "demo__add"})
	for _, e := range r.Errors {
		t.Errorf("stdio client: %s", e)
	}
	if !slices.Equal(r.Tools, []string{"demo__echo"}) {
		t.Errorf("ana (scope weather:read) lists %v, want only demo__echo", r.Tools)
	}
	if got := r.callText(0); got != "allowed" {
		t.Errorf("ana calling demo__echo: %q", got)
	}
	if r.Unknown == nil || r.Unknown.Code != -32602 || !strings.Contains(r.Unknown.Message, "unknown tool: demo__add") {
		t.Errorf("ana calling demo__add: %+v, want -32602 unknown tool", r.Unknown)
	}
	refused := false
	for _, line := range strings.Split(logs, "\n") {
		refused = refused || (strings.Contains(line, `"subject":"ana"`) && strings.Contains(line, `"tool":"demo__add"`) && strings.Contains(line, `"outcome":"not_allowed"`))
	}
	if !refused {
		t.Errorf("no audit line names ana's refused call of demo__add:\n%s", logs)
	}

	r, _ = runStdioClient(t, stdioSpec{Command: bin.switchboard,
		Args: []string{"stdio", "--config", config("{subject: olga, claims: {groups: [staff, operators]}}")}})
	if !slices.Contains(r.Tools, "demo__add") || !slices.Contains(r.Tools, "demo__echo") {
		t.Errorf("olga (group operators) lists %v, want every demo__ tool", r.Tools)
	}
	r, _ = runStdioClient(t, stdioSpec{Command: bin.switchboard,
		Args: []string{"stdio", "--config", config("{subject: nobody-special}")}})
	if len(r.Tools) != 0 {
		t.Errorf("a principal no policy matches (default_policy deny) lists %v, want none", r.Tools)
	}
}

// TestStdioServesAVirtualServer: `switchboard stdio --server NAME` gives the client that virtual
// server's view, not the whole catalog.
func TestStdioServesAVirtualServer(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	path := writeStdioConfig(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\nservers: [{name: clock, tools: [demo__now, demo__echo]}]\n", demo.URL))
	r, _ := runStdioClient(t, stdioSpec{Command: bin.switchboard, Args: []string{"stdio", "--config", path, "--server", "clock"},
		Unknown: "demo__add"})
	slices.Sort(r.Tools)
	if !slices.Equal(r.Tools, []string{"demo__echo", "demo__now"}) {
		t.Errorf("the clock server lists %v, want demo__echo and demo__now", r.Tools)
	}
	if r.Unknown == nil || r.Unknown.Code != -32602 {
		t.Errorf("a tool the server does not select: %+v, want unknown tool", r.Unknown)
	}
	exitedByItself(t, r)
}
