package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// retryAfterMs returns _meta["io.switchboard/error"].retryAfterMs of a result, or -1.
func retryAfterMs(res *mcp.CallToolResult) float64 {
	if res.Meta == nil {
		return -1
	}
	e, _ := res.Meta.AdditionalFields["io.switchboard/error"].(map[string]any)
	ms, ok := e["retryAfterMs"].(float64)
	if !ok {
		return -1
	}
	return ms
}

func TestRateLimitBurst(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
limits:
  tools: {"demo__echo": {rate: 1/m, burst: 5}}
trusted_proxies: [127.0.0.0/8]
upstreams: [{name: demo, url: %s}]
`, demo.URL))
	// Anonymous callers are told apart by address: here, the one a trusted proxy forwarded.
	from := func(addr string) *client.Client {
		return dialMCP(t, g.URL, true, map[string]string{"X-Forwarded-For": addr}, nil)
	}
	alice, bob := from("192.0.2.1"), from("192.0.2.2")

	allowed, rejected := 0, 0
	for range 20 {
		res := call(t, alice, "demo__echo", map[string]any{"text": "x"})
		switch {
		case !res.IsError:
			allowed++
		case gatewayErrorCode(res) == "rate_limited":
			rejected++
			if ms := retryAfterMs(res); ms <= 0 || ms > 60000 {
				t.Errorf("retryAfterMs %v, want within the minute a token takes", ms)
			}
			if !strings.HasPrefix(text(res), "rate limited: ") || !strings.Contains(text(res), "retry after") {
				t.Errorf("text: %q", text(res))
			}
		default:
			t.Fatalf("unexpected result: %+v", res)
		}
	}
	if allowed != 5 || rejected != 15 {
		t.Errorf("allowed %d, rejected %d; want the burst of 5, then 15 rejected", allowed, rejected)
	}
	// A new session does not reset alice's bucket; another address has a bucket of its own.
	if res := call(t, from("192.0.2.1"), "demo__echo", map[string]any{"text": "x"}); gatewayErrorCode(res) != "rate_limited" {
		t.Errorf("a new session of alice's was not limited: %s", text(res))
	}
	if res := call(t, bob, "demo__echo", map[string]any{"text": "x"}); res.IsError {
		t.Errorf("bob was limited by alice's calls: %s", text(res))
	}
	// A tool without a limit is not limited.
	for range 10 {
		if res := call(t, alice, "demo__whoami", nil); res.IsError {
			t.Fatalf("an unlimited tool was limited: %s", text(res))
		}
	}
}

func TestBreakerOpensAfterFailuresAndClosesAfterTheOpenPeriod(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
breaker: {failures: 3, open_for: 2s}
upstreams: [{name: demo, url: %s}]
`, demo.URL))
	c := connect(t, g.URL, true, nil)
	call(t, c, "demo__whoami", nil)

	demo.proc.kill()
	var codes []string
	for range 5 {
		codes = append(codes, gatewayErrorCode(call(t, c, "demo__whoami", nil)))
	}
	want := []string{"upstream_unavailable", "upstream_unavailable", "upstream_unavailable", "circuit_open", "circuit_open"}
	if strings.Join(codes, " ") != strings.Join(want, " ") {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	open := call(t, c, "demo__whoami", nil)
	if ms := retryAfterMs(open); ms <= 0 || ms > 2000 || !strings.HasPrefix(text(open), "circuit open:") {
		t.Errorf("circuit_open result: retryAfterMs %v, text %q", ms, text(open))
	}

	// Back on the same address: after the open period a probe goes through and the breaker closes.
	runDemoHTTP(t, "demo-again", demo.addr, false)
	eventually(t, 30*time.Second, "breaker closed again", func() error {
		res := call(t, c, "demo__whoami", nil)
		if res.IsError {
			return fmt.Errorf("%s: %s", gatewayErrorCode(res), text(res))
		}
		return nil
	})
	for range 5 {
		if res := call(t, c, "demo__whoami", nil); res.IsError || text(res) != "demo-again" {
			t.Fatalf("after closing: %+v", res)
		}
	}
}

func TestSaturatedBulkheadDoesNotSlowOtherUpstreams(t *testing.T) {
	t.Parallel()
	slow := startDemoHTTP(t, "slow", false)
	fast := startDemoHTTP(t, "fast", false)
	g := startGateway(t, fmt.Sprintf(`
bulkhead: {max_concurrent: 2, queue_timeout: 300ms}
upstreams: [{name: slow, url: %s}, {name: fast, url: %s}]
`, slow.URL, fast.URL))
	c := connect(t, g.URL, true, nil)

	var wg sync.WaitGroup
	results := make(chan *mcp.CallToolResult, 6)
	slowDone := make(chan struct{})
	for range 6 {
		wg.Go(func() {
			res, err := callErr(c, "slow__sleep", map[string]any{"ms": 3000})
			if err != nil {
				t.Error(err)
				return
			}
			results <- res
		})
	}
	go func() { wg.Wait(); close(slowDone) }()
	time.Sleep(100 * time.Millisecond)

	// The other upstream answers while every slot of the slow one is taken.
	for range 5 {
		if got := text(call(t, c, "fast__echo", map[string]any{"text": "quick"})); got != "quick" {
			t.Fatalf("fast__echo: %q", got)
		}
	}
	select {
	case <-slowDone:
		t.Fatal("the fast calls waited for the slow ones")
	default:
	}

	<-slowDone
	close(results)
	ok, busy := 0, 0
	for res := range results {
		switch {
		case !res.IsError:
			ok++
		case gatewayErrorCode(res) == "upstream_unavailable" && strings.HasPrefix(text(res), "upstream busy:"):
			busy++
		default:
			t.Errorf("unexpected: %s", text(res))
		}
	}
	if ok != 2 || busy != 4 {
		t.Errorf("%d slow calls ran and %d were refused as busy; want 2 and 4", ok, busy)
	}
}

func TestSIGTERMLetsCallsInFlightFinish(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("shutdown_grace: 20s\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 5 {
		c := connect(t, g.URL, true, nil)
		for range 10 {
			wg.Go(func() {
				res, err := callErr(c, "demo__sleep", map[string]any{"ms": 1500})
				switch {
				case err != nil:
					errs <- fmt.Errorf("client %d: %v", i, err)
				case res.IsError || text(res) != "slept 1500 ms":
					errs <- fmt.Errorf("client %d: %s", i, text(res))
				}
			})
		}
	}
	time.Sleep(500 * time.Millisecond) // the 50 calls are in flight
	if err := g.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: not ready, and no new session.
	eventually(t, 5*time.Second, "not ready while draining", func() error {
		if st, body := readyz(t, g); st != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
			return fmt.Errorf("readyz %d %s", st, body)
		}
		return nil
	})
	if resp := post(t, g.URL, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a new session during the drain got %d, want 503", resp.StatusCode)
	}

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-g.proc.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not exit after draining")
	}
	if code := g.proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
