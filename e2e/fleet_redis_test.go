package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

// The fleet with Redis: what several replicas share through it (rate limits, ended sessions,
// resource updates), what still works while it is down, and how a replica leaves the fleet.

// rpcReply is what these tests read of a JSON-RPC response.
type rpcReply struct {
	Result *struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool              `json:"isError"`
		Tools   []json.RawMessage `json:"tools"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// readReply reads the response to a POSTed request: a JSON body, or the last message with a
// result or an error on an SSE body. It fails the test on anything else.
func readReply(t *testing.T, resp *http.Response) rpcReply {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	candidates := []string{string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		candidates = nil
		for _, line := range strings.Split(string(body), "\n") {
			if data, ok := strings.CutPrefix(line, "data:"); ok {
				candidates = append([]string{strings.TrimSpace(data)}, candidates...) // last first
			}
		}
	}
	for _, c := range candidates {
		var r rpcReply
		if json.Unmarshal([]byte(c), &r) == nil && (r.Result != nil || r.Error != nil) {
			return r
		}
	}
	t.Fatalf("no JSON-RPC response in %s", body)
	return rpcReply{}
}

// callBody is a tools/call request.
func callBody(id int, tool string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	return string(b)
}

// endSession sends DELETE for session (no credentials) and returns the status and body.
func endSession(t *testing.T, url, session string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// scrapeSum adds up every sample of /metrics whose name and labels start with prefix and
// contain each of labels (for series whose other labels a test cannot know).
func scrapeSum(t *testing.T, g *gateway, prefix string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(name, l)
		}
		if matches {
			v, _ := strconv.ParseFloat(value, 64)
			sum += v
		}
	}
	return sum
}

// TestClusterWideRateLimit: two replicas sharing Redis, one client on each, calls alternating
// between them as fast as they go: together they get what one bucket allows (the burst of 5,
// then one more per 200ms), not a bucket each. With Redis killed, every call is still served
// (a result or rate_limited from the replica's own bucket) and the fallback is counted.
func TestClusterWideRateLimit(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	demo := startDemoHTTP(t, "demo", false)
	_, gws := startFleet(t, 2, fmt.Sprintf(`
redis: {address: %q}
limits: {tools: {"demo__echo": {rate: 5/s, burst: 5}}}
upstreams: [{name: demo, url: %s}]
`, redis.Addr, demo.URL))
	clients := []*client.Client{connect(t, gws[0].URL, true, nil), connect(t, gws[1].URL, true, nil)}
	for _, c := range clients {
		call(t, c, "demo__whoami", nil) // connections warm, no token of echo's taken
	}

	// Both clients call from 127.0.0.1, anonymous: one principal, so one bucket cluster-wide.
	const rate, burst = 5, 5
	allowed, limited := 0, 0
	start := time.Now()
	var elapsed time.Duration
	for i := range 30 {
		if time.Since(start) > time.Second {
			break // only the first second counts
		}
		res := call(t, clients[i%2], "demo__echo", map[string]any{"text": "x"})
		elapsed = time.Since(start)
		switch {
		case !res.IsError:
			allowed++
		case gatewayErrorCode(res) == "rate_limited":
			limited++
		default:
			t.Fatalf("call %d: neither a result nor rate_limited: %s %s", i, gatewayErrorCode(res), text(res))
		}
	}
	// One bucket admits the burst, then a token per 1/rate since the first call: at most this
	// many by the end of the last call counted, give or take one for Redis's clock against
	// ours. A bucket per replica would admit twice the burst at once.
	most := burst + int(rate*elapsed.Seconds()) + 1
	t.Logf("%d calls allowed, %d rate_limited in %v (one shared bucket admits at most %d)", allowed, limited, elapsed.Round(time.Millisecond), most)
	if allowed < burst || allowed > most {
		t.Errorf("the two replicas together allowed %d calls in %v; want the one shared bucket's %d to %d", allowed, elapsed.Round(time.Millisecond), burst, most)
	}
	if limited == 0 {
		t.Error("no call was rate_limited")
	}

	redis.Kill()
	served := 0
	for i := range 20 {
		res := call(t, clients[i%2], "demo__echo", map[string]any{"text": "x"})
		switch {
		case !res.IsError && text(res) == "x":
			served++
		case gatewayErrorCode(res) == "rate_limited":
		default:
			t.Fatalf("call %d with Redis down: neither a result nor rate_limited: %s %s", i, gatewayErrorCode(res), text(res))
		}
	}
	if served == 0 {
		t.Error("with Redis down no call was allowed; each replica's own bucket should admit its burst")
	}
	for i, g := range gws {
		if n := scrape(t, g, "switchboard_ratelimit_fallback_total"); n <= 0 {
			t.Errorf("replica %d: switchboard_ratelimit_fallback_total = %v with Redis down, want more than 0", i, n)
		}
	}
}

// TestSessionsSurviveRedisGoingAway: two replicas sharing Redis behind nginx. A session opened
// before Redis is killed keeps listing and calling on both replicas while it is down; a DELETE
// then answers 503 (the end could not be recorded for every replica); once Redis is back the
// DELETE succeeds and the session is gone on each replica.
func TestSessionsSurviveRedisGoingAway(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	demo := startDemoHTTP(t, "demo", false)
	url, gws := startFleet(t, 2, fmt.Sprintf("redis: {address: %q}\nupstreams: [{name: demo, url: %s}]\n", redis.Addr, demo.URL))
	session := initialize(t, url, "")
	if got := readReply(t, mcpPost(t, url, "", session, listBody)); got.Result == nil || len(got.Result.Tools) == 0 {
		t.Fatalf("tools/list with Redis up: %+v", got)
	}

	redis.Kill()
	before := []int{servedPOSTs(gws[0]), servedPOSTs(gws[1])}
	for i := range 4 {
		if got := readReply(t, mcpPost(t, url, "", session, listBody)); got.Result == nil || len(got.Result.Tools) == 0 {
			t.Errorf("tools/list %d with Redis down: %+v", i, got)
		}
		want := fmt.Sprintf("still here %d", i)
		got := readReply(t, mcpPost(t, url, "", session, callBody(10+i, "demo__echo", map[string]any{"text": want})))
		if got.Result == nil || got.Result.IsError || len(got.Result.Content) == 0 || got.Result.Content[0].Text != want {
			t.Errorf("tools/call %d with Redis down: %+v", i, got)
		}
	}
	for i, g := range gws {
		if n := servedPOSTs(g) - before[i]; n < 2 {
			t.Errorf("replica %d served %d of the session's 8 POSTs with Redis down; round-robin should give it about half", i, n)
		}
	}
	if code, body := endSession(t, url, session); code != http.StatusServiceUnavailable {
		t.Errorf("DELETE with Redis down: HTTP %d %s, want 503 (the end cannot reach the other replicas)", code, body)
	}
	if got := readReply(t, mcpPost(t, url, "", session, listBody)); got.Result == nil {
		t.Errorf("after the refused DELETE the session should still work: %+v", got)
	}

	redis.Restart(t)
	eventually(t, 30*time.Second, "DELETE once Redis is back", func() error {
		if code, body := endSession(t, url, session); code != http.StatusOK {
			return fmt.Errorf("HTTP %d %s", code, body)
		}
		return nil
	})
	for i, g := range gws {
		if got := mcpPost(t, g.URL, "", session, listBody).StatusCode; got != http.StatusNotFound {
			t.Errorf("replica %d after the DELETE: HTTP %d, want 404", i, got)
		}
	}
}

// TestResourceUpdatesReachASubscriberOnAnotherReplica: two replicas sharing Redis, the npm
// reference server upstream. Client A, on replica 1, subscribes to a resource. The reference
// server sends notifications/resources/updated only to an upstream session that subscribed to
// the URI and turned updates on with toggle-subscriber-updates, so client B does both on
// replica 2: the update reaches the fleet through replica 2's upstream session alone (replica
// 1's is subscribed, never toggled), and must travel to A's GET stream on replica 1.
func TestResourceUpdatesReachASubscriberOnAnotherReplica(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	everything := startNPMEverything(t)
	_, gws := startFleet(t, 2, fmt.Sprintf("redis: {address: %q}\nupstreams: [{name: everything, url: %s}]\n", redis.Addr, everything.URL))

	updated := func(got chan<- string) func(mcp.JSONRPCNotification) {
		return func(n mcp.JSONRPCNotification) {
			if n.Method != string(mcp.MethodNotificationResourceUpdated) {
				return
			}
			uri, _ := n.Params.AdditionalFields["uri"].(string)
			select {
			case got <- uri:
			default:
			}
		}
	}
	atA, atB := make(chan string, 16), make(chan string, 16)
	a := connect(t, gws[0].URL, true, updated(atA))
	b := connect(t, gws[1].URL, true, updated(atB))

	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()
	list, err := a.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil || len(list.Resources) == 0 {
		t.Fatalf("resources/list: %v %+v", err, list)
	}
	uri := list.Resources[0].URI
	if !strings.HasPrefix(uri, "everything+") {
		t.Fatalf("resource URI %q is not namespaced", uri)
	}
	subscribe := mcp.SubscribeRequest{}
	subscribe.Params.URI = uri
	//lint:ignore SA1019 resources/subscribe is the 2025-11-25 era's, the one under test here
	if err := a.Subscribe(ctx, subscribe); err != nil {
		t.Fatalf("A subscribes to %s on replica 1: %v", uri, err)
	}
	//lint:ignore SA1019 resources/subscribe is the 2025-11-25 era's, the one under test here
	if err := b.Subscribe(ctx, subscribe); err != nil {
		t.Fatalf("B subscribes to %s on replica 2: %v", uri, err)
	}
	if res := call(t, b, "everything__toggle-subscriber-updates", nil); res.IsError {
		t.Fatalf("toggle-subscriber-updates on replica 2: %s", text(res))
	}

	// The server sends an update at once, then every 5 seconds.
	deadline := time.After(30 * time.Second)
	var sawB []string
	for {
		select {
		case got := <-atA:
			if got == uri {
				return
			}
			t.Logf("A got an update for %q", got)
		case got := <-atB:
			sawB = append(sawB, got)
		case <-deadline:
			t.Fatalf("client A on replica 1 got no notifications/resources/updated for %s in 30s (B on replica 2, where the update came in, got %v)", uri, sawB)
		}
	}
}

// TestK6ThroughTwoReplicas runs the k6 smoke scenario through nginx in front of two replicas
// with one session key, in both protocol eras: every request of a session may land on either
// replica, and none fails.
func TestK6ThroughTwoReplicas(t *testing.T) {
	t.Parallel()
	k6 := needK6(t)
	demo := startDemoHTTP(t, "demo", false)
	url, gws := startFleet(t, 2, fmt.Sprintf("cache: {tools: {\"demo__counter\": {ttl: 1m}}}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	script, _ := filepath.Abs("../loadtest/mcp.js")
	for _, era := range []string{"2025-11-25", "2026-07-28"} {
		before := []int{servedPOSTs(gws[0]), servedPOSTs(gws[1])}
		summary := filepath.Join(t.TempDir(), "summary.json")
		out, err := exec.Command(k6, "run", "--quiet", "--no-usage-report", "--summary-export", summary,
			"-e", "MCP_URL="+url, "-e", "ERA="+era, "-e", "SCENARIO=smoke", script).CombinedOutput()
		if err != nil {
			t.Errorf("k6 smoke through two replicas, %s: %v\n%s", era, err, out)
		}
		// The smoke thresholds judge checks and results; a response that is not JSON-RPC at
		// all (a 404 for a session another replica does not know) aborts the iteration before
		// any check. So every HTTP request must have succeeded too, and no iteration failed.
		if failed := k6Rate(t, summary, "http_req_failed"); failed != 0 {
			t.Errorf("k6 smoke through two replicas, %s: %.1f%% of HTTP requests failed\n%s", era, 100*failed, out)
		}
		if strings.Contains(string(out), "level=error") {
			t.Errorf("k6 smoke through two replicas, %s: iterations failed\n%s", era, out)
		}
		for i, g := range gws {
			if n := servedPOSTs(g) - before[i]; n < 10 {
				t.Errorf("%s: replica %d served %d POSTs of the run; round-robin should give it about half", era, i, n)
			}
		}
	}
}

// k6Rate reads the value of a Rate metric from a k6 summary export.
func k6Rate(t *testing.T, path, metric string) float64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("k6 summary: %v", err)
	}
	var summary struct {
		Metrics map[string]struct {
			Value *float64 `json:"value"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &summary); err != nil {
		t.Fatalf("k6 summary %s: %v", raw, err)
	}
	m, ok := summary.Metrics[metric]
	if !ok || m.Value == nil {
		t.Fatalf("k6 summary has no rate %s: %s", metric, raw)
	}
	return *m.Value
}

// TestDrainClosesStreams: on SIGTERM a replica closes its open GET streams at once (their
// clients reconnect elsewhere), while a call in flight on another session runs to its result;
// during the drain it is not ready and a new initialize gets 503.
func TestDrainClosesStreams(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("shutdown_grace: 60s\nupstreams: [{name: demo, url: %s}]\n", demo.URL))

	listener := initialize(t, g.URL, "")
	req, _ := http.NewRequest(http.MethodGet, g.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", listener)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Body.Close() })
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: HTTP %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		streamEnded <- err
	}()

	const sleepMs = 10000
	caller := initialize(t, g.URL, "")
	type reply struct {
		status int
		body   string
		err    error
	}
	callDone := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, g.URL, strings.NewReader(callBody(7, "demo__sleep", map[string]any{"ms": sleepMs})))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", caller)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			callDone <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		callDone <- reply{status: resp.StatusCode, body: string(b), err: err}
	}()
	eventually(t, 10*time.Second, "the sleep call in flight", func() error {
		if n := scrapeSum(t, g, "switchboard_instance_in_flight{", `upstream="demo"`); n < 1 {
			return fmt.Errorf("%v calls in flight", n)
		}
		return nil
	})

	if err := g.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-streamEnded:
		if err != nil {
			t.Errorf("the GET stream broke instead of ending: %v", err)
		}
	case r := <-callDone:
		t.Fatalf("the call finished (HTTP %d) before the draining replica closed the GET stream", r.status)
	case <-time.After(30 * time.Second):
		t.Fatal("the GET stream is still open 30s after SIGTERM")
	}
	select {
	case r := <-callDone:
		t.Fatalf("the %dms call finished (HTTP %d) right after the stream closed; the drain checks below need it in flight", sleepMs, r.status)
	default:
	}
	if code, body := readyz(t, g); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining: %d %s, want 503 draining", code, body)
	}
	if resp := mcpPost(t, g.URL, "", "", initializeBody); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("initialize while draining: HTTP %d, want 503", resp.StatusCode)
	}

	select {
	case r := <-callDone:
		want := fmt.Sprintf("slept %d ms", sleepMs)
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, want) || strings.Contains(r.body, `"isError":true`) {
			t.Errorf("the call in flight during the drain: HTTP %d %v %s, want %q", r.status, r.err, r.body, want)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the call in flight did not finish during the drain")
	}
	select {
	case <-g.proc.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not exit after draining")
	}
	if code := g.proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}
