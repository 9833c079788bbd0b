package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-mcp/switchboard/callrecord"
)

// Totals are the call and cache counters summed since the process started, read from the same
// Prometheus counters /metrics serves (so the admin console's rates agree with a scrape).
type Totals struct {
	// Calls counts finished tools/call requests (switchboard_calls_total); Errors those whose
	// outcome is neither ok nor tool_error (the upstream answered, the tool said no), as in the
	// error-ratio alert of docs/operations.md.
	Calls, Errors uint64
	// CacheHits and CacheMisses count lookups of cacheable tools (switchboard_cache_lookups_total).
	CacheHits, CacheMisses uint64
}

// Totals reads the counters. It costs one pass over the label sets of two counters (bounded by
// the catalog) and is safe for concurrent use.
func (m *Metrics) Totals() Totals {
	var t Totals
	collect(m.calls, func(labels map[string]string, v uint64) {
		t.Calls += v
		if o := labels["outcome"]; o != callrecord.OutcomeOK && o != callrecord.OutcomeToolError {
			t.Errors += v
		}
	})
	collect(m.cache, func(labels map[string]string, v uint64) {
		switch labels["result"] {
		case "hit":
			t.CacheHits += v
		case "miss":
			t.CacheMisses += v
		}
	})
	return t
}

// collect calls f with the labels and value of every counter of c.
func collect(c prometheus.Collector, f func(labels map[string]string, v uint64)) {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	for metric := range ch {
		var m dto.Metric
		if metric.Write(&m) != nil || m.Counter == nil {
			continue
		}
		labels := make(map[string]string, len(m.Label))
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		f(labels, uint64(m.Counter.GetValue()))
	}
}
