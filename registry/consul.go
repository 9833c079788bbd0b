package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/internal/backoff"
	"github.com/switchboard-mcp/switchboard/ratelimit"
)

// Service meta keys of the registration contract (docs/design.md).
const (
	MetaPath      = "mcp_path"
	MetaTransport = "mcp_transport"
	MetaScheme    = "mcp_scheme"
	MetaNamespace = "mcp_namespace"
	MetaTimeout   = "mcp_timeout"
	MetaRateLimit = "mcp_rate_limit"
	MetaCacheTTL  = "mcp_cache_ttl"
	// MetaCredentials names an entry of the gateway's credentials (token exchange) for the
	// instance; the gateway resolves it when the instance connects.
	MetaCredentials = "mcp_credentials"
)

// Consul is a source of upstreams: the services carrying the configured tag, with their passing
// instances. It watches with blocking queries, so a registration shows within milliseconds.
type Consul struct {
	client *api.Client
	tag    string
	log    *slog.Logger
	mu     sync.Mutex // guards state: the two watches and Run all update it
	state  ConsulState
	// waitTime bounds one blocking query; Consul adds jitter of its own.
	waitTime time.Duration
}

// ConsulState is the health of the Consul source, for /readyz details and logs.
type ConsulState struct {
	Synced    bool      `json:"synced"`    // at least one snapshot was emitted
	Reachable bool      `json:"reachable"` // the last query succeeded
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

// NewConsul returns a Consul source for cfg. It does not contact Consul.
func NewConsul(cfg *config.Consul, log *slog.Logger) (*Consul, error) {
	conf := api.DefaultNonPooledConfig()
	conf.Address = cfg.Address
	conf.Scheme = cfg.Scheme
	conf.Token = cfg.Token
	conf.Datacenter = cfg.Datacenter
	conf.Namespace = cfg.Namespace
	conf.Partition = cfg.Partition
	conf.TLSConfig = api.TLSConfig{
		Address: cfg.TLS.ServerName, CAFile: cfg.TLS.CAFile, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
	}
	client, err := api.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	c := &Consul{client: client, tag: cfg.Tag, log: log.With("source", "consul"), waitTime: 5 * time.Minute}
	c.state = ConsulState{Since: time.Now()}
	return c, nil
}

// State returns the source's current state.
func (c *Consul) State() ConsulState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Name is "consul".
func (c *Consul) Name() string { return "consul" }

// Run watches Consul until ctx ends and calls emit with each new snapshot (never with the same
// one twice, and never concurrently). While Consul is unreachable nothing is emitted, so the
// last snapshot stays in force.
func (c *Consul) Run(ctx context.Context, emit func(Snapshot)) {
	changed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Two blocking queries cover every change: the service list (registrations) and the state
	// of every health check (an instance turning critical or passing again).
	wg.Go(func() {
		c.watch(ctx, changed, func(q *api.QueryOptions) (uint64, error) {
			_, meta, err := c.client.Catalog().Services(q)
			return index(meta), err
		})
	})
	wg.Go(func() {
		c.watch(ctx, changed, func(q *api.QueryOptions) (uint64, error) {
			_, meta, err := c.client.Health().State(api.HealthAny, q)
			return index(meta), err
		})
	})

	var last Snapshot
	emitted := false
	bo := backoff.Backoff{Min: 200 * time.Millisecond, Max: 30 * time.Second}
	retry := time.NewTimer(0)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry.C:
		}
		snap, err := c.snapshot(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.setReachable(false, err)
				retry.Reset(bo.Next())
			}
			continue
		}
		bo.Reset()
		c.setReachable(true, nil)
		if emitted && snapshotsEqual(snap, last) {
			continue
		}
		last, emitted = snap, true
		emit(snap)
		c.mu.Lock()
		c.state.Synced = true
		c.mu.Unlock()
	}
}

func index(meta *api.QueryMeta) uint64 {
	if meta == nil {
		return 0
	}
	return meta.LastIndex
}

// watch runs one blocking query in a loop and signals changed whenever its index moves.
func (c *Consul) watch(ctx context.Context, changed chan<- struct{}, query func(*api.QueryOptions) (uint64, error)) {
	var last uint64
	bo := backoff.Backoff{Min: 200 * time.Millisecond, Max: 30 * time.Second}
	for ctx.Err() == nil {
		idx, err := query((&api.QueryOptions{WaitIndex: last, WaitTime: c.waitTime}).WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.setReachable(false, err)
			// The agent may have restarted with lower indexes: waiting on the old index would
			// block until it caught up, so start over and take the next answer as a change.
			last = 0
			select {
			case <-ctx.Done():
				return
			case <-time.After(bo.Next()):
			}
			continue
		}
		bo.Reset()
		if idx != last {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		// An index that went backwards (a restarted agent, a snapshot restore) starts over; an
		// index of 0 would turn the next query into a busy loop.
		switch {
		case idx < last:
			last = 0
		case idx == 0:
			last = 1
		default:
			last = idx
		}
	}
}

// setReachable records the outcome of a query. The first failure is recorded and logged too
// (the state starts unreachable with no error: not tried yet), so a gateway that never reaches
// Consul says why; later failures only refresh the error.
func (c *Consul) setReachable(ok bool, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.state
	if old.Reachable == ok && old.LastError == msg {
		return
	}
	c.state.Reachable, c.state.LastError = ok, msg
	if old.Reachable != ok {
		c.state.Since = time.Now()
	}
	switch {
	case !ok && old.LastError == "" && old.Synced:
		c.log.Warn("consul unreachable; serving the last known catalog", "err", err)
	case !ok && old.LastError == "":
		c.log.Warn("consul unreachable; no upstreams from it until it answers", "err", err)
	case ok && old.LastError != "":
		c.log.Info("consul reachable again")
	}
}

// snapshot reads every tagged service and its passing instances. A service whose registration
// breaks the contract is logged and left out; the others stand.
func (c *Consul) snapshot(ctx context.Context) (Snapshot, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	services, _, err := c.client.Catalog().Services(q)
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	var names []string
	for name, tags := range services {
		if slices.Contains(tags, c.tag) {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	entries := make([][]*api.ServiceEntry, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			entries[i], _, errs[i] = c.client.Health().Service(name, c.tag, true, q)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reading instances: %w", err)
	}

	var snap Snapshot
	for i, name := range names {
		if len(entries[i]) == 0 {
			continue // no passing instance: nothing to route to
		}
		u, err := upstreamFromConsul(name, entries[i])
		if err != nil {
			c.log.Warn("consul service skipped: bad registration", "service", name, "err", err)
			continue
		}
		snap = append(snap, u)
	}
	return snap, nil
}

var namespaceRule = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

// upstreamFromConsul builds the upstream of one service from its passing instances, parsing the
// registration contract strictly: any bad value rejects the service.
func upstreamFromConsul(name string, entries []*api.ServiceEntry) (Upstream, error) {
	slices.SortFunc(entries, func(a, b *api.ServiceEntry) int {
		return strings.Compare(instanceID(a), instanceID(b))
	})
	u := Upstream{Name: ServiceName(name), Namespace: name}
	var problems []string
	for i, e := range entries {
		inst, svc, err := parseInstance(e)
		if err != nil {
			problems = append(problems, fmt.Sprintf("instance %s: %v", instanceID(e), err))
			continue
		}
		if i == 0 { // service-wide settings come from the first instance, in ID order
			u.Namespace, u.Timeout, u.RateLimit, u.CacheTTL = svc.Namespace, svc.Timeout, svc.RateLimit, svc.CacheTTL
		}
		u.Instances = append(u.Instances, inst)
	}
	if len(problems) > 0 {
		return Upstream{}, errors.New(strings.Join(problems, "; "))
	}
	return u, nil
}

func instanceID(e *api.ServiceEntry) string {
	return e.Node.Node + "/" + e.Service.ID
}

// parseInstance reads one instance's address and meta. svc carries the service-wide settings.
func parseInstance(e *api.ServiceEntry) (Instance, Upstream, error) {
	meta := e.Service.Meta
	var svc Upstream
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	path := metaOr(meta, MetaPath, "/mcp")
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
		bad(MetaPath, "want a path starting with / and without ? or #, got %q", path)
	}
	transport := Transport(metaOr(meta, MetaTransport, string(StreamableHTTP)))
	if transport != StreamableHTTP && transport != SSE {
		bad(MetaTransport, "want %q or %q, got %q", StreamableHTTP, SSE, transport)
	}
	scheme := metaOr(meta, MetaScheme, "http")
	if scheme != "http" && scheme != "https" {
		bad(MetaScheme, "want http or https, got %q", scheme)
	}
	svc.Namespace = metaOr(meta, MetaNamespace, e.Service.Service)
	if _, set := meta[MetaNamespace]; set && !namespaceRule.MatchString(svc.Namespace) {
		bad(MetaNamespace, "want up to 64 characters of A-Z a-z 0-9 _ -, got %q", svc.Namespace)
	}
	if v, ok := meta[MetaTimeout]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(MetaTimeout, "want a positive duration like 30s, got %q", v)
		}
		svc.Timeout = d
	}
	if v, ok := meta[MetaRateLimit]; ok {
		r, err := ratelimit.ParseRate(v)
		if err != nil {
			bad(MetaRateLimit, "%v", err)
		}
		svc.RateLimit = r
	}
	if v, ok := meta[MetaCacheTTL]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(MetaCacheTTL, "want a positive duration like 60s, got %q", v)
		}
		svc.CacheTTL = d
	}
	host := e.Service.Address
	if host == "" {
		host = e.Node.Address
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(e.Service.Port)), Path: path}
	switch {
	case host == "" || e.Service.Port <= 0:
		bad("address", "the instance has no address and port")
	case e.Service.Port > 65535:
		bad("address", "port %d is out of range", e.Service.Port)
	default:
		// An address with URL syntax in it ("a/b", "a@b") would send calls elsewhere.
		if parsed, err := url.Parse(u.String()); err != nil || parsed.Host != u.Host || parsed.User != nil {
			bad("address", "%q is not a host name or IP address", host)
		}
	}
	if len(problems) > 0 {
		return Instance{}, svc, errors.New(strings.Join(problems, ", "))
	}
	return Instance{ID: InstanceID(instanceID(e)), Transport: transport, URL: u.String(), Credentials: meta[MetaCredentials]}, svc, nil
}

func metaOr(meta map[string]string, key, fallback string) string {
	if v, ok := meta[key]; ok {
		return v
	}
	return fallback
}
