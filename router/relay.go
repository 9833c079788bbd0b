package router

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/upstream"
)

// callRelay relays server-to-client traffic of one tools/call to the client that made it, on
// that call's own response stream: progress and log messages, and the upstream's sampling,
// elicitation and roots requests, asked of that client and answered back.
type callRelay struct {
	mcp   *server.MCPServer
	ctx   context.Context // the client's request: it names the session to talk to
	token any             // the client's progress token, or nil
}

var _ upstream.Relay = (*callRelay)(nil)

func (d *callRelay) ProgressToken() any { return d.token }

func (d *callRelay) Notify(method string, params map[string]any) {
	if method == string(mcp.MethodNotificationMessage) {
		// mcp-go's log path applies the client's level: the one a 2025-era session set
		// (clientSession.GetLogLevel), or the one a 2026-07-28 request declared.
		b, _ := json.Marshal(params)
		var p mcp.LoggingMessageNotificationParams
		if json.Unmarshal(b, &p) == nil {
			_ = d.mcp.SendLogMessageToClient(d.ctx, mcp.NewLoggingMessageNotification(p.Level, p.Logger, p.Data))
		}
		return
	}
	_ = d.mcp.SendNotificationToClient(d.ctx, method, params)
}

func (d *callRelay) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if sess, ok := server.ClientSessionFromContext(d.ctx).(*clientSession); ok {
		return sess.relay(ctx, method, params)
	}
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
