package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

// BenchmarkToolsCall measures one tools/call (echo, a few bytes) from an mcp-go client, directly
// to mcp-demo and through the gateway, over loopback Streamable HTTP. The difference is what the
// gateway adds to a call.
//
// The cached variants call a tool whose results the gateway caches (in process, or in a real
// redis-server), so after the first call the upstream is not involved.
func BenchmarkToolsCall(b *testing.B) {
	demo := startDemoHTTP(b, "demo", false)
	g := startGateway(b, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	rules := `tools: {"demo__echo": {ttl: 1h}, "demo__sleep": {ttl: 1h}}`
	memory := startGateway(b, fmt.Sprintf("cache: {%s}\nupstreams:\n  - {name: demo, url: %s}\n", rules, demo.URL))
	redis := redistest.Start(b)
	inRedis := startGateway(b, fmt.Sprintf("cache: {redis: {address: %q}, %s}\nupstreams:\n  - {name: demo, url: %s}\n", redis.Addr, rules, demo.URL))
	echo := map[string]any{"text": "hello"}
	work := map[string]any{"ms": 2} // a tool that works for 2 ms: what caching is for
	for _, tc := range []struct {
		name, url, tool string
		args            map[string]any
	}{
		{"echo/direct", demo.URL, "echo", echo},
		{"echo/gateway", g.URL, "demo__echo", echo},
		{"echo/gateway-cache-hit-memory", memory.URL, "demo__echo", echo},
		{"echo/gateway-cache-hit-redis", inRedis.URL, "demo__echo", echo},
		{"2ms-tool/direct", demo.URL, "sleep", work},
		{"2ms-tool/gateway", g.URL, "demo__sleep", work},
		{"2ms-tool/gateway-cache-hit-memory", memory.URL, "demo__sleep", work},
		{"2ms-tool/gateway-cache-hit-redis", inRedis.URL, "demo__sleep", work},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := connect(b, tc.url, true, nil)
			args := tc.args
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

// BenchmarkConsulPropagation measures, over 20 registrations of a fresh service each, the time
// from registering an instance in Consul to the first successful call through the gateway, and
// from deregistering it to the gateway answering "unknown tool". It reports p50 and p99 of both.
func BenchmarkConsulPropagation(b *testing.B) {
	agent := startConsul(b)
	g := consulGateway(b, agent)
	c := connect(b, g.URL, true, nil)
	demo := startDemoHTTP(b, "demo", false)
	for range b.N {
		var up, down []time.Duration
		for i := range 20 {
			svc := fmt.Sprintf("svc%d", i)
			start := time.Now()
			agent.register(b, svc, svc, demo, nil)
			for {
				if res, err := callErr(c, svc+"__whoami", nil); err == nil && !res.IsError {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			up = append(up, time.Since(start))

			start = time.Now()
			agent.deregister(b, svc)
			for {
				if resp := rawCall(b, c, svc+"__whoami", nil); resp.Error != nil {
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			down = append(down, time.Since(start))
		}
		b.ReportMetric(percentile(up, 50).Seconds()*1000, "register-p50-ms")
		b.ReportMetric(percentile(up, 99).Seconds()*1000, "register-p99-ms")
		b.ReportMetric(percentile(down, 50).Seconds()*1000, "deregister-p50-ms")
		b.ReportMetric(percentile(down, 99).Seconds()*1000, "deregister-p99-ms")
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
