package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

// cacheMeta returns _meta["io.switchboard/cache"] of a result, or nil.
func cacheMeta(res *mcp.CallToolResult) map[string]any {
	if res.Meta == nil {
		return nil
	}
	m, _ := res.Meta.AdditionalFields["io.switchboard/cache"].(map[string]any)
	return m
}

func count(t *testing.T, c *client.Client, tool string, args map[string]any) (string, bool) {
	t.Helper()
	res := call(t, c, tool, args)
	return strings.TrimSpace(text(res)), cacheMeta(res) != nil
}

func TestCacheServesRepeatedCallsSafely(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	demo := startDemoHTTP(t, "demo", false)
	shared := startDemoHTTP(t, "shared", false)
	g := startGateway(t, fmt.Sprintf(`
cache:
  redis: {address: %q}
  max_entry_bytes: 2000
  tools:
    "demo__counter": {ttl: 1s}
    "shared__count*": {ttl: 1m, shared: true}
upstreams: [{name: demo, url: %s}, {name: shared, url: %s}]
`, redis.Addr, demo.URL, shared.URL))
	alice, bob := connect(t, g.URL, true, nil), connect(t, g.URL, true, nil)
	peek := func() string { n, _ := count(t, alice, "demo__counter_peek", nil); return n }

	// A hit: the same answer, marked, and the upstream ran once.
	first, hit := count(t, alice, "demo__counter", map[string]any{"pad": 0, "delay_ms": 0})
	if hit {
		t.Fatal("the first call was a hit")
	}
	res := call(t, alice, "demo__counter", map[string]any{"delay_ms": 0.0, "pad": 0e0}) // same arguments, spelled otherwise
	meta := cacheMeta(res)
	if strings.TrimSpace(text(res)) != first || meta == nil || meta["hit"] != true {
		t.Fatalf("second call: %q meta %v; want %q from the cache", text(res), meta, first)
	}
	if age, ok := meta["ageMs"].(float64); !ok || age < 0 || age > 1000 {
		t.Errorf("ageMs %v", meta["ageMs"])
	}
	if got := peek(); got != first {
		t.Errorf("the upstream ran %s times, want %s", got, first)
	}

	// Another principal does not get alice's result.
	if n, hit := count(t, bob, "demo__counter", map[string]any{"pad": 0, "delay_ms": 0}); hit || n == first {
		t.Errorf("bob got alice's cached result: %s (hit %v)", n, hit)
	}
	// A shared tool's result serves everyone.
	s1, _ := count(t, alice, "shared__counter", nil)
	if s2, hit := count(t, bob, "shared__counter", nil); !hit || s2 != s1 {
		t.Errorf("shared tool: bob got %s (hit %v), alice %s", s2, hit, s1)
	}

	// Never cached: tool errors, results over max_entry_bytes, tools without a rule.
	for _, args := range []map[string]any{{"fail": true}, {"pad": 5000}} {
		before := peek()
		call(t, alice, "demo__counter", args)
		call(t, alice, "demo__counter", args)
		if after := peek(); after == before || mustAtoi(t, after)-mustAtoi(t, before) != 2 {
			t.Errorf("%v: upstream count %s -> %s, want two real calls", args, before, after)
		}
	}
	if _, hit := count(t, alice, "demo__echo", map[string]any{"text": "x"}); hit {
		t.Error("a tool without a cache rule was served from the cache")
	}

	// Expiry.
	n1, _ := count(t, alice, "demo__counter", map[string]any{"pad": 1})
	time.Sleep(1200 * time.Millisecond)
	if n2, hit := count(t, alice, "demo__counter", map[string]any{"pad": 1}); hit || n2 == n1 {
		t.Errorf("after the TTL: %s (hit %v), before %s", n2, hit, n1)
	}

	// Single flight: ten concurrent identical misses make one upstream call.
	before := mustAtoi(t, peek())
	var wg sync.WaitGroup
	answers := make(chan string, 10)
	for range 10 {
		wg.Go(func() {
			res, err := callErr(alice, "demo__counter", map[string]any{"delay_ms": 400, "pad": 2})
			if err != nil {
				t.Error(err)
				return
			}
			answers <- strings.TrimSpace(text(res))
		})
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != fmt.Sprint(before+1) {
			t.Errorf("a concurrent caller got %s, want %d", a, before+1)
		}
	}
	if after := mustAtoi(t, peek()); after != before+1 {
		t.Errorf("ten concurrent misses made %d upstream calls, want 1", after-before)
	}

	// Purge one tool: the next call goes to the upstream.
	cached, _ := count(t, alice, "shared__counter", nil)
	resp, err := http.Post(g.Admin+"/admin/cache/purge?tool=shared__counter", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var purged struct{ Purged int }
	if json.Unmarshal(body, &purged); resp.StatusCode != 200 || purged.Purged < 1 {
		t.Errorf("purge: %d %s", resp.StatusCode, body)
	}
	if n, hit := count(t, alice, "shared__counter", nil); hit || n == cached {
		t.Errorf("after the purge: %s (hit %v)", n, hit)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not a count: %q", s)
	}
	return n
}

func TestRedisGoingAwayFailsNoCall(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
cache:
  redis: {address: %q, timeout: 50ms}
  tools: {"demo__counter": {ttl: 1m}}
upstreams: [{name: demo, url: %s}]
`, redis.Addr, demo.URL))
	c := connect(t, g.URL, true, nil)
	count(t, c, "demo__counter", nil)
	if _, hit := count(t, c, "demo__counter", nil); !hit {
		t.Fatal("no hit with Redis up")
	}

	redis.Kill()
	for i := range 20 {
		res := call(t, c, "demo__counter", map[string]any{"pad": i})
		if res.IsError {
			t.Fatalf("call %d with Redis down failed: %s", i, text(res))
		}
	}
	if n := scrape(t, g, `switchboard_cache_store_errors_total{op="read"}`); n < 1 {
		t.Errorf("Redis down: cache read errors = %v, want at least 1", n)
	}
	if up := scrape(t, g, "switchboard_cache_store_available"); up != 0 {
		t.Errorf("Redis down for 20 calls: cache store available = %v, want 0", up)
	}

	redis.Restart(t)
	eventually(t, 30*time.Second, "caching again after Redis came back", func() error {
		count(t, c, "demo__counter", map[string]any{"pad": 99})
		if _, hit := count(t, c, "demo__counter", map[string]any{"pad": 99}); !hit {
			return fmt.Errorf("no hit yet")
		}
		return nil
	})
	if up := scrape(t, g, "switchboard_cache_store_available"); up != 1 {
		t.Errorf("Redis back: cache store available = %v, want 1", up)
	}
}

func TestInProcessCacheWithoutRedis(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("cache: {tools: {\"demo__counter\": {ttl: 1m}}}\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	c := connect(t, g.URL, true, nil)
	n, _ := count(t, c, "demo__counter", nil)
	if m, hit := count(t, c, "demo__counter", nil); !hit || m != n {
		t.Errorf("in-process cache: %s (hit %v), first %s", m, hit, n)
	}
}
