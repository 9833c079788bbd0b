package router

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/envelope"
	"github.com/switchboard-mcp/switchboard/sessions"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// The fast path of tools/call, for the sessions of the 2025-11-25 era.
//
// A call of a catalog tool is most of what a gateway serves, and mcp-go's way through it
// decodes the request into maps, re-encodes it, decodes the upstream's result into content
// structs and encodes those again - twice the work of the hop itself (docs/BENCHMARKS.md). So
// such a call skips mcp-go's server: readMessage has read the envelope and the few fields the
// pipeline needs (name, arguments as bytes, the progress token and trace context of _meta)
// straight off the request's bytes, the pipeline runs as for any call, and the answer goes out
// as the upstream's own result bytes with the client's id: the JSON-RPC envelope is the only
// thing written around them. A cache hit is the stored bytes with the cache's mark put into
// _meta (appendCacheMarked). The response is application/json unless the upstream says
// something during the call (progress, log messages, sampling, elicitation, roots): from then
// on it is an SSE stream, as the slow path's.
//
// Everything else - every other method, the gateway's own tools, a message whose keys need a
// decoder's reading (readMessage), task-augmented calls, the 2026-07-28 era - takes the slow
// path through mcp-go. The differential test (fastpath_test.go) holds the two to the same
// answers.

// fastCall is a tools/call the fast path can take, as readMessage read it.
type fastCall struct {
	toolCall
	// progressToken is the client's _meta.progressToken, decoded as mcp-go decodes it; nil for none.
	progressToken any
}

// Keys readMessage reads, each list in the order of its values.
var (
	messageKeys = []string{"id", "method", "params", "result", "error"}
	paramKeys   = []string{"_meta", "cursor", "name", "arguments", "task"}
	metaKeys    = []string{"progressToken", "traceparent", "tracestate", mcp.MetaKeyProtocolVersion}
)

// readMessage reads what post routes on of body, a JSON-RPC message, without decoding more
// than short strings. A message whose keys a decoder could read otherwise (escaped, twice, in
// another case: envelope.Pick) is decoded instead, and never takes the fast path. ok is false
// for a body that is not a JSON object.
func readMessage(body []byte) (msg message, ok bool) {
	if !envelope.Object(body) {
		return message{}, false
	}
	var top [5][]byte
	var params [5][]byte
	var meta [4][]byte
	plain := envelope.Pick(body, messageKeys, top[:])
	plain = envelope.Pick(top[2], paramKeys, params[:]) && plain
	plain = envelope.Pick(params[0], metaKeys, meta[:]) && plain
	if !plain {
		return decodeMessage(body)
	}
	msg = message{ID: top[0], Result: top[3], Error: top[4]}
	msg.Method, _ = envelope.DecodeString(top[1])
	msg.cursor, _ = envelope.DecodeString(params[1])
	msg.protocolVersion, _ = envelope.DecodeString(meta[3])
	if msg.Method != string(mcp.MethodToolsCall) || len(msg.ID) == 0 || !oneOf(params[4], 'n', 0) || !oneOf(params[0], '{', 'n', 0) {
		return msg, true
	}
	name, isString := envelope.DecodeString(params[2])
	if !isString {
		return msg, true // mcp-go says what is wrong with it
	}
	call := &fastCall{toolCall: toolCall{name: name, args: params[3]}}
	call.traceParent, _ = envelope.DecodeString(meta[1])
	call.traceState, _ = envelope.DecodeString(meta[2])
	if meta[0] != nil && json.Unmarshal(meta[0], &call.progressToken) != nil {
		return msg, true
	}
	msg.call = call
	return msg, true
}

// decodeMessage is readMessage by decoding, for messages whose keys need it.
func decodeMessage(body []byte) (message, bool) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
		Params struct {
			Meta   *mcp.Meta `json:"_meta"`
			Cursor string    `json:"cursor"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil {
		return message{}, false
	}
	return message{ID: m.ID, Method: m.Method, Result: m.Result, Error: m.Error,
		cursor: m.Params.Cursor, protocolVersion: m.Params.Meta.ProtocolVersion()}, true
}

// fastCall serves msg, a tools/call of session t, on the fast path, or returns false without
// touching w when the call is not one it takes (not a catalog tool, or one mcp-go would refuse
// without a task).
func (h *sessionHTTP) fastCall(w http.ResponseWriter, r *http.Request, t sessions.Ticket, msg message) bool {
	entry, ok := h.router.lookup(msg.call.name)
	if !ok || entry.def.Execution != nil && entry.def.Execution.TaskSupport == mcp.TaskSupportRequired {
		return false
	}
	if ew, ok := w.(*errorWriter); ok {
		w = ew.ResponseWriter // the fast path writes its errors as they are meant
	}
	out := &eventStream{w: w}
	sess := &clientSession{ticket: t, key: t.ID, state: h.opts.State} // no notes: relay writes them
	sess.ask = func(ctx context.Context, method string, params any) (json.RawMessage, error) {
		return h.ask(ctx, out, t, method, params)
	}
	relay := &streamRelay{streams: h.streams, out: out, session: sess, token: msg.call.progressToken}
	ctx := h.router.mcp.WithContext(r.Context(), sess)
	a, err := h.router.pipeline(ctx, msg.call.toolCall, relay)
	relay.answered()

	buf := buffers.Get().(*[]byte)
	defer putBuffer(buf)
	body := appendResponse((*buf)[:0], msg.ID, a, rpcErrorFor(ctx, err))
	*buf = body
	if out.streaming() {
		_ = out.write(append(append(append(make([]byte, 0, len(body)+24), "event: message\ndata: "...), body...), "\n\n"...))
		return true
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return true
}

// jsonContentType is shared by every fast response's header, never changed.
var jsonContentType = []string{"application/json"}

// buffers hold the bytes of fast responses between calls.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// putBuffer returns buf to the pool unless a huge result made it too big to keep.
func putBuffer(buf *[]byte) {
	if cap(*buf) <= 1<<20 {
		buffers.Put(buf)
	}
}

// rpcErrorFor is the JSON-RPC error the pipeline's err means, nil for none: the upstream's own
// or the gateway's (jsonRPCError leaves it in the request's slot), else mcp-go's -32603 with
// the error's text, as the slow path answers.
func rpcErrorFor(ctx context.Context, err error) *upstream.RPCError {
	if err == nil {
		return nil
	}
	slot, _ := ctx.Value(errorSlotKey{}).(*errorSlot)
	if e := slotError(slot, err); e != nil {
		return e
	}
	return &upstream.RPCError{Code: mcp.INTERNAL_ERROR, Message: err.Error()}
}

// appendResponse appends the JSON-RPC response with id to dst: the error, or the answer's
// result - the upstream's bytes, marked when they came from the cache, or the result the
// gateway made.
func appendResponse(dst []byte, id json.RawMessage, a answer, rpcErr *upstream.RPCError) []byte {
	dst = append(append(dst, `{"jsonrpc":"2.0","id":`...), id...)
	switch {
	case rpcErr != nil:
		b, _ := json.Marshal(mcp.JSONRPCErrorDetails{Code: rpcErr.Code, Message: rpcErr.Message, Data: rpcErr.Data})
		dst = append(append(dst, `,"error":`...), b...)
	case a.made != nil:
		b, _ := json.Marshal(a.made)
		dst = append(append(dst, `,"result":`...), b...)
	case a.hit != nil:
		dst = appendCacheMarked(append(dst, `,"result":`...), a.raw, a.hit.Age)
	default:
		dst = append(append(dst, `,"result":`...), a.raw...)
	}
	return append(dst, '}')
}

// streamRelay is the relay of a fast-path call: what the upstream says during the call goes on
// the call's own response, an SSE stream from the first message on; what it says after the
// answer (servers write a call's last notifications late) goes to the session's GET stream on
// this replica, if one is open, as the slow path's clientSession does.
type streamRelay struct {
	streams *streams
	out     *eventStream
	session *clientSession
	token   any

	mu   sync.Mutex
	done bool
}

var _ upstream.Relay = (*streamRelay)(nil)

func (d *streamRelay) ProgressToken() any { return d.token }

func (d *streamRelay) Notify(method string, params map[string]any) {
	if method == string(mcp.MethodNotificationMessage) {
		level, _ := params["level"].(string)
		if !mcp.LoggingLevel(level).ShouldSendTo(d.session.GetLogLevel()) {
			return // below the level the client set (logging/setLevel)
		}
	}
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{Method: method, Params: mcp.NotificationParams{AdditionalFields: params}}}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.done {
		_ = d.out.send(n)
		return
	}
	if later := d.streams.notesOf(d.session.ticket.ID); later != nil {
		select {
		case later <- n:
		default: // the stream is behind: dropped, as mcp-go drops what a full session queue cannot take
		}
	}
}

func (d *streamRelay) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	return d.session.relay(ctx, method, params)
}

// answered sends what comes from now on to the GET stream: the response is being written.
func (d *streamRelay) answered() {
	d.mu.Lock()
	d.done = true
	d.mu.Unlock()
}
