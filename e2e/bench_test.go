package e2e

import (
	"fmt"
	"testing"
)

// BenchmarkToolsCall measures one tools/call (echo, a few bytes) from an mcp-go client, directly
// to mcp-demo and through the gateway, over loopback Streamable HTTP. The difference is what the
// gateway adds to a call.
func BenchmarkToolsCall(b *testing.B) {
	demo := startDemoHTTP(b, "demo", false)
	g := startGateway(b, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	for _, tc := range []struct{ name, url, tool string }{
		{"direct", demo.URL, "echo"},
		{"gateway", g.URL, "demo__echo"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := connect(b, tc.url, true, nil)
			args := map[string]any{"text": "hello"}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := callErr(c, tc.tool, args); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
