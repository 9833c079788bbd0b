package gateway

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/router"
)

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
	limit, err := limitFunc(cfg.Limits)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]ratelimit.Limit{
		"weather__forecast": {Rate: 1, Burst: 2},   // exact name wins
		"weather__radar":    {Rate: 5, Burst: 5},   // glob, burst one second's worth
		"clock__now":        {Rate: 10, Burst: 10}, // default
	} {
		if got := limit(router.ExposedName(name), ratelimit.Rate{}); got != want {
			t.Errorf("limit of %s: %+v, want %+v", name, got, want)
		}
	}
	if got := limit("clock__now", ratelimit.Rate{PerSecond: 2}); got != (ratelimit.Limit{Rate: 2, Burst: 2}) {
		t.Errorf("an upstream's mcp_rate_limit must win over the default: %+v", got)
	}

	rule, err := cacheRuleFunc(cfg.Cache)
	if err != nil {
		t.Fatal(err)
	}
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

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	got := trustedProxies([]string{"10.0.0.1/8", "fd00::/8", "::ffff:192.0.2.0/120"})
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.0/24")}
	if !slices.Equal(got, want) {
		t.Errorf("trustedProxies = %v, want %v", got, want)
	}
	if got := trustedProxies(nil); len(got) != 0 {
		t.Errorf("no trusted_proxies gave %v", got)
	}
}
