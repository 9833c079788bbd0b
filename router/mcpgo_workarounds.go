package router

// The workarounds for mcp-go, gathered here so that each can go when mcp-go no longer needs it.
// Each section says what mcp-go does, what the contract (docs/design.md) or the gateway's
// performance needs instead, and how the workaround bridges the two:
//
//  1. JSON-RPC errors: mcp-go rewrites every error a handler returns; the response writer puts
//     the error the handler meant back (errorSlot, withJSONRPCErrors).
//  2. tools/list: mcp-go re-sorts, re-filters and re-marshals every tool on every request; the
//     gateway answers from pages serialized once per catalog (serveToolsList).
//  3. The event store: mcp-go's in-memory store is unbounded, and without one its Streamable
//     HTTP server drops the notifications written just before a response (eventStore).
//
// Two more live where they are used: the tool filter in New (mcp-go's filter hides tools from
// tools/list; authorize in pipeline.go checks the same view again in the call handler), and in
// package upstream the call's Relay put into the context of the request sent upstream, because
// mcp-go's client hands a server-to-client request only the context of the call it arrived on.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/upstream"
)

// --- 1. JSON-RPC errors ---
//
// mcp-go answers every error a tool handler returns with JSON-RPC -32603 and the error's text,
// and its own "no such tool" with a message of its own. docs/design.md asks for the upstream's
// JSON-RPC errors unchanged and for "unknown tool: NAME". So a handler that must answer with a
// JSON-RPC error stores it in a per-request slot and returns errPlaceholder; the response writer
// below puts the stored error where mcp-go wrote the placeholder. mcp-go writes each JSON-RPC
// message with one Write (a JSON body, or one SSE event), which is what makes this exact.

// Why the slot travels in the request's context: mcp-go's tool, prompt and resource handlers
// return only (result, error), and the error's text is all mcp-go keeps of it; the context is
// the one thing that goes from the HTTP request through mcp-go to the handler and back. The
// slot is private to the package and lives for one POST.

// errPlaceholder's text is what the writer looks for; nothing else produces it.
var errPlaceholder = errors.New("switchboard: JSON-RPC error placeholder 7c1d5f0e")

type errorSlotKey struct{}

// errorSlot carries the JSON-RPC error of one POST's request to its response.
type errorSlot struct {
	mu  sync.Mutex
	err *upstream.RPCError
}

// jsonRPCError makes the response to the current request the JSON-RPC error e. Outside the
// HTTP handler (no slot) it degrades to mcp-go's -32603 with e's message.
func jsonRPCError(ctx context.Context, e *upstream.RPCError) error {
	slot, ok := ctx.Value(errorSlotKey{}).(*errorSlot)
	if !ok {
		return errors.New(e.Message)
	}
	slot.mu.Lock()
	slot.err = e
	slot.mu.Unlock()
	return errPlaceholder
}

// withJSONRPCErrors gives each POST an error slot and rewrites its response. unknownTool, if
// not nil, is told when mcp-go answered a call of a tool it does not have (such calls never
// reach the router's handler).
func withJSONRPCErrors(next http.Handler, unknownTool func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		slot := &errorSlot{}
		next.ServeHTTP(&errorWriter{ResponseWriter: w, slot: slot, unknownTool: unknownTool}, r.WithContext(context.WithValue(r.Context(), errorSlotKey{}, slot)))
	})
}

type errorWriter struct {
	http.ResponseWriter
	slot        *errorSlot
	unknownTool func()
}

var errorKey = []byte(`"error":`)

func (w *errorWriter) Write(p []byte) (int, error) {
	// Inside JSON strings quotes are escaped, so `"error":` only occurs as a key: results
	// without one pass untouched.
	if !bytes.Contains(p, errorKey) {
		return w.ResponseWriter.Write(p)
	}
	if _, err := w.ResponseWriter.Write(w.rewrite(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush and Unwrap keep streaming working through the wrapper.
func (w *errorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewrite returns p with the error of each JSON-RPC message in it fixed, p being a JSON body or
// one or more SSE events.
func (w *errorWriter) rewrite(p []byte) []byte {
	if !bytes.HasPrefix(p, []byte("event:")) && !bytes.HasPrefix(p, []byte("data:")) && !bytes.HasPrefix(p, []byte("id:")) {
		return w.rewriteMessage(p)
	}
	lines := bytes.Split(p, []byte("\n"))
	for i, line := range lines {
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			lines[i] = append([]byte("data: "), w.rewriteMessage(data)...)
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

var mcpGoToolNotFound = regexp.MustCompile(`^tool '(.*)' not found: tool not found$`)

// rewriteMessage returns msg, one JSON-RPC message, with the slot's error in place of the
// placeholder, and mcp-go's "tool not found" worded as docs/design.md says. Anything else, including
// what does not parse, is returned unchanged.
func (w *errorWriter) rewriteMessage(msg []byte) []byte {
	var m struct {
		JSONRPC string                   `json:"jsonrpc"`
		ID      json.RawMessage          `json:"id"`
		Error   *mcp.JSONRPCErrorDetails `json:"error"`
		Result  json.RawMessage          `json:"result,omitempty"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Error == nil || m.Result != nil {
		return msg
	}
	switch {
	case m.Error.Code == mcp.INTERNAL_ERROR && m.Error.Message == errPlaceholder.Error():
		w.slot.mu.Lock()
		e := w.slot.err
		w.slot.mu.Unlock()
		if e == nil {
			return msg
		}
		m.Error = &mcp.JSONRPCErrorDetails{Code: e.Code, Message: e.Message, Data: e.Data}
	case m.Error.Code == mcp.INVALID_PARAMS && mcpGoToolNotFound.MatchString(m.Error.Message):
		name := mcpGoToolNotFound.FindStringSubmatch(m.Error.Message)[1]
		m.Error = &mcp.JSONRPCErrorDetails{Code: mcp.INVALID_PARAMS, Message: "unknown tool: " + name}
		if w.unknownTool != nil {
			w.unknownTool()
		}
	default:
		return msg
	}
	out, err := json.Marshal(m)
	if err != nil {
		return msg
	}
	if bytes.HasSuffix(msg, []byte("\n")) {
		out = append(out, '\n')
	}
	return out
}

// --- 2. tools/list from pages serialized once ---
//
// tools/list is answered here, from definitions serialized once per catalog, instead of by
// mcp-go, which sorts, filters and marshals every tool again on every request (12 ms for 1,000
// tools on the benchmark machine). Only requests whose answer cannot differ are taken: a 2025-era
// session the gateway knows to be open. Everything else goes on to mcp-go.

// listPages caches the serialized pages of one catalog, per view and cursor.
type listPages struct {
	catalog *Catalog
	pages   sync.Map // view key + "\x00" + cursor -> []byte (the result object)
}

// serveToolsList answers a tools/list request and reports whether it did.
func (r *Router) serveToolsList(w http.ResponseWriter, req *http.Request) bool {
	sid := req.Header.Get("Mcp-Session-Id")
	if req.Method != http.MethodPost || sid == "" {
		return false
	}
	if v := req.Header.Get("Mcp-Protocol-Version"); v != "" && v != mcp.LATEST_LEGACY_PROTOCOL_VERSION && !strings.HasPrefix(v, "2025-") {
		return false
	}
	if _, open := r.live.Load(sid); !open {
		return false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body)) // for mcp-go, when it is not ours to answer
	if !bytes.Contains(body, []byte(`"tools/list"`)) {
		return false
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Cursor string `json:"cursor"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != string(mcp.MethodToolsList) || len(msg.ID) == 0 {
		return false
	}
	result, ok := r.toolsPage(req, msg.Params.Cursor)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"error":{"code":-32602,"message":"invalid cursor"}}`))
		return true
	}
	out := make([]byte, 0, len(result)+64)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, msg.ID...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	out = append(out, "}\n"...)
	_, _ = w.Write(out)
	return true
}

// toolsPage returns the serialized result of one tools/list page for the caller's view, or
// false for a cursor the gateway did not make.
func (r *Router) toolsPage(req *http.Request, cursor string) ([]byte, bool) {
	key, allowed := "all", func(string) bool { return true }
	if r.view != nil {
		var only func(string) bool
		if key, only = r.view(req.Context()); only != nil {
			allowed = only
		}
	}
	c := r.catalog.Load()
	pages := r.pages.Load()
	if pages == nil || pages.catalog != c {
		pages = &listPages{catalog: c}
		r.pages.Store(pages)
	}
	cacheKey := key + "\x00" + cursor
	if b, ok := pages.pages.Load(cacheKey); ok {
		return b.([]byte), true
	}
	offset := 0
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		n, ok := strings.CutPrefix(string(raw), "sb1:")
		if err != nil || !ok {
			return nil, false
		}
		if offset, err = strconv.Atoi(n); err != nil || offset < 0 {
			return nil, false
		}
	}
	var visible []*Entry
	for _, e := range c.entries {
		if allowed(string(e.Name)) {
			visible = append(visible, e)
		}
	}
	if offset > len(visible) {
		return nil, false
	}
	end := min(offset+max(r.pageSize, 1), len(visible))
	var b bytes.Buffer
	b.WriteString(`{"tools":[`)
	for i, e := range visible[offset:end] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.defJSON)
	}
	b.WriteByte(']')
	if end < len(visible) {
		b.WriteString(`,"nextCursor":"` + base64.RawURLEncoding.EncodeToString([]byte("sb1:"+strconv.Itoa(end))) + `"`)
	}
	b.WriteByte('}')
	pages.pages.Store(cacheKey, b.Bytes())
	return b.Bytes(), true
}

// --- 3. A bounded event store ---

// eventStore keeps the recent SSE events of each session so that a client can resume a stream
// (Last-Event-ID) and, as important here, so that mcp-go's Streamable HTTP server delivers the
// last notifications before a response instead of dropping them. Unlike mcp-go's in-memory
// store it is bounded: per session, the newest maxEvents events and at most maxBytes; older ones
// are forgotten (a resume from them fails cleanly with an unknown event id).
type eventStore struct {
	mu        sync.Mutex
	seq       int64
	sessions  map[string]*eventLog
	maxEvents int
	maxBytes  int
}

type eventLog struct {
	events []storedEvent
	bytes  int
}

type storedEvent struct {
	id, stream string
	message    json.RawMessage
}

var _ server.EventStore = (*eventStore)(nil)

func newEventStore(maxEvents, maxBytes int) *eventStore {
	return &eventStore{sessions: map[string]*eventLog{}, maxEvents: maxEvents, maxBytes: maxBytes}
}

func (s *eventStore) StoreEvent(_ context.Context, sessionID, streamID string, message json.RawMessage) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.sessions[sessionID]
	if log == nil {
		log = &eventLog{}
		s.sessions[sessionID] = log
	}
	s.seq++
	id := strconv.FormatInt(s.seq, 10)
	msg := append(json.RawMessage(nil), message...)
	log.events = append(log.events, storedEvent{id: id, stream: streamID, message: msg})
	log.bytes += len(msg)
	for len(log.events) > 1 && (len(log.events) > s.maxEvents || log.bytes > s.maxBytes) {
		log.bytes -= len(log.events[0].message)
		log.events[0] = storedEvent{}
		log.events = log.events[1:]
	}
	return id, nil
}

func (s *eventStore) ReplayEventsAfter(_ context.Context, sessionID, lastEventID string, send func(eventID string, message json.RawMessage) error) (string, error) {
	s.mu.Lock()
	var stream string
	var tail []storedEvent
	if log := s.sessions[sessionID]; log != nil {
		for i, ev := range log.events {
			if ev.id == lastEventID {
				stream = ev.stream
				for _, later := range log.events[i+1:] {
					if later.stream == stream {
						tail = append(tail, later)
					}
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if stream == "" {
		return "", fmt.Errorf("%w: %s", server.ErrUnknownEventID, lastEventID)
	}
	for _, ev := range tail {
		if err := send(ev.id, ev.message); err != nil {
			return "", err
		}
	}
	return stream, nil
}

func (s *eventStore) PurgeSession(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sessionID)
	return nil
}
