package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/router"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     []string
	}{
		{"valid", "upstreams: [{name: a, url: http://127.0.0.1:1/mcp}]", 0, []string{"ok (1 static upstreams)"}},
		{"every problem listed", `
listn: 127.0.0.1:1
upstreams:
  - {name: a, url: http://h/mcp, command: [x], timeout: forever}
  - {name: a, url: "ftp://h"}
`, 1, []string{"5 problem(s)", "listn: unknown key", "upstreams[0].timeout: want a positive duration", "upstreams[0]: set either url or command", `upstreams[1].name: duplicate name "a"`, "upstreams[1].url: want an http"}},
		{"secrets are not echoed", "upstreams: [{name: a, url: http://h/mcp, headers: {Authorization: 'Bearer hunter2'}, timeout: nope}]", 1,
			[]string{"upstreams[0].timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run([]string{"validate", "--config", writeConfig(t, tc.config)}, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("a secret was printed:\n%s", out)
			}
		})
	}
}

func TestServeRefusesABadConfig(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--config", writeConfig(t, "upstreams: [{name: a}]")}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "upstreams[0]: set url") {
		t.Errorf("serve with a bad config: exit %d\n%s", code, stderr.String())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("unknown command: exit %d\n%s", code, stderr.String())
	}
}

func TestToolRules(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
limits:
  default: {rate: 10/s}
  tools: {"weather__forecast": {rate: 1/s, burst: 2}, "weather__*": {rate: 5/s}}
cache:
  tools: {"weather__*": {ttl: 1m, shared: true}, "weather__alerts": {ttl: 5s}}
upstreams: [{name: weather, url: http://127.0.0.1:1/mcp}]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	limit := limitFunc(cfg.Limits)
	for name, want := range map[string]ratelimit.Limit{
		"weather__forecast": {Rate: 1, Burst: 2},   // exact name wins
		"weather__radar":    {Rate: 5, Burst: 5},   // glob, burst one second's worth
		"clock__now":        {Rate: 10, Burst: 10}, // default
	} {
		if got := limit(router.ExposedName(name), config.Rate{}); got != want {
			t.Errorf("limit of %s: %+v, want %+v", name, got, want)
		}
	}
	if got := limit("clock__now", config.Rate{PerSecond: 2}); got != (ratelimit.Limit{Rate: 2, Burst: 2}) {
		t.Errorf("an upstream's mcp_rate_limit must win over the default: %+v", got)
	}

	rule := cacheRuleFunc(cfg.Cache)
	yes, no := true, false
	readOnly := mcp.ToolAnnotation{ReadOnlyHint: &yes}
	destructive := mcp.ToolAnnotation{ReadOnlyHint: &no, DestructiveHint: &yes}
	if r := rule("weather__alerts", 0, readOnly); r == nil || r.TTL != 5*time.Second || r.Shared {
		t.Errorf("exact cache rule: %+v", r)
	}
	if r := rule("weather__radar", 0, readOnly); r == nil || r.TTL != time.Minute || !r.Shared {
		t.Errorf("glob cache rule: %+v", r)
	}
	if r := rule("weather__radar", 0, destructive); r != nil {
		t.Errorf("a destructive tool got a cache rule: %+v", r)
	}
	if r := rule("clock__now", 30*time.Second, readOnly); r == nil || r.TTL != 30*time.Second || r.Shared {
		t.Errorf("mcp_cache_ttl for a read-only tool: %+v", r)
	}
	if r := rule("clock__set", 30*time.Second, mcp.ToolAnnotation{}); r != nil {
		t.Errorf("mcp_cache_ttl applies to read-only tools only: %+v", r)
	}
}
