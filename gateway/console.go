package gateway

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-mcp/switchboard/admin"
	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/callrecord"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/middleware"
	"github.com/switchboard-mcp/switchboard/pinning"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/telemetry"
)

// Outcomes of a console action in the audit log (method "admin/ACTION").
const (
	actionOK      = "ok"
	actionFailed  = "failed"       // the action ran and failed (reason says why)
	actionRefused = "csrf_refused" // a POST without the console's token, or from another origin
)

// newConsole builds the admin console over the gateway's components. Its rates sample the
// metrics' counters (the loop runs in Run).
func (g *Gateway) newConsole(cfg *config.Config, metrics *telemetry.Metrics) *admin.Console {
	started := time.Now()
	hostname, _ := os.Hostname()
	replica := cmp.Or(cfg.Sessions.ReplicaAddress, replicaAddress(g.adminLn.Addr()))
	mode := cfg.Pinning.Mode
	store := "in-process memory"
	if g.redis != nil {
		store = "redis"
	}
	opts := admin.ConsoleOptions{
		Rates: admin.NewRates(func() admin.Totals {
			t := metrics.Totals()
			return admin.Totals{Calls: t.Calls, Errors: t.Errors, CacheHits: t.CacheHits, CacheMisses: t.CacheMisses}
		}),
		Overview: func(ctx context.Context) admin.Overview {
			ready, why := g.ready.Ready()
			return admin.Overview{Ready: ready, NotReady: why,
				Replica: admin.Replica{Address: replica, Hostname: hostname, Version: g.opts.Version, Started: started,
					Tools: g.router.Catalog().Len(), Upstreams: len(g.manager.Upstreams()),
					CatalogChanged: g.router.CatalogChanged(), StreamsOpen: g.router.StreamsOpen()},
				Consul: g.consulState(), Redis: g.redisState(ctx)}
		},
		Upstreams: g.upstreamStates,
		Catalog:   g.catalogState,
		Pins:      func() admin.PinsState { return g.pinsState(mode) },
		Cache: func() admin.CacheState {
			reads, writes := g.responses.StoreErrors()
			s := admin.CacheState{Store: store, Available: g.responses.StoreAvailable(), ReadErrors: reads, WriteErrors: writes,
				Upstreams: []string{}, Tools: []string{}}
			for _, u := range g.manager.Upstreams() {
				s.Upstreams = append(s.Upstreams, string(u.Desc.Name))
			}
			for _, e := range g.router.Catalog().Entries() {
				if e.Cache != nil {
					s.Tools = append(s.Tools, string(e.Name))
				}
			}
			return s
		},
		Approve: func(ctx context.Context, tool, hash string) (string, error) {
			return g.settlePin(ctx, tool, hash, g.pins.Approve, "approved")
		},
		Reject: func(ctx context.Context, tool, hash string) (string, error) {
			return g.settlePin(ctx, tool, hash, g.pins.Reject, "rejected")
		},
		Purge:     g.purgeCache,
		Principal: func(r *http.Request) string { return principalFingerprint(r.Context()) },
		Audit:     g.auditAction,
		CSRFKey:   consoleKey(cfg),
	}
	return admin.NewConsole(opts)
}

// consoleKey keys the console's tokens: derived from sessions.key when it is set, so that every
// replica behind one balancer accepts the others' tokens; nil (a random key per process) else.
func consoleKey(cfg *config.Config) []byte {
	key, err := config.DecodeSessionKey(cfg.Sessions.Key)
	if cfg.Sessions.Key == "" || err != nil {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("switchboard admin console"))
	return m.Sum(nil)
}

// consulState is the Consul source's state, nil without Consul.
func (g *Gateway) consulState() *admin.Dependency {
	if g.consul == nil {
		return nil
	}
	s := g.consul.State()
	d := &admin.Dependency{OK: s.Reachable && s.Synced, Detail: s.LastError, Since: s.Since}
	switch {
	case !s.Synced && s.LastError == "":
		d.State = "waiting for its first answer"
	case !s.Synced:
		d.State = "never reached"
	case !s.Reachable:
		d.State = "unreachable"
		d.Detail = "the last snapshot stays in force: " + s.LastError
	default:
		d.State = "reachable"
		d.Detail = "synced; discovery follows every change"
	}
	return d
}

// redisState pings Redis (bounded by redis.timeout), nil without Redis.
func (g *Gateway) redisState(ctx context.Context) *admin.Dependency {
	if g.redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(redisTimeout(g.currentConfig()), 100*time.Millisecond))
	defer cancel()
	uses := "sessions, rate limits, cache and pins are shared by every replica"
	if err := g.redis.Ping(ctx).Err(); err != nil {
		return &admin.Dependency{State: "unreachable", Detail: err.Error() + "; meanwhile each replica decides alone (limits per replica, calls uncached)"}
	}
	return &admin.Dependency{OK: true, State: "reachable", Detail: uses}
}

// upstreamStates is every upstream with its instances and how many tools it exposes.
func (g *Gateway) upstreamStates() []admin.UpstreamState {
	tools := map[registry.ServiceName]int{}
	for _, e := range g.router.Catalog().Entries() {
		tools[e.Upstream]++
	}
	out := []admin.UpstreamState{}
	for _, u := range g.manager.Upstreams() {
		s := admin.UpstreamState{Name: string(u.Desc.Name), Namespace: u.Desc.Namespace, Timeout: u.Desc.Timeout.String(),
			Tools: tools[u.Desc.Name], Instances: []admin.InstanceState{}}
		for _, in := range u.Instances() {
			source := "consul" // NODE/SERVICE_ID
			if in.ID == "static" {
				source = "static"
			}
			s.Instances = append(s.Instances, admin.InstanceState{ID: string(in.ID), Source: source, Connected: in.Connected,
				Breaker: in.Breaker, InFlight: in.InFlight, LastError: in.LastError, Since: in.Since})
		}
		out = append(out, s)
	}
	return out
}

// catalogState is every exposed tool with its limit, cache rule, policies and servers.
func (g *Gateway) catalogState() admin.CatalogState {
	rules := g.policies.Load()
	s := admin.CatalogState{AuthOff: g.verifier == nil, Unmatched: "every tool"}
	if rules.DenyUnmatched {
		s.Unmatched = "nothing"
	}
	servers := map[string][]string{}
	for _, sv := range serversView(g.router) {
		for _, t := range sv.Tools {
			servers[t] = append(servers[t], sv.Path)
		}
	}
	for _, e := range g.router.Catalog().Entries() {
		t := admin.ToolState{Name: string(e.Name), Upstream: string(e.Upstream), Tool: e.Tool, Title: e.Title(),
			Description: e.Description(), Idempotent: e.Idempotent, Held: e.Held, Servers: servers[string(e.Name)]}
		if e.Limit.Rate > 0 {
			t.RateLimit = fmt.Sprintf("%g/s, burst %d", e.Limit.Rate, e.Limit.Burst)
		}
		if e.Cache != nil {
			t.Cache = shortDuration(e.Cache.TTL) + ", per principal"
			if e.Cache.Shared {
				t.Cache = shortDuration(e.Cache.TTL) + ", shared"
			}
		}
		if !s.AuthOff {
			for i, p := range rules.Policies {
				if p.Allow.Match(string(e.Name)) {
					t.Policies = append(t.Policies, policyLabel(i, p))
				}
			}
		}
		s.Tools = append(s.Tools, t)
	}
	return s
}

// policyLabel names auth.policies[i] by its index and match.
func policyLabel(i int, p authn.Policy) string {
	var when []string
	if p.Scope != "" {
		when = append(when, "scope "+p.Scope)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Claims)) {
		when = append(when, k+"="+p.Claims[k])
	}
	if len(when) == 0 {
		return fmt.Sprintf("#%d", i)
	}
	return fmt.Sprintf("#%d (%s)", i, strings.Join(when, ", "))
}

// shortDuration spells d without zero units: 1m, 1h30m, 5s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// pinsState is every held change with its side-by-side diff.
func (g *Gateway) pinsState(mode string) admin.PinsState {
	s := admin.PinsState{Mode: mode}
	for _, h := range g.pins.Held() {
		fields, rows, cut := h.Diff()
		p := admin.HeldPin{Tool: g.router.ExposedNameOf(registry.ServiceName(h.Service), h.Tool), Service: h.Service, UpstreamTool: h.Tool,
			Kind: string(h.Kind), Hash: h.Hash, FirstSeen: h.FirstSeen, Fields: fields, Cut: cut}
		if h.RejectedAt != nil {
			p.RejectedAt = *h.RejectedAt
		}
		for _, r := range rows {
			p.Rows = append(p.Rows, admin.DiffRow{Kind: string(r.Kind), OldNo: r.OldNo, NewNo: r.NewNo, Old: r.Old, New: r.New, Skipped: r.Skipped})
		}
		s.Held = append(s.Held, p)
	}
	return s
}

// settlePin approves or rejects the held change of an exposed tool through the pins, as
// POST /admin/pins/approve and reject do.
func (g *Gateway) settlePin(ctx context.Context, tool, hash string, decide func(context.Context, pinning.Key, string) (pinning.Status, error), done string) (string, error) {
	service, upstreamTool, ok := g.resolvePinned(tool)
	if !ok {
		return "", &admin.ActionError{Status: http.StatusNotFound, Msg: "unknown tool: " + tool}
	}
	st, err := decide(ctx, pinning.Key{Service: service, Tool: upstreamTool}, hash)
	switch {
	case errors.Is(err, pinning.ErrNotHeld):
		return "", &admin.ActionError{Status: http.StatusNotFound, Msg: "no held change for " + tool + " (another operator may have settled it)"}
	case errors.Is(err, pinning.ErrStale):
		return "", &admin.ActionError{Status: http.StatusConflict, Msg: "the held definition of " + tool + " changed since this page showed it; read the new diff"}
	case errors.Is(err, pinning.ErrUnavailable):
		return "", &admin.ActionError{Status: http.StatusServiceUnavailable, Msg: "the pin store is unavailable; nothing changed, try again"}
	case err != nil:
		return "", err
	}
	msg := fmt.Sprintf("%s %s: now %s", strings.ToUpper(done[:1])+done[1:], tool, st.State)
	if st.Note != "" {
		msg += " (" + st.Note + ")"
	}
	return msg, nil
}

// auditAction records a console action with its admin principal: a line in the audit log
// (through the observer, which the metrics skip: its method is set) and one in the gateway's log.
func (g *Gateway) auditAction(r *http.Request, a admin.Action, err error) {
	rec := callrecord.Record{Time: time.Now(), Method: "admin/" + a.Name, Tool: a.Tool, Upstream: a.Upstream,
		Outcome: actionOK, Reason: a.Result, RequestID: middleware.RequestIDFrom(r.Context())}
	subject := "anonymous"
	if p := authn.PrincipalFrom(r.Context()); p != nil {
		rec.Subject, rec.ClientID, subject = p.Subject, p.ClientID, p.Subject
	}
	level := slog.LevelInfo
	if err != nil {
		rec.Outcome, rec.Reason, level = actionFailed, err.Error(), slog.LevelWarn
		if errors.Is(err, admin.ErrCSRF) {
			rec.Outcome = actionRefused
		}
	}
	g.observer.ObserveCall(rec)
	g.log.Log(r.Context(), level, "admin console action", "action", a.Name, "principal", subject, "tool", a.Tool, "upstream", a.Upstream,
		"hash", a.Hash, "outcome", rec.Outcome, "result", rec.Reason, "remote", r.RemoteAddr)
}
