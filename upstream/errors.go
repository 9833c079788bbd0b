package upstream

import (
	"errors"
	"fmt"
)

// Errors of a call that the gateway, not the upstream, decided. Callers use errors.Is.
var (
	// ErrUnavailable: no live session to the upstream, or the transport failed during the call.
	ErrUnavailable = errors.New("upstream unavailable")
	// ErrTimeout: the upstream did not answer before the call's deadline.
	ErrTimeout = errors.New("upstream timed out")
	// ErrNoInstance: the upstream has no instance that could take the call.
	ErrNoInstance = errors.New("no instance of the upstream")
	// ErrCircuitOpen: every instance's circuit breaker is open after repeated failures.
	ErrCircuitOpen = errors.New("circuit open")
	// ErrBusy: every slot of the instance's bulkhead stayed taken for the queue timeout.
	ErrBusy = errors.New("upstream busy")
	// ErrAuth: no credential of the caller toward the upstream could be had (the token
	// exchange was refused or failed, or the call has no caller token). Nothing was sent, and
	// nothing is sent with weaker credentials instead.
	ErrAuth = errors.New("no token of the caller for the upstream")
)

// errNotSent marks a failure that happened before the request reached the upstream (no
// session, connection refused, session unknown to the server): the call can safely go to
// another instance.
var errNotSent = errors.New("request not sent")

// RPCError is a JSON-RPC error the upstream answered with. It is passed to the client unchanged.
type RPCError struct {
	Code    int
	Message string
	Data    any
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("upstream JSON-RPC error %d: %s", e.Code, e.Message)
}
