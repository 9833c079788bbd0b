// Package e2e runs the gateway binary against real upstream MCP servers (our mcp-demo, mcp-go's
// examples/everything, the npm reference server) and real clients (mcp-go's, the official
// TypeScript SDK's). Nothing here is faked.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// bin holds the programs TestMain built: they need only Go. Every other program a test runs is
// a peer (peers_test.go), resolved when the test asks for it.
var bin struct {
	switchboard, demo string
}

func TestMain(m *testing.M) {
	flag.Parse()
	log.SetOutput(io.Discard) // mcp-go's client transport chats on the standard logger
	dir, err := os.MkdirTemp("", "switchboard-e2e-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := setup(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func setup(dir string) error {
	buildDir = dir
	// The gateway is built with the race detector, so that a race in it fails the test that hit
	// it; but not for benchmarks, which measure the gateway as it ships.
	race := "-race"
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		race = "-race=false"
	}
	var err error
	if bin.switchboard, err = goBuild("switchboard", "../cmd/switchboard", race); err != nil {
		return err
	}
	bin.demo, err = goBuild("mcp-demo", "../cmd/mcp-demo")
	return err
}

// proc is a child process whose output is kept for the test log.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a program until the test ends (or kill); its output is logged if the test fails.
func start(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.out.String())
		}
	})
	return p
}

// kill stops the process group at once.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freePorts returns n distinct free ports: each listener stays open until all are chosen, so
// the kernel cannot hand out the same port twice (an agent refuses two roles on one port).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// eventually retries check until it returns nil or the wait runs out.
func eventually(t testing.TB, wait time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, wait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitTCP(t testing.TB, addr string, p *proc) {
	t.Helper()
	eventually(t, 30*time.Second, "waiting for "+addr, func() error {
		select {
		case <-p.done:
			t.Fatalf("process exited before listening on %s:\n%s", addr, p.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// upstreamHTTP is an upstream MCP server process on a loopback port.
type upstreamHTTP struct {
	URL  string
	addr string
	proc *proc
}

// startDemoHTTP runs mcp-demo over Streamable HTTP (or legacy SSE).
func startDemoHTTP(t testing.TB, name string, sse bool) *upstreamHTTP {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return runDemoHTTP(t, name, addr, sse)
}

func runDemoHTTP(t testing.TB, name, addr string, sse bool, flags ...string) *upstreamHTTP {
	t.Helper()
	args := append([]string{"--listen", addr, "--name", name}, flags...)
	url := "http://" + addr + "/mcp"
	if sse {
		args = append(args, "--sse")
		url = "http://" + addr + "/sse"
	}
	p := start(t, nil, bin.demo, args...)
	waitTCP(t, addr, p)
	return &upstreamHTTP{URL: url, addr: addr, proc: p}
}

// startNPMEverything runs the npm reference server over Streamable HTTP.
func startNPMEverything(t testing.TB) *upstreamHTTP {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	node, script := needNPMEverything(t)
	p := start(t, []string{fmt.Sprintf("PORT=%d", port)}, node, script, "streamableHttp")
	waitTCP(t, addr, p)
	return &upstreamHTTP{URL: "http://" + addr + "/mcp", addr: addr, proc: p}
}

// gateway is a running switchboard.
type gateway struct {
	URL   string // the /mcp endpoint
	Admin string // base URL of the admin listener
	proc  *proc
}

// logs is the gateway's output so far, its latest info lines included: the gateway writes them
// out in batches every 100 ms (warnings and errors at once), so this waits for one batch first.
func (g *gateway) logs() string {
	time.Sleep(300 * time.Millisecond)
	return g.proc.out.String()
}

// startGateway runs switchboard with the given upstreams section (and any other top-level keys)
// and waits until it is ready.
func startGateway(t testing.TB, yamlBody string) *gateway {
	t.Helper()
	return startGatewayEnv(t, yamlBody, nil)
}

// startGatewayEnv is startGateway with extra environment variables for the gateway.
func startGatewayEnv(t testing.TB, yamlBody string, env []string) *gateway {
	t.Helper()
	g := launchGatewayEnv(t, yamlBody, env)
	eventually(t, 60*time.Second, "gateway readiness", func() error {
		g.mustBeRunning(t)
		code, body, err := getReadyz(g)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("readyz %d: %s", code, body)
		}
		return err
	})
	return g
}

// mustBeRunning fails the test at once when the gateway process has exited.
func (g *gateway) mustBeRunning(t testing.TB) {
	t.Helper()
	select {
	case <-g.proc.done:
		t.Fatalf("gateway exited:\n%s", g.proc.out.String())
	default:
	}
}

// getReadyz asks the gateway's /readyz; err is set while nothing answers (starting).
func getReadyz(g *gateway) (code int, body string, err error) {
	resp, err := http.Get(g.Admin + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// readyz is getReadyz for a gateway that must be answering.
func readyz(t testing.TB, g *gateway) (int, string) {
	t.Helper()
	code, body, err := getReadyz(g)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// waitNotReady waits until /readyz answers 503 with a body holding every one of wants, and
// returns that body.
func waitNotReady(t testing.TB, g *gateway, wait time.Duration, wants ...string) string {
	t.Helper()
	var last string
	eventually(t, wait, "not ready, saying "+strings.Join(wants, " and "), func() error {
		g.mustBeRunning(t)
		code, body, err := getReadyz(g)
		if err != nil {
			return err // still starting
		}
		last = body
		for _, w := range wants {
			if code != http.StatusServiceUnavailable || !strings.Contains(body, w) {
				return fmt.Errorf("readyz %d: %s", code, body)
			}
		}
		return nil
	})
	return last
}

// launchGateway runs switchboard without waiting for readiness.
func launchGateway(t testing.TB, yamlBody string) *gateway {
	t.Helper()
	return launchGatewayEnv(t, yamlBody, nil)
}

func launchGatewayEnv(t testing.TB, yamlBody string, env []string) *gateway {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adminListen := listen
	for adminListen == listen { // a port freed and handed out again would make the config invalid
		adminListen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	cfg := fmt.Sprintf("listen: %s\nadmin_listen: %s\n%s", listen, adminListen, yamlBody)
	if strings.Contains(yamlBody, "admin_listen:") { // the test sets it (empty: admin on listen)
		cfg, adminListen = fmt.Sprintf("listen: %s\n%s", listen, yamlBody), listen
	}
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, env, bin.switchboard, "serve", "--config", path)
	t.Cleanup(func() {
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("the gateway has a data race:\n%s", p.out.String())
		}
	})
	return &gateway{URL: "http://" + listen + "/mcp", Admin: "http://" + adminListen, proc: p}
}

// connect opens an MCP session over Streamable HTTP. legacy pins protocol 2025-11-25 (with the
// standing GET stream for notifications); otherwise mcp-go negotiates the newest era it can.
func connect(t testing.TB, url string, legacy bool, onNotify func(mcp.JSONRPCNotification)) *client.Client {
	t.Helper()
	return dialMCP(t, url, legacy, nil, onNotify)
}

// connectAs opens a 2025-11-25 session that presents token.
func connectAs(t testing.TB, url, token string) *client.Client {
	t.Helper()
	return dialMCP(t, url, true, map[string]string{"Authorization": "Bearer " + token}, nil)
}

func dialMCP(t testing.TB, url string, legacy bool, headers map[string]string, onNotify func(mcp.JSONRPCNotification)) *client.Client {
	t.Helper()
	opts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(headers)}
	var copts []client.ClientOption
	if legacy {
		//lint:ignore SA1019 the 2025-11-25 era is the one under test here
		opts = append(opts, transport.WithContinuousListening())
		copts = append(copts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	}
	tr, err := transport.NewStreamableHTTP(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, copts...)
	if onNotify != nil {
		c.OnNotification(onNotify)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if legacy {
		init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawTools lists every tool over c as the server sent it, keyed by name.
func rawTools(t testing.TB, c *client.Client) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	cursor := ""
	for i := 0; ; i++ {
		var params any // absent, not null: some servers reject "params": null
		if cursor != "" {
			params = map[string]any{"cursor": cursor}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
			JSONRPC: "2.0", ID: mcp.NewRequestId(fmt.Sprintf("raw-%d", i)), Method: "tools/list", Params: params,
		})
		cancel()
		if err != nil || resp.Error != nil {
			t.Fatalf("tools/list: %v %+v", err, resp)
		}
		var page struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(resp.Result, &page); err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Tools {
			var head struct{ Name string }
			_ = json.Unmarshal(raw, &head)
			out[head.Name] = raw
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// call invokes a tool and fails the test on a transport or JSON-RPC error.
func call(t testing.TB, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := callErr(c, name, args)
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	return res
}

func callErr(c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	if args == nil {
		req.Params.Arguments = map[string]any{} // mcp-go would send null, which some servers reject
	}
	return c.CallTool(ctx, req)
}

// rawCall sends tools/call and returns the raw JSON-RPC response, for checks of error codes.
func rawCall(t testing.TB, c *client.Client, name string, args map[string]any) *transport.JSONRPCResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: "2.0", ID: mcp.NewRequestId("raw-call"), Method: "tools/call",
		Params: map[string]any{"name": name, "arguments": args},
	})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return resp
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// gatewayErrorCode returns _meta["io.switchboard/error"].code of a result, or "".
func gatewayErrorCode(res *mcp.CallToolResult) string {
	if res.Meta == nil {
		return ""
	}
	e, _ := res.Meta.AdditionalFields["io.switchboard/error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func compact(t testing.TB, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
