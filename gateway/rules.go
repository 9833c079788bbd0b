package gateway

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/glob"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// policiesOf compiles the config's policies. The globs were validated with the config; an error
// here means a config that skipped validation.
func policiesOf(cfg *config.Config) (*authn.Rules, error) {
	rules := &authn.Rules{DenyUnmatched: cfg.Auth.DefaultPolicy == config.PolicyDeny, Separator: cfg.Naming.Separator}
	for i, p := range cfg.Auth.Policies {
		allow, err := glob.CompileList(p.Allow)
		if err != nil {
			return nil, fmt.Errorf("auth.policies[%d].allow: %w", i, err)
		}
		rules.Policies = append(rules.Policies, authn.Policy{Scope: p.When.Scope, Claims: p.When.Claim, Allow: allow,
			AllowResources: glob.CompileURIList(p.AllowResources)})
	}
	return rules, nil
}

// toolPolicy is how the router gets limits and cache rules from the config, compiled once.
func toolPolicy(cfg *config.Config) (router.Policy, error) {
	limit, err := limitFunc(cfg.Limits)
	if err != nil {
		return router.Policy{}, err
	}
	rule, err := cacheRuleFunc(cfg.Cache)
	if err != nil {
		return router.Policy{}, err
	}
	return router.Policy{Limit: limit, Cache: rule, Overrides: overridesOf(cfg)}, nil
}

// limitFunc resolves each tool's rate limit: limits.tools by exact name, then by glob (sorted),
// then the upstream's own mcp_rate_limit, then limits.default; none when nothing applies.
func limitFunc(l config.Limits) (router.LimitFunc, error) {
	rules, err := glob.NewRules(l.Tools)
	if err != nil {
		return nil, fmt.Errorf("limits.tools: %w", err)
	}
	return func(name router.ExposedName, upstreamRate ratelimit.Rate) ratelimit.Limit {
		if lim, ok := rules.Match(string(name)); ok {
			return toLimit(lim.Rate.PerSecond, lim.Burst)
		}
		if upstreamRate.PerSecond > 0 {
			return toLimit(upstreamRate.PerSecond, 0)
		}
		if l.Default != nil {
			return toLimit(l.Default.Rate.PerSecond, l.Default.Burst)
		}
		return ratelimit.Unlimited
	}, nil
}

// cacheRuleFunc resolves each tool's cache rule: cache.tools by exact name, then by glob, then
// the upstream's mcp_cache_ttl for tools annotated readOnlyHint. A destructive tool is never
// cached (destructiveHint counts only when readOnlyHint is not true, as the MCP spec reads).
func cacheRuleFunc(c config.Cache) (func(router.ExposedName, time.Duration, mcp.ToolAnnotation) *router.CacheRule, error) {
	rules, err := glob.NewRules(c.Tools)
	if err != nil {
		return nil, fmt.Errorf("cache.tools: %w", err)
	}
	return func(name router.ExposedName, upstreamTTL time.Duration, a mcp.ToolAnnotation) *router.CacheRule {
		readOnly := a.ReadOnlyHint != nil && *a.ReadOnlyHint
		if a.DestructiveHint != nil && *a.DestructiveHint && !readOnly {
			return nil
		}
		if rule, ok := rules.Match(string(name)); ok {
			return &router.CacheRule{TTL: rule.TTL.D(), Shared: rule.Shared}
		}
		if upstreamTTL > 0 && readOnly {
			return &router.CacheRule{TTL: upstreamTTL}
		}
		return nil
	}, nil
}

// toLimit is a bucket of perSecond tokens; a burst of 0 defaults to one second's worth of
// calls, at least 1.
func toLimit(perSecond float64, burst int) ratelimit.Limit {
	if burst == 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return ratelimit.Limit{Rate: perSecond, Burst: burst}
}

// limiterOf is the router's rate limiter: with Redis, buckets shared by every replica, decided
// per replica (and counted in metrics) while Redis does not answer; without, nil (the router's
// own per-replica buckets).
func (g *Gateway) limiterOf(cfg *config.Config, metrics *telemetry.Metrics) router.Limiter {
	if g.redis == nil {
		return nil
	}
	return ratelimit.NewShared(g.redis, redisTimeout(cfg), ratelimit.New(100_000), g.log, metrics.RateLimitFallback)
}

// trustedProxies are the CIDRs of trusted_proxies, validated with the config (an entry that does
// not parse means a config that skipped validation: it trusts nothing). An IPv4-mapped IPv6
// prefix is taken as the IPv4 one, as middleware.ClientAddr compares IPv4 addresses unmapped.
func trustedProxies(cidrs []string) []netip.Prefix {
	var ps []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		ps = append(ps, p.Masked())
	}
	return ps
}

// allowedHosts are the Host values a loopback listener serves besides loopback names:
// public_url's host (with and without its port) and allowed_hosts.
func allowedHosts(cfg *config.Config) []string {
	hosts := append([]string{}, cfg.AllowedHosts...)
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		hosts = append(hosts, u.Host, u.Hostname())
	}
	return hosts
}
