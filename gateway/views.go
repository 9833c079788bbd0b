package gateway

import (
	"maps"
	"slices"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/router"
	"github.com/switchboard-mcp/switchboard/telemetry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// instanceStates reads every instance for the metrics.
func instanceStates(m *upstream.Manager) []telemetry.InstanceState {
	var out []telemetry.InstanceState
	for _, u := range m.Upstreams() {
		for _, s := range u.Instances() {
			breaker := map[string]int{"closed": 0, "half-open": 1, "open": 2}[s.Breaker]
			out = append(out, telemetry.InstanceState{Upstream: string(u.Desc.Name), Instance: string(s.ID),
				Connected: s.Connected, InFlight: s.InFlight, Breaker: breaker})
		}
	}
	return out
}

type upstreamView struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Timeout   string            `json:"timeout"`
	Instances []upstream.Status `json:"instances"`
}

// upstreamsView is /admin/upstreams: every upstream with its instances' health, breaker state
// and calls in flight.
func upstreamsView(m *upstream.Manager) any {
	out := []upstreamView{}
	for _, u := range m.Upstreams() {
		out = append(out, upstreamView{Name: string(u.Desc.Name), Namespace: u.Desc.Namespace,
			Timeout: u.Desc.Timeout.String(), Instances: u.Instances()})
	}
	return map[string]any{"upstreams": out}
}

type toolView struct {
	Name       string         `json:"name"`
	Upstream   string         `json:"upstream"`
	Tool       string         `json:"tool"`
	RateLimit  *ratelimitView `json:"rate_limit,omitempty"`
	CacheTTL   string         `json:"cache_ttl,omitempty"`
	CacheShare bool           `json:"cache_shared,omitempty"`
	Idempotent bool           `json:"idempotent"`
	Policies   []int          `json:"allowed_by_policies"`
}

type ratelimitView struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// catalogView is /admin/catalog: the upstreams and every tool with its effective limit, cache
// rule, and the policies (by index in auth.policies) whose allow list names it; a principal no
// policy matches may call every tool.
func catalogView(rt *router.Router, m *upstream.Manager, rules *authn.Rules) any {
	tools := []toolView{}
	for _, e := range rt.Catalog().Entries() {
		v := toolView{Name: string(e.Name), Upstream: string(e.Upstream), Tool: e.Tool, Idempotent: e.Idempotent, Policies: []int{}}
		if e.Limit.Rate > 0 {
			v.RateLimit = &ratelimitView{PerSecond: e.Limit.Rate, Burst: e.Limit.Burst}
		}
		if e.Cache != nil {
			v.CacheTTL, v.CacheShare = e.Cache.TTL.String(), e.Cache.Shared
		}
		for i, p := range rules.Policies {
			if p.Allow.Match(string(e.Name)) {
				v.Policies = append(v.Policies, i)
			}
		}
		tools = append(tools, v)
	}
	return map[string]any{"upstreams": upstreamsView(m).(map[string]any)["upstreams"], "tools": tools, "servers": serversView(rt)}
}

type serverView struct {
	Name        string   `json:"name"`
	Path        string   `json:"path"`
	Description string   `json:"description,omitempty"`
	ToolSearch  string   `json:"tool_search"`
	MaxTools    int      `json:"max_tools,omitempty"`
	Tools       []string `json:"tools"`
}

// serversView lists each server and the tools its selectors pick (a caller sees them
// intersected with its policy view).
func serversView(rt *router.Router) []serverView {
	root, virtual := rt.Servers()
	all := []*router.Server{}
	if root != nil {
		all = append(all, root)
	}
	for _, name := range slices.Sorted(maps.Keys(virtual)) {
		all = append(all, virtual[name])
	}
	out := []serverView{}
	for _, s := range all {
		v := serverView{Name: s.Name, Path: "/mcp", Description: s.Description, ToolSearch: s.Search.Mode, MaxTools: s.Search.MaxTools, Tools: []string{}}
		if s.Name != "" {
			v.Path += "/" + s.Name
		} else {
			v.Name = "(root)"
		}
		for _, e := range rt.Catalog().Entries() {
			if s.Selects(string(e.Name)) {
				v.Tools = append(v.Tools, string(e.Name))
			}
		}
		out = append(out, v)
	}
	return out
}
