package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// CallRecord is what the router knows of one finished tools/call: enough for metrics and the
// audit log. Observers must never record an argument value (Args), a result or a token.
type CallRecord struct {
	Time     time.Time
	Tool     ExposedName // empty for an unknown tool (its name is the client's, unbounded)
	Upstream string
	Instance string // the instance that answered, if any
	Outcome  string // ok, tool_error, jsonrpc_error, unknown_tool, cancelled, or a gateway error code
	Duration time.Duration
	CacheHit bool
	// Cacheable is true when the tool's results may be cached (a lookup was made).
	Cacheable bool
	Subject   string // the principal's subject, when authenticated
	ClientID  string
	Session   string // the MCP session, when there is one
	// Args are the call's arguments as the client sent them: for ArgsHash, never to be kept.
	Args json.RawMessage
}

// ArgsHash is the SHA-256 of the canonical arguments, 16 hex digits, computed on demand (only the
// audit log wants it, and it costs a JSON round trip).
func (c CallRecord) ArgsHash() string {
	canon, err := cache.Canonical(c.Args)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:8])
}

// Observer is told of every finished call. It must be safe for concurrent use and return fast.
type Observer interface {
	ObserveCall(CallRecord)
}

// Outcomes that are not gateway error codes.
const (
	OutcomeOK           = "ok"
	OutcomeToolError    = "tool_error"
	OutcomeJSONRPCError = "jsonrpc_error"
	OutcomeUnknownTool  = "unknown_tool"
	OutcomeCancelled    = "cancelled"
)

// outcomeOf classifies a finished call from what the handler returns.
func outcomeOf(ctx context.Context, res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil && ctx.Err() != nil:
		return OutcomeCancelled
	case err != nil: // errPlaceholder included: an upstream's JSON-RPC error
		return OutcomeJSONRPCError
	case res == nil || !res.IsError:
		return OutcomeOK
	case res.Meta != nil:
		if e, ok := res.Meta.AdditionalFields[ErrorMetaKey].(map[string]any); ok {
			if code, ok := e["code"].(string); ok {
				return code
			}
		}
	}
	return OutcomeToolError
}

// newCallRecord starts the record of a call: who calls, with what arguments (hashed).
func newCallRecord(ctx context.Context, args []byte) CallRecord {
	rec := CallRecord{Time: time.Now(), Session: sessionID(ctx), Args: args}
	if p := authn.PrincipalFrom(ctx); p != nil {
		rec.Subject, rec.ClientID = p.Subject, p.ClientID
	}
	return rec
}

// withInstance lets the upstream package say which instance served a call; servedBy tells it.
// The report may come from another goroutine (a single-flight fill), hence the atomic.
func withInstance(ctx context.Context) (_ context.Context, servedBy func() string) {
	var id atomic.Pointer[string]
	ctx = upstream.WithServedBy(ctx, func(s string) { id.Store(&s) })
	return ctx, func() string {
		if p := id.Load(); p != nil {
			return *p
		}
		return ""
	}
}
