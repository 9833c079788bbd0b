package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

// sessionKey returns a fresh sessions.key value: base64 of 32 random bytes.
func sessionKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// startFleet starts n gateways with the same config (yamlBody, plus the same session key) and
// nginx in front of them; it returns the balancer's /mcp URL and the gateways.
func startFleet(t *testing.T, n int, yamlBody string) (string, []*gateway) {
	t.Helper()
	key := sessionKey(t)
	var gws []*gateway
	var backends []string
	for range n {
		g := startGateway(t, fmt.Sprintf("sessions: {key: %q}\n%s", key, yamlBody))
		gws = append(gws, g)
		backends = append(backends, strings.TrimSuffix(strings.TrimPrefix(g.URL, "http://"), "/mcp"))
	}
	return startBalancer(t, backends) + "/mcp", gws
}

// servedPOSTs counts the MCP POSTs a gateway's access log shows.
func servedPOSTs(g *gateway) int {
	return strings.Count(g.logs(), "method=POST path=/mcp")
}

// TestFleetServesSessionsOnAnyReplica: two gateways with one session key behind nginx
// round-robin (no affinity) and the official TypeScript SDK client: list, 40 calls on one
// session, 20 sessions in parallel, a sampling call, a progress call and list_changed after an
// upstream change all succeed, and both replicas served the session's requests.
func TestFleetServesSessionsOnAnyReplica(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	everything := startNPMEverything(t)
	url, gws := startFleet(t, 2, fmt.Sprintf("upstreams: [{name: demo, url: %s}, {name: everything, url: %s}]\n", demo.URL, everything.URL))
	cmd := tsClient(t)
	script := strings.Replace(cmd.Args[1], "client.mjs", "fleet.mjs", 1)
	cmd.Args = []string{cmd.Args[0], script, url}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fleet client: %v\n%s", err, out)
	}
	var report struct {
		Tools, Sequential, Parallel, Progress int
		Sampled, ProgressResult               string
		ListChanged                           bool
		SessionIDs                            []string
		Errors                                []string
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	for _, e := range report.Errors {
		t.Errorf("fleet client: %s", e)
	}
	if report.Tools < 10 {
		t.Errorf("listed %d tools, want the demo's (at least 10)", report.Tools)
	}
	if report.Sequential != 40 {
		t.Errorf("%d of 40 calls on one session succeeded", report.Sequential)
	}
	if report.Parallel != 20 {
		t.Errorf("%d of 20 parallel sessions succeeded", report.Parallel)
	}
	if report.Sampled != "sampled: hello fleet" {
		t.Errorf("sampling call answered %q, want the client's sample", report.Sampled)
	}
	if report.Progress != 5 || report.ProgressResult != "ok" {
		t.Errorf("progress call: %d progress notifications, result %q; want 5, ok", report.Progress, report.ProgressResult)
	}
	if !report.ListChanged {
		t.Error("no tools/list_changed reached the client after the upstream changed")
	}
	for i, g := range gws {
		if n := servedPOSTs(g); n < 20 {
			t.Errorf("replica %d served %d POSTs; round-robin should give each about half", i, n)
		}
	}
}

// mcpPost sends one JSON-RPC message to url with an optional bearer token and session id.
func mcpPost(t *testing.T, url, token, session, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
const listBody = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`

// initialize opens a session and returns its id.
func initialize(t *testing.T, url, token string) string {
	t.Helper()
	resp := mcpPost(t, url, token, "", initializeBody)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("initialize: HTTP %d, session %q: %s", resp.StatusCode, id, b)
	}
	return id
}

// sessionRequest sends method (GET, DELETE) with a token and a session id; it returns the status.
func sessionRequest(t *testing.T, method, url, token, session string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // a GET stream that opened is closed at once
	return resp.StatusCode
}

// TestSessionBelongsToItsPrincipal: a session opened with Alice's token is unknown (404) to
// Bob's valid token on POST, GET and DELETE, and stays Alice's; a tampered id is unknown; each
// refusal is audited.
func TestSessionBelongsToItsPrincipal(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
audit: {stdout: true}
auth: {mode: oidc, issuer: %s, audience: %s, required_scopes: [mcp]}
upstreams: [{name: demo, url: %s}]
`, iss.URL, resource, demo.URL))
	alice := iss.Sign("ec-1", iss.Claims("alice", resource, "mcp"))
	bob := iss.Sign("ec-1", iss.Claims("bob", resource, "mcp"))
	session := initialize(t, g.URL, alice)

	if got := mcpPost(t, g.URL, bob, session, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("Bob's POST on Alice's session: HTTP %d, want 404", got)
	}
	if got := sessionRequest(t, http.MethodGet, g.URL, bob, session); got != http.StatusNotFound {
		t.Errorf("Bob's GET on Alice's session: HTTP %d, want 404", got)
	}
	if got := sessionRequest(t, http.MethodDelete, g.URL, bob, session); got != http.StatusNotFound {
		t.Errorf("Bob's DELETE on Alice's session: HTTP %d, want 404", got)
	}
	if got := mcpPost(t, g.URL, alice, session, listBody).StatusCode; got != http.StatusOK {
		t.Errorf("Alice's own session after Bob's tries: HTTP %d, want 200", got)
	}
	tampered := []byte(session)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
		tampered[len(tampered)/2] = 'A'
	}
	if got := mcpPost(t, g.URL, alice, string(tampered), listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("tampered session id: HTTP %d, want 404", got)
	}
	if got := mcpPost(t, g.URL, alice, "made-up", listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("made-up session id: HTTP %d, want 404", got)
	}
	// Alice ends her session; it is gone for her too.
	if got := sessionRequest(t, http.MethodDelete, g.URL, alice, session); got != http.StatusOK {
		t.Errorf("Alice's DELETE: HTTP %d, want 200", got)
	}
	if got := mcpPost(t, g.URL, alice, session, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("after DELETE: HTTP %d, want 404", got)
	}
	eventually(t, 5*time.Second, "audit lines of the refusals", func() error {
		out := g.logs()
		if n := strings.Count(out, `"outcome":"session_refused"`); n < 5 {
			return fmt.Errorf("%d session_refused audit lines, want 5 or more", n)
		}
		if !strings.Contains(out, `"reason":"session belongs to another principal"`) || !strings.Contains(out, `"subject":"bob"`) {
			return fmt.Errorf("no audit line names Bob's refusal:\n%s", out)
		}
		return nil
	})
}

// TestExpiredSessionInitializesAgain: past sessions.max_age the id gets 404, and the client can
// initialize again.
func TestExpiredSessionInitializesAgain(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("sessions: {max_age: 1s}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	session := initialize(t, g.URL, "")
	if got := mcpPost(t, g.URL, "", session, listBody).StatusCode; got != http.StatusOK {
		t.Fatalf("fresh session: HTTP %d", got)
	}
	time.Sleep(2100 * time.Millisecond) // expiry has one-second resolution
	if got := mcpPost(t, g.URL, "", session, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("expired session: HTTP %d, want 404", got)
	}
	again := initialize(t, g.URL, "")
	if got := mcpPost(t, g.URL, "", again, listBody).StatusCode; got != http.StatusOK {
		t.Errorf("new session after expiry: HTTP %d, want 200", got)
	}
}

// TestSessionKeyRotation: a session minted under the old key keeps working on a gateway whose
// key was rotated (the old one in previous_keys), and not on one that dropped the old key.
func TestSessionKeyRotation(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	oldKey, newKey := sessionKey(t), sessionKey(t)
	upstreams := fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL)
	before := startGateway(t, fmt.Sprintf("sessions: {key: %q}\n%s", oldKey, upstreams))
	session := initialize(t, before.URL, "")
	rotated := startGateway(t, fmt.Sprintf("sessions: {key: %q, previous_keys: [%q]}\n%s", newKey, oldKey, upstreams))
	if got := mcpPost(t, rotated.URL, "", session, listBody).StatusCode; got != http.StatusOK {
		t.Errorf("old session on the rotated gateway: HTTP %d, want 200", got)
	}
	dropped := startGateway(t, fmt.Sprintf("sessions: {key: %q}\n%s", newKey, upstreams))
	if got := mcpPost(t, dropped.URL, "", session, listBody).StatusCode; got != http.StatusNotFound {
		t.Errorf("old session where the old key is gone: HTTP %d, want 404", got)
	}
}

// rssKiB reads a process's resident set size.
func rssKiB(t testing.TB, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestAbandonedInitializesCostNoMemory: 20,000 initialize requests never continued grow the
// gateway's RSS by less than 50 MiB, and it still serves calls.
func TestAbandonedInitializesCostNoMemory(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL))
	pid := g.proc.cmd.Process.Pid
	c := connect(t, g.URL, true, nil)
	call(t, c, "demo__echo", map[string]any{"text": "warm"})
	before := rssKiB(t, pid)
	const total, workers = 20_000, 8
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= total {
				req, _ := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader([]byte(initializeBody)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") == "" {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d initialize requests failed", n, total)
	}
	after := rssKiB(t, pid)
	t.Logf("RSS %d KiB before, %d KiB after %d abandoned initializes (+%d KiB)", before, after, total, after-before)
	if grew := after - before; grew > 50<<10 {
		t.Errorf("RSS grew by %d KiB for %d abandoned sessions, want under 50 MiB", grew, total)
	}
	if got := text(call(t, c, "demo__echo", map[string]any{"text": "still here"})); got != "still here" {
		t.Errorf("after the flood the gateway answered %q", got)
	}
}
