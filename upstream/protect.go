package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// Settings are the per-instance protections and timings the Manager applies.
type Settings struct {
	// ConnectTimeout bounds each dial and handshake.
	ConnectTimeout time.Duration
	// BreakerFailures in a row open an instance's circuit breaker; BreakerOpenFor is how long it
	// stays open before one probe call is let through.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	// MaxConcurrent calls per instance (the bulkhead); a call beyond waits up to QueueTimeout.
	MaxConcurrent int
	QueueTimeout  time.Duration
	// MaxResponseBytes bounds one answer of an HTTP upstream (0: unbounded).
	MaxResponseBytes int64
	// Credentials are the gateway's named credentials (config credentials). An instance that
	// names one sends each call with a token of its caller, exchanged with these settings.
	Credentials map[string]tokenexchange.Config
}

// retryAfter is an error that knows when trying again makes sense.
type retryAfter struct {
	err   error
	after time.Duration
}

func (e *retryAfter) Error() string                   { return e.err.Error() }
func (e *retryAfter) Unwrap() error                   { return e.err }
func (e *retryAfter) RetryAfter() time.Duration       { return e.after }
func withRetryAfter(err error, d time.Duration) error { return &retryAfter{err: err, after: d} }

// RetryAfter returns how long the caller should wait before retrying after err, if known.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}

func newBreaker(in *Instance, s Settings) *gobreaker.CircuitBreaker[CallResult] {
	return gobreaker.NewCircuitBreaker[CallResult](gobreaker.Settings{
		Name:        string(in.name) + "/" + string(in.spec.ID),
		MaxRequests: 1,
		Timeout:     s.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(s.BreakerFailures) },
		// What the upstream answered, even a JSON-RPC error, shows it alive; a tool's isError
		// result is a success too. Transport failures and timeouts are failures.
		IsSuccessful: func(err error) bool {
			return err == nil || !(errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout))
		},
		// A client that went away says nothing about the upstream.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				in.openUntil.Store(time.Now().Add(s.BreakerOpenFor).UnixNano())
			}
			in.log.Warn("circuit breaker state changed", "from", from.String(), "to", to.String())
			in.changed()
		},
	})
}

// breakerOpen reports whether the breaker rejects calls now, and for how long still.
func (in *Instance) breakerOpen() (bool, time.Duration) {
	if in.breaker.State() != gobreaker.StateOpen {
		return false, 0
	}
	return true, max(time.Until(time.Unix(0, in.openUntil.Load())), 0)
}

// Call is one protected call: it waits for a slot of the instance's bulkhead, then goes through
// its circuit breaker to send tools/call for tool with args; relay, if not nil, gets what the
// upstream says to the client meanwhile. See send for the errors; in addition ErrCircuitOpen and
// ErrBusy, both before anything was sent.
//
// An instance with credentials first gets the caller's token for it (ErrAuth when that fails),
// outside the bulkhead and the breaker: the upstream was not asked.
func (in *Instance) Call(ctx context.Context, tool string, args json.RawMessage, relay Relay) (CallResult, error) {
	ctx, err := in.withCallerToken(ctx)
	if err != nil {
		return CallResult{}, err
	}
	return in.protect(ctx, func() (CallResult, error) { return in.send(ctx, tool, args, relay) })
}

// Request is a protected request other than tools/call (prompts/get, resources/read, ...).
func (in *Instance) Request(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	ctx, err := in.withCallerToken(ctx)
	if err != nil {
		return nil, err
	}
	res, err := in.protect(ctx, func() (CallResult, error) { return in.sendRequest(ctx, request{method: method, params: params}, nil) })
	return res.Raw, err
}

// protect runs send in a bulkhead slot and through the circuit breaker.
func (in *Instance) protect(ctx context.Context, send func() (CallResult, error)) (CallResult, error) {
	select {
	case in.slots <- struct{}{}:
	default:
		wait := time.NewTimer(in.settings.QueueTimeout)
		defer wait.Stop()
		select {
		case in.slots <- struct{}{}:
		case <-wait.C:
			return CallResult{}, withRetryAfter(fmt.Errorf("%w: %w: %d calls in flight, none finished within %v",
				ErrBusy, errNotSent, cap(in.slots), in.settings.QueueTimeout), in.settings.QueueTimeout)
		case <-ctx.Done():
			return CallResult{}, ctx.Err()
		}
	}
	defer func() { <-in.slots }()
	res, err := in.breaker.Execute(send)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		_, left := in.breakerOpen()
		return CallResult{}, withRetryAfter(fmt.Errorf("%w: %w", ErrCircuitOpen, errNotSent), left)
	}
	return res, err
}
