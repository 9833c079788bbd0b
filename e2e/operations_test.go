package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape returns the value of one sample of /metrics (name with its labels as Prometheus prints
// them, e.g. `switchboard_calls_total{outcome="ok",tool="demo__echo",upstream="demo"}`), or -1.
func scrape(t *testing.T, g *gateway, sample string) float64 {
	t.Helper()
	resp, err := http.Get(g.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, _ := strconv.ParseFloat(value, 64)
			return v
		}
	}
	return -1
}

func TestMetricsCountScriptedCalls(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
limits: {tools: {"demo__whoami": {rate: 1/m, burst: 1}}}
cache: {tools: {"demo__counter": {ttl: 1m}}}
upstreams: [{name: demo, url: %s}]
`, demo.URL))
	c := connect(t, g.URL, true, nil)
	for range 3 {
		call(t, c, "demo__echo", map[string]any{"text": "x"})
	}
	call(t, c, "demo__fail", map[string]any{"message": "no"})
	call(t, c, "demo__whoami", nil)
	call(t, c, "demo__whoami", nil) // rate limited
	call(t, c, "demo__counter", nil)
	call(t, c, "demo__counter", nil) // cache hit
	rawCall(t, c, "demo__missing", nil)

	for sample, want := range map[string]float64{
		`switchboard_calls_total{outcome="ok",tool="demo__echo",upstream="demo"}`:             3,
		`switchboard_calls_total{outcome="tool_error",tool="demo__fail",upstream="demo"}`:     1,
		`switchboard_calls_total{outcome="ok",tool="demo__whoami",upstream="demo"}`:           1,
		`switchboard_calls_total{outcome="rate_limited",tool="demo__whoami",upstream="demo"}`: 1,
		`switchboard_calls_total{outcome="ok",tool="demo__counter",upstream="demo"}`:          2,
		`switchboard_calls_total{outcome="unknown_tool",tool="",upstream=""}`:                 1,
		`switchboard_rate_limit_rejections_total{tool="demo__whoami"}`:                        1,
		`switchboard_cache_lookups_total{result="hit"}`:                                       1,
		`switchboard_cache_lookups_total{result="miss"}`:                                      1,
		`switchboard_call_duration_seconds_count{tool="demo__echo"}`:                          3,
		`switchboard_upstream_call_duration_seconds_count{upstream="demo"}`:                   6,
		`switchboard_instance_up{replica="static",upstream="demo"}`:                           1,
		`switchboard_breaker_state{replica="static",upstream="demo"}`:                         0,
		`switchboard_streams_open`: 1,
	} {
		if got := scrape(t, g, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if n := scrape(t, g, "switchboard_catalog_tools"); n < 10 {
		t.Errorf("switchboard_catalog_tools = %v", n)
	}
}

func TestAuditLineHasTheFieldsAndNoSecrets(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	g := startGateway(t, fmt.Sprintf("audit: {file: %q}\nupstreams: [{name: demo, url: %s}]\n", auditFile, demo.URL))
	c := connect(t, g.URL, true, nil)
	secret := "hunter2-do-not-log"
	call(t, c, "demo__echo", map[string]any{"text": secret})

	var line map[string]any
	eventually(t, 5*time.Second, "audit line", func() error {
		b, err := os.ReadFile(auditFile)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Fatalf("the audit log holds an argument value:\n%s", b)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		return json.Unmarshal([]byte(first), &line)
	})
	for _, key := range []string{"time", "session", "tool", "upstream", "instance", "outcome", "duration_ms", "cache_hit", "args_sha256"} {
		if _, ok := line[key]; !ok {
			t.Errorf("audit line lacks %s: %v", key, line)
		}
	}
	if line["tool"] != "demo__echo" || line["outcome"] != "ok" || line["instance"] != "static" {
		t.Errorf("audit line: %v", line)
	}
	if h, _ := line["args_sha256"].(string); !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h) {
		t.Errorf("argument hash %q", h)
	}
}

func TestAdminViews(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf(`
limits: {tools: {"demo__echo": {rate: 5/s}}}
cache: {tools: {"demo__now": {ttl: 30s, shared: true}}}
upstreams: [{name: demo, url: %s}]
`, demo.URL))
	resp, err := http.Get(g.Admin + "/admin/catalog")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var view struct {
		Upstreams []struct {
			Name      string
			Instances []struct {
				ID        string `json:"id"`
				Connected bool   `json:"connected"`
				Breaker   string `json:"breaker"`
			}
		}
		Tools []struct {
			Name      string
			RateLimit *struct {
				PerSecond float64 `json:"per_second"`
			} `json:"rate_limit"`
			CacheTTL   string `json:"cache_ttl"`
			CacheShare bool   `json:"cache_shared"`
		}
	}
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(view.Upstreams) != 1 || len(view.Upstreams[0].Instances) != 1 || !view.Upstreams[0].Instances[0].Connected || view.Upstreams[0].Instances[0].Breaker != "closed" {
		t.Errorf("upstreams: %s", body)
	}
	found := 0
	for _, tool := range view.Tools {
		switch tool.Name {
		case "demo__echo":
			if tool.RateLimit == nil || tool.RateLimit.PerSecond != 5 {
				t.Errorf("demo__echo limit: %+v", tool.RateLimit)
			}
			found++
		case "demo__now":
			if tool.CacheTTL != "30s" || !tool.CacheShare {
				t.Errorf("demo__now cache: %q %v", tool.CacheTTL, tool.CacheShare)
			}
			found++
		}
	}
	if found != 2 {
		t.Errorf("tools missing from %s", body)
	}
}

func TestSIGHUPReloadsLimitsAndKeepsTheOldConfigOnErrors(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	// The gateway's config file is rewritten in place, as an operator would.
	g := startGateway(t, fmt.Sprintf("upstreams: [{name: demo, url: %s}]\n", demo.URL))
	path := g.proc.cmd.Args[len(g.proc.cmd.Args)-1]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, g.URL, true, nil)
	for range 5 {
		if res := call(t, c, "demo__echo", map[string]any{"text": "x"}); res.IsError {
			t.Fatalf("limited before any limit: %s", text(res))
		}
	}

	limited := strings.Replace(string(orig), "upstreams:", "limits: {tools: {\"demo__echo\": {rate: 1/m, burst: 1}}}\nupstreams:", 1)
	if err := os.WriteFile(path, []byte(limited), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = g.proc.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the new limit applies", func() error {
		call(t, c, "demo__echo", map[string]any{"text": "x"})
		if res := call(t, c, "demo__echo", map[string]any{"text": "x"}); gatewayErrorCode(res) != "rate_limited" {
			return fmt.Errorf("not limited yet")
		}
		return nil
	})

	// A broken file: refused, the limit stays, the gateway keeps serving.
	if err := os.WriteFile(path, []byte("listn: nope\n"+limited), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = g.proc.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the broken reload is reported", func() error {
		if !strings.Contains(g.logs(), "reload refused") {
			return fmt.Errorf("no refusal logged yet")
		}
		return nil
	})
	if !strings.Contains(g.logs(), "listn: unknown key") {
		t.Errorf("the refusal does not name the bad key:\n%s", g.proc.out.String())
	}
	if res := call(t, c, "demo__echo", map[string]any{"text": "x"}); gatewayErrorCode(res) != "rate_limited" {
		t.Errorf("the old limit was lost after a broken reload: %s", text(res))
	}
}
