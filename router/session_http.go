package router

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/sessions"
)

// SessionOptions configure the sessions of the 2025-11-25 era.
type SessionOptions struct {
	// Sealer seals and opens session ids. Nil: a random key for this process only.
	Sealer *sessions.Sealer
	// State keeps what changes during a session. Nil: a bounded table in this process.
	State sessions.State
	// MaxAge is how long a session lives after initialize. Default 24h.
	MaxAge time.Duration
	// MaxStreamsPerPrincipal caps one principal's open GET streams on this replica. Default 16.
	MaxStreamsPerPrincipal int
	// ReplicaAddress is host:port at which the other replicas reach this one's /internal/answers.
	ReplicaAddress string
	// PeerTLS, when not nil, is the client TLS config toward the other replicas' admin
	// listeners, which then serve HTTPS. Nil: plain HTTP.
	PeerTLS *tls.Config
	// Principal returns the fingerprint of the request's principal (sessions.Fingerprint).
	// Nil: everyone is sessions.Anonymous.
	Principal func(ctx context.Context) string
	// Refused, if not nil, is told of every request refused for its session id (audit).
	Refused func(ctx context.Context, reason string)
}

// sessionHTTP serves Streamable HTTP for the 2025-11-25 era itself, with sealed sessions: an
// initialize gets a sealed id and leaves nothing behind; every later request opens the id,
// checks its principal, and is handled by mcp-go's MCPServer with a clientSession that lives as
// long as the request; whatever the call sends the client on the way (progress, log messages,
// sampling, elicitation, roots) goes on that request's own response stream. Requests of the
// 2026-07-28 era, which has no sessions, go to mcp-go's own Streamable HTTP server (modern).
type sessionHTTP struct {
	router    *Router
	modern    http.Handler
	opts      SessionOptions
	streams   *streams
	asks      *asks
	heartbeat time.Duration
	log       *slog.Logger
	streamSeq atomic.Uint64
}

func newSessionHTTP(r *Router, modern http.Handler, opts SessionOptions, log *slog.Logger) *sessionHTTP {
	if opts.Sealer == nil {
		opts.Sealer, _ = sessions.NewSealer(sessions.RandomKey())
	}
	if opts.State == nil {
		opts.State = sessions.NewMemoryState(100_000)
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.Principal == nil {
		opts.Principal = func(context.Context) string { return sessions.Anonymous }
	}
	return &sessionHTTP{router: r, modern: modern, opts: opts, streams: newStreams(cmp.Or(opts.MaxStreamsPerPrincipal, 16)),
		asks: newAsks(opts.Sealer, opts.ReplicaAddress).overTLS(opts.PeerTLS), heartbeat: 25 * time.Second, log: log}
}

const headerSessionID = "Mcp-Session-Id"

func (h *sessionHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rejectRebinding(w, r, h.router.allowedHosts) {
		return
	}
	if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		h.modern.ServeHTTP(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodGet:
		h.listen(w, r)
	case http.MethodDelete:
		h.end(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// message is what post reads of a JSON-RPC message to route it (readMessage).
type message struct {
	ID     json.RawMessage
	Method string
	Result json.RawMessage
	Error  json.RawMessage
	// protocolVersion is the one params._meta declares (a 2026-07-28 request's); cursor is a
	// list's.
	protocolVersion, cursor string
	// call is set for a tools/call the fast path may take (fastpath.go).
	call *fastCall
}

func (h *sessionHTTP) post(w http.ResponseWriter, r *http.Request) {
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		http.Error(w, "Invalid content type: must be 'application/json'", http.StatusBadRequest)
		return
	}
	body, err := middleware.Body(r)
	if err != nil {
		writeRPCError(w, http.StatusBadRequest, nil, mcp.PARSE_ERROR, "reading the request body failed: "+err.Error())
		return
	}
	msg, ok := readMessage(body)
	if !ok {
		writeRPCError(w, http.StatusBadRequest, nil, mcp.PARSE_ERROR, "request body is not valid json")
		return
	}
	if mcp.IsModernProtocol(msg.protocolVersion) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.modern.ServeHTTP(w, r)
		return
	}
	if msg.Method == string(mcp.MethodInitialize) {
		h.initialize(w, r, body)
		return
	}
	if v := r.Header.Get(mcp.HeaderProtocolVersion); v != "" && !mcp.IsValidProtocolVersion(v) {
		http.Error(w, "Unsupported protocol version: "+v, http.StatusBadRequest)
		return
	}
	t, ok := h.open(w, r)
	if !ok {
		return
	}
	switch {
	case msg.Method == "" && len(msg.ID) > 0: // a response: the answer to a request we sent
		h.answer(w, r, t, msg)
	case msg.Method == string(mcp.MethodToolsList) && len(msg.ID) > 0:
		h.router.writeToolsList(w, r, msg.ID, msg.cursor)
	case msg.call != nil && h.fastCall(w, r, t, msg):
	default:
		h.handle(w, r, t, body)
	}
}

// maxClientBytes bounds the capabilities and info a client declares, which every session id
// carries (and with it every request header of the session).
const maxClientBytes = 2 << 10

// initialize answers initialize with a new sealed session id. Nothing is kept.
func (h *sessionHTTP) initialize(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Params struct {
			Capabilities json.RawMessage `json:"capabilities"`
			ClientInfo   json.RawMessage `json:"clientInfo"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &req) // mcp-go answers a malformed one
	if len(req.Params.Capabilities)+len(req.Params.ClientInfo) > maxClientBytes {
		writeRPCError(w, http.StatusOK, req.ID, mcp.INVALID_PARAMS,
			fmt.Sprintf("capabilities and clientInfo are over %d bytes together; the gateway keeps them in the session id", maxClientBytes))
		return
	}
	now := time.Now()
	t := sessions.Ticket{ID: sessions.NewID(), Capabilities: req.Params.Capabilities, ClientInfo: req.Params.ClientInfo,
		Principal: h.opts.Principal(r.Context()), Server: h.router.serverOf(r.Context()).Name,
		Issued: now.Unix(), Expires: now.Add(h.opts.MaxAge).Unix()}
	sess := newClientSession(t, h.opts.State)
	resp := h.router.mcp.HandleMessage(h.router.mcp.WithContext(r.Context(), sess), body)
	if ok, isResult := resp.(mcp.JSONRPCResponse); isResult {
		if result, isInit := ok.Result.(mcp.InitializeResult); isInit {
			t.Protocol = result.ProtocolVersion
			id, err := h.opts.Sealer.Seal(t)
			if err != nil {
				writeRPCError(w, http.StatusInternalServerError, req.ID, mcp.INTERNAL_ERROR, "sealing the session id failed")
				return
			}
			w.Header().Set(headerSessionID, id)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// errSessionRefused is the one answer to any session id that is not this principal's live
// session: tampered, expired, sealed with another key, another principal's, or ended. The same
// text for all, so nothing about another's session leaks.
const errSessionRefused = "Invalid or expired session ID: initialize a new session"

// open returns the ticket of the request's session, or answers the request and returns false.
func (h *sessionHTTP) open(w http.ResponseWriter, r *http.Request) (sessions.Ticket, bool) {
	id := r.Header.Get(headerSessionID)
	if id == "" {
		http.Error(w, "Bad Request: Mcp-Session-Id header is required (send initialize first)", http.StatusBadRequest)
		return sessions.Ticket{}, false
	}
	t, err := h.opts.Sealer.Open(id, time.Now())
	switch {
	case err != nil:
		h.refuse(w, r, err.Error())
		return sessions.Ticket{}, false
	case t.Principal != h.opts.Principal(r.Context()):
		h.refuse(w, r, "session belongs to another principal")
		return sessions.Ticket{}, false
	case t.Server != h.router.serverOf(r.Context()).Name:
		h.refuse(w, r, "session belongs to another server")
		return sessions.Ticket{}, false
	}
	ended, err := h.opts.State.Ended(r.Context(), t.ID)
	if err != nil {
		// Shared state is down: the sealed id still proves the session; only a DELETE made
		// elsewhere goes unseen until it is back.
		h.log.Warn("session state unreachable; serving the session on its sealed id", "err", err)
	}
	if ended {
		h.refuse(w, r, "session was ended")
		return sessions.Ticket{}, false
	}
	return t, true
}

func (h *sessionHTTP) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	if h.opts.Refused != nil {
		h.opts.Refused(r.Context(), reason)
	}
	http.Error(w, errSessionRefused, http.StatusNotFound)
}

// answer delivers a client's answer to a request this gateway sent, wherever it waits.
func (h *sessionHTTP) answer(w http.ResponseWriter, r *http.Request, t sessions.Ticket, msg message) {
	if !isAskID(msg.ID) {
		w.WriteHeader(http.StatusAccepted) // the answer to a ping, or to nothing: accepted, dropped
		return
	}
	ans := clientAnswer{Result: msg.Result}
	if len(msg.Error) > 0 {
		if err := json.Unmarshal(msg.Error, &ans.Error); err != nil || ans.Error == nil {
			http.Error(w, "malformed error in the response", http.StatusBadRequest)
			return
		}
	}
	err := h.asks.deliver(r.Context(), t.ID, msg.ID, ans)
	switch {
	case errors.Is(err, errNotWaiting):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// handle serves one request or notification of session t: mcp-go's MCPServer handles it with a
// clientSession; notifications and server-to-client requests go on this response, as SSE, from
// the first one on.
func (h *sessionHTTP) handle(w http.ResponseWriter, r *http.Request, t sessions.Ticket, body []byte) {
	out := &eventStream{w: w}
	sess := newClientSession(t, h.opts.State)
	sess.ask = func(ctx context.Context, method string, params any) (json.RawMessage, error) {
		return h.ask(ctx, out, t, method, params)
	}
	ctx := h.router.mcp.WithContext(r.Context(), sess)

	stop, pumped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(pumped)
		for {
			select {
			case n := <-sess.notes:
				_ = out.send(n)
			case <-stop:
				return
			}
		}
	}()
	resp := h.router.mcp.HandleMessage(ctx, body)
	later := func() chan<- mcp.JSONRPCNotification { return h.streams.notesOf(t.ID) }
	sess.answered.Store(&later)
	close(stop)
	<-pumped
	for drained := false; !drained; {
		select {
		case n := <-sess.notes:
			_ = out.send(n)
		default:
			drained = true
		}
	}
	switch {
	case resp == nil && !out.streaming():
		w.WriteHeader(http.StatusAccepted)
	case resp == nil:
	case out.streaming():
		_ = out.send(resp)
	default:
		writeJSON(w, http.StatusOK, resp)
	}
}

// ask sends a server-to-client request on out and waits for the client's answer.
func (h *sessionHTTP) ask(ctx context.Context, out *eventStream, t sessions.Ticket, method string, params any) (json.RawMessage, error) {
	id, answers, stop, err := h.asks.start(t.ID)
	if err != nil {
		return nil, err
	}
	defer stop()
	req := askMessage(id, method, params)
	if err := out.send(req); err != nil {
		return nil, fmt.Errorf("the client's connection is gone: %w", err)
	}
	select {
	case a := <-answers:
		return a.result(method)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// listen serves a GET stream: the session's unsolicited notifications (list_changed, resource
// updates), and an SSE comment as heartbeat, until the client goes, the principal opens too many
// streams, the session is deleted, or the replica drains.
func (h *sessionHTTP) listen(w http.ResponseWriter, r *http.Request) {
	t, ok := h.open(w, r)
	if !ok {
		return
	}
	sess := newClientSession(t, h.opts.State)
	sess.key = fmt.Sprintf("%s/%d", t.ID, h.streamSeq.Add(1))
	owner := t.Principal
	if owner == sessions.Anonymous {
		owner = principalKey(r.Context()) // anonymous callers are told apart by address
	}
	st := h.streams.open(sess, owner)
	if st == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "shutting down: connect to another replica", http.StatusServiceUnavailable)
		return
	}
	defer h.streams.close(st)
	ctx := r.Context()
	if err := h.router.mcp.RegisterSession(ctx, sess); err != nil {
		http.Error(w, "opening the stream failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer h.router.mcp.UnregisterSession(context.WithoutCancel(ctx), sess.key)

	out := &eventStream{w: w}
	if err := out.start(); err != nil {
		return
	}
	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()
	for {
		select {
		case n := <-sess.notes:
			if out.send(n) != nil {
				return
			}
		case <-beat.C:
			if out.comment("heartbeat") != nil {
				return
			}
		case <-st.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// end is DELETE: the session ends on every replica (recorded in session state until it would
// have expired), and its streams here close.
func (h *sessionHTTP) end(w http.ResponseWriter, r *http.Request) {
	t, ok := h.open(w, r)
	if !ok {
		return
	}
	if err := h.opts.State.End(r.Context(), t.ID, t.ExpiresAt()); err != nil {
		h.log.Warn("ending a session failed: session state unreachable", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the session could not be ended now (session state unreachable); try again", http.StatusServiceUnavailable)
		return
	}
	h.streams.endSession(t.ID)
	w.WriteHeader(http.StatusOK)
}

// resourceUpdated sends notifications/resources/updated for uri to the streams here whose
// session subscribed to it.
func (h *sessionHTTP) resourceUpdated(uri string) {
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
		Method: string(mcp.MethodNotificationResourceUpdated),
		Params: mcp.NotificationParams{AdditionalFields: map[string]any{"uri": uri}},
	}}
	h.streams.each(func(st *stream) {
		ctx, cancel := stateContext()
		subscribed, _ := h.opts.State.Subscribed(ctx, st.session.ticket.ID, uri)
		cancel()
		if subscribed {
			select {
			case st.session.notes <- n:
			default: // a stream this far behind loses the update rather than holding others
			}
		}
	})
}

// eventStream is one response: plain JSON until the first event, SSE from then on. Each
// message is one Write (what withJSONRPCErrors relies on).
type eventStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
}

func (e *eventStream) streaming() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.started
}

func (e *eventStream) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.startLocked()
}

func (e *eventStream) startLocked() error {
	if e.started {
		return nil
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // a proxy must pass events on as they come
	e.w.WriteHeader(http.StatusOK)
	return http.NewResponseController(e.w).Flush()
}

func (e *eventStream) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return e.write(append(append([]byte("event: message\ndata: "), data...), "\n\n"...))
}

func (e *eventStream) comment(text string) error { return e.write([]byte(": " + text + "\n\n")) }

func (e *eventStream) write(b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.startLocked(); err != nil {
		return err
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	return http.NewResponseController(e.w).Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"the response could not be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, message string) {
	var rid any
	if len(id) > 0 {
		rid = id
	}
	writeJSON(w, status, map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": rid,
		"error": map[string]any{"code": code, "message": message}})
}

// rejectRebinding refuses a request that reached a loopback listener with a Host that is not
// a loopback name nor an allowed host: a web page's DNS rebinding attack on a gateway run on a
// workstation. allowed holds lowercased hosts, with and without port, as configured.
func rejectRebinding(w http.ResponseWriter, r *http.Request, allowed map[string]bool) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil || !isLoopback(local.String()) || isLoopback(r.Host) || hostAllowed(r.Host, allowed) {
		return false
	}
	http.Error(w, fmt.Sprintf("Forbidden: invalid Host header %q", r.Host), http.StatusForbidden)
	return true
}

func hostAllowed(host string, allowed map[string]bool) bool {
	host = strings.ToLower(host)
	if allowed[host] {
		return true
	}
	name, _, err := net.SplitHostPort(host)
	return err == nil && allowed[name]
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

var _ server.ClientSession = (*clientSession)(nil)
