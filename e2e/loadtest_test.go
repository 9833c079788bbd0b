package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestK6Smoke runs the k6 smoke scenario through the gateway in both protocol eras. It judges
// errors only (every call answered, no error result), never times: this machine also runs the
// gateway and the upstream.
func TestK6Smoke(t *testing.T) {
	t.Parallel()
	k6 := needK6(t)
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("cache: {tools: {\"demo__counter\": {ttl: 1m}}}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	script, _ := filepath.Abs("../loadtest/mcp.js")
	for _, era := range []string{"2025-11-25", "2026-07-28"} {
		out, err := exec.Command(k6, "run", "--quiet", "--no-usage-report", "-e", "MCP_URL="+g.URL, "-e", "ERA="+era, "-e", "SCENARIO=smoke", script).CombinedOutput()
		if err != nil {
			t.Errorf("k6 smoke, %s: %v\n%s", era, err, out)
		}
	}
}
