package router

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

var tracer = otel.Tracer("github.com/switchboard-mcp/switchboard/router")

// startCallSpan starts the server span of a tools/call, with the MCP semantic-convention
// attributes. Its parent is the client's trace context: from the HTTP headers (already in ctx),
// else from the request's _meta (traceparent, tracestate), as MCP clients may send it.
func startCallSpan(ctx context.Context, call toolCall) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		if call.traceParent != "" && !trace.SpanContextFromContext(ctx).IsValid() {
			ctx = extractMetaTraceContext(ctx, call) // still passed on to the upstream
		}
		return ctx, noSpan
	}
	if call.traceParent != "" && !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = extractMetaTraceContext(ctx, call)
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

// extractMetaTraceContext puts the trace context of the call's _meta into ctx.
func extractMetaTraceContext(ctx context.Context, call toolCall) context.Context {
	carrier := propagation.MapCarrier{"traceparent": call.traceParent}
	if call.traceState != "" {
		carrier["tracestate"] = call.traceState
	}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}

// noSpan is the span of a call while tracing is off: it records nothing.
var noSpan = noop.Span{}

func endCallSpan(span trace.Span, outcome string) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("switchboard.outcome", outcome))
	if outcome != callrecord.OutcomeOK {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}
