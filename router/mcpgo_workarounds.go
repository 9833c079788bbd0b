package router

// The workarounds for mcp-go, gathered here so that each can go when mcp-go no longer needs it.
// Each section says what mcp-go does, what the contract (docs/design.md) or the gateway's
// performance needs instead, and how the workaround bridges the two:
//
//  1. JSON-RPC errors: mcp-go rewrites every error a handler returns; the response writer puts
//     the error the handler meant back (errorSlot, withJSONRPCErrors).
//  2. tools/list: mcp-go re-sorts, re-filters and re-marshals every tool on every request; the
//     gateway answers from pages serialized once per catalog (writeToolsList).
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
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

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

func (s *errorSlot) set(e *upstream.RPCError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = e
}

func (s *errorSlot) get() *upstream.RPCError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// slotError is the JSON-RPC error err stands for when it is the placeholder jsonRPCError
// returned: the one left in slot. Nil for any other error, or no slot.
func slotError(slot *errorSlot, err error) *upstream.RPCError {
	if slot == nil || !errors.Is(err, errPlaceholder) {
		return nil
	}
	return slot.get()
}

// jsonRPCError makes the response to the current request the JSON-RPC error e. Outside the
// HTTP handler (no slot) it degrades to mcp-go's -32603 with e's message.
func jsonRPCError(ctx context.Context, e *upstream.RPCError) error {
	slot, ok := ctx.Value(errorSlotKey{}).(*errorSlot)
	if !ok {
		return errors.New(e.Message)
	}
	slot.set(e)
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
		slot, ok := r.Context().Value(errorSlotKey{}).(*errorSlot)
		if !ok { // ServerHandler gives the request its slot with its server, in one copy
			slot = &errorSlot{}
			r = r.WithContext(context.WithValue(r.Context(), errorSlotKey{}, slot))
		}
		next.ServeHTTP(&errorWriter{ResponseWriter: w, slot: slot, unknownTool: unknownTool}, r)
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
		e := w.slot.get()
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
// tools on the benchmark machine). Only requests whose answer cannot differ are taken: those of a
// 2025-era session whose id sessionHTTP opened, and the stdio client's (stdio.go). Everything
// else goes on to mcp-go.

// listPages caches the serialized pages of one catalog, per view and cursor.
type listPages struct {
	catalog *Catalog
	pages   sync.Map // view key + "\x00" + cursor -> []byte (the result object)
}

// writeToolsList answers the tools/list request id of an open 2025-era session (sessionHTTP
// has opened its id) from the serialized pages.
func (r *Router) writeToolsList(w http.ResponseWriter, req *http.Request, id json.RawMessage, cursor string) {
	result, ok := r.toolsPage(req.Context(), cursor)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"error":{"code":-32602,"message":"invalid cursor"}}`))
		return
	}
	out := make([]byte, 0, len(result)+64)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, id...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	out = append(out, "}\n"...)
	_, _ = w.Write(out)
}

// toolsPage returns the serialized result of one tools/list page for the caller's view, or
// false for a cursor the gateway did not make.
func (r *Router) toolsPage(ctx context.Context, cursor string) ([]byte, bool) {
	key, listed := r.listedTools(ctx)
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
	var visible [][]byte // definitions as clients get them
	for _, e := range c.entries {
		if listed(string(e.Name)) {
			visible = append(visible, e.defJSON)
		}
	}
	if listed(SearchToolsName) {
		visible = append(visible, r.gatewayToolsJSON...)
	}
	if offset > len(visible) {
		return nil, false
	}
	end := min(offset+max(r.pageSize, 1), len(visible))
	var b bytes.Buffer
	b.WriteString(`{"tools":[`)
	for i, def := range visible[offset:end] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(def)
	}
	b.WriteByte(']')
	if end < len(visible) {
		b.WriteString(`,"nextCursor":"` + base64.RawURLEncoding.EncodeToString([]byte("sb1:"+strconv.Itoa(end))) + `"`)
	}
	b.WriteByte('}')
	pages.pages.Store(cacheKey, b.Bytes())
	return b.Bytes(), true
}
