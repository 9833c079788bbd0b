package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkHop puts the gateway beside the floor of one hop, in one run: the same minimal client
// calls echo on mcp-demo directly, through a plain httputil reverse proxy (no MCP logic), and
// through the gateway; for each it reports p50 and p99 at one session, calls/s at 32 sessions,
// and the CPU per call of the process in the middle (the upstream's own for direct), from
// /proc (user+system time), each the median of three interleaved rounds. Everything shares the
// machine's 2 cores. Run with -benchtime 1x.
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
	// Three rounds, the paths interleaved in each, so a slow moment of the machine does not
	// land on one path only; each figure is the median of its three.
	const rounds = 3
	type sample struct{ p50, p99, rate, cpu []float64 }
	samples := make([]sample, len(paths))
	for range b.N {
		for range rounds {
			for i, p := range paths {
				lat := sequentialLatencies(b, p.url, p.tool, 2000)
				cpu0 := cpuSeconds(b, p.pid)
				start := time.Now()
				calls := throughput(b, p.url, p.tool, 32, 5*time.Second) * 5
				s := &samples[i]
				s.cpu = append(s.cpu, (cpuSeconds(b, p.pid)-cpu0)/calls*1e6)
				s.rate = append(s.rate, calls/time.Since(start).Seconds())
				s.p50 = append(s.p50, float64(percentileOf(lat, 50)))
				s.p99 = append(s.p99, float64(percentileOf(lat, 99)))
			}
		}
	}
	var table strings.Builder
	for i, p := range paths {
		s := samples[i]
		fmt.Fprintf(&table, "| %s | %v | %v | %.0f | %.0f |\n", p.name, time.Duration(median(s.p50)).Round(time.Microsecond),
			time.Duration(median(s.p99)).Round(time.Microsecond), median(s.rate), median(s.cpu))
		b.ReportMetric(median(s.cpu), p.name+"-cpu-µs/call")
	}
	b.Logf("medians of %d rounds:\n| path | p50, 1 session | p99, 1 session | calls/s, 32 sessions | CPU µs/call of the middle process |\n|---|---|---|---|---|\n%s", rounds, table.String())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
