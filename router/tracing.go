package router

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
)

var tracer = otel.Tracer("github.com/switchboard-mcp/switchboard/router")

// startCallSpan starts the server span of a tools/call, with the MCP semantic-convention
// attributes. Its parent is the client's trace context: from the HTTP headers (already in ctx),
// else from the request's _meta (traceparent, tracestate), as MCP clients may send it.
func startCallSpan(ctx context.Context, req mcp.CallToolRequest) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() && req.Params.Meta != nil {
		carrier := propagation.MapCarrier{}
		for _, k := range []string{"traceparent", "tracestate"} {
			if v, ok := req.Params.Meta.AdditionalFields[k].(string); ok {
				carrier[k] = v
			}
		}
		ctx = otel.GetTextMapPropagator().Extract(ctx, carrier)
	}
	return tracer.Start(ctx, "tools/call "+req.Params.Name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("mcp.method.name", "tools/call"),
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", req.Params.Name),
			attribute.String("mcp.session.id", sessionID(ctx)),
			attribute.String("http.request.header.x-request-id", middleware.RequestIDFrom(ctx)),
		))
}

func endCallSpan(span trace.Span, outcome string) {
	span.SetAttributes(attribute.String("switchboard.outcome", outcome))
	if outcome != callrecord.OutcomeOK {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}
