package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/codes"

	"github.com/switchboard-mcp/switchboard/internal/backoff"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// Timings of the supervisor. Variables, not constants, so tests of reconnection need not wait
// for production back-offs.
var (
	healthInterval = 5 * time.Second // how often an idle session is pinged (and so hears what an idle HTTP upstream announced)
	pingTimeout    = 5 * time.Second
	backoffMin     = 200 * time.Millisecond
	backoffMax     = 30 * time.Second
	healthyFor     = 10 * time.Second // a session that lived this long resets the back-off
)

// Instance is one replica of an upstream: a supervised client session that is dialled, listed,
// health-checked, and re-dialled with capped back-off when it dies. Its methods are safe for
// concurrent use.
type Instance struct {
	spec      registry.Instance
	name      registry.ServiceName
	timeout   time.Duration // per call
	settings  Settings
	dialer    *dialer
	breaker   *gobreaker.CircuitBreaker[CallResult]
	openUntil atomic.Int64  // unix nanoseconds when an open breaker lets a probe through
	slots     chan struct{} // the bulkhead: one token per call in flight
	calls     *calls        // calls in flight with a client to report to
	// resourceUpdated, if set, gets the upstream's notifications/resources/updated.
	resourceUpdated func(registry.ServiceName, string)
	// credentials names the instance's credentials ("" for none); exchange gets a caller's
	// token with them, or credErr says why the instance cannot (then it does not connect).
	credentials string
	exchange    *tokenexchange.Exchanger
	credErr     error
	log         *slog.Logger
	changed     func() // tools or status changed; must not block

	state     atomic.Pointer[instanceState]
	inFlight  atomic.Int64
	nextID    atomic.Int64
	relist    chan struct{} // 1-slot: the upstream announced tools/list_changed
	suspect   chan struct{} // 1-slot: a call failed in transport; check the session now
	tried     chan struct{} // closed once the first dial finished, well or not
	markTried sync.Once
	done      chan struct{} // closed when run returns
}

// instanceState is an immutable view of an instance, swapped whole.
type instanceState struct {
	conn    *conn  // nil while disconnected
	lists   Lists  // last known lists; kept while disconnected so the catalog does not flap
	listed  bool   // tools is a real list (the instance was listed at least once)
	digest  string // identifies tools, to compare replicas' lists
	lastErr error  // why the instance is down; nil when connected
	since   time.Time
	// toolNames is the set of lists.Tools' names, so calls go to replicas that have the tool.
	toolNames map[string]struct{}
}

// down is the state after the session ended with err: no session, the same lists.
func (s *instanceState) down(err error, since time.Time) *instanceState {
	cp := *s
	cp.conn, cp.lastErr, cp.since = nil, err, since
	return &cp
}

// hasTool reports whether the instance's last tools/list had tool.
func (s *instanceState) hasTool(tool string) bool {
	_, ok := s.toolNames[tool]
	return ok
}

func newInstance(desc registry.Upstream, spec registry.Instance, hc *http.Client, s Settings, log *slog.Logger, changed func()) *Instance {
	log = log.With("upstream", string(desc.Name), "instance", string(spec.ID))
	if spec.OAuth2 != nil {
		// One token source per instance, so its token is reused across reconnects.
		hc = clientCredentials(spec.OAuth2, hc)
	}
	in := &Instance{
		spec: spec, name: desc.Name, timeout: desc.Timeout, settings: s,
		dialer: &dialer{http: hc, log: log}, log: log, changed: changed,
		slots:   make(chan struct{}, max(s.MaxConcurrent, 1)),
		calls:   newCalls(),
		relist:  make(chan struct{}, 1),
		suspect: make(chan struct{}, 1),
		tried:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	in.state.Store(&instanceState{lastErr: errors.New("not connected yet"), since: time.Now()})
	in.breaker = newBreaker(in, s)
	return in
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run supervises the session until ctx ends; it closes the session before returning.
func (in *Instance) run(ctx context.Context) {
	defer close(in.done)
	defer func() {
		if p := recover(); p != nil {
			in.log.Error("instance supervisor panicked", "panic", p)
		}
	}()
	defer in.setTried()
	bo := backoff.Backoff{Min: backoffMin, Max: backoffMax}
	for ctx.Err() == nil {
		connected, err := in.session(ctx)
		in.setTried()
		if ctx.Err() != nil {
			return
		}
		old := in.state.Load()
		if !connected.IsZero() && time.Since(connected) > healthyFor {
			bo.Reset() // it was healthy for a good while: this is a fresh failure, retry soon
		}
		in.state.Store(old.down(err, time.Now()))
		in.changed()
		wait := bo.Next()
		in.log.Warn("upstream unavailable", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (in *Instance) setTried() { in.markTried.Do(func() { close(in.tried) }) }

// session dials, lists and serves one session until it fails or ctx ends. connected is when
// the session was published; zero if it never was.
func (in *Instance) session(ctx context.Context) (connected time.Time, err error) {
	if in.credErr != nil {
		return connected, in.credErr
	}
	onNotify := func(n mcp.JSONRPCNotification) {
		// Runs on the transport's reader: never block it, never call the upstream from here.
		switch {
		case n.Method == string(mcp.MethodNotificationToolsListChanged),
			n.Method == string(mcp.MethodNotificationPromptsListChanged),
			n.Method == string(mcp.MethodNotificationResourcesListChanged):
			signal(in.relist)
		case n.Method == string(mcp.MethodNotificationResourceUpdated):
			if uri, ok := n.Params.AdditionalFields["uri"].(string); ok && in.resourceUpdated != nil {
				in.resourceUpdated(in.name, uri)
			}
		case in.calls.forwardProgress(n):
		case n.Method == string(mcp.MethodNotificationMessage):
			if d := in.calls.only(); d != nil { // see Relay: never a client it may not be for
				d.Notify(n.Method, n.Params.AdditionalFields)
			}
		}
	}
	c, err := in.dialer.dial(ctx, in.spec, in.settings.ConnectTimeout, onNotify, in.serveRequest)
	if err != nil {
		return connected, err
	}
	defer func() {
		// Unpublish the session before closing it, so calls stop picking it.
		if old := in.state.Load(); old.conn == c {
			in.state.Store(old.down(errors.New("session closing"), old.since))
		}
		c.close()
	}()
	if err := in.refresh(ctx, c); err != nil {
		return connected, err
	}
	connected = time.Now()
	l := in.state.Load().lists
	in.log.Info("upstream connected", "tools", len(l.Tools), "prompts", len(l.Prompts), "resources", len(l.Resources), "templates", len(l.Templates))
	in.setTried()
	tick := time.NewTicker(healthInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return connected, ctx.Err()
		case <-c.dead:
			return connected, errors.New("session lost")
		case <-in.relist:
			if err := in.refresh(ctx, c); err != nil {
				return connected, err
			}
		case <-in.suspect:
			if err := ping(ctx, c); err != nil {
				return connected, err
			}
		case <-tick.C:
			if err := ping(ctx, c); err != nil {
				return connected, err
			}
		}
	}
}

func ping(ctx context.Context, c *conn) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	//lint:ignore SA1019 upstream sessions are 2025-11-25, where ping is how a dead session shows
	if err := c.client.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// refresh lists the tools over c and publishes them with c as the live session.
func (in *Instance) refresh(ctx context.Context, c *conn) error {
	ctx, cancel := context.WithTimeout(ctx, in.timeoutOrDefault())
	defer cancel()
	lists, err := listAll(ctx, c.rpc, c.client.GetServerCapabilities(), in.requestID)
	if err != nil {
		return err
	}
	names := make(map[string]struct{}, len(lists.Tools))
	for _, t := range lists.Tools {
		names[t.Name] = struct{}{}
	}
	in.state.Store(&instanceState{conn: c, lists: lists, listed: true, digest: digest(lists), toolNames: names, since: time.Now()})
	in.changed()
	return nil
}

func (in *Instance) timeoutOrDefault() time.Duration {
	if in.timeout > 0 {
		return in.timeout
	}
	return 30 * time.Second
}

// requestID returns a fresh id for a request the gateway sends itself. String ids never
// collide with the client library's own integer ids.
func (in *Instance) requestID() mcp.RequestId {
	return mcp.NewRequestId("sb-" + strconv.FormatInt(in.nextID.Add(1), 10))
}

var emptyObject = json.RawMessage("{}")

// send sends tools/call for the upstream's own tool name with args (a JSON object, or nil) and
// returns the upstream's result as it sent it. It returns within the upstream's timeout. Errors:
// ErrUnavailable (no session, or the transport failed), ErrTimeout (the deadline passed; the
// upstream was sent notifications/cancelled), *RPCError (the upstream answered with a JSON-RPC
// error), or the caller's context error. The result names the instance whenever the request
// went out, failed or not.
func (in *Instance) send(ctx context.Context, tool string, args json.RawMessage, relay Relay) (CallResult, error) {
	if len(args) == 0 || string(args) == "null" {
		args = emptyObject // some servers reject a null or absent arguments object
	}
	return in.sendRequest(ctx, request{method: string(mcp.MethodToolsCall), call: &callParams{Name: tool, Arguments: args}}, relay)
}

// request is one request on its way to an instance: a tools/call's params as a struct, the
// arguments as the client's bytes, or another method's params as a map.
type request struct {
	method string
	call   *callParams
	params map[string]any
}

// callParams are the params of a tools/call as the upstream gets them.
type callParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Meta      map[string]any  `json:"_meta,omitempty"`
}

// meta returns the request's _meta, made when it has none.
func (r *request) meta() map[string]any {
	if r.call != nil {
		if r.call.Meta == nil {
			r.call.Meta = map[string]any{}
		}
		return r.call.Meta
	}
	if r.params == nil {
		r.params = map[string]any{}
	}
	meta, _ := r.params["_meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		r.params["_meta"] = meta
	}
	return meta
}

func (r *request) body() any {
	if r.call != nil {
		return r.call
	}
	return r.params
}

// sendRequest sends one request with params to the upstream over the live session, within the
// upstream's timeout. See send for the errors. A call with a relay gets a progress token of the
// gateway's that maps back to its client's, and the upstream's requests during the call go to
// that client.
func (in *Instance) sendRequest(ctx context.Context, req request, relay Relay) (CallResult, error) {
	st := in.state.Load()
	if st.conn == nil {
		return CallResult{}, fmt.Errorf("%w: %w: %v", ErrUnavailable, errNotSent, st.lastErr)
	}
	select {
	case <-st.conn.dead:
		return CallResult{}, fmt.Errorf("%w: %w: session lost", ErrUnavailable, errNotSent)
	default:
	}
	in.inFlight.Add(1)
	defer in.inFlight.Add(-1)
	res := CallResult{Instance: in.spec.ID}
	ctx, span := in.startSpan(ctx, &req)
	defer span.End()
	header := traceHeaders(ctx, &req)

	if in.credentials != "" && upstreamTokenFrom(ctx) == "" {
		// Never the gateway's own credentials or none instead (Call and Request get the token).
		return CallResult{}, fmt.Errorf("%w: %w: credentials %q: no caller token for the request", ErrAuth, errNotSent, in.credentials)
	}
	callCtx, cancel := context.WithTimeout(ctx, in.timeoutOrDefault())
	defer cancel()
	if relay != nil {
		callCtx = withRelay(callCtx, relay)
		token, end := in.calls.begin(relay)
		defer end()
		if token != "" {
			req.meta()["progressToken"] = token
		}
	}
	id := in.requestID()
	resp, err := st.conn.rpc.SendRequest(callCtx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: req.method, Params: req.body(), Header: header,
	})
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else if resp.Error != nil {
		span.SetStatus(codes.Error, resp.Error.Message)
	}
	switch {
	case err == nil && resp.Error != nil:
		return res, &RPCError{Code: resp.Error.Code, Message: resp.Error.Message, Data: resp.Error.Data}
	case err == nil:
		res.Raw = resp.Result
		return res, nil
	case ctx.Err() != nil:
		in.cancelUpstream(ctx, st.conn, id, "the client cancelled the call")
		return res, ctx.Err()
	case callCtx.Err() != nil:
		in.cancelUpstream(ctx, st.conn, id, "the gateway's deadline passed")
		return res, fmt.Errorf("%w after %s", ErrTimeout, in.timeoutOrDefault())
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, transport.ErrSessionTerminated):
		signal(in.suspect)
		return res, fmt.Errorf("%w: %w: %v", ErrUnavailable, errNotSent, err)
	default:
		signal(in.suspect)
		return res, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
}

// cancelUpstream tells the upstream to stop working on request id, without waiting long. It
// keeps call's values (the caller's upstream token goes with it), not its end.
func (in *Instance) cancelUpstream(call context.Context, c *conn, id mcp.RequestId, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(call), time.Second)
	defer cancel()
	_ = c.rpc.SendNotification(ctx, mcp.JSONRPCNotification{
		JSONRPC: mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{
			Method: string(mcp.MethodNotificationCancelled),
			Params: mcp.NotificationParams{AdditionalFields: map[string]any{"requestId": id, "reason": reason}},
		},
	})
}

// Status is a point-in-time view of an instance for readiness and the admin view.
type Status struct {
	ID        registry.InstanceID `json:"id"`
	Connected bool                `json:"connected"`
	InFlight  int64               `json:"in_flight"`
	Breaker   string              `json:"breaker"` // closed, half-open, open
	LastError string              `json:"last_error,omitempty"`
	Since     time.Time           `json:"since"`
}

// Status returns the current status of the instance.
func (in *Instance) Status() Status {
	st := in.state.Load()
	s := Status{ID: in.spec.ID, Connected: st.conn != nil, InFlight: in.inFlight.Load(), Breaker: in.breaker.State().String(), Since: st.since}
	if st.lastErr != nil {
		s.LastError = st.lastErr.Error()
	}
	return s
}
