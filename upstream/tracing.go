package upstream

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-mcp/switchboard/telemetry"
)

var tracer = otel.Tracer("github.com/switchboard-mcp/switchboard/upstream")

// noSpan is the span of a request while tracing is off: it records nothing.
var noSpan = noop.Span{}

// startSpan starts the client span of one request to the instance.
func (in *Instance) startSpan(ctx context.Context, req *request) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return ctx, noSpan // the trace context in ctx, if any, still goes upstream (traceHeaders)
	}
	name := req.method
	attrs := []attribute.KeyValue{
		attribute.String("mcp.method.name", req.method),
		attribute.String("switchboard.upstream", string(in.name)),
		attribute.String("switchboard.instance", string(in.spec.ID)),
		attribute.String("network.transport", string(in.spec.Transport)),
	}
	if req.call != nil {
		name += " " + req.call.Name
		attrs = append(attrs, attribute.String("gen_ai.tool.name", req.call.Name))
	}
	if st := in.state.Load(); st.conn != nil && st.conn.rpc.GetSessionId() != "" {
		attrs = append(attrs, attribute.String("mcp.session.id", st.conn.rpc.GetSessionId()))
	}
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// traceHeaders passes the trace context on to the upstream: as HTTP headers, and in the
// request's _meta (for stdio, and servers that read it there). It returns the headers.
func traceHeaders(ctx context.Context, req *request) http.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return nil // nothing to pass on
	}
	h := http.Header{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
	if tp := h.Get("traceparent"); tp != "" {
		meta := req.meta()
		meta["traceparent"] = tp
		if ts := h.Get("tracestate"); ts != "" {
			meta["tracestate"] = ts
		}
	}
	return h
}
