package router

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/sessions"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// Multi round-trip requests (SEP-2322) for 2026-07-28 clients. That era has no server-to-client
// requests: a server that needs input mid-call answers the call with an input_required result
// carrying the requests and an opaque request state, and the client retries the call with the
// answers. Upstream sessions are 2025-era, so an upstream still sends sampling, elicitation and
// roots requests during the call; the gateway parks the call (its upstream request keeps
// running), answers the client input_required, and when the retry comes (on any replica: the
// state is sealed and names the replica and the parked call) hands the answers to the waiting
// upstream request and goes on waiting for the call's end or its next request.

// parked are the calls of this replica waiting for their clients' input.
type parked struct {
	sealer *sessions.Sealer
	self   string // host:port of this replica's admin listener
	client *http.Client
	max    int
	// maxWait bounds how long a parked call waits for a retry; the upstream call's own deadline
	// usually ends it sooner.
	maxWait time.Duration
	// peerTLS, when not nil, is how other replicas' admin listeners are reached (HTTPS).
	peerTLS *tls.Config

	mu    sync.Mutex
	next  uint64
	calls map[uint64]*parkedCall
}

// parkedCall is one call whose upstream asked for input.
type parkedCall struct {
	id        uint64
	tool      string
	principal string
	slot      *errorSlot         // the first leg's: where the pipeline puts a JSON-RPC error
	cancel    context.CancelFunc // ends the call: its client left in the middle of a leg

	asked chan struct{}     // a new input request is pending (coalesced)
	final chan finishedCall // the call's end, once
	mu    sync.Mutex
	seq   int
	ask   map[string]pendingInput // input id -> the upstream request waiting for it
	// notify is where progress and log messages go: the current leg's request.
	notify context.Context
}

type pendingInput struct {
	request mcp.InputRequest
	answer  chan json.RawMessage
}

type finishedCall struct {
	res *mcp.CallToolResult
	err error
}

const (
	mrtrStatePurpose  = "switchboard mrtr state"
	mrtrResumePurpose = "switchboard mrtr resume"
	resumePath        = "/internal/resume"
)

func newParked(sealer *sessions.Sealer, self string) *parked {
	return &parked{sealer: sealer, self: self, client: &http.Client{Timeout: 2 * time.Minute},
		max: 1000, maxWait: 10 * time.Minute, calls: map[uint64]*parkedCall{}}
}

// callAskingInput runs a 2026-era call whose upstream may ask for input: the pipeline runs in
// the background, and this leg answers with the call's result or with the input it needs.
func (r *Router) callAskingInput(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	p := r.parked
	pc := newParkedCall(req.Params.Name, r.sessions.opts.Principal(ctx), ctx)
	relay := &inputRelay{call: pc, r: r, token: progressTokenOf(req)}
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil {
		relay.caps = info.ClientCapabilities
	}
	// The call outlives this request: its upstream request waits for the answers the retry
	// brings. Its own deadline (the upstream's timeout) still bounds it.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.maxWait)
	pc.cancel = cancel
	go func() {
		defer cancel()
		res, err := r.runCall(callCtx, req, relay)
		pc.final <- finishedCall{res, err}
		if id := pc.parkedID(); id != 0 {
			time.AfterFunc(p.maxWait, func() { p.remove(id) }) // a result nobody came back for
		}
	}()
	return r.await(ctx, pc)
}

// await answers one leg: the call's end, or the input it needs now.
func (r *Router) await(ctx context.Context, pc *parkedCall) (*mcp.CallToolResult, error) {
	for {
		select {
		case done := <-pc.final:
			r.parked.remove(pc.parkedID())
			if e := slotError(pc.slot, done.err); e != nil {
				return nil, jsonRPCError(ctx, e) // into this leg's response
			}
			return done.res, done.err
		case <-pc.asked:
			if requests := pc.pending(); len(requests) > 0 {
				res := &mcp.CallToolResult{Result: mcp.Result{ResultType: mcp.ResultTypeInputRequired}}
				res.InputRequests, res.RequestState = requests, r.parked.state(pc)
				return res, nil
			}
		case <-ctx.Done():
			// The client left in the middle of a leg (not between legs, where the call waits
			// for its retry): the call is cancelled, as any other call whose client leaves.
			pc.cancel()
			return nil, ctx.Err()
		}
	}
}

// resumeCall is a retry: the client's answers for a parked call, here or on another replica.
func (r *Router) resumeCall(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	st, err := r.parked.open(req.Params.RequestState)
	if err != nil || st.Principal != r.sessions.opts.Principal(ctx) {
		return mcp.NewToolResultError("the request state is not one this gateway gave you (or it expired): call the tool again without it"), nil
	}
	if st.Replica != r.parked.self {
		return r.parked.forward(ctx, st, req)
	}
	return r.resumeHere(ctx, st.ID, req.Params.Name, req.Params.InputResponses, ctx)
}

// resumeHere delivers responses to the parked call id and awaits its next leg; notify is where
// the leg's progress and log messages go.
func (r *Router) resumeHere(ctx context.Context, id uint64, tool string, responses mcp.InputResponses, notify context.Context) (*mcp.CallToolResult, error) {
	pc := r.parked.get(id)
	if pc == nil || pc.tool != tool {
		return mcp.NewToolResultError("the call this request state belongs to is over (it finished, timed out, or was never made here): call the tool again"), nil
	}
	pc.mu.Lock()
	pc.notify = notify
	pc.mu.Unlock()
	for inputID, answer := range responses {
		raw, err := json.Marshal(answer)
		if err != nil {
			continue
		}
		pc.answer(inputID, raw)
	}
	return r.await(ctx, pc)
}

// newParkedCall is the state of a 2026-era call that may come to wait for input. It is parked
// (findable by a retry, and counted against the bound) only once its upstream asks (park).
func newParkedCall(tool, principal string, ctx context.Context) *parkedCall {
	slot, _ := ctx.Value(errorSlotKey{}).(*errorSlot)
	return &parkedCall{tool: tool, principal: principal, slot: slot, notify: ctx,
		asked: make(chan struct{}, 1), final: make(chan finishedCall, 1), ask: map[string]pendingInput{}}
}

// park makes pc findable by its retries, unless too many calls wait already.
func (p *parked) park(pc *parkedCall) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.parkedID() != 0 {
		return nil
	}
	if len(p.calls) >= p.max {
		return fmt.Errorf("%d calls already wait for their clients' input on this replica; try again shortly", p.max)
	}
	p.next++
	pc.mu.Lock()
	pc.id = p.next
	pc.mu.Unlock()
	p.calls[p.next] = pc
	return nil
}

func (p *parked) get(id uint64) *parkedCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

func (p *parked) remove(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.calls, id)
}

// mrtrState is what a request state seals.
type mrtrState struct {
	Replica   string `json:"r"`
	ID        uint64 `json:"i"`
	Principal string `json:"p"`
}

func (p *parked) state(pc *parkedCall) string {
	plain, _ := json.Marshal(mrtrState{Replica: p.self, ID: pc.parkedID(), Principal: pc.principal})
	return base64.RawURLEncoding.EncodeToString(p.sealer.SealBytes(mrtrStatePurpose, plain))
}

func (p *parked) open(state string) (mrtrState, error) {
	var st mrtrState
	sealed, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(state) > 4096 {
		return st, errors.New("malformed request state")
	}
	plain, err := p.sealer.OpenBytes(mrtrStatePurpose, sealed)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(plain, &st)
}

// parkedID is pc's id among the parked calls, 0 while it never waited for input.
func (pc *parkedCall) parkedID() uint64 {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.id
}

// pending is the input requests still waiting for answers.
func (pc *parkedCall) pending() mcp.InputRequests {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make(mcp.InputRequests, len(pc.ask))
	for id, in := range pc.ask {
		out[id] = in.request
	}
	return out
}

func (pc *parkedCall) answer(id string, raw json.RawMessage) {
	pc.mu.Lock()
	in, ok := pc.ask[id]
	delete(pc.ask, id)
	pc.mu.Unlock()
	if ok {
		in.answer <- raw // buffered
	}
}

// inputRelay is the relay of a 2026-era call: progress and log messages go to the current
// leg's request; the upstream's requests become input requests of the next answer.
type inputRelay struct {
	call  *parkedCall
	r     *Router
	token any
	// caps are the capabilities the client declared on its request (nil: none).
	caps *mcp.ClientCapabilities
}

var _ upstream.Relay = (*inputRelay)(nil)

func (d *inputRelay) ProgressToken() any { return d.token }

func (d *inputRelay) Notify(method string, params map[string]any) {
	d.call.mu.Lock()
	ctx := d.call.notify
	d.call.mu.Unlock()
	(&callRelay{mcp: d.r.mcp, ctx: ctx, token: d.token}).Notify(method, params)
}

func (d *inputRelay) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	// Only what the client declared is asked of it; an upstream asking roots of a client that
	// has none gets none, as it would outside a call.
	var caps mcp.ClientCapabilities
	if d.caps != nil {
		caps = *d.caps
	}
	switch mcp.MCPMethod(method) {
	case mcp.MethodListRoots:
		if caps.Roots == nil {
			return json.RawMessage(`{"roots":[]}`), nil
		}
	case mcp.MethodSamplingCreateMessage:
		if caps.Sampling == nil {
			return nil, fmt.Errorf("the client did not declare support for %s", method)
		}
	case mcp.MethodElicitationCreate:
		if caps.Elicitation == nil {
			return nil, fmt.Errorf("the client did not declare support for %s", method)
		}
	}
	var in mcp.InputRequest
	envelope, _ := json.Marshal(map[string]any{"method": method, "params": json.RawMessage(orEmpty(params))})
	if err := json.Unmarshal(envelope, &in); err != nil {
		return nil, fmt.Errorf("the gateway cannot ask a 2026-07-28 client for %s: %w", method, err)
	}
	pc := d.call
	if err := d.r.parked.park(pc); err != nil {
		return nil, err
	}
	answer := make(chan json.RawMessage, 1)
	pc.mu.Lock()
	pc.seq++
	id := "sb-input-" + strconv.Itoa(pc.seq)
	pc.ask[id] = pendingInput{request: in, answer: answer}
	pc.mu.Unlock()
	select {
	case pc.asked <- struct{}{}:
	default: // already signalled; the next leg lists every pending request
	}
	select {
	case raw := <-answer:
		return raw, nil
	case <-ctx.Done():
		pc.mu.Lock()
		delete(pc.ask, id)
		pc.mu.Unlock()
		return nil, fmt.Errorf("the client did not answer %s in time: %w", method, ctx.Err())
	}
}

func orEmpty(params json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(params)) == 0 {
		return json.RawMessage(`{}`)
	}
	return params
}

func progressTokenOf(req mcp.CallToolRequest) any {
	if req.Params.Meta != nil {
		return req.Params.Meta.ProgressToken
	}
	return nil
}

// resumeRequest is the sealed body of a retry forwarded to the replica holding the call.
type resumeRequest struct {
	ID        uint64             `json:"i"`
	Tool      string             `json:"t"`
	Responses mcp.InputResponses `json:"r"`
}

// resumeAnswer is the holding replica's answer to a forwarded retry.
type resumeAnswer struct {
	Result   json.RawMessage    `json:"result,omitempty"`
	RPCError *upstream.RPCError `json:"rpcError,omitempty"`
	Error    string             `json:"error,omitempty"`
}

// forward hands a retry to the replica holding its call, and its answer back to the client.
func (p *parked) forward(ctx context.Context, st mrtrState, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	plain, _ := json.Marshal(resumeRequest{ID: st.ID, Tool: req.Params.Name, Responses: req.Params.InputResponses})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, peerURL(p.peerTLS, st.Replica, resumePath),
		bytes.NewReader(p.sealer.SealBytes(mrtrResumePurpose, plain)))
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(hreq)
	if err != nil {
		return mcp.NewToolResultError(fmt.Sprintf("the replica holding this call (%s) is unreachable: call the tool again", st.Replica)), nil
	}
	defer resp.Body.Close()
	var ans resumeAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxForwardBytes)).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the replica holding this call answered HTTP %d", resp.StatusCode)
	}
	switch {
	case ans.RPCError != nil:
		return nil, jsonRPCError(ctx, ans.RPCError)
	case ans.Error != "":
		return nil, errors.New(ans.Error)
	}
	return mcp.ParseCallToolResult(&ans.Result)
}

// ResumeHandler is /internal/resume: a retry another replica got for a call parked here. Only a
// body sealed with the session key is accepted.
func (r *Router) ResumeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sealed, err := io.ReadAll(io.LimitReader(req.Body, maxForwardBytes))
		if err != nil {
			http.Error(w, "reading the body failed", http.StatusBadRequest)
			return
		}
		plain, err := r.parked.sealer.OpenBytes(mrtrResumePurpose, sealed)
		var rr resumeRequest
		if err != nil || json.Unmarshal(plain, &rr) != nil {
			http.Error(w, "not sealed by a replica of this gateway", http.StatusForbidden)
			return
		}
		slot := &errorSlot{}
		ctx := context.WithValue(req.Context(), errorSlotKey{}, slot)
		res, err := r.resumeHere(ctx, rr.ID, rr.Tool, rr.Responses, context.Background())
		var ans resumeAnswer
		switch {
		case slotError(slot, err) != nil:
			ans.RPCError = slot.get()
		case err != nil:
			ans.Error = err.Error()
		default:
			ans.Result, _ = json.Marshal(res)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	})
}
