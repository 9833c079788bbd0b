package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
)

// cpuSeconds is the user+system CPU time a process has used (from /proc, in clock ticks of
// 1/100 s).
func cpuSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// BenchmarkFleet measures calls/s and the gateways' CPU per call for 16 sessions calling echo:
// through one gateway directly, through nginx to one gateway, and through nginx round-robin to
// two gateways sharing a session key (every session's requests alternate between replicas).
// Everything shares the machine's cores, so two replicas cannot go faster than the cores allow;
// what the figures show is the cost of the hop and of serving a session on any replica.
func BenchmarkFleet(b *testing.B) {
	demo := startDemoHTTP(b, "demo", false)
	key := sessionKey(b)
	cfg := fmt.Sprintf("sessions: {key: %q}\nupstreams: [{name: demo, url: %s}]\n", key, demo.URL)
	one := startGateway(b, cfg)
	two := startGateway(b, cfg)
	addr := func(g *gateway) string { return strings.TrimSuffix(strings.TrimPrefix(g.URL, "http://"), "/mcp") }
	for _, tc := range []struct {
		name string
		url  string
		gws  []*gateway
	}{
		{"one-gateway", one.URL, []*gateway{one}},
		{"nginx-one-gateway", startBalancer(b, []string{addr(one)}) + "/mcp", []*gateway{one}},
		{"nginx-two-gateways", startBalancer(b, []string{addr(one), addr(two)}) + "/mcp", []*gateway{one, two}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const sessions = 16
			clients := make(chan *client.Client, sessions)
			for range sessions {
				clients <- connect(b, tc.url, true, nil)
			}
			cpu := func() (s float64) {
				for _, g := range tc.gws {
					s += cpuSeconds(b, g.proc.cmd.Process.Pid)
				}
				return s
			}
			b.SetParallelism(sessions / 2) // GOMAXPROCS is 2 here: 16 goroutines, one per session
			b.ResetTimer()
			start, cpuStart := time.Now(), cpu()
			b.RunParallel(func(pb *testing.PB) {
				c := <-clients
				defer func() { clients <- c }()
				for pb.Next() {
					callErr(c, "demo__echo", map[string]any{"text": "x"})
				}
			})
			elapsed, cpuUsed := time.Since(start), cpu()-cpuStart
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(cpuUsed/float64(b.N)*1e6, "gateway-cpu-µs/call")
		})
	}
}

// BenchmarkStreamRSS measures the gateway's resident memory per open GET stream: 1,000
// sessions, each with its stream open (run with -benchtime 1x).
func BenchmarkStreamRSS(b *testing.B) {
	demo := startDemoHTTP(b, "demo", false)
	g := startGateway(b, fmt.Sprintf("sessions: {max_streams_per_principal: 5000}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	pid := g.proc.cmd.Process.Pid
	const streams = 1000
	for range b.N {
		before := rssKiB(b, pid)
		var bodies []io.ReadCloser
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for range streams {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				req, _ := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(initializeBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				get, _ := http.NewRequest(http.MethodGet, g.URL, nil)
				get.Header.Set("Accept", "text/event-stream")
				get.Header.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
				stream, err := (&http.Client{Transport: &http.Transport{}}).Do(get)
				if err != nil || stream.StatusCode != http.StatusOK {
					b.Errorf("GET stream: %v %v", err, stream)
					return
				}
				mu.Lock()
				bodies = append(bodies, stream.Body)
				mu.Unlock()
			})
		}
		wg.Wait()
		time.Sleep(time.Second)
		after := rssKiB(b, pid)
		b.ReportMetric(float64(after-before)/float64(len(bodies)), "KiB/stream")
		for _, body := range bodies {
			body.Close()
		}
	}
}
