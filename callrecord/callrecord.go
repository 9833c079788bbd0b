// Package callrecord is what is known of one finished tools/call, and who is told of it: the
// router fills a Record per call; observers (metrics, the audit log) read it. It sits below both,
// so neither imports the other.
package callrecord

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/switchboard-mcp/switchboard/cache"
)

// Record is what the router knows of one finished tools/call: enough for metrics and the audit
// log. Observers must never record an argument value (Args), a result or a token.
type Record struct {
	Time time.Time
	// Tool is the exposed name; empty for an unknown tool (its name is the client's, unbounded).
	Tool     string
	Upstream string
	// Instance is the instance the call last reached, if any; calls that shared one cache fill
	// all name the instance that served the fill.
	Instance string
	// Outcome is one of the Outcome constants.
	Outcome  string
	Duration time.Duration
	CacheHit bool
	// Cacheable is true when the tool's results may be cached (a lookup was made).
	Cacheable bool
	Subject   string // the principal's subject, when authenticated
	ClientID  string
	Session   string // the MCP session, when there is one
	RequestID string // the HTTP request's X-Request-Id, when the call came over HTTP
	// Method is the MCP method when it is not tools/call (a refused prompts/get, resources/read,
	// ...); Tool then names the prompt or resource.
	Method string
	// Reason says why a request was refused before it became a call (OutcomeSessionRefused).
	Reason string
	// Args are the call's arguments as the client sent them: for ArgsHash, never to be kept.
	Args json.RawMessage
}

// ArgsHash is the SHA-256 of the canonical arguments, 16 hex digits, computed on demand (only the
// audit log wants it, and it costs a JSON round trip). It is "" for arguments that are not JSON.
func (r Record) ArgsHash() string {
	canon, err := cache.Canonical(r.Args)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:8])
}

// IsCall reports whether r is a tools/call that reached the router's pipeline, rather than a
// request refused before it (authentication, session) or another method (Method set).
func (r Record) IsCall() bool {
	switch r.Outcome {
	case OutcomeUnauthenticated, OutcomeForbidden, OutcomeSessionRefused:
		return false
	}
	return r.Method == ""
}

// Observer is told of every finished call. It must be safe for concurrent use and return fast.
type Observer interface {
	ObserveCall(Record)
}

// Outcomes of a call. A failure the gateway decided has its docs/design.md error code as outcome.
const (
	OutcomeOK           = "ok"
	OutcomeToolError    = "tool_error"
	OutcomeJSONRPCError = "jsonrpc_error"
	OutcomeUnknownTool  = "unknown_tool"
	OutcomeCancelled    = "cancelled"
	// OutcomeUnauthenticated (HTTP 401) and OutcomeForbidden (403, a missing scope): refused
	// before the request reached MCP; Reason says why (authn's Refusal constants).
	OutcomeUnauthenticated = "unauthenticated"
	OutcomeForbidden       = "forbidden"
	// OutcomeNotAllowed: a tool, prompt or resource that exists but is outside the caller's
	// view; the caller was answered as if it did not exist.
	OutcomeNotAllowed = "not_allowed"
	// OutcomeSessionRefused: a request whose session id was tampered, expired, ended or
	// another principal's; it got HTTP 404 and never became a call.
	OutcomeSessionRefused = "session_refused"

	OutcomeRateLimited         = "rate_limited"
	OutcomeCircuitOpen         = "circuit_open"
	OutcomeNoInstance          = "no_instance"
	OutcomeTimeout             = "timeout"
	OutcomeUpstreamUnavailable = "upstream_unavailable"
	OutcomeUpstreamAuth        = "upstream_auth"
)
