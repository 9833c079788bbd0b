package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/switchboard-mcp/switchboard/registry"
)

// CallRequest is one tools/call to route to an upstream.
type CallRequest struct {
	// Tool is the upstream's own name of the tool.
	Tool string
	// Args are the call's arguments as the client sent them (a JSON object, or nil).
	Args json.RawMessage
	// Idempotent calls (annotated idempotentHint or readOnlyHint) may be sent again to another
	// instance after a transport failure.
	Idempotent bool
	// Relay, if not nil, gets the upstream's progress, log messages and requests (sampling,
	// elicitation, roots) meant for the client of this call.
	Relay Relay
}

// CallResult is the answer to a CallRequest.
type CallResult struct {
	// Raw is the upstream's result as it sent it; nil on error.
	Raw json.RawMessage
	// Instance is the instance the request last reached, also on error; "" when none was.
	Instance registry.InstanceID
}

// Call routes req, a call of the upstream's own tool name, to an instance: the less busy of two picked
// at random among those whose circuit breaker is closed, connected ones first, and of those the
// ones that list the tool (replicas may disagree during a rolling deploy). A call that failed
// before reaching the upstream (no session, connection refused, bulkhead full, breaker open) is
// tried once more on another instance; one that may have reached it is tried again only when
// idempotent (the tool is annotated idempotentHint or readOnlyHint) and the transport failed.
// See Instance.Call for the errors.
func (u *Upstream) Call(ctx context.Context, req CallRequest) (CallResult, error) {
	first, err := u.pick(nil, req.Tool)
	if first == nil {
		return CallResult{}, err
	}
	res, err := first.Call(ctx, req.Tool, req.Args, req.Relay)
	if err == nil || !retryable(ctx, err, req.Idempotent) {
		return res, err
	}
	second, _ := u.pick(first, req.Tool)
	if second == nil {
		return res, err
	}
	again, err := second.Call(ctx, req.Tool, req.Args, req.Relay)
	if again.Instance == "" {
		again.Instance = res.Instance // the second never reached its instance: the first was the last
	}
	return again, err
}

// retryable is the retry rule of Call: a call that failed before it was sent may go to another
// instance; one that may have reached the upstream only when it is idempotent, the transport
// failed (not the upstream's own answer, not a timeout) and the caller still waits.
func retryable(ctx context.Context, err error, idempotent bool) bool {
	return errors.Is(err, errNotSent) || (idempotent && errors.Is(err, ErrUnavailable) && ctx.Err() == nil)
}

// pick returns an instance that can take a call, skipping exclude, or nil and why not. With a
// tool, connected instances that list it are preferred; when none does (it is being added),
// any connected one is asked.
func (u *Upstream) pick(exclude *Instance, tool string) (*Instance, error) {
	var connected, closed []*Instance
	soonest := time.Duration(-1)
	for _, in := range u.instances {
		if in == exclude {
			continue
		}
		if open, left := in.breakerOpen(); open {
			if soonest < 0 || left < soonest {
				soonest = left
			}
			continue
		}
		closed = append(closed, in)
		if in.state.Load().conn != nil {
			connected = append(connected, in)
		}
	}
	if tool != "" {
		if listing := withTool(connected, tool); len(listing) > 0 {
			connected = listing
		}
	}
	switch {
	case len(connected) > 0:
		return lessBusyOfTwo(connected), nil
	case len(closed) > 0:
		// None connected: the call fails fast with the reason, and counts for the breaker.
		return lessBusyOfTwo(closed), nil
	case soonest >= 0:
		return nil, withRetryAfter(fmt.Errorf("%w: every instance of %s failed repeatedly", ErrCircuitOpen, u.Desc.Name), soonest)
	}
	return nil, ErrNoInstance
}

// withTool returns the instances of ins that list tool: ins itself when all do (the usual case,
// no allocation), else a new slice.
func withTool(ins []*Instance, tool string) []*Instance {
	missing := 0
	for _, in := range ins {
		if !in.state.Load().hasTool(tool) {
			missing++
		}
	}
	if missing == 0 {
		return ins
	}
	out := make([]*Instance, 0, len(ins)-missing)
	for _, in := range ins {
		if in.state.Load().hasTool(tool) {
			out = append(out, in)
		}
	}
	return out
}

// lessBusyOfTwo is "the power of two choices": it spreads load nearly as well as picking the
// least busy of all, without scanning or coordinating.
func lessBusyOfTwo(ins []*Instance) *Instance {
	a, b := ins[rand.IntN(len(ins))], ins[rand.IntN(len(ins))]
	if b.inFlight.Load() < a.inFlight.Load() {
		return b
	}
	return a
}
