package telemetry

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// StartTracing turns on OpenTelemetry tracing when the standard environment asks for it
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, OTEL_SDK_DISABLED not
// "true", OTEL_TRACES_EXPORTER not "none"); spans go over OTLP/HTTP, configured by the usual
// OTEL_* variables. Off, it installs nothing and costs nothing: TracingOn tells the code that
// starts spans to skip them (the client's trace context still passes on to upstreams, as it is
// in the request's context). The returned func flushes and stops.
func StartTracing(ctx context.Context, version string) (stop func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	// The W3C propagator is installed either way, so trace context passes through untouched.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || os.Getenv("OTEL_TRACES_EXPORTER") == "none" ||
		(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return noop, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, err
	}
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName("switchboard"), semconv.ServiceVersion(version)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	tracingOn.Store(true)
	return func(ctx context.Context) error {
		tracingOn.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

var tracingOn atomic.Bool

// TracingOn reports whether spans are exported (StartTracing turned tracing on). Off, starting
// a span only makes garbage: the trace context in a request's context passes on without one.
func TracingOn() bool { return tracingOn.Load() }

// ExtractTraceContext is an HTTP layer that takes the client's W3C trace context
// (traceparent, tracestate) from the request headers into the request's context.
func ExtractTraceContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		if ctx != r.Context() { // most requests carry none: no copy of the request for them
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}
