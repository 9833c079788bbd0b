package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/internal/jsonl"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/sessions"
)

// The stdio transport: one client, one session, line-delimited JSON-RPC on a pair of streams.
//
// Why not mcp-go's StdioServer: it hands every request the one context it was started with,
// and the router needs a context per request, as HTTP gives it: the method (the tool filter
// lets tools/call through to the pipeline's authorize step only when it knows the request is a
// call; otherwise a tool hidden by tool search, or outside the caller's view, is refused by
// mcp-go with its own words and no audit), and the error slot (JSON-RPC errors as design.md
// says); the principal and the server ride in it too. So the connection is served here the
// way sessionHTTP serves a 2025-11-25 session: every line is one request with its own
// clientSession; what a call sends the client on the way (progress, log messages, the
// upstream's sampling, elicitation and roots requests) goes on the same stdout; and the
// session's unsolicited notifications (list_changed, resource updates) go there through one
// stream registered for the connection's lifetime. mcp-go's MCPServer handles every message,
// tools/list aside (answered from the serialized pages, like HTTP).

// StdioOptions configure ServeStdio.
type StdioOptions struct {
	// MaxMessageBytes bounds one message from the client: a longer line is answered with a
	// JSON-RPC error and dropped. Default 4 MiB.
	MaxMessageBytes int
	// MaxInFlight bounds the client's requests served at once: one beyond is answered with an
	// error at once (the read loop never waits, so the client's answers to the gateway's own
	// requests always get through). Default 256.
	MaxInFlight int
	// Server names the virtual server whose view the client gets; "" for the root (what /mcp
	// serves). ServeStdio fails at once when it is not served.
	Server string
	// Grace is how long the requests in flight when in ends may take to finish and be answered
	// (a client that closes its input after its last request still gets the answers); 0: they
	// are cancelled at once. Requests waiting for the client's answer to a request of the
	// gateway's fail at once: no answer can come.
	Grace time.Duration
}

// Limits on what the stdio client can make the gateway hold.
const (
	defaultStdioMessageBytes = 4 << 20
	defaultStdioInFlight     = 256
	maxStdioAsks             = 1024 // the gateway's requests waiting for the client's answers
	codeBusy                 = -32000
)

// ServeStdio serves one MCP client over the stdio transport: in carries its requests,
// notifications and answers, one JSON-RPC message per line; out gets the responses, the
// notifications and the gateway's own requests, one per line, and nothing else. ctx carries
// who the client is (authn.WithPrincipal; none: anonymous, as with auth off) to every request.
// The client is one session from initialize on (its protocol version and capabilities are the
// ones it declared there), until in ends.
//
// It returns nil when in ends, ctx's error when ctx ends first, the error reading in or
// writing out, or ErrNoSuchServer at once. Requests still in flight (after Grace, when in
// ended) are cancelled and waited for before it returns; a Read of in may still be pending then
// (it ends when in does). Call it once per connection; several connections may be served at
// once.
func (r *Router) ServeStdio(ctx context.Context, in io.Reader, out io.Writer, opts StdioOptions) error {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = defaultStdioMessageBytes
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = defaultStdioInFlight
	}
	if r.stdioServer(opts.Server) == nil {
		if opts.Server == "" {
			return fmt.Errorf("%w: root_server is false, so the root (what /mcp serves) is not served; name a virtual server", ErrNoSuchServer)
		}
		return fmt.Errorf("%w: no virtual server is named %q", ErrNoSuchServer, opts.Server)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	now := time.Now()
	c := &stdioConn{r: r, ctx: ctx, cancel: cancel, out: jsonl.NewWriter(out), state: r.sessions.opts.State,
		log: r.log.With("transport", "stdio"), server: opts.Server, maxBytes: opts.MaxMessageBytes, maxInFlight: opts.MaxInFlight, inputDone: make(chan struct{}),
		ticket: sessions.Ticket{ID: sessions.NewID(), Principal: r.sessions.opts.Principal(ctx), Server: opts.Server,
			Issued: now.Unix(), Expires: now.Add(r.sessions.opts.MaxAge).Unix()},
		inFlight: map[string]*stdioRequest{}, asked: map[string]chan clientAnswer{}}
	if r.observer != nil {
		c.unknownTool = func() {
			r.observer.ObserveCall(callrecord.Record{Time: time.Now(), Outcome: callrecord.OutcomeUnknownTool})
		}
	}
	err := c.run(jsonl.NewReader(in, opts.MaxMessageBytes))
	close(c.inputDone)
	if err == nil && opts.Grace > 0 {
		c.finishRequests(opts.Grace)
	}
	cancel(errConnectionEnded)
	c.wg.Wait()
	return err
}

// finishRequests waits until no request is in flight, the grace ends, or the connection does.
func (c *stdioConn) finishRequests(grace time.Duration) {
	done := make(chan struct{})
	go func() { c.requests.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.log.Warn("the client closed its input; requests still in flight after the grace period are cancelled", "grace", grace)
	case <-c.ctx.Done():
	}
}

// errConnectionEnded is why what waits on a stdio connection stops when it ends.
var errConnectionEnded = errors.New("the stdio connection ended")

// ErrNoSuchServer: the server a stdio client was to be served is not served.
var ErrNoSuchServer = errors.New("no such MCP server here")

// stdioServer returns the server named name ("": the root), nil when it is not served.
func (r *Router) stdioServer(name string) *Server {
	set := r.servers.Load()
	if name == "" {
		return set.root
	}
	return set.byName[name]
}

// stdioConn is one stdio client's connection.
type stdioConn struct {
	r           *Router
	ctx         context.Context // the connection's: its principal; ends with it
	cancel      context.CancelCauseFunc
	out         *jsonl.Writer
	state       sessions.State
	log         *slog.Logger
	unknownTool func()
	server      string // the virtual server served; "" the root
	maxBytes    int
	maxInFlight int
	inputDone   chan struct{} // closed when the client's input ended
	// ticket is the session: the read loop alone writes it (at initialize) and copies it into
	// each request it starts.
	ticket sessions.Ticket
	stream bool // the read loop opened the session's stream

	wg       sync.WaitGroup // every goroutine of the connection's
	requests sync.WaitGroup // the requests being served
	mu       sync.Mutex
	inFlight map[string]*stdioRequest     // by the request's id as the client wrote it
	asked    map[string]chan clientAnswer // the gateway's requests waiting, by the id sent
	nextAsk  uint64
}

// stdioRequest is one of the client's requests being served.
type stdioRequest struct {
	cancel    context.CancelFunc
	cancelled bool // by notifications/cancelled: no response is written (mu)
}

// run reads lines until in ends, a read fails or the connection's context ends.
func (c *stdioConn) run(rd *jsonl.Reader) error {
	lines := jsonl.Lines(c.ctx, rd)
	for {
		select {
		case <-c.ctx.Done():
			return c.stopped()
		case l := <-lines:
			switch {
			case errors.Is(l.Err, jsonl.ErrTooLong):
				c.writeError(nil, mcp.INVALID_REQUEST, fmt.Sprintf("message over %d bytes: dropped", c.maxBytes))
			case errors.Is(l.Err, io.EOF):
				return nil
			case l.Err != nil:
				return fmt.Errorf("reading the client's messages: %w", l.Err)
			default:
				c.dispatch(l.Line)
			}
		}
	}
}

// stopped is run's error once the connection's context ended: the caller's ctx error, or why
// writing to the client failed.
func (c *stdioConn) stopped() error {
	if err := context.Cause(c.ctx); !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return c.ctx.Err()
}

// dispatch routes one message from the client.
func (c *stdioConn) dispatch(line []byte) {
	if id, code, text := middleware.CheckEnvelope(line); code != 0 {
		c.writeError(id, code, text)
		return
	}
	msg, _ := readMessage(line) // CheckEnvelope passed
	if msg.Method == "" {
		c.answer(msg)
		return
	}
	ctx, ok := c.requestContext(msg.Method)
	switch {
	case !ok && len(msg.ID) > 0:
		c.writeError(msg.ID, mcp.INVALID_REQUEST, "the MCP server this client was started for is no longer served (the config changed)")
	case !ok:
	case msg.Method == string(mcp.MethodInitialize) && len(msg.ID) > 0:
		c.initialize(ctx, line, msg)
	case len(msg.ID) == 0:
		c.notify(ctx, line, msg)
	default:
		c.request(ctx, line, msg)
	}
}

// requestContext is the context of one message of the client's: the connection's (its
// principal), the method, and the server it is served (looked up each time, as a reload may
// change or remove it); false when the server is no longer served.
func (c *stdioConn) requestContext(method string) (context.Context, bool) {
	s := c.r.stdioServer(c.server)
	if s == nil {
		return nil, false
	}
	return context.WithValue(middleware.WithRPCMethod(c.ctx, method), serverKey{}, s), true
}

// initialize answers initialize in the read loop, so that every later request starts with the
// session it fixes: the client's capabilities and info, and the negotiated protocol version.
func (c *stdioConn) initialize(ctx context.Context, line []byte, msg message) {
	var req struct {
		Params struct {
			Capabilities json.RawMessage `json:"capabilities"`
			ClientInfo   json.RawMessage `json:"clientInfo"`
		} `json:"params"`
	}
	_ = json.Unmarshal(line, &req) // mcp-go answers a malformed one
	t := c.ticket
	t.Capabilities, t.ClientInfo = req.Params.Capabilities, req.Params.ClientInfo
	sess := newClientSession(t, c.state)
	resp := c.r.mcp.HandleMessage(c.r.mcp.WithContext(ctx, sess), line)
	if ok, isResult := resp.(mcp.JSONRPCResponse); isResult {
		if result, isInit := ok.Result.(mcp.InitializeResult); isInit {
			t.Protocol = result.ProtocolVersion
			c.ticket = t
		}
	}
	if resp != nil {
		c.write(resp)
	}
	if c.ticket.Protocol != "" && !c.stream {
		c.stream = true
		c.openStream(c.ticket)
	}
}

// notify handles a notification in the read loop, in order. notifications/cancelled cancels the
// request's context (mcp-go does too) and keeps its answer from being written (the spec: a
// cancelled request gets none).
func (c *stdioConn) notify(ctx context.Context, line []byte, msg message) {
	if msg.Method == string(mcp.MethodNotificationCancelled) {
		var n struct {
			Params struct {
				RequestID json.RawMessage `json:"requestId"`
			} `json:"params"`
		}
		if json.Unmarshal(line, &n) == nil && len(n.Params.RequestID) > 0 {
			c.mu.Lock()
			if req := c.inFlight[string(n.Params.RequestID)]; req != nil {
				req.cancelled = true
				req.cancel()
			}
			c.mu.Unlock()
		}
	}
	sess := newClientSession(c.ticket, c.state)
	c.r.mcp.HandleMessage(c.r.mcp.WithContext(ctx, sess), line)
}

// request starts serving a request on its own goroutine, as HTTP serves each POST.
func (c *stdioConn) request(ctx context.Context, line []byte, msg message) {
	key := string(msg.ID)
	c.mu.Lock()
	switch {
	case c.inFlight[key] != nil:
		c.mu.Unlock()
		c.writeError(msg.ID, mcp.INVALID_REQUEST, "a request with this id is still in flight: ids must be unique")
		return
	case len(c.inFlight) >= c.maxInFlight:
		c.mu.Unlock()
		c.writeError(msg.ID, codeBusy, fmt.Sprintf("%d requests are in flight already: wait for some answers, then send it again", c.maxInFlight))
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	req := &stdioRequest{cancel: cancel}
	c.inFlight[key] = req
	c.mu.Unlock()
	t := c.ticket
	c.requests.Add(1)
	c.wg.Go(func() {
		defer c.requests.Done()
		resp := c.serveRecovered(ctx, t, line, msg)
		c.mu.Lock()
		cancelled := req.cancelled
		delete(c.inFlight, key) // before the answer: the client may use the id again once it has it
		c.mu.Unlock()
		cancel()
		if resp != nil && !cancelled && c.ctx.Err() == nil {
			c.writeLine(resp)
		}
	})
}

// serveRecovered is serve, with a panic logged and answered as an internal error (as the HTTP
// server's recover layer does), not the end of the process and of every upstream child.
func (c *stdioConn) serveRecovered(ctx context.Context, t sessions.Ticket, line []byte, msg message) (resp []byte) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("a stdio request panicked", "method", msg.Method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			resp = c.marshal(rpcError(msg.ID, mcp.INTERNAL_ERROR, "internal error"))
		}
	}()
	return c.serve(ctx, t, line, msg)
}

// serve handles one request of session t and returns its response: mcp-go's MCPServer handles
// it with a clientSession whose notifications go to the client as they come.
func (c *stdioConn) serve(ctx context.Context, t sessions.Ticket, line []byte, msg message) []byte {
	sess := newClientSession(t, c.state)
	sess.ask = c.ask
	slot := &errorSlot{}
	ctx = c.r.mcp.WithContext(context.WithValue(ctx, errorSlotKey{}, slot), sess)

	finish := c.pumpNotes(sess)
	defer finish() // also when the handler panics
	var resp []byte
	if msg.Method == string(mcp.MethodToolsList) && !mcp.IsModernProtocol(msg.protocolVersion) {
		resp = c.toolsList(ctx, msg)
	} else if m := c.r.mcp.HandleMessage(ctx, line); m != nil {
		resp = c.marshal(m)
	}
	finish() // every notification of the request goes before its answer
	if resp == nil || !bytes.Contains(resp, errorKey) {
		return resp
	}
	return (&errorWriter{slot: slot, unknownTool: c.unknownTool}).rewriteMessage(resp)
}

// pumpNotes writes the notifications mcp-go sends sess to the client as they come, until the
// func it returns is called: from then on they go to the session's stream (an upstream may write
// a call's last ones after its result), and what was sent before is written first. The func may
// be called more than once.
func (c *stdioConn) pumpNotes(sess *clientSession) func() {
	stop, pumped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pumped)
		for {
			select {
			case n := <-sess.notes:
				c.write(n)
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			later := func() chan<- mcp.JSONRPCNotification { return c.r.sessions.streams.notesOf(sess.ticket.ID) }
			sess.answered.Store(&later)
			close(stop)
			<-pumped
			for {
				select {
				case n := <-sess.notes:
					c.write(n)
				default:
					return
				}
			}
		})
	}
}

// toolsList answers tools/list from the serialized pages, as sessionHTTP does.
func (c *stdioConn) toolsList(ctx context.Context, msg message) []byte {
	result, ok := c.r.toolsPage(ctx, msg.cursor)
	if !ok {
		return c.marshal(rpcError(msg.ID, mcp.INVALID_PARAMS, "invalid cursor"))
	}
	out := make([]byte, 0, len(result)+64)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, msg.ID...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	return append(out, '}')
}

// openStream registers the session for what is sent to it unasked: mcp-go's broadcasts
// (list_changed) and the resource updates it subscribed to. It closes with the connection, or
// when the gateway drains.
func (c *stdioConn) openStream(t sessions.Ticket) {
	sess := newClientSession(t, c.state)
	sess.key = t.ID + "/stdio"
	owner := t.Principal
	if owner == sessions.Anonymous {
		owner = "stdio"
	}
	st := c.r.sessions.streams.open(sess, owner)
	if st == nil {
		return // draining
	}
	if err := c.r.mcp.RegisterSession(c.ctx, sess); err != nil {
		c.r.sessions.streams.close(st)
		c.log.Warn("the session's notifications are off: registering it failed", "err", err)
		return
	}
	c.wg.Go(func() {
		defer c.r.sessions.streams.close(st)
		defer c.r.mcp.UnregisterSession(context.WithoutCancel(c.ctx), sess.key)
		for {
			select {
			case n := <-sess.notes:
				c.write(n)
			case <-st.done:
				return
			case <-c.ctx.Done():
				return
			}
		}
	})
}

// ask sends the client a request of the gateway's (an upstream's sampling, elicitation or
// roots request) and waits for its answer.
func (c *stdioConn) ask(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	if len(c.asked) >= maxStdioAsks {
		c.mu.Unlock()
		return nil, fmt.Errorf("%d requests are already waiting for the client's answers", maxStdioAsks)
	}
	c.nextAsk++
	id := fmt.Sprintf("%s%d", askIDPrefix, c.nextAsk)
	answers := make(chan clientAnswer, 1)
	c.asked[id] = answers
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.asked, id)
		c.mu.Unlock()
	}()
	req := askMessage(id, method, params)
	if err := c.write(req); err != nil {
		return nil, fmt.Errorf("the client's connection is gone: %w", err)
	}
	select {
	case a := <-answers:
		return a.result(method)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.inputDone:
		return nil, errors.New("the client closed its input: no answer can come")
	case <-c.ctx.Done():
		return nil, context.Cause(c.ctx)
	}
}

// answer delivers the client's answer to a request of the gateway's; an answer nobody waits
// for (to a ping, one that timed out) is dropped.
func (c *stdioConn) answer(msg message) {
	var id string
	if json.Unmarshal(msg.ID, &id) != nil {
		return
	}
	ans := clientAnswer{Result: msg.Result}
	if len(msg.Error) > 0 && json.Unmarshal(msg.Error, &ans.Error) != nil {
		c.log.Warn("dropped the client's answer: its error is malformed", "id", id)
		return
	}
	c.mu.Lock()
	answers := c.asked[id]
	delete(c.asked, id)
	c.mu.Unlock()
	if answers != nil {
		answers <- ans // buffered, one answer per request
	}
}

// write sends one message to the client. A failed write ends the connection: the client is
// gone.
func (c *stdioConn) write(msg any) error {
	return c.writeLine(c.marshal(msg))
}

func (c *stdioConn) writeLine(line []byte) error {
	if err := c.out.Write(line); err != nil {
		c.cancel(fmt.Errorf("writing to the client: %w", err))
		return err
	}
	return nil
}

func (c *stdioConn) marshal(msg any) []byte {
	b, err := json.Marshal(msg)
	if err != nil {
		c.log.Error("a message for the client could not be encoded", "err", err)
		return []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"the response could not be encoded"}}`)
	}
	return b
}

func (c *stdioConn) writeError(id json.RawMessage, code int, text string) {
	c.write(rpcError(id, code, text))
}

// rpcError is a JSON-RPC error response to id (null when the request's id is unknown).
func rpcError(id json.RawMessage, code int, text string) map[string]any {
	var rid any = json.RawMessage("null")
	if len(id) > 0 {
		rid = id
	}
	return map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": rid, "error": map[string]any{"code": code, "message": text}}
}
