package router

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/upstream"
)

// callRelay relays server-to-client traffic of one tools/call to the client that made it:
// progress and log messages go to that client's session, and the upstream's sampling,
// elicitation and roots requests are asked of that client and answered back.
type callRelay struct {
	mcp    *server.MCPServer
	levels *logLevels
	ctx    context.Context // the client's request: it names the session to talk to
	token  any             // the client's progress token, or nil
}

// logLevels remembers the level each client session set with logging/setLevel. Upstream
// sessions are shared, so a client's level is not sent upstream; the gateway filters what it
// forwards instead. A session that set no level gets what the upstream sends (the upstream
// applies its own default), which is also what the client would get from the upstream itself.
type logLevels struct{ m sync.Map } // session id -> mcp.LoggingLevel

func (l *logLevels) hooks(h *server.Hooks) {
	h.AddAfterSetLevel(func(ctx context.Context, _ any, req *mcp.SetLevelRequest, _ *mcp.EmptyResult) {
		if s := server.ClientSessionFromContext(ctx); s != nil && s.SessionID() != "" {
			l.m.Store(s.SessionID(), req.Params.Level)
		}
	})
	h.AddOnUnregisterSession(func(_ context.Context, s server.ClientSession) { l.m.Delete(s.SessionID()) })
}

// allows reports whether a log message at level may go to the session of ctx.
func (l *logLevels) allows(ctx context.Context, level mcp.LoggingLevel) bool {
	s := server.ClientSessionFromContext(ctx)
	if s == nil {
		return false
	}
	min, set := l.m.Load(s.SessionID())
	return !set || level.ShouldSendTo(min.(mcp.LoggingLevel))
}

var _ upstream.Relay = (*callRelay)(nil)

func (d *callRelay) ProgressToken() any { return d.token }

func (d *callRelay) Notify(method string, params map[string]any) {
	if method == string(mcp.MethodNotificationMessage) {
		level, _ := params["level"].(string)
		if server.IsModernRequest(d.ctx) {
			// 2026-07-28: the client declared its level on the request; mcp-go's log path
			// applies it (and sends nothing to a request that asked for no logs).
			b, _ := json.Marshal(params)
			var p mcp.LoggingMessageNotificationParams
			if json.Unmarshal(b, &p) == nil {
				_ = d.mcp.SendLogMessageToClient(d.ctx, mcp.NewLoggingMessageNotification(p.Level, p.Logger, p.Data))
			}
			return
		}
		if !d.levels.allows(d.ctx, mcp.LoggingLevel(level)) {
			return
		}
	}
	_ = d.mcp.SendNotificationToClient(d.ctx, method, params)
}

func (d *callRelay) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	var result any
	var err error
	switch mcp.MCPMethod(method) {
	case mcp.MethodSamplingCreateMessage:
		var req mcp.CreateMessageRequest
		if err := json.Unmarshal(params, &req.CreateMessageParams); err != nil {
			return nil, fmt.Errorf("malformed sampling request: %w", err)
		}
		//lint:ignore SA1019 upstreams of the 2025-11-25 era sample through their client; the gateway passes that on
		result, err = d.mcp.RequestSampling(d.ctx, req)
	case mcp.MethodElicitationCreate:
		var req mcp.ElicitationRequest
		if err := json.Unmarshal(params, &req.Params); err != nil {
			return nil, fmt.Errorf("malformed elicitation request: %w", err)
		}
		result, err = d.mcp.RequestElicitation(d.ctx, req)
	case mcp.MethodListRoots:
		result, err = d.mcp.RequestRoots(d.ctx, mcp.ListRootsRequest{})
	default:
		return nil, fmt.Errorf("the gateway does not pass %s on to clients", method)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(result)
}
