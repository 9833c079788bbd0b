package router

import (
	"context"

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
func startCallSpan(ctx context.Context, call toolCall) (context.Context, trace.Span) {
	if call.traceParent != "" && !trace.SpanContextFromContext(ctx).IsValid() {
		carrier := propagation.MapCarrier{"traceparent": call.traceParent}
		if call.traceState != "" {
			carrier["tracestate"] = call.traceState
		}
		ctx = otel.GetTextMapPropagator().Extract(ctx, carrier)
	}
	return tracer.Start(ctx, "tools/call "+call.name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("mcp.method.name", "tools/call"),
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", call.name),
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
