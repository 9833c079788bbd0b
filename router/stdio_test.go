package router

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/glob"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// stdioClient is the client end of a ServeStdio connection.
type stdioClient struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan string
	done  chan error // ServeStdio's result
}

// newStdioClient serves r over pipes until the test ends (or closeInput), as the client whose
// context is ctx.
func newStdioClient(t *testing.T, r *Router, ctx context.Context, opts StdioOptions) *stdioClient {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &stdioClient{t: t, in: inW, lines: make(chan string, 100), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(ctx)
	go func() { c.done <- r.ServeStdio(ctx, inR, outW, opts); outW.Close() }()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { cancel(); inW.Close(); <-c.done })
	return c
}

func (c *stdioClient) send(msg string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, msg+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message the gateway wrote, which must be one JSON-RPC message.
func (c *stdioClient) next() map[string]json.RawMessage {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatal("the gateway closed its output")
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil || string(m["jsonrpc"]) != `"2.0"` {
			c.t.Fatalf("the gateway wrote a line that is not a JSON-RPC message: %q", line)
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message from the gateway in 10s")
		return nil
	}
}

// answerTo returns the response to id, skipping notifications.
func (c *stdioClient) answerTo(id string) map[string]json.RawMessage {
	c.t.Helper()
	for {
		m := c.next()
		if string(m["id"]) == id && m["method"] == nil {
			return m
		}
	}
}

func (c *stdioClient) initialize(caps string) {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":` + caps + `,"clientInfo":{"name":"t","version":"1"}}}`)
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(c.answerTo("0")["result"], &res); err != nil || res.ProtocolVersion != "2025-11-25" {
		c.t.Fatalf("initialize: %v, protocol %q", err, res.ProtocolVersion)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

func (c *stdioClient) toolNames(id string) []string {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/list"}`)
	var page struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal(c.answerTo(id)["result"], &page); err != nil {
		c.t.Fatal(err)
	}
	var names []string
	for _, tool := range page.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func rpcErrorOf(t *testing.T, m map[string]json.RawMessage) (int, string) {
	t.Helper()
	var e struct {
		Code    int
		Message string
	}
	if err := json.Unmarshal(m["error"], &e); err != nil {
		t.Fatalf("want an error, got %v", m)
	}
	return e.Code, e.Message
}

// TestStdioServesTheCatalogWithThePolicies: over stdio the client lists and calls tools as the
// principal its context carries; a tool outside its view and an unknown tool get the same
// "unknown tool" answer (the refusal recorded), and tool search lists the gateway's tools while
// a direct call of a tool it hides still works.
func TestStdioServesTheCatalogWithThePolicies(t *testing.T) {
	t.Parallel()
	view := func(ctx context.Context) (string, func(string) bool) {
		if p := authn.PrincipalFrom(ctx); p != nil && p.Subject == "ana" {
			return "ana", func(name string) bool { return name == "demo__echo" }
		}
		return "all", nil
	}
	obs := &recordingObserver{}
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{View: view, Observer: obs})
	c := newStdioClient(t, r, authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "ana"}), StdioOptions{})
	c.initialize(`{}`)
	if got := c.toolNames("1"); !slices.Equal(got, []string{"demo__echo"}) {
		t.Errorf("ana lists %v, want only demo__echo", got)
	}
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	if res := c.answerTo("2"); !strings.Contains(string(res["result"]), "hello") {
		t.Errorf("calling demo__echo: %s", res["result"])
	}
	for i, name := range []string{"demo__secret", "demo__nope"} {
		id := fmt.Sprint(3 + i)
		c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":{}}}`)
		if code, msg := rpcErrorOf(t, c.answerTo(id)); code != mcp.INVALID_PARAMS || msg != "unknown tool: "+name {
			t.Errorf("calling %s: %d %q, want -32602 unknown tool", name, code, msg)
		}
	}
	obs.mu.Lock()
	var outcomes []string
	for _, rec := range obs.recs {
		outcomes = append(outcomes, rec.Outcome+":"+rec.Subject)
	}
	obs.mu.Unlock()
	// mcp-go answers a tool it does not have before the pipeline, so that record names no one,
	// as over HTTP.
	if want := []string{callrecord.OutcomeOK + ":ana", callrecord.OutcomeNotAllowed + ":ana", callrecord.OutcomeUnknownTool + ":"}; !slices.Equal(outcomes, want) {
		t.Errorf("recorded %v, want %v", outcomes, want)
	}

	search := newPipelineRouter(t, &fakeUpstreams{}, Options{Root: &Server{All: true, Search: Search{Mode: SearchOn, Always: glob.List{}}}})
	c = newStdioClient(t, search, context.Background(), StdioOptions{})
	c.initialize(`{}`)
	if got := c.toolNames("1"); slices.Contains(got, "demo__echo") || !slices.Contains(got, SearchToolsName) {
		t.Errorf("with tool search on the client lists %v, want the gateway's tools only", got)
	}
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	if res := c.answerTo("2"); !strings.Contains(string(res["result"]), "hello") {
		t.Errorf("a direct call of a tool search hides: %s", res)
	}
}

// TestStdioRelaysTheUpstreamsRequests: an upstream's sampling request during a call reaches the
// client on stdout, and its answer goes back to the upstream; a client that did not declare
// sampling is not asked.
func TestStdioRelaysTheUpstreamsRequests(t *testing.T) {
	t.Parallel()
	f := &fakeUpstreams{answer: func(_ int, req upstream.CallRequest) (upstream.CallResult, error) {
		raw, err := req.Relay.Request(context.Background(), string(mcp.MethodSamplingCreateMessage), json.RawMessage(`{"messages":[],"maxTokens":5}`))
		if err != nil {
			return upstream.CallResult{Raw: json.RawMessage(`{"content":[{"type":"text","text":"refused: ` + err.Error() + `"}]}`)}, nil
		}
		var res struct{ Content struct{ Text string } }
		_ = json.Unmarshal(raw, &res)
		return upstream.CallResult{Raw: json.RawMessage(`{"content":[{"type":"text","text":"sampled ` + res.Content.Text + `"}]}`)}, nil
	}}
	r := newPipelineRouter(t, f, Options{})
	c := newStdioClient(t, r, context.Background(), StdioOptions{})
	c.initialize(`{"sampling":{}}`)
	c.send(`{"jsonrpc":"2.0","id":"call","method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	ask := c.next()
	if string(ask["method"]) != `"sampling/createMessage"` {
		t.Fatalf("want the upstream's sampling request first, got %v", ask)
	}
	c.send(`{"jsonrpc":"2.0","id":` + string(ask["id"]) + `,"result":{"role":"assistant","model":"m","content":{"type":"text","text":"yes"}}}`)
	if res := c.answerTo(`"call"`); !strings.Contains(string(res["result"]), "sampled yes") {
		t.Errorf("call result %s, want the client's sample", res["result"])
	}

	c = newStdioClient(t, r, context.Background(), StdioOptions{})
	c.initialize(`{}`)
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	if res := c.answerTo("1"); !strings.Contains(string(res["result"]), "did not declare support") {
		t.Errorf("call result %s, want sampling refused for a client without the capability", res["result"])
	}
}

// cancellable answers calls only when their context ends, and reports that it did.
type cancellable struct {
	fakeUpstreams
	cancelled chan error
}

func (u *cancellable) Call(ctx context.Context, _ registry.ServiceName, _ upstream.CallRequest) (upstream.CallResult, error) {
	<-ctx.Done()
	u.cancelled <- ctx.Err()
	return upstream.CallResult{}, ctx.Err()
}

// TestStdioCancelsARequest: notifications/cancelled ends the call's context (and the upstream
// call with it), and the cancelled request gets no answer.
func TestStdioCancelsARequest(t *testing.T) {
	t.Parallel()
	u := &cancellable{cancelled: make(chan error, 1)}
	u.listings = []upstream.Listing{listing("demo", "demo", "echo")}
	r := New(u, Options{Naming: defaultNaming, PageSize: 100}, quiet)
	r.Rebuild()
	c := newStdioClient(t, r, context.Background(), StdioOptions{})
	c.initialize(`{}`)
	c.send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	time.Sleep(50 * time.Millisecond) // the call reaches the upstream
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`)
	select {
	case err := <-u.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the upstream call ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream call was not cancelled")
	}
	c.send(`{"jsonrpc":"2.0","id":8,"method":"ping"}`)
	if m := c.next(); string(m["id"]) != "8" {
		t.Errorf("after the cancel the next message is %v, want the ping's answer (none for the cancelled call)", m)
	}
}

// TestStdioRefusesBadLinesAndGoesOn: a line that is not JSON, one over the bound and a batch
// get JSON-RPC errors; the connection goes on. When the input ends, a call in flight is still
// answered within the grace, and ServeStdio returns nil.
func TestStdioRefusesBadLinesAndGoesOn(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	r := newPipelineRouter(t, &fakeUpstreams{gate: gate}, Options{})
	c := newStdioClient(t, r, context.Background(), StdioOptions{MaxMessageBytes: 1024, Grace: 10 * time.Second})
	c.initialize(`{}`)
	for _, tc := range []struct {
		line string
		code int
	}{
		{"not json", -32700},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`, mcp.INVALID_REQUEST},
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, mcp.INVALID_REQUEST},
	} {
		c.send(tc.line)
		m := c.next()
		if code, _ := rpcErrorOf(t, m); code != tc.code || string(m["id"]) != "null" {
			t.Errorf("%.20s: answered %v, want %d with id null", tc.line, m, tc.code)
		}
	}
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__echo","arguments":{}}}`)
	time.Sleep(50 * time.Millisecond)
	c.in.Close()
	close(gate)
	if res := c.answerTo("2"); !strings.Contains(string(res["result"]), "hello") {
		t.Errorf("the call in flight when the input ended: %v", res)
	}
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		if err != nil {
			t.Errorf("ServeStdio returned %v after the input ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeStdio did not return after the input ended")
	}
}

// TestStdioServesTheServerItIsGiven: with a virtual server's name the client gets that server's
// view; a server that is not served (no such name, or the root with root_server false) fails
// ServeStdio at once rather than serving everything.
func TestStdioServesTheServerItIsGiven(t *testing.T) {
	t.Parallel()
	echoOnly := &Server{Name: "echo-only", Tools: glob.List{glob.MustCompile("demo__echo")}, Search: Search{Mode: SearchOff}}
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{Servers: []*Server{echoOnly}})
	c := newStdioClient(t, r, context.Background(), StdioOptions{Server: "echo-only"})
	c.initialize(`{}`)
	if got := c.toolNames("1"); !slices.Equal(got, []string{"demo__echo"}) {
		t.Errorf("the echo-only server lists %v", got)
	}
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__secret","arguments":{}}}`)
	if code, msg := rpcErrorOf(t, c.answerTo("2")); code != mcp.INVALID_PARAMS || msg != "unknown tool: demo__secret" {
		t.Errorf("a tool the server does not select: %d %q", code, msg)
	}

	noRoot := New(&fakeUpstreams{}, Options{Naming: defaultNaming, Root: nil, Servers: []*Server{echoOnly}}, quiet)
	noRoot.SetServers(nil, []*Server{echoOnly}) // root_server: false
	for _, name := range []string{"", "nope"} {
		err := noRoot.ServeStdio(context.Background(), strings.NewReader(""), io.Discard, StdioOptions{Server: name})
		if !errors.Is(err, ErrNoSuchServer) {
			t.Errorf("server %q: ServeStdio returned %v, want ErrNoSuchServer", name, err)
		}
	}
}
