package router

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
)

// outcomeOf classifies a finished call from what the handler returns.
func outcomeOf(ctx context.Context, res *mcp.CallToolResult, err error) string {
	switch {
	case err != nil && ctx.Err() != nil:
		return callrecord.OutcomeCancelled
	case err != nil: // errPlaceholder included: an upstream's JSON-RPC error
		return callrecord.OutcomeJSONRPCError
	case res == nil || !res.IsError:
		return callrecord.OutcomeOK
	case res.Meta != nil:
		if e, ok := res.Meta.AdditionalFields[ErrorMetaKey].(map[string]any); ok {
			if code, ok := e["code"].(string); ok {
				return code
			}
		}
	}
	return callrecord.OutcomeToolError
}

// newCallRecord starts the record of a call: who calls, with what arguments (hashed).
func newCallRecord(ctx context.Context, args []byte) callrecord.Record {
	rec := callrecord.Record{Time: time.Now(), Session: sessionID(ctx), RequestID: middleware.RequestIDFrom(ctx), Args: args}
	if p := authn.PrincipalFrom(ctx); p != nil {
		rec.Subject, rec.ClientID = p.Subject, p.ClientID
	}
	return rec
}
