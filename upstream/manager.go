// Package upstream keeps MCP client sessions to upstream instances: one long-lived, initialized
// session per instance, re-dialled with back-off when it dies, and calls routed over them.
package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// Upstream is one upstream server and its instances (replicas). Immutable once built.
type Upstream struct {
	Desc      registry.Upstream
	instances []*Instance
	log       *slog.Logger
	// disagreement is the last logged set of differing tool lists, so it is logged once.
	disagreement atomic.Pointer[string]
}

// Tools returns the upstream's tools and whether any instance has listed them. Replicas should
// list the same tools; when they do not, the list of the most connected instances wins, ties
// going to the most recently listed. An upstream that was listed once keeps its tools while it is
// down, so its calls fail with a clear error rather than "unknown tool", and clients see no churn.
func (u *Upstream) Tools() (Lists, bool) {
	type group struct {
		st    *instanceState
		count int
	}
	groups := map[string]*group{}
	var best, fallback *instanceState
	for _, in := range u.instances {
		st := in.state.Load()
		if !st.listed {
			continue
		}
		if fallback == nil || st.since.After(fallback.since) {
			fallback = st
		}
		if st.conn == nil {
			continue
		}
		g := groups[st.digest]
		if g == nil {
			g = &group{st: st}
			groups[st.digest] = g
		}
		g.count++
		if st.since.After(g.st.since) {
			g.st = st
		}
	}
	bestCount := 0
	for _, g := range groups {
		if g.count > bestCount || (g.count == bestCount && g.st.since.After(best.since)) {
			best, bestCount = g.st, g.count
		}
	}
	if len(groups) > 1 {
		u.logDisagreement(len(groups), bestCount)
	}
	switch {
	case best != nil:
		return best.lists, true
	case fallback != nil:
		return fallback.lists, true
	}
	return Lists{}, false
}

func (u *Upstream) logDisagreement(lists, majority int) {
	key := fmt.Sprintf("%d/%d", lists, majority)
	if old := u.disagreement.Swap(&key); old == nil || *old != key {
		u.log.Warn("instances of the upstream list different tools; exposing the majority's",
			"upstream", u.Desc.Name, "distinct_lists", lists, "majority", majority)
	}
}

// Instances returns the status of each instance.
func (u *Upstream) Instances() []Status {
	out := make([]Status, len(u.instances))
	for i, in := range u.instances {
		out[i] = in.Status()
	}
	return out
}

// Manager runs the instances of the current registry snapshot. Apply swaps in a new snapshot;
// everything else may be called concurrently from any goroutine.
type Manager struct {
	http     *http.Client // shared by every HTTP instance: pooled connections
	log      *slog.Logger
	settings Settings
	// exchangers get callers' tokens for instances with credentials, one per credential.
	exchangers map[string]*tokenexchange.Exchanger

	life    context.Context
	stopAll context.CancelFunc
	wg      sync.WaitGroup

	// resourceUpdated gets upstreams' notifications/resources/updated.
	resourceUpdated atomic.Pointer[func(registry.ServiceName, string)]

	mu        sync.Mutex // serializes Apply and Close
	running   map[instanceKey]*running
	upstreams atomic.Pointer[map[registry.ServiceName]*Upstream]
	changes   chan struct{}
}

type instanceKey struct {
	upstream registry.ServiceName
	id       registry.InstanceID
}

type running struct {
	inst *Instance
	stop context.CancelFunc
}

// NewManager returns a Manager with no upstreams; every instance it starts gets settings.
func NewManager(log *slog.Logger, settings Settings) *Manager {
	life, stop := context.WithCancel(context.Background())
	m := &Manager{
		http: newHTTPClient(settings.MaxResponseBytes), log: log, settings: settings,
		life: life, stopAll: stop,
		running: map[instanceKey]*running{},
		changes: make(chan struct{}, 1),
	}
	m.exchangers = exchangers(settings.Credentials, m)
	m.upstreams.Store(&map[registry.ServiceName]*Upstream{})
	return m
}

// Changes signals (coalesced) that an upstream's tools or status changed, or that Apply ran.
func (m *Manager) Changes() <-chan struct{} { return m.changes }

func (m *Manager) notify() { signal(m.changes) }

// Apply makes snap the set of upstreams. Instances whose description did not change keep their
// sessions; new ones are started; gone ones are stopped in the background.
func (m *Manager) Apply(snap registry.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[registry.ServiceName]*Upstream, len(snap))
	keep := map[instanceKey]bool{}
	for _, desc := range snap {
		u := &Upstream{Desc: desc, log: m.log}
		for _, spec := range desc.Instances {
			key := instanceKey{desc.Name, spec.ID}
			r, ok := m.running[key]
			if !ok || !r.inst.spec.Equal(spec) || r.inst.timeout != desc.Timeout {
				if ok {
					m.stop(r)
				}
				r = m.start(desc, spec)
				m.running[key] = r
			}
			keep[key] = true
			u.instances = append(u.instances, r.inst)
		}
		next[desc.Name] = u
	}
	for key, r := range m.running {
		if !keep[key] {
			m.stop(r)
			delete(m.running, key)
		}
	}
	m.upstreams.Store(&next)
	m.notify()
}

func (m *Manager) start(desc registry.Upstream, spec registry.Instance) *running {
	ctx, cancel := context.WithCancel(m.life)
	in := newInstance(desc, spec, m.http, m.settings, m.log, m.notify)
	in.credentials = spec.Credentials
	in.exchange, in.credErr = m.credentialsFor(spec)
	in.resourceUpdated = func(up registry.ServiceName, uri string) {
		if f := m.resourceUpdated.Load(); f != nil {
			(*f)(up, uri)
		}
	}
	m.wg.Go(func() { in.run(ctx) })
	return &running{inst: in, stop: cancel}
}

// stop drains r in the background: calls in flight may finish, up to the call timeout, then
// the session is closed. New calls cannot reach r: it is no longer in any Upstream.
func (m *Manager) stop(r *running) {
	m.wg.Go(func() {
		deadline := time.Now().Add(r.inst.timeoutOrDefault())
		for r.inst.inFlight.Load() > 0 && time.Now().Before(deadline) && m.life.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		r.stop()
		<-r.inst.done
	})
}

// Upstream returns the upstream named name, or nil.
func (m *Manager) Upstream(name registry.ServiceName) *Upstream {
	return (*m.upstreams.Load())[name]
}

// Upstreams returns every upstream, sorted by name.
func (m *Manager) Upstreams() []*Upstream {
	all := *m.upstreams.Load()
	out := make([]*Upstream, 0, len(all))
	for _, u := range all {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *Upstream) int {
		switch {
		case a.Desc.Name < b.Desc.Name:
			return -1
		case a.Desc.Name > b.Desc.Name:
			return 1
		}
		return 0
	})
	return out
}

// WaitTried blocks until every current instance finished its first dial, well or not, or ctx
// ends. It reports whether they all did.
func (m *Manager) WaitTried(ctx context.Context) bool {
	for _, u := range m.Upstreams() {
		for _, in := range u.instances {
			select {
			case <-in.tried:
			case <-ctx.Done():
				return false
			}
		}
	}
	return true
}

// Close stops every instance and waits for their sessions and processes to end.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopAll()
	m.wg.Wait()
	m.running = map[instanceKey]*running{}
}

// Listing is an upstream's namespace and last known tools, for building the catalog.
type Listing struct {
	Name      registry.ServiceName
	Namespace string
	Tools     []Tool
	Prompts   []Tool
	Resources []Tool
	Templates []Tool
	// RateLimit is the upstream's own per principal, per tool limit (Consul mcp_rate_limit).
	RateLimit ratelimit.Rate
	// CacheTTL is the upstream's own TTL for its readOnlyHint tools (Consul mcp_cache_ttl).
	CacheTTL time.Duration
}

// Listings returns the listing of every upstream that was listed at least once, sorted by name.
func (m *Manager) Listings() []Listing {
	var out []Listing
	for _, u := range m.Upstreams() {
		if l, ok := u.Tools(); ok {
			out = append(out, Listing{Name: u.Desc.Name, Namespace: u.Desc.Namespace, Tools: l.Tools, Prompts: l.Prompts,
				Resources: l.Resources, Templates: l.Templates, RateLimit: u.Desc.RateLimit, CacheTTL: u.Desc.CacheTTL})
		}
	}
	return out
}

// OnResourceUpdated sets who hears upstreams' notifications/resources/updated.
func (m *Manager) OnResourceUpdated(f func(upstream registry.ServiceName, uri string)) {
	m.resourceUpdated.Store(&f)
}

// Request sends another request (prompts/get, resources/read, completion/complete, ...) to the
// upstream named name, like a call of an idempotent tool, and returns the raw result.
func (m *Manager) Request(ctx context.Context, name registry.ServiceName, method string, params map[string]any) (json.RawMessage, error) {
	u := m.Upstream(name)
	if u == nil {
		return nil, fmt.Errorf("%w %s", ErrNoInstance, name)
	}
	first, err := u.pick(nil, "")
	if first == nil {
		return nil, err
	}
	raw, err := first.Request(ctx, method, params)
	if err != nil && retryable(ctx, err, true) {
		if second, _ := u.pick(first, ""); second != nil {
			return second.Request(ctx, method, params)
		}
	}
	return raw, err
}

// Call routes a call to the upstream named name. See Upstream.Call.
func (m *Manager) Call(ctx context.Context, name registry.ServiceName, req CallRequest) (CallResult, error) {
	u := m.Upstream(name)
	if u == nil {
		return CallResult{}, fmt.Errorf("%w %s", ErrNoInstance, name)
	}
	return u.Call(ctx, req)
}
