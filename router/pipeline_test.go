package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

const okResult = `{"content":[{"type":"text","text":"hello"}]}`

// fakeUpstreams records the calls it gets and answers each with answer (default: okResult from
// instance "i1"). While gate is open (not nil, not closed) calls wait on it.
type fakeUpstreams struct {
	listings []upstream.Listing
	answer   func(n int, req upstream.CallRequest) (upstream.CallResult, error)
	gate     chan struct{}
	started  chan struct{} // if not nil, told of each call as it starts

	mu    sync.Mutex
	calls []upstream.CallRequest
}

var _ Upstreams = (*fakeUpstreams)(nil)

func (f *fakeUpstreams) Listings() []upstream.Listing { return f.listings }
func (f *fakeUpstreams) Request(context.Context, registry.ServiceName, string, map[string]any) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
func (f *fakeUpstreams) Call(_ context.Context, _ registry.ServiceName, req upstream.CallRequest) (upstream.CallResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	n := len(f.calls)
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	if f.answer != nil {
		return f.answer(n, req)
	}
	return upstream.CallResult{Raw: json.RawMessage(okResult), Instance: "i1"}, nil
}

func (f *fakeUpstreams) called() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// newPipelineRouter returns a router over f's listings, by default one upstream "demo" with the
// tools echo and secret, its catalog built.
func newPipelineRouter(t *testing.T, f *fakeUpstreams, opts Options) *Router {
	t.Helper()
	if f.listings == nil {
		f.listings = []upstream.Listing{listing("demo", "demo", "echo", "secret")}
	}
	opts.Naming, opts.PageSize = defaultNaming, 100
	r := New(f, opts, quiet)
	r.Rebuild()
	return r
}

// withErrorSlot returns ctx with the slot a JSON-RPC error answer goes into, as the HTTP
// handler gives every POST.
func withErrorSlot(ctx context.Context) (context.Context, *errorSlot) {
	slot := &errorSlot{}
	return context.WithValue(ctx, errorSlotKey{}, slot), slot
}

type recordingObserver struct {
	mu   sync.Mutex
	recs []callrecord.Record
}

func (o *recordingObserver) ObserveCall(r callrecord.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs = append(o.recs, r)
}

func callRequest(name, args string) mcp.CallToolRequest {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.RawArguments = json.RawMessage(args)
	return req
}

// TestCallToolAuthorizes: a tool outside the caller's view is answered in the handler itself
// exactly like an unknown one, whatever mcp-go's tool filter did before.
func TestCallToolAuthorizes(t *testing.T) {
	t.Parallel()
	onlyEcho := func(context.Context) (string, func(string) bool) {
		return "echo-only", func(name string) bool { return name == "demo__echo" }
	}
	tests := []struct {
		name        string
		tool        string
		view        func(context.Context) (string, func(string) bool)
		wantUnknown bool
	}{
		{"known, no view", "demo__secret", nil, false},
		{"known, in the view", "demo__echo", onlyEcho, false},
		{"known, outside the view", "demo__secret", onlyEcho, true},
		{"unknown", "demo__nope", onlyEcho, true},
		{"unknown, no view", "demo__nope", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeUpstreams{}
			obs := &recordingObserver{}
			r := newPipelineRouter(t, f, Options{View: tc.view, Observer: obs})
			ctx, slot := withErrorSlot(context.Background())
			res, err := r.callTool(ctx, callRequest(tc.tool, `{}`))
			if !tc.wantUnknown {
				if err != nil || res == nil || res.IsError || f.called() != 1 {
					t.Fatalf("got %v, %v after %d upstream calls; want the upstream's result", res, err, f.called())
				}
				return
			}
			if res != nil || !errors.Is(err, errPlaceholder) || f.called() != 0 {
				t.Fatalf("got %v, %v after %d upstream calls; want a JSON-RPC error and no call", res, err, f.called())
			}
			want := upstream.RPCError{Code: mcp.INVALID_PARAMS, Message: "unknown tool: " + tc.tool}
			if slot.err == nil || *slot.err != want {
				t.Errorf("answered %+v, want %+v", slot.err, want)
			}
			// The client cannot tell the two apart; the record can: a tool that exists but is
			// outside the view is a refusal (audited with its name), an unknown one is not.
			wantOutcome, wantTool := callrecord.OutcomeUnknownTool, ""
			if tc.name == "known, outside the view" {
				wantOutcome, wantTool = callrecord.OutcomeNotAllowed, tc.tool
			}
			if len(obs.recs) != 1 || obs.recs[0].Outcome != wantOutcome || obs.recs[0].Tool != wantTool {
				t.Errorf("recorded %+v, want one %s named %q", obs.recs, wantOutcome, wantTool)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{Policy: Policy{Limit: func(name ExposedName, _ ratelimit.Rate) ratelimit.Limit {
		if name == "demo__echo" {
			return ratelimit.Limit{Rate: 1, Burst: 1}
		}
		return ratelimit.Unlimited
	}}})
	limited, _ := r.lookup("demo__echo")
	free, _ := r.lookup("demo__secret")
	alice := authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "alice"})
	bob := authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "bob"})
	for i := range 3 {
		if res := r.limit(alice, free); res != nil {
			t.Fatalf("an unlimited tool was limited on call %d", i+1)
		}
	}
	if res := r.limit(alice, limited); res != nil {
		t.Fatal("the first call within the burst was limited")
	}
	res := r.limit(alice, limited)
	code, retryAfter := errorMeta(t, res)
	if code != CodeRateLimited || retryAfter <= 0 || retryAfter > 1000 {
		t.Errorf("second call: code %q, retryAfterMs %d; want rate_limited within a second", code, retryAfter)
	}
	if text := resultText(res); !strings.HasPrefix(text, "rate limited: demo__echo allows 1 calls per second; retry after ") {
		t.Errorf("text %q", text)
	}
	if res := r.limit(bob, limited); res != nil {
		t.Error("another principal shares alice's bucket")
	}
}

// newCachingRouter returns a router whose tool demo__echo is cached per principal.
func newCachingRouter(t *testing.T, f *fakeUpstreams) (*Router, *Entry) {
	t.Helper()
	r := newPipelineRouter(t, f, Options{
		Cache: cache.New(cache.NewMemory(1<<20), time.Second, quiet), MaxEntryBytes: 1 << 20,
		Policy: Policy{Cache: func(name ExposedName, _ time.Duration, _ mcp.ToolAnnotation) *CacheRule {
			if name == "demo__echo" {
				return &CacheRule{TTL: time.Hour}
			}
			return nil
		}},
	})
	e, _ := r.lookup("demo__echo")
	return r, e
}

func TestFetch(t *testing.T) {
	t.Parallel()
	toolError := func(int, upstream.CallRequest) (upstream.CallResult, error) {
		return upstream.CallResult{Raw: json.RawMessage(`{"content":[],"isError":true}`), Instance: "i1"}, nil
	}
	failing := func(int, upstream.CallRequest) (upstream.CallResult, error) {
		return upstream.CallResult{Instance: "i2"}, upstream.ErrUnavailable
	}
	tests := []struct {
		name         string
		tool         string
		answer       func(int, upstream.CallRequest) (upstream.CallResult, error)
		second       context.Context // the second call's caller; nil: the first's
		wantHit      bool            // the second call is a cache hit
		wantInstance registry.InstanceID
		wantErr      error
	}{
		{"cached: the second is a hit", "demo__echo", nil, nil, true, "", nil},
		{"not cacheable: both go upstream", "demo__secret", nil, nil, false, "i1", nil},
		{"tool errors are not cached", "demo__echo", toolError, nil, false, "i1", nil},
		{"one principal never gets another's result", "demo__echo", nil,
			authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "bob"}), false, "i1", nil},
		{"a failure names the instance reached", "demo__echo", failing, nil, false, "i2", upstream.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeUpstreams{answer: tc.answer}
			r, _ := newCachingRouter(t, f)
			e, _ := r.lookup(tc.tool)
			first := authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "alice"})
			if _, err := r.fetch(first, e, json.RawMessage(`{"text":"hi"}`), nil); !errors.Is(err, tc.wantErr) {
				t.Fatalf("first call: %v", err)
			}
			second := tc.second
			if second == nil {
				second = first
			}
			got, err := r.fetch(second, e, json.RawMessage(`{ "text": "hi" }`), nil)
			if !errors.Is(err, tc.wantErr) || (got.hit != nil) != tc.wantHit || got.instance != tc.wantInstance {
				t.Fatalf("second call: hit %v, instance %q, err %v; want hit %v, instance %q, err %v",
					got.hit != nil, got.instance, err, tc.wantHit, tc.wantInstance, tc.wantErr)
			}
			wantCalls := 2
			if tc.wantHit {
				wantCalls = 1
			}
			if f.called() != wantCalls {
				t.Errorf("%d upstream calls, want %d", f.called(), wantCalls)
			}
		})
	}
}

// TestFetchSharedFill: identical calls during one cache fill make one upstream call, and each
// of them is told the instance that served the fill.
func TestFetchSharedFill(t *testing.T) {
	t.Parallel()
	f := &fakeUpstreams{gate: make(chan struct{}), started: make(chan struct{}, 10),
		answer: func(n int, _ upstream.CallRequest) (upstream.CallResult, error) {
			return upstream.CallResult{Raw: json.RawMessage(okResult), Instance: registry.InstanceID(fmt.Sprintf("i%d", n))}, nil
		}}
	r, e := newCachingRouter(t, f)
	const callers = 3
	results := make(chan fetched, callers)
	fetch := func() {
		got, err := r.fetch(context.Background(), e, json.RawMessage(`{"text":"hi"}`), nil)
		if err != nil {
			t.Error(err)
		}
		results <- got
	}
	go fetch()
	<-f.started // the fill is under way
	for range callers - 1 {
		go fetch()
	}
	time.Sleep(100 * time.Millisecond) // let the others join the fill
	close(f.gate)
	for range callers {
		if got := <-results; got.instance != "i1" || string(got.raw) != okResult {
			t.Errorf("got %s from %q, want the fill's result from i1", got.raw, got.instance)
		}
	}
	if f.called() != 1 {
		t.Errorf("%d upstream calls, want 1 for identical calls during one fill", f.called())
	}
}

func TestCallUpstreamPassesTheCall(t *testing.T) {
	t.Parallel()
	f := &fakeUpstreams{}
	r := newPipelineRouter(t, f, Options{})
	e, _ := r.lookup("demo__echo")
	idempotent := *e
	idempotent.Idempotent = true
	relay := r.relay(context.Background(), callRequest("demo__echo", `{}`))
	got, err := r.callUpstream(context.Background(), &idempotent, json.RawMessage(`{"text":"hi"}`), relay)
	if err != nil || got.instance != "i1" || string(got.raw) != okResult {
		t.Fatalf("got %s from %q, %v", got.raw, got.instance, err)
	}
	req := f.calls[0]
	if req.Tool != "echo" || string(req.Args) != `{"text":"hi"}` || !req.Idempotent || req.Relay != upstream.Relay(relay) {
		t.Errorf("the upstream got %+v; want the upstream's own name, the arguments, idempotent and the call's relay", req)
	}
}

func TestCheckAndDecode(t *testing.T) {
	t.Parallel()
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{})
	e, _ := r.lookup("demo__echo")
	tests := []struct {
		name     string
		f        fetched
		wantText string
		wantCode string // of a gateway error; "" for none
		wantHit  bool
	}{
		{"the upstream's result", fetched{raw: json.RawMessage(okResult), instance: "i1"}, "hello", "", false},
		{"a cache hit is marked", fetched{raw: json.RawMessage(okResult), hit: &cache.Hit{Age: 1500 * time.Millisecond}}, "hello", "", true},
		{"an unreadable result", fetched{raw: json.RawMessage(`[1,2]`), instance: "i1"},
			"upstream demo sent a result the gateway cannot read; the call may have run", CodeUpstreamUnavailable, false},
		{"a cache entry that is not JSON", fetched{raw: json.RawMessage(`{"content":[]`), hit: &cache.Hit{}},
			"upstream demo sent a result the gateway cannot read; the call may have run", CodeUpstreamUnavailable, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := r.decoded(context.Background(), r.check(context.Background(), e, tc.f.read()))
			if text := resultText(res); text != tc.wantText {
				t.Errorf("text %q, want %q", text, tc.wantText)
			}
			if tc.wantCode != "" {
				if code, _ := errorMeta(t, res); code != tc.wantCode {
					t.Errorf("code %q, want %q", code, tc.wantCode)
				}
			}
			var meta map[string]any
			if res.Meta != nil {
				meta, _ = res.Meta.AdditionalFields[CacheMetaKey].(map[string]any)
			}
			if tc.wantHit != (meta != nil) || tc.wantHit && (meta["hit"] != true || meta["ageMs"] != int64(1500)) {
				t.Errorf("cache meta %v, want a hit: %v", meta, tc.wantHit)
			}
		})
	}
}

// retryLater is an error that knows when to retry, as upstream's circuit-open and busy errors do.
type retryLater struct {
	error
	after time.Duration
}

func (e retryLater) Unwrap() error             { return e.error }
func (e retryLater) RetryAfter() time.Duration { return e.after }

func TestCallError(t *testing.T) {
	t.Parallel()
	e := &Entry{Name: "demo__echo", Upstream: "demo", Tool: "echo"}
	rpcErr := &upstream.RPCError{Code: -32001, Message: "quota exceeded", Data: map[string]any{"retry": 3}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		wantCode   string // "" when the answer is a JSON-RPC error
		wantRetry  int64
		wantText   string
		wantRPC    *upstream.RPCError // passed through unchanged
		wantCtxErr bool
	}{
		{"the upstream's JSON-RPC error", nil, fmt.Errorf("calling: %w", rpcErr), "", 0, "", rpcErr, false},
		{"circuit open", nil, retryLater{fmt.Errorf("%w: every instance failed", upstream.ErrCircuitOpen), 1450 * time.Millisecond},
			CodeCircuitOpen, 1450, "circuit open: demo failed repeatedly and is given a rest; retry after 1.5s.", nil, false},
		{"busy", nil, retryLater{fmt.Errorf("%w: 4 calls in flight", upstream.ErrBusy), 200 * time.Millisecond},
			CodeUpstreamUnavailable, 200, "upstream busy: demo has no free slot for another call (upstream busy: 4 calls in flight); retry after 200ms.", nil, false},
		{"timeout", nil, fmt.Errorf("%w after 30s", upstream.ErrTimeout),
			CodeTimeout, 0, "timeout: demo did not answer in time (upstream timed out after 30s); the call was cancelled upstream. Retry, or ask for less work.", nil, false},
		{"no instance", nil, upstream.ErrNoInstance,
			CodeNoInstance, 0, "no instance: demo has no instance to take the call. Retry later.", nil, false},
		{"unavailable", nil, fmt.Errorf("%w: connection refused", upstream.ErrUnavailable),
			CodeUpstreamUnavailable, 0, "upstream unavailable: demo cannot be reached (upstream unavailable: connection refused). Retry later.", nil, false},
		{"the client went away", cancelled, context.Canceled, "", 0, "", nil, true},
		{"anything else", nil, errors.New("surprise"),
			CodeUpstreamUnavailable, 0, "upstream unavailable: the call to demo failed. Retry later.", nil, false},
	}
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, slot := withErrorSlot(ctx)
			res, err := r.callError(ctx, e, tc.err)
			switch {
			case tc.wantRPC != nil:
				if res != nil || !errors.Is(err, errPlaceholder) || slot.err != tc.wantRPC {
					t.Fatalf("got %v, %v, slot %v; want the upstream's error passed through", res, err, slot.err)
				}
				return
			case tc.wantCtxErr:
				if res != nil || !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v, %v; want the context's error", res, err)
				}
				return
			}
			if err != nil || !res.IsError {
				t.Fatalf("got %v, %v; want a tool error result", res, err)
			}
			code, retry := errorMeta(t, res)
			if code != tc.wantCode || retry != tc.wantRetry {
				t.Errorf("code %q, retryAfterMs %d; want %q, %d", code, retry, tc.wantCode, tc.wantRetry)
			}
			if up := res.Meta.AdditionalFields[ErrorMetaKey].(map[string]any)["upstream"]; up != "demo" {
				t.Errorf("upstream %v, want demo", up)
			}
			if text := resultText(res); text != tc.wantText {
				t.Errorf("text %q\nwant %q", text, tc.wantText)
			}
		})
	}
}

// errorMeta returns the code and retryAfterMs (0 when absent) of a gateway error result.
func errorMeta(t *testing.T, res *mcp.CallToolResult) (code string, retryAfterMs int64) {
	t.Helper()
	if res == nil || res.Meta == nil {
		t.Fatalf("%v has no _meta", res)
	}
	m, ok := res.Meta.AdditionalFields[ErrorMetaKey].(map[string]any)
	if !ok {
		t.Fatalf("no %s in %v", ErrorMetaKey, res.Meta.AdditionalFields)
	}
	code, _ = m["code"].(string)
	retryAfterMs, _ = m["retryAfterMs"].(int64)
	return code, retryAfterMs
}

func resultText(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	text, _ := mcp.AsTextContent(res.Content[0])
	if text == nil {
		return ""
	}
	return text.Text
}

// TestCallRecordCarriesTheRequestID: the audit line of a call names the HTTP request it came in.
func TestCallRecordCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{Observer: obs})
	ctx, _ := withErrorSlot(middleware.WithRequestID(context.Background(), "req-42"))
	if _, err := r.callTool(ctx, callRequest("demo__echo", `{}`)); err != nil {
		t.Fatal(err)
	}
	if len(obs.recs) != 1 || obs.recs[0].RequestID != "req-42" {
		t.Errorf("recorded %+v, want one record of request req-42", obs.recs)
	}
}

// testSession is a client session with an id, nothing more.
type testSession string

func (s testSession) Initialize()                                         {}
func (s testSession) Initialized() bool                                   { return true }
func (s testSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return nil }
func (s testSession) SessionID() string                                   { return string(s) }

// Anonymous callers draw from their address's bucket: a new session does not reset it, another
// address has its own, an IPv6 host its /64's.
func TestLimitKeysAnonymousCallersByAddress(t *testing.T) {
	t.Parallel()
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{Policy: Policy{Limit: func(ExposedName, ratelimit.Rate) ratelimit.Limit {
		return ratelimit.Limit{Rate: 0.001, Burst: 1} // no refill during the test
	}}})
	e, _ := r.lookup("demo__echo")
	caller := func(addr, session string) context.Context {
		ctx := context.Background()
		if addr != "" {
			ctx = middleware.WithClientAddr(ctx, addr)
		}
		if session != "" {
			ctx = r.mcp.WithContext(ctx, testSession(session))
		}
		return ctx
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		limited bool
	}{
		{"first call of an address", caller("192.0.2.1", "s1"), false},
		{"the same address, a new session", caller("192.0.2.1", "s2"), true},
		{"the same address, stateless", caller("192.0.2.1", ""), true},
		{"another address", caller("192.0.2.2", "s1"), false},
		{"an authenticated caller at a limited address", authn.WithPrincipal(caller("192.0.2.1", "s3"), &authn.Principal{Subject: "alice"}), false},
		{"an IPv6 host", caller("2001:db8:0:1::1", ""), false},
		{"another address of its /64", caller("2001:db8:0:1::2", ""), true},
		{"another /64", caller("2001:db8:0:2::1", ""), false},
		{"no address: the anonymous bucket", caller("", "s4"), false},
		{"no address, another session: the same bucket", caller("", "s5"), true},
	} {
		if limited := r.limit(tc.ctx, e) != nil; limited != tc.limited {
			t.Errorf("%s: limited %v, want %v", tc.name, limited, tc.limited)
		}
	}
}

// The limit step asks the Limiter of Options, with the call's context.
func TestLimitUsesTheGivenLimiter(t *testing.T) {
	t.Parallel()
	l := &recordingLimiter{}
	r := newPipelineRouter(t, &fakeUpstreams{}, Options{Limiter: l, Policy: Policy{Limit: func(ExposedName, ratelimit.Rate) ratelimit.Limit {
		return ratelimit.Limit{Rate: 1, Burst: 1}
	}}})
	e, _ := r.lookup("demo__echo")
	ctx := context.WithValue(authn.WithPrincipal(context.Background(), &authn.Principal{Subject: "alice"}), callKey{}, "call")
	res := r.limit(ctx, e)
	if code, _ := errorMeta(t, res); code != CodeRateLimited {
		t.Errorf("code %q, want rate_limited from the given limiter", code)
	}
	if l.tool != "demo__echo" || l.principal != "sub:alice" || l.ctxValue != "call" {
		t.Errorf("the limiter was asked for %q by %q with context value %v", l.tool, l.principal, l.ctxValue)
	}
}

type callKey struct{}

// recordingLimiter limits every call and keeps what it was asked last.
type recordingLimiter struct {
	tool, principal string
	ctxValue        any
}

func (l *recordingLimiter) Allow(ctx context.Context, tool, principal string, _ ratelimit.Limit) (bool, time.Duration) {
	l.tool, l.principal, l.ctxValue = tool, principal, ctx.Value(callKey{})
	return false, time.Second
}
