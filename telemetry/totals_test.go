package telemetry

import (
	"testing"

	"github.com/switchboard-mcp/switchboard/callrecord"
)

// TestTotals: the console's totals are the counters /metrics serves: errors are the outcomes
// other than ok and tool_error, refusals are not calls, cache lookups count hits and misses.
func TestTotals(t *testing.T) {
	t.Parallel()
	m := NewMetrics(State{})
	for _, c := range []callrecord.Record{
		{Tool: "demo__echo", Upstream: "demo", Outcome: callrecord.OutcomeOK, Cacheable: true, CacheHit: true},
		{Tool: "demo__echo", Upstream: "demo", Outcome: callrecord.OutcomeOK, Cacheable: true},
		{Tool: "demo__fail", Upstream: "demo", Outcome: callrecord.OutcomeToolError},
		{Tool: "demo__echo", Upstream: "demo", Outcome: callrecord.OutcomeTimeout},
		{Outcome: callrecord.OutcomeUnknownTool},
		{Outcome: callrecord.OutcomeUnauthenticated, Reason: "missing_token"},
		{Method: "admin/pins/approve", Tool: "demo__echo", Outcome: "ok"},
	} {
		m.ObserveCall(c)
	}
	want := Totals{Calls: 5, Errors: 2, CacheHits: 1, CacheMisses: 1}
	if got := m.Totals(); got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
}
