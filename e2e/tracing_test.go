package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it keeps every span exported to it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = gz
	}
	b, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (o *otlpReceiver) span(name string) *tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.GetStringValue()
		}
	}
	return ""
}

func TestTracesReachAnOTLPReceiver(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	demo := startDemoHTTP(t, "demo", false)
	g := startGatewayEnv(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL),
		[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + srv.URL, "OTEL_BSP_SCHEDULE_DELAY=100"})

	// The client sends its trace context in the HTTP headers.
	traceID, parentID := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	c := dialMCP(t, g.URL, true, map[string]string{"traceparent": "00-" + traceID + "-" + parentID + "-01"}, nil)
	call(t, c, "demo__echo", map[string]any{"text": "traced"})

	var server, client *tracepb.Span
	eventually(t, 10*time.Second, "spans exported", func() error {
		server, client = recv.span("tools/call demo__echo"), recv.span("tools/call echo")
		if server == nil || client == nil {
			return fmt.Errorf("spans so far: server %v, client %v", server != nil, client != nil)
		}
		return nil
	})
	if hex.EncodeToString(server.TraceId) != traceID || hex.EncodeToString(server.ParentSpanId) != parentID {
		t.Errorf("the server span is not the client's child: trace %x parent %x", server.TraceId, server.ParentSpanId)
	}
	if hex.EncodeToString(client.TraceId) != traceID || string(client.ParentSpanId) != string(server.SpanId) {
		t.Errorf("the upstream span is not the server span's child")
	}
	if server.Kind != tracepb.Span_SPAN_KIND_SERVER || client.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("span kinds: %v, %v", server.Kind, client.Kind)
	}
	for key, want := range map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "demo__echo", "switchboard.outcome": "ok"} {
		if got := attr(server, key); got != want {
			t.Errorf("server span %s = %q, want %q", key, got, want)
		}
	}
	if attr(server, "mcp.session.id") == "" {
		t.Error("server span without mcp.session.id")
	}
	for key, want := range map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo", "switchboard.upstream": "demo", "switchboard.instance": "static"} {
		if got := attr(client, key); got != want {
			t.Errorf("upstream span %s = %q, want %q", key, got, want)
		}
	}
}
