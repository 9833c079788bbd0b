package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawSession is a minimal MCP client over Streamable HTTP: one initialized session, calls as
// plain POSTs on a keep-alive connection. Both paths use it, so its cost is the same on both
// sides of every ratio.
type rawSession struct {
	url, id string
	client  *http.Client
	next    int
}

func newRawSession(b testing.TB, url string) *rawSession {
	b.Helper()
	s := &rawSession{url: url, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	resp := s.post(b, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	s.id = resp.Header.Get("Mcp-Session-Id")
	s.post(b, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return s
}

func (s *rawSession) post(b testing.TB, body string) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 || bytes.Contains(data, []byte(`"error":{`)) {
		b.Fatalf("%s: %d %s", body, resp.StatusCode, data)
	}
	return resp
}

func (s *rawSession) call(b testing.TB, tool string) {
	s.next++
	s.post(b, `{"jsonrpc":"2.0","id":`+strconv.Itoa(s.next)+`,"method":"tools/call","params":{"name":"`+tool+`","arguments":{"text":"hello"}}}`)
}

func percentileOf(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// sequentialLatencies makes n calls one after another on one session.
func sequentialLatencies(b testing.TB, url, tool string, n int) []time.Duration {
	s := newRawSession(b, url)
	for range 200 { // warm up
		s.call(b, tool)
	}
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		s.call(b, tool)
		out[i] = time.Since(start)
	}
	return out
}

// throughput runs sessions concurrent sessions calling tool for d and returns calls per second.
func throughput(b testing.TB, url, tool string, sessions int, d time.Duration) float64 {
	ss := make([]*rawSession, sessions)
	for i := range ss {
		ss[i] = newRawSession(b, url)
		ss[i].call(b, tool)
	}
	var calls atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, s := range ss {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				s.call(b, tool)
				calls.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(calls.Load()) / d.Seconds()
}

// rssKB reads a process's resident set size.
func rssKB(b testing.TB, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(rest)[0])
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkRatios measures the gateway against calling its upstream (mcp-demo, in Go) directly,
// in one run, and reports the ratios of issue 9. Run it once: -benchtime 1x.
func BenchmarkRatios(b *testing.B) {
	demo := startDemoHTTP(b, "demo", false)
	g := startGateway(b, fmt.Sprintf(`
cache: {tools: {"demo__echo": {ttl: 1h}}}
upstreams: [{name: demo, url: %s}]
`, demo.URL))
	plain := startGateway(b, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL))
	var table strings.Builder
	for range b.N {
		// 1. One connection, one call at a time: latency.
		direct := sequentialLatencies(b, demo.URL, "echo", 3000)
		via := sequentialLatencies(b, plain.URL, "demo__echo", 3000)
		r50 := float64(percentileOf(via, 50)) / float64(percentileOf(direct, 50))
		r99 := float64(percentileOf(via, 99)) / float64(percentileOf(direct, 99))
		fmt.Fprintf(&table, "1. one connection: p50 %v vs %v direct (ratio %.2f); p99 %v vs %v (ratio %.2f)\n",
			percentileOf(via, 50), percentileOf(direct, 50), r50, percentileOf(via, 99), percentileOf(direct, 99), r99)
		b.ReportMetric(r50, "ratio1-p50")
		b.ReportMetric(r99, "ratio1-p99")

		// 2. 32 concurrent sessions: throughput.
		dt := throughput(b, demo.URL, "echo", 32, 5*time.Second)
		gt := throughput(b, plain.URL, "demo__echo", 32, 5*time.Second)
		fmt.Fprintf(&table, "2. 32 sessions: %.0f calls/s vs %.0f direct (ratio %.2f)\n", gt, dt, gt/dt)
		b.ReportMetric(gt/dt, "ratio2")

		// 3. Cache hits at 32 sessions.
		ct := throughput(b, g.URL, "demo__echo", 32, 5*time.Second)
		fmt.Fprintf(&table, "3. cache hits, 32 sessions: %.0f calls/s vs %.0f direct (ratio %.2f)\n", ct, dt, ct/dt)
		b.ReportMetric(ct/dt, "ratio3")

		// 6. Memory per open session.
		pid := plain.proc.cmd.Process.Pid
		before := rssKB(b, pid)
		sessions := make([]*rawSession, 1000)
		for i := range sessions {
			sessions[i] = newRawSession(b, plain.URL)
		}
		time.Sleep(500 * time.Millisecond)
		perSession := float64(rssKB(b, pid)-before) / 1000
		fmt.Fprintf(&table, "6. memory per open session: %.1f KB (RSS delta over 1000 sessions)\n", perSession)
		b.ReportMetric(perSession, "KB/session")
	}
	b.Logf("ratios (items 4 and 5: BenchmarkToolsList in router, BenchmarkConsulPropagation here):\n%s", table.String())
}
