package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/registry"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeRPC is an upstream session that answers every request with result, or fails with err.
// onSend, if set, runs first (to cancel the caller, say).
type fakeRPC struct {
	result json.RawMessage
	err    error
	onSend func()
	sent   atomic.Int64
}

var _ transport.Interface = (*fakeRPC)(nil)

func (f *fakeRPC) Start(context.Context) error { return nil }
func (f *fakeRPC) SendRequest(_ context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	f.sent.Add(1)
	if f.onSend != nil {
		f.onSend()
	}
	if f.err != nil {
		return nil, f.err
	}
	return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: f.result}, nil
}
func (f *fakeRPC) SendNotification(context.Context, mcp.JSONRPCNotification) error { return nil }
func (f *fakeRPC) SetNotificationHandler(func(mcp.JSONRPCNotification))            {}
func (f *fakeRPC) Close() error                                                    { return nil }
func (f *fakeRPC) GetSessionId() string                                            { return "" }

// testInstance describes one instance of a pick or call test.
type testInstance struct {
	id          registry.InstanceID
	connected   bool
	breakerOpen bool
	tools       []string
	rpc         *fakeRPC // the session when connected; nil: one that answers {}
}

const breakerOpenFor = time.Minute

// newTestUpstream returns an upstream "svc" of the instances described.
func newTestUpstream(t *testing.T, specs ...testInstance) *Upstream {
	t.Helper()
	u := &Upstream{Desc: registry.Upstream{Name: "svc"}, log: quietLog}
	for _, s := range specs {
		in := newInstance(registry.Upstream{Name: "svc", Timeout: time.Second},
			registry.Instance{ID: s.id, Transport: registry.StreamableHTTP, URL: "http://127.0.0.1:1/mcp"},
			newHTTPClient(0), Settings{BreakerFailures: 1, BreakerOpenFor: breakerOpenFor, MaxConcurrent: 4, QueueTimeout: time.Second},
			quietLog, func() {})
		st := &instanceState{lastErr: errors.New("not connected"), toolNames: map[string]struct{}{}, since: time.Now()}
		for _, tool := range s.tools {
			st.toolNames[tool] = struct{}{}
		}
		if s.connected {
			rpc := s.rpc
			if rpc == nil {
				rpc = &fakeRPC{result: json.RawMessage(`{}`)}
			}
			st.conn, st.lastErr = &conn{rpc: rpc, dead: make(chan struct{})}, nil
		}
		in.state.Store(st)
		if s.breakerOpen {
			_, _ = in.breaker.Execute(func() (CallResult, error) { return CallResult{}, ErrUnavailable })
		}
		u.instances = append(u.instances, in)
	}
	return u
}

func TestPick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		instances []testInstance
		exclude   int // index of the instance to skip, -1 for none
		tool      string
		want      []registry.InstanceID // the instances that may be picked
		wantErr   error
	}{
		{"breaker open instances skipped", []testInstance{{id: "a", connected: true, breakerOpen: true}, {id: "b", connected: true}},
			-1, "", []registry.InstanceID{"b"}, nil},
		{"connected preferred", []testInstance{{id: "a"}, {id: "b", connected: true}},
			-1, "", []registry.InstanceID{"b"}, nil},
		{"instances listing the tool preferred", []testInstance{{id: "a", connected: true}, {id: "b", connected: true, tools: []string{"t"}}},
			-1, "t", []registry.InstanceID{"b"}, nil},
		{"no instance lists the tool: any connected", []testInstance{{id: "a", connected: true}, {id: "b", connected: true}, {id: "c"}},
			-1, "t", []registry.InstanceID{"a", "b"}, nil},
		{"none connected: one with a closed breaker, to fail fast", []testInstance{{id: "a"}, {id: "b", breakerOpen: true}},
			-1, "", []registry.InstanceID{"a"}, nil},
		{"the excluded instance skipped", []testInstance{{id: "a", connected: true}, {id: "b", connected: true}},
			0, "", []registry.InstanceID{"b"}, nil},
		{"every breaker open: circuit open", []testInstance{{id: "a", connected: true, breakerOpen: true}, {id: "b", breakerOpen: true}},
			-1, "", nil, ErrCircuitOpen},
		{"no instance", nil, -1, "", nil, ErrNoInstance},
		{"only the excluded one", []testInstance{{id: "a", connected: true}}, 0, "", nil, ErrNoInstance},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newTestUpstream(t, tc.instances...)
			var exclude *Instance
			if tc.exclude >= 0 {
				exclude = u.instances[tc.exclude]
			}
			for range 50 { // the pick is random among the candidates
				in, err := u.pick(exclude, tc.tool)
				if tc.wantErr != nil {
					if in != nil || !errors.Is(err, tc.wantErr) {
						t.Fatalf("got %v, %v; want %v", in, err, tc.wantErr)
					}
					continue
				}
				if in == nil || !slices.Contains(tc.want, in.spec.ID) {
					t.Fatalf("picked %v (%v), want one of %v", in, err, tc.want)
				}
			}
		})
	}
}

func TestPickCircuitOpenSaysWhenToRetry(t *testing.T) {
	t.Parallel()
	u := newTestUpstream(t, testInstance{id: "a", connected: true, breakerOpen: true})
	_, err := u.pick(nil, "")
	after, ok := RetryAfter(err)
	if !errors.Is(err, ErrCircuitOpen) || !ok || after <= 0 || after > breakerOpenFor {
		t.Fatalf("got %v, retry after %v (%v); want circuit open, retry within %v", err, after, ok, breakerOpenFor)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	sentAndLost := fmt.Errorf("%w: connection reset", ErrUnavailable)
	notSent := fmt.Errorf("%w: %w: no session", ErrUnavailable, errNotSent)
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		idempotent bool
		want       bool
	}{
		{"not sent", context.Background(), notSent, false, true},
		{"not sent, caller gone", done, notSent, false, true},
		{"unavailable, idempotent", context.Background(), sentAndLost, true, true},
		{"unavailable, not idempotent", context.Background(), sentAndLost, false, false},
		{"unavailable, idempotent, caller gone", done, sentAndLost, true, false},
		{"timeout, idempotent", context.Background(), ErrTimeout, true, false},
		{"the upstream's own error, idempotent", context.Background(), &RPCError{Code: -32000, Message: "no"}, true, false},
		{"cancelled", done, context.Canceled, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := retryable(tc.ctx, tc.err, tc.idempotent); got != tc.want {
				t.Errorf("retryable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCallRetries(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	reset := errors.New("connection reset by peer")
	tests := []struct {
		name         string
		firstErr     error
		cancelOnSend bool
		idempotent   bool
		second       testInstance
		wantErr      error
		wantSecond   int64 // requests the second instance got
		wantInstance registry.InstanceID
	}{
		{"not sent: retried on another instance", refused, false, false, testInstance{connected: true}, nil, 1, "b"},
		{"unavailable and idempotent: retried", reset, false, true, testInstance{connected: true}, nil, 1, "b"},
		{"unavailable, not idempotent: not retried", reset, false, false, testInstance{connected: true}, ErrUnavailable, 0, "a"},
		{"the caller went away: not retried", reset, true, true, testInstance{connected: true}, context.Canceled, 0, "a"},
		{"the second never reached: the first reported", reset, false, true, testInstance{}, ErrUnavailable, 0, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := &fakeRPC{err: tc.firstErr}
			if tc.cancelOnSend {
				first.onSend = cancel
			}
			second := &fakeRPC{result: json.RawMessage(`{"content":[]}`)}
			tc.second.id, tc.second.rpc = "b", second
			// Only a lists the tool, so a is asked first.
			u := newTestUpstream(t, testInstance{id: "a", connected: true, tools: []string{"t"}, rpc: first}, tc.second)
			res, err := u.Call(ctx, CallRequest{Tool: "t", Idempotent: tc.idempotent})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if first.sent.Load() != 1 || second.sent.Load() != tc.wantSecond {
				t.Errorf("requests: first %d, second %d; want 1, %d", first.sent.Load(), second.sent.Load(), tc.wantSecond)
			}
			if res.Instance != tc.wantInstance {
				t.Errorf("served by %q, want %q", res.Instance, tc.wantInstance)
			}
			if tc.wantErr == nil && string(res.Raw) != `{"content":[]}` {
				t.Errorf("result %s", res.Raw)
			}
		})
	}
}
