package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLoopbackHostRules: behind a sidecar proxy that connects over loopback with the public
// Host, the gateway serves public_url's host and allowed_hosts, and still refuses any other
// host on loopback (DNS rebinding protection), in both eras.
func TestLoopbackHostRules(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("public_url: https://mcp.example.com\nallowed_hosts: [\"proxy.internal:8443\"]\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	modern := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	for _, tc := range []struct {
		host string
		want int
	}{
		{"mcp.example.com", http.StatusOK},
		{"mcp.example.com:443", http.StatusOK},
		{"proxy.internal:8443", http.StatusOK},
		{"evil.example", http.StatusForbidden},
		{"proxy.internal:9999", http.StatusForbidden},
	} {
		for era, body := range map[string]string{"2025-11-25": initializeBody, "2026-07-28": modern} {
			req, _ := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(body))
			req.Host = tc.host
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if era == "2026-07-28" {
				req.Header.Set("Mcp-Protocol-Version", era)
				req.Header.Set("Mcp-Method", "tools/list")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s, Host %s over loopback: HTTP %d, want %d", era, tc.host, resp.StatusCode, tc.want)
			}
		}
	}
}
