// Package telemetry turns what the gateway does into Prometheus metrics and an audit log. No
// label or audit field carries an argument value, a result or a token; labels are bounded by the
// catalog (tools, upstreams, instances), never by principals.
package telemetry

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-mcp/switchboard/callrecord"
)

// Metrics holds the gateway's Prometheus metrics. Safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	calls       *prometheus.CounterVec
	callSeconds *prometheus.HistogramVec
	upSeconds   *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	cache       *prometheus.CounterVec
	rlFallback  prometheus.Counter
}

var _ callrecord.Observer = (*Metrics)(nil)

// State is what the gauges read at scrape time; every func may be nil.
type State struct {
	// Instances lists every upstream instance with its state.
	Instances func() []InstanceState
	// CatalogTools is the number of exposed tools; CatalogChanged when the catalog last changed.
	CatalogTools   func() int
	CatalogChanged func() time.Time
	// ConsulReachable and ConsulSynced report the Consul source (absent when none).
	ConsulReachable, ConsulSynced func() bool
	// StreamsOpen is the number of GET streams of 2025-era sessions open on this replica.
	StreamsOpen func() int
	// PinChanges counts tool definitions that changed after they were pinned (pinning).
	PinChanges func() uint64
	// CacheStoreErrors counts failed cache store reads and writes since start;
	// CacheStoreAvailable is false while the store is skipped after repeated failures.
	CacheStoreErrors    func() (reads, writes uint64)
	CacheStoreAvailable func() bool
}

// InstanceState is one instance at scrape time.
type InstanceState struct {
	Upstream, Instance string
	Connected          bool
	InFlight           int64
	Breaker            int // 0 closed, 1 half-open, 2 open
}

// durationBuckets span a cached answer (1 ms) to a long tool (60 s).
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics registers the metrics (and Go runtime and process ones) in a registry of its own.
func NewMetrics(state State) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_calls_total",
		Help: "tools/call requests by exposed tool, upstream and outcome (ok, tool_error, jsonrpc_error, unknown_tool, cancelled, rate_limited, circuit_open, no_instance, timeout, upstream_unavailable).",
	}, []string{"tool", "upstream", "outcome"})
	m.callSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_call_duration_seconds",
		Help:    "Duration of tools/call requests as the gateway handled them, by exposed tool.",
		Buckets: durationBuckets,
	}, []string{"tool"})
	m.upSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_upstream_call_duration_seconds",
		Help:    "Duration of calls that went to an upstream (cache misses), by upstream.",
		Buckets: durationBuckets,
	}, []string{"upstream"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_rate_limit_rejections_total",
		Help: "Calls rejected by a rate limit, by exposed tool.",
	}, []string{"tool"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_refusals_total",
		Help: "Requests refused, by reason: the authentication reasons (missing_token, expired_token, ...), insufficient_scope, not_allowed (outside the caller's view), rate_limited, session_refused.",
	}, []string{"reason"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_cache_lookups_total",
		Help: "Cache lookups of cacheable calls by result (hit, miss).",
	}, []string{"result"})
	m.rlFallback = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_ratelimit_fallback_total",
		Help: "Calls limited per replica because Redis was unreachable (limits are cluster-wide otherwise).",
	})
	m.registry.MustRegister(m.calls, m.callSeconds, m.upSeconds, m.rateLimited, m.refusals, m.cache, m.rlFallback,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		stateCollector{state})
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// RateLimitFallback counts a call whose rate limit was decided per replica because Redis did not
// answer (ratelimit.Shared's onFallback).
func (m *Metrics) RateLimitFallback() { m.rlFallback.Inc() }

// ObserveCall counts a finished call.
func (m *Metrics) ObserveCall(c callrecord.Record) {
	if reason := refusalReason(c); reason != "" {
		m.refusals.WithLabelValues(reason).Inc()
	}
	if !c.IsCall() {
		return // a refused request, not a call: its names are the client's, unbounded
	}
	tool := c.Tool
	m.calls.WithLabelValues(tool, c.Upstream, c.Outcome).Inc()
	if tool == "" {
		return // unknown tools: counted, nothing more (their names are the client's, unbounded)
	}
	m.callSeconds.WithLabelValues(tool).Observe(c.Duration.Seconds())
	if c.Outcome == callrecord.OutcomeRateLimited {
		m.rateLimited.WithLabelValues(tool).Inc()
		return
	}
	switch {
	case c.CacheHit:
		m.cache.WithLabelValues("hit").Inc()
		return
	case c.Cacheable:
		m.cache.WithLabelValues("miss").Inc()
	}
	if c.Instance != "" {
		m.upSeconds.WithLabelValues(c.Upstream).Observe(c.Duration.Seconds())
	}
}

// refusalReason is the refusals metric's label for c, "" when c was not refused. The
// authentication reasons are a fixed set; a session refusal's detailed reason is not a label.
func refusalReason(c callrecord.Record) string {
	switch c.Outcome {
	case callrecord.OutcomeUnauthenticated, callrecord.OutcomeForbidden:
		return c.Reason
	case callrecord.OutcomeNotAllowed, callrecord.OutcomeRateLimited, callrecord.OutcomeSessionRefused:
		return c.Outcome
	}
	return ""
}

// stateCollector reads gauges from the gateway's state at scrape time.
type stateCollector struct{ s State }

var (
	inFlightDesc = prometheus.NewDesc("switchboard_instance_in_flight", "Calls in flight per upstream instance.", []string{"upstream", "replica"}, nil)
	upDesc       = prometheus.NewDesc("switchboard_instance_up", "1 when the gateway has a live session to the instance.", []string{"upstream", "replica"}, nil)
	breakerDesc  = prometheus.NewDesc("switchboard_breaker_state", "Circuit breaker state per instance: 0 closed, 1 half-open, 2 open.", []string{"upstream", "replica"}, nil)
	toolsDesc    = prometheus.NewDesc("switchboard_catalog_tools", "Tools in the catalog.", nil, nil)
	changedDesc  = prometheus.NewDesc("switchboard_catalog_last_change_timestamp_seconds", "When the catalog last changed.", nil, nil)
	consulUp     = prometheus.NewDesc("switchboard_consul_reachable", "1 while Consul answers.", nil, nil)
	consulSynced = prometheus.NewDesc("switchboard_consul_synced", "1 once Consul was read once.", nil, nil)
	pinDesc      = prometheus.NewDesc("switchboard_pin_changes_total", "Tool definitions an upstream changed after they were pinned (logged; served under warn, held under hold).", nil, nil)
	sessionsDesc = prometheus.NewDesc("switchboard_streams_open", "GET streams of 2025-11-25 sessions open on this replica (a session itself costs a replica nothing; the 2026-07-28 era has none).", nil, nil)
	cacheErrDesc = prometheus.NewDesc("switchboard_cache_store_errors_total", "Cache store operations that failed (timeouts included), by op (read, write). The call went on uncached.", []string{"op"}, nil)
	cacheUpDesc  = prometheus.NewDesc("switchboard_cache_store_available", "0 while the cache store is skipped after failing five times in a row.", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inFlightDesc, upDesc, breakerDesc, toolsDesc, changedDesc, consulUp, consulSynced, pinDesc, sessionsDesc, cacheErrDesc, cacheUpDesc} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.Instances != nil {
		for _, in := range c.s.Instances() {
			ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(in.InFlight), in.Upstream, in.Instance)
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, boolValue(in.Connected), in.Upstream, in.Instance)
			ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, float64(in.Breaker), in.Upstream, in.Instance)
		}
	}
	if c.s.CatalogTools != nil {
		ch <- prometheus.MustNewConstMetric(toolsDesc, prometheus.GaugeValue, float64(c.s.CatalogTools()))
	}
	if c.s.CatalogChanged != nil {
		if t := c.s.CatalogChanged(); !t.IsZero() {
			ch <- prometheus.MustNewConstMetric(changedDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
		}
	}
	if c.s.ConsulReachable != nil {
		ch <- prometheus.MustNewConstMetric(consulUp, prometheus.GaugeValue, boolValue(c.s.ConsulReachable()))
	}
	if c.s.PinChanges != nil {
		ch <- prometheus.MustNewConstMetric(pinDesc, prometheus.CounterValue, float64(c.s.PinChanges()))
	}
	if c.s.ConsulSynced != nil {
		ch <- prometheus.MustNewConstMetric(consulSynced, prometheus.GaugeValue, boolValue(c.s.ConsulSynced()))
	}
	if c.s.StreamsOpen != nil {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(c.s.StreamsOpen()))
	}
	if c.s.CacheStoreErrors != nil {
		reads, writes := c.s.CacheStoreErrors()
		ch <- prometheus.MustNewConstMetric(cacheErrDesc, prometheus.CounterValue, float64(reads), "read")
		ch <- prometheus.MustNewConstMetric(cacheErrDesc, prometheus.CounterValue, float64(writes), "write")
	}
	if c.s.CacheStoreAvailable != nil {
		ch <- prometheus.MustNewConstMetric(cacheUpDesc, prometheus.GaugeValue, boolValue(c.s.CacheStoreAvailable()))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
