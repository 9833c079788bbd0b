package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/upstream"
)

// mcp-go answers every error a tool handler returns with JSON-RPC -32603 and the error's text,
// and its own "no such tool" with a message of its own. docs/design.md asks for the upstream's
// JSON-RPC errors unchanged and for "unknown tool: NAME". So a handler that must answer with a
// JSON-RPC error stores it in a per-request slot and returns errPlaceholder; the response writer
// below puts the stored error where mcp-go wrote the placeholder. mcp-go writes each JSON-RPC
// message with one Write (a JSON body, or one SSE event), which is what makes this exact.

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
