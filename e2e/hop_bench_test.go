package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkHop puts the gateway beside the floor of one hop, in one run: the same minimal client
// calls echo on mcp-demo directly, through a plain httputil reverse proxy (no MCP logic), and
// through the gateway; for each it reports p50 and p99 at one session, calls/s at 32 sessions,
// and the CPU per call of the process in the middle (the upstream's own for direct), from
// /proc (user+system time). Everything shares the machine's 2 cores. Run with -benchtime 1x.
func BenchmarkHop(b *testing.B) {
	proxyBin, err := goBuild("hopproxy", "./testdata/hopproxy")
	if err != nil {
		b.Fatal(err)
	}
	demo := startDemoHTTP(b, "demo", false)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	proxy := start(b, nil, proxyBin, "--listen", addr, "--target", strings.TrimSuffix(demo.URL, "/mcp"))
	waitTCP(b, addr, proxy)
	g := startGateway(b, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL))
	cached := startGateway(b, fmt.Sprintf("cache: {tools: {\"demo__echo\": {ttl: 1h}}}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	paths := []struct {
		name, url, tool string
		pid             int
	}{
		{"direct", demo.URL, "echo", demo.proc.cmd.Process.Pid},
		{"plain-proxy", "http://" + addr + "/mcp", "echo", proxy.cmd.Process.Pid},
		{"gateway", g.URL, "demo__echo", g.proc.cmd.Process.Pid},
		{"gateway-cache-hit", cached.URL, "demo__echo", cached.proc.cmd.Process.Pid},
	}
	var table strings.Builder
	for range b.N {
		for _, p := range paths {
			lat := sequentialLatencies(b, p.url, p.tool, 2000)
			cpu0 := cpuSeconds(b, p.pid)
			start := time.Now()
			calls := throughput(b, p.url, p.tool, 32, 5*time.Second) * 5
			cpu := (cpuSeconds(b, p.pid) - cpu0) / calls * 1e6
			rate := calls / time.Since(start).Seconds()
			fmt.Fprintf(&table, "| %s | %v | %v | %.0f | %.0f |\n", p.name, percentileOf(lat, 50), percentileOf(lat, 99), rate, cpu)
			b.ReportMetric(cpu, p.name+"-cpu-µs/call")
		}
	}
	b.Logf("| path | p50, 1 session | p99, 1 session | calls/s, 32 sessions | CPU µs/call of the middle process |\n|---|---|---|---|---|\n%s", table.String())
}
