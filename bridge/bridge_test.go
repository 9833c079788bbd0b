package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// upstreamServer is a real MCP server (mcp-go's, stateful Streamable HTTP) with a tool that asks
// the client to sample, behind a recorder of the requests it got (and a bearer check).
type upstreamServer struct {
	*httptest.Server
	mcp *server.MCPServer

	mu        sync.Mutex
	sessions  []string        // every Mcp-Session-Id seen, in order
	methods   []string        // "POST initialize", "GET", "DELETE", ...
	forgotten map[string]bool // answered 404, as a gateway answers a session it no longer knows
}

func newUpstreamServer(t *testing.T, token string) *upstreamServer {
	t.Helper()
	s := server.NewMCPServer("upstream", "1", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text")), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	s.AddTool(mcp.NewTool("sample", mcp.WithString("text")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		sreq := mcp.CreateMessageRequest{}
		sreq.Messages = []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent(req.GetString("text", ""))}}
		sreq.MaxTokens = 10
		//lint:ignore SA1019 the 2025-11-25 era's sampling is what crosses the bridge
		res, err := server.ServerFromContext(ctx).RequestSampling(ctx, sreq)
		if err != nil {
			return mcp.NewToolResultErrorf("sampling failed: %v", err), nil
		}
		b, _ := json.Marshal(res.Content)
		return mcp.NewToolResultText("sampled " + string(b)), nil
	})
	u := &upstreamServer{mcp: s, forgotten: map[string]bool{}}
	h := server.NewStreamableHTTPServer(s)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		var m struct{ Method string }
		_ = json.Unmarshal(body, &m)
		id := r.Header.Get(mcp.HeaderSessionID)
		u.mu.Lock()
		u.methods = append(u.methods, strings.TrimSpace(r.Method+" "+m.Method))
		if id != "" && (len(u.sessions) == 0 || u.sessions[len(u.sessions)-1] != id) {
			u.sessions = append(u.sessions, id)
		}
		forgotten := u.forgotten[id]
		u.mu.Unlock()
		if forgotten {
			http.Error(w, "Invalid or expired session ID", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstreamServer) seen() (sessions, methods []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string{}, u.sessions...), append([]string{}, u.methods...)
}

// forget makes the server answer 404 to session, as a gateway does to one that expired or
// whose key rotated away.
func (u *upstreamServer) forget(session string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.forgotten[session] = true
}

// client is the stdio side of a running bridge.
type client struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan map[string]json.RawMessage
	done  chan error
}

func newClient(t *testing.T, opts Options) *client {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{t: t, in: inW, lines: make(chan map[string]json.RawMessage, 100), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.done <- Run(ctx, inR, outW, opts); outW.Close() }()
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil || string(m["jsonrpc"]) != `"2.0"` {
				t.Errorf("the bridge wrote a line that is not a JSON-RPC message: %q", sc.Text())
				continue
			}
			c.lines <- m
		}
		close(c.lines)
	}()
	t.Cleanup(func() { cancel(); inW.Close(); <-c.done })
	return c
}

func (c *client) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() map[string]json.RawMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.lines:
		if !ok {
			c.t.Fatal("the bridge closed its output")
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("nothing from the bridge in 10s")
		return nil
	}
}

func (c *client) answerTo(id string) map[string]json.RawMessage {
	c.t.Helper()
	for {
		if m := c.next(); string(m["id"]) == id && m["method"] == nil {
			return m
		}
	}
}

func (c *client) initialize() {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}`)
	if res := c.answerTo("0"); !strings.Contains(string(res["result"]), `"protocolVersion":"2025-11-25"`) {
		c.t.Fatalf("initialize: %v", res)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// TestBridgeRelaysASession: through the bridge a client initializes, calls a tool, answers the
// server's sampling request during a call, gets a notification on the GET stream; a session the
// server forgot is opened again without the client noticing; at the end the session is deleted.
func TestBridgeRelaysASession(t *testing.T) {
	t.Parallel()
	up := newUpstreamServer(t, "t0ken")
	c := newClient(t, Options{URL: up.URL, Token: "t0ken"})
	c.initialize()

	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	if res := c.answerTo("1"); !strings.Contains(string(res["result"]), `"text":"hi"`) {
		t.Errorf("echo: %v", res)
	}

	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sample","arguments":{"text":"q"}}}`)
	ask := c.next()
	if string(ask["method"]) != `"sampling/createMessage"` {
		t.Fatalf("want the server's sampling request, got %v", ask)
	}
	c.send(`{"jsonrpc":"2.0","id":%s,"result":{"role":"assistant","model":"m","content":{"type":"text","text":"yes"}}}`, ask["id"])
	if res := c.answerTo("2"); !strings.Contains(string(res["result"]), `\"text\":\"yes\"`) {
		t.Errorf("sample: %s", res["result"])
	}

	deadline := time.Now().Add(10 * time.Second)
	for _, methods := up.seen(); !contains(methods, "GET"); _, methods = up.seen() {
		if time.Now().After(deadline) {
			t.Fatalf("no GET stream opened: %v", methods)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the stream is registered
	up.mcp.SendNotificationToAllClients("notifications/tools/list_changed", nil)
	if m := c.next(); string(m["method"]) != `"notifications/tools/list_changed"` {
		t.Errorf("want list_changed from the GET stream, got %v", m)
	}

	sessions, _ := up.seen()
	up.forget(sessions[len(sessions)-1])
	c.send(`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if res := c.answerTo("3"); !strings.Contains(string(res["result"]), `"name":"echo"`) {
		t.Errorf("tools/list after the server forgot the session: %v", res)
	}
	if after, _ := up.seen(); len(after) < 2 || after[len(after)-1] == sessions[len(sessions)-1] {
		t.Errorf("sessions used %v, want a new one after the old one ended", after)
	}

	c.in.Close()
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Errorf("Run returned %v after the input ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the input ended")
	}
	if _, methods := up.seen(); methods[len(methods)-1] != "DELETE" {
		t.Errorf("the last request was %q, want DELETE of the session", methods[len(methods)-1])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBridgeAnswersWhatTheGatewayDoesNot: a refused token, an unreachable gateway and a line
// over the bound each get a JSON-RPC error for the request, on stdout, and the relay goes on.
func TestBridgeAnswersWhatTheGatewayDoesNot(t *testing.T) {
	t.Parallel()
	up := newUpstreamServer(t, "right")
	c := newClient(t, Options{URL: up.URL, Token: "wrong", MaxMessageBytes: 512})
	c.send(`{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	var e struct {
		Code    int
		Message string
	}
	_ = json.Unmarshal(c.answerTo(`"a"`)["error"], &e)
	if e.Code != codeBridge || !strings.Contains(e.Message, "HTTP 401") || !strings.Contains(e.Message, "invalid_token") || strings.Contains(e.Message, "wrong") {
		t.Errorf("refused token: %+v, want the 401 and its reason, never the token", e)
	}
	c.send(`{"jsonrpc":"2.0","id":"b","method":"ping","params":{"pad":"%s"}}`, strings.Repeat("x", 600))
	if m := c.next(); string(m["id"]) != "null" || !strings.Contains(string(m["error"]), "over 512 bytes") {
		t.Errorf("line over the bound: %v", m)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	c = newClient(t, Options{URL: down.URL})
	c.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	_ = json.Unmarshal(c.answerTo("1")["error"], &e)
	if e.Code != codeBridge || !strings.Contains(e.Message, "unreachable") {
		t.Errorf("unreachable gateway: %+v", e)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`) // no answer, no crash
	c.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if m := c.answerTo("2"); m["error"] == nil {
		t.Errorf("ping to an unreachable gateway: %v", m)
	}
}

func TestBridgeRefusesABadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://h/mcp", "localhost:8080/mcp"} {
		if err := Run(context.Background(), strings.NewReader(""), io.Discard, Options{URL: u}); err == nil || !strings.Contains(err.Error(), "http:// or https://") {
			t.Errorf("URL %q: %v", u, err)
		}
	}
}

// FuzzReadEvents: whatever a gateway (or what sits between) streams, the SSE reader never
// panics and never hands on an event's data over the bound.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("event: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n: heartbeat\n\n"))
	f.Add([]byte("data: a\r\ndata: b\r\n\r\nid: 1\nretry: 5\nevent: other\ndata: x\n\n"))
	f.Add([]byte("data:" + strings.Repeat("y", 100) + "\n\ndata: z"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		const max = 64
		_ = readEvents(strings.NewReader(string(stream)), max, func(data []byte) bool {
			if len(data) > max {
				t.Fatalf("an event of %d bytes got through a bound of %d", len(data), max)
			}
			return true
		})
	})
}
