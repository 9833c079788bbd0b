package upstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/registry"
)

func newTestInstance(s Settings) *Instance {
	return newInstance(registry.Upstream{Name: "svc", Timeout: time.Second},
		registry.Instance{ID: "i", Transport: registry.StreamableHTTP, URL: "http://127.0.0.1:1/mcp"},
		newHTTPClient(0), s, quietLog, func() {})
}

func TestBreakerCountsTransportFailuresOnly(t *testing.T) {
	t.Parallel()
	in := newTestInstance(Settings{BreakerFailures: 2, BreakerOpenFor: time.Minute, MaxConcurrent: 1, QueueTimeout: time.Millisecond})
	run := func(err error) { _, _ = in.breaker.Execute(func() (CallResult, error) { return CallResult{}, err }) }
	run(&RPCError{Code: -32000, Message: "the upstream answered"})
	run(context.Canceled)
	run(ErrTimeout)
	if open, _ := in.breakerOpen(); open {
		t.Fatal("open after one failure; an answer and a client leaving must not count")
	}
	run(ErrUnavailable)
	open, left := in.breakerOpen()
	if !open || left <= 0 || left > time.Minute {
		t.Fatalf("after two failures in a row: open=%v, left %v", open, left)
	}
	_, err := in.Call(context.Background(), "t", nil, nil)
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, errNotSent) {
		t.Fatalf("call through an open breaker: %v", err)
	}
	if after, ok := RetryAfter(err); !ok || after <= 0 {
		t.Errorf("no retry-after on %v", err)
	}
}

func TestBulkheadRefusesAfterTheQueueTimeout(t *testing.T) {
	t.Parallel()
	in := newTestInstance(Settings{BreakerFailures: 5, BreakerOpenFor: time.Minute, MaxConcurrent: 1, QueueTimeout: 20 * time.Millisecond})
	in.slots <- struct{}{} // the one slot is taken
	_, err := in.Call(context.Background(), "t", nil, nil)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, errNotSent) {
		t.Fatalf("want busy, got %v", err)
	}
	<-in.slots
	_, err = in.Call(context.Background(), "t", nil, nil)
	if errors.Is(err, ErrBusy) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with a free slot the call must go on (and find no session): %v", err)
	}
}

// BenchmarkProtectedCall is what the bulkhead and the breaker add to a call: the upstream send
// itself is a function that returns at once.
func BenchmarkProtectedCall(b *testing.B) {
	in := newTestInstance(Settings{BreakerFailures: 5, BreakerOpenFor: time.Minute, MaxConcurrent: 64, QueueTimeout: time.Second})
	ok := func() (CallResult, error) { return CallResult{}, nil }
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := in.protect(ctx, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
