package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestUpstreamErrorsPassThroughUnchanged(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	for _, legacy := range []bool{true, false} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			c := connect(t, g.URL, legacy, nil)
			direct := connect(t, demo.URL, legacy, nil)

			// A tool's own error result (isError) is the upstream's, unchanged.
			res := call(t, c, "demo__fail", map[string]any{"message": "disk full"})
			if !res.IsError || text(res) != "disk full" || gatewayErrorCode(res) != "" {
				t.Errorf("tool error: got isError=%v text=%q meta=%v", res.IsError, text(res), res.Meta)
			}
			if !legacy {
				return // the raw checks below speak the 2025-11-25 wire format
			}
			// A JSON-RPC error from the upstream keeps its code and message.
			want := rawCall(t, direct, "fail", map[string]any{"message": "bad state", "jsonrpc": true})
			got := rawCall(t, c, "demo__fail", map[string]any{"message": "bad state", "jsonrpc": true})
			if want.Error == nil || got.Error == nil || got.Error.Code != want.Error.Code || got.Error.Message != want.Error.Message {
				t.Errorf("JSON-RPC error changed: upstream %+v, gateway %+v", want.Error, got.Error)
			}
		})
	}
}

func TestBothProtocolErasAreServed(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	for _, tc := range []struct {
		legacy  bool
		version string
	}{{true, mcp.ProtocolVersion20251125}, {false, mcp.ProtocolVersion20260728}} {
		t.Run(tc.version, func(t *testing.T) {
			c := connect(t, g.URL, tc.legacy, nil)
			if got := c.ProtocolVersion(); got != tc.version {
				t.Errorf("negotiated %q, want %q", got, tc.version)
			}
			ctx, cancel := contextWithTimeout(10 * time.Second)
			defer cancel()
			tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil || len(tools.Tools) < 8 {
				t.Fatalf("tools/list: %v (%v)", err, tools)
			}
			if got := text(call(t, c, "demo__echo", map[string]any{"text": tc.version})); got != tc.version {
				t.Errorf("echo: %q", got)
			}
			resp, err := callErr(c, "demo__missing", nil)
			if err == nil || !strings.Contains(err.Error(), "unknown tool: demo__missing") {
				t.Errorf("unknown tool: got %v, %v", resp, err)
			}
		})
	}
}

func TestSlowUpstreamTimesOutWithTheDesignedError(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s, timeout: 300ms}\n", demo.URL))
	c := connect(t, g.URL, true, nil)
	res := call(t, c, "demo__sleep", map[string]any{"ms": 20000})
	if !res.IsError || gatewayErrorCode(res) != "timeout" || !strings.HasPrefix(text(res), "timeout:") {
		t.Fatalf("want a timeout error result, got isError=%v code=%q text=%q", res.IsError, gatewayErrorCode(res), text(res))
	}
	// The session is still good for the next call.
	if got := text(call(t, c, "demo__echo", map[string]any{"text": "after"})); got != "after" {
		t.Errorf("echo after timeout: %q", got)
	}
}

// A reply over defaults.max_response_bytes fails that call with a clear error; the gateway is
// not made to hold it, and the next call works.
func TestHugeUpstreamReplyIsCutOff(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("defaults: {max_response_bytes: 65536}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	c := connect(t, g.URL, true, nil)
	if got := text(call(t, c, "demo__payload", map[string]any{"bytes": 30000})); len(got) != 30000 {
		t.Fatalf("a reply under the limit: %d bytes, want 30000", len(got))
	}
	res := call(t, c, "demo__payload", map[string]any{"bytes": 10 << 20})
	if !res.IsError || gatewayErrorCode(res) != "upstream_unavailable" || !strings.Contains(text(res), "too large") {
		t.Fatalf("a 10 MiB reply over a 64 KiB limit: isError=%v code=%q text=%.200q", res.IsError, gatewayErrorCode(res), text(res))
	}
	if got := text(call(t, c, "demo__echo", map[string]any{"text": "after"})); got != "after" {
		t.Errorf("echo after a cut-off reply: %q", got)
	}
}

func TestLegacySSEAndStdioUpstreams(t *testing.T) {
	t.Parallel()
	sse := startDemoHTTP(t, "over-sse", true)
	node, npmEverything := needNPMEverything(t)
	g := startGateway(t, fmt.Sprintf(`
upstreams:
  - {name: sse, url: %s, transport: sse}
  - {name: stdio, command: [%q, "--name", "over-stdio"]}
  - {name: npmstdio, command: [%q, %q, "stdio"]}
`, sse.URL, bin.demo, node, npmEverything))
	c := connect(t, g.URL, true, nil)
	if got := text(call(t, c, "sse__whoami", nil)); got != "over-sse" {
		t.Errorf("sse__whoami: %q", got)
	}
	if got := text(call(t, c, "stdio__whoami", nil)); got != "over-stdio" {
		t.Errorf("stdio__whoami: %q", got)
	}
	if got := text(call(t, c, "npmstdio__echo", map[string]any{"message": "hi"})); got != "Echo: hi" {
		t.Errorf("npmstdio__echo: %q", got)
	}
}

func TestConcurrentCallsShareOneUpstreamSession(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 4 {
		c := connect(t, g.URL, i%2 == 0, nil)
		for j := range 10 {
			wg.Go(func() {
				want := fmt.Sprintf("client %d call %d", i, j)
				res, err := callErr(c, "demo__echo", map[string]any{"text": want})
				if err != nil {
					errs <- err
				} else if got := text(res); got != want {
					errs <- fmt.Errorf("got %q, want %q", got, want)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
