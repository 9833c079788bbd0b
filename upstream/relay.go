package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Relay carries server-to-client traffic of one call back to the client that made it: what an
// upstream says while it serves the call. Upstream sessions are shared by every client, so each
// call comes with its Relay (CallRequest.Relay) and the upstream's messages are matched to the
// call they belong to:
//
//   - notifications/progress by progress token: the gateway sends the upstream a token of its
//     own per call and maps it back (every transport);
//   - server-to-client requests (sampling/createMessage, elicitation/create, roots/list) by the
//     context of the call's HTTP request on Streamable HTTP (mcp-go's client hands a request
//     that arrives on a call's response stream the context of that call); on stdio and SSE, and
//     for requests on no call's stream, to the call when it is unambiguous (see only);
//   - notifications/message carry no tie to a call at all: a server may even write one on
//     another call's stream (mcp-go's does, its session queue feeding whichever stream is open).
//     So a log message goes to a client only when just one call is, or was a moment ago, in
//     flight on that instance; otherwise it is dropped, never sent to a client it may not be for.
//
// Implementations must be safe for concurrent use.
type Relay interface {
	// ProgressToken is the client's progress token for the call, or nil.
	ProgressToken() any
	// Notify forwards a notification to the client (params already mapped back).
	Notify(method string, params map[string]any)
	// Request forwards a server-to-client request and returns the client's result.
	Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
}

// relayKey puts a call's Relay into the context of the request sent upstream. Callers hand the
// Relay over explicitly (CallRequest); the context is only how mcp-go's client gives it back:
// its Streamable HTTP transport hands a server-to-client request that arrives on a call's
// response stream the context of that call, and nothing else (see serveRequest).
type relayKey struct{}

func withRelay(ctx context.Context, r Relay) context.Context {
	return context.WithValue(ctx, relayKey{}, r)
}

func relayFrom(ctx context.Context) Relay {
	r, _ := ctx.Value(relayKey{}).(Relay)
	return r
}

// calls tracks the calls in flight on one instance that have a Relay: by gateway progress
// token, and as a set (for transports that cannot tie a message to a call).
type calls struct {
	mu      sync.Mutex
	byToken map[string]Relay
	active  map[*callRef]Relay
	recent  []endedCall // calls that ended within lateNotifications, oldest first
	next    int64
}

type endedCall struct {
	d  Relay
	at time.Time
}

type callRef struct{ token string }

func newCalls() *calls {
	return &calls{byToken: map[string]Relay{}, active: map[*callRef]Relay{}}
}

// begin registers d for one call and returns the progress token to send upstream ("" when the
// client asked for no progress) and the function that ends the registration.
func (c *calls) begin(d Relay) (token string, end func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := &callRef{}
	if d.ProgressToken() != nil {
		c.next++
		ref.token = "sb-progress-" + strconv.FormatInt(c.next, 10)
		c.byToken[ref.token] = d
	}
	c.active[ref] = d
	return ref.token, func() {
		c.mu.Lock()
		delete(c.active, ref)
		c.recent = append(c.pruned(), endedCall{d, time.Now()})
		c.mu.Unlock()
		if ref.token == "" {
			return
		}
		// Servers may write a call's last notifications after its response (mcp-go's stdio
		// server does): the token stays mapped a little longer, so they still find their client.
		time.AfterFunc(lateNotifications, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.byToken, ref.token)
		})
	}
}

// lateNotifications is how long after a call a progress notification for it is still passed on.
const lateNotifications = 2 * time.Second

// byProgressToken returns the call that owns a gateway progress token.
func (c *calls) byProgressToken(token any) Relay {
	s, ok := token.(string)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byToken[s]
}

// only returns the call a message without a tie belongs to when that is unambiguous: the one
// call in flight or recently ended (servers write some messages after the response), with no
// other call in flight or recently ended. Otherwise nil: the message cannot be attributed and
// must not go to the wrong client.
func (c *calls) only() Relay {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent = c.pruned()
	switch {
	case len(c.active) == 1 && len(c.recent) == 0:
		for _, d := range c.active {
			return d
		}
	case len(c.active) == 0 && len(c.recent) == 1:
		return c.recent[0].d
	}
	return nil
}

// onlyActive returns the one call in flight, or nil when there are none or several.
func (c *calls) onlyActive() Relay {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.active) != 1 {
		return nil
	}
	for _, d := range c.active {
		return d
	}
	return nil
}

// pruned returns recent without the calls that ended too long ago. Callers hold mu.
func (c *calls) pruned() []endedCall {
	i := 0
	for i < len(c.recent) && time.Since(c.recent[i].at) > lateNotifications {
		i++
	}
	return c.recent[i:]
}

// forwardProgress sends an upstream's progress notification to the call it belongs to, with the
// client's own token. It reports whether the notification was a progress one.
func (c *calls) forwardProgress(n mcp.JSONRPCNotification) bool {
	if n.Method != string(mcp.MethodNotificationProgress) {
		return false
	}
	params := n.Params.AdditionalFields
	if d := c.byProgressToken(params["progressToken"]); d != nil {
		out := make(map[string]any, len(params))
		for k, v := range params {
			out[k] = v
		}
		out["progressToken"] = d.ProgressToken()
		d.Notify(n.Method, out)
	}
	return true
}

// serveRequest answers a request the upstream sent to the gateway as its client: it goes to the
// client of the call it belongs to.
func (in *Instance) serveRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	d := relayFrom(ctx) // Streamable HTTP: the ctx of the call's POST
	if d == nil {
		// stdio, SSE, the standing GET stream: only an unambiguous call. A call that ended
		// cannot be waiting for an answer, so only calls in flight count.
		d = in.calls.onlyActive()
	}
	if d == nil {
		if req.Method == string(mcp.MethodListRoots) {
			return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: json.RawMessage(`{"roots":[]}`)}, nil
		}
		return nil, fmt.Errorf("%s outside a call, or during several calls on a transport that cannot tell them apart: no client to ask", req.Method)
	}
	params, _ := json.Marshal(req.Params)
	result, err := d.Request(ctx, req.Method, params)
	if err != nil {
		return nil, err
	}
	return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: result}, nil
}
