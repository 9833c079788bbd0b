package telemetry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboard-mcp/switchboard/callrecord"
)

func TestAuditLineHasTheCallButNoArgumentValue(t *testing.T) {
	var out bytes.Buffer
	a := NewAudit(&out)
	rec := callrecord.Record{
		Time: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), Tool: "demo__echo",
		Upstream: "demo", Instance: "demo-1", Outcome: callrecord.OutcomeOK,
		Duration: 1500 * time.Microsecond, Subject: "alice", ClientID: "cli", Session: "s1",
		RequestID: "req-7", Args: json.RawMessage(`{"secret":"hunter2","b":1}`),
	}
	a.ObserveCall(rec)

	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("audit line carries an argument value: %s", out.String())
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("audit line is not JSON: %v: %q", err, out.String())
	}
	want := map[string]any{
		"time": "2026-11-20T12:00:00Z", "tool": "demo__echo", "upstream": "demo", "instance": "demo-1",
		"outcome": "ok", "duration_ms": 1.5, "subject": "alice", "client": "cli", "session": "s1",
		"request_id": "req-7", "cache_hit": false,
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	hash, _ := line["args_sha256"].(string)
	if len(hash) != 16 {
		t.Fatalf("args_sha256 = %q, want 16 hex digits", hash)
	}

	// The same arguments in another key order hash the same; other arguments do not.
	out.Reset()
	rec.Args = json.RawMessage(`{"b":1,"secret":"hunter2"}`)
	a.ObserveCall(rec)
	rec.Args = json.RawMessage(`{"b":2,"secret":"hunter2"}`)
	a.ObserveCall(rec)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	if !strings.Contains(lines[0], hash) || strings.Contains(lines[1], hash) {
		t.Fatalf("hash %s: reordered args must match, changed args must not:\n%s", hash, out.String())
	}
}

func TestAuditLinesStayWholeUnderConcurrency(t *testing.T) {
	var out bytes.Buffer
	a := NewAudit(&out)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.ObserveCall(callrecord.Record{Tool: "demo__echo", Outcome: callrecord.OutcomeOK, Args: json.RawMessage(`{}`)})
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("got %d lines, want 50", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("interleaved line: %q", l)
		}
	}
}

type countingObserver struct{ n int }

func (c *countingObserver) ObserveCall(callrecord.Record) { c.n++ }

func TestObserversTellEveryone(t *testing.T) {
	a, b := &countingObserver{}, &countingObserver{}
	Observers{a, b}.ObserveCall(callrecord.Record{})
	if a.n != 1 || b.n != 1 {
		t.Fatalf("observers told %d and %d times, want 1 and 1", a.n, b.n)
	}
}

func TestMetricsCountCallsByOutcome(t *testing.T) {
	m := NewMetrics(State{})
	m.ObserveCall(callrecord.Record{Tool: "demo__echo", Upstream: "demo", Instance: "d1", Outcome: callrecord.OutcomeOK, Cacheable: true})
	m.ObserveCall(callrecord.Record{Tool: "demo__echo", Upstream: "demo", Outcome: callrecord.OutcomeOK, Cacheable: true, CacheHit: true})
	m.ObserveCall(callrecord.Record{Tool: "demo__echo", Upstream: "demo", Outcome: callrecord.OutcomeRateLimited})
	m.ObserveCall(callrecord.Record{Outcome: callrecord.OutcomeUnknownTool})

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"calls ok", testutil.ToFloat64(m.calls.WithLabelValues("demo__echo", "demo", "ok")), 2},
		{"calls rate_limited", testutil.ToFloat64(m.calls.WithLabelValues("demo__echo", "demo", callrecord.OutcomeRateLimited)), 1},
		{"calls unknown_tool", testutil.ToFloat64(m.calls.WithLabelValues("", "", "unknown_tool")), 1},
		{"rate limit rejections", testutil.ToFloat64(m.rateLimited.WithLabelValues("demo__echo")), 1},
		{"cache hits", testutil.ToFloat64(m.cache.WithLabelValues("hit")), 1},
		{"cache misses", testutil.ToFloat64(m.cache.WithLabelValues("miss")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Only the call an instance served is an upstream duration; an unknown tool gets no
	// duration series (its name is the client's).
	if n := testutil.CollectAndCount(m.upSeconds); n != 1 {
		t.Errorf("upstream duration series = %d, want 1", n)
	}
	if n := testutil.CollectAndCount(m.callSeconds); n != 1 {
		t.Errorf("call duration series = %d, want 1 (demo__echo only)", n)
	}
}

func TestMetricsEndpointReadsStateAtScrape(t *testing.T) {
	sessions := 3
	m := NewMetrics(State{
		Instances: func() []InstanceState {
			return []InstanceState{{Upstream: "demo", Instance: "d1", Connected: true, InFlight: 4, Breaker: 2}}
		},
		CatalogTools:    func() int { return 7 },
		ConsulReachable: func() bool { return false },
		StreamsOpen:     func() int { return sessions },

		CacheStoreErrors:    func() (uint64, uint64) { return 2, 1 },
		CacheStoreAvailable: func() bool { return false },
	})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		return string(body)
	}
	body := scrape()
	for _, want := range []string{
		`switchboard_instance_in_flight{replica="d1",upstream="demo"} 4`,
		`switchboard_instance_up{replica="d1",upstream="demo"} 1`,
		`switchboard_breaker_state{replica="d1",upstream="demo"} 2`,
		`switchboard_catalog_tools 7`,
		`switchboard_consul_reachable 0`,
		`switchboard_streams_open 3`,
		`switchboard_cache_store_errors_total{op="read"} 2`,
		`switchboard_cache_store_errors_total{op="write"} 1`,
		`switchboard_cache_store_available 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Absent sources export nothing rather than a misleading zero.
	for _, absent := range []string{"switchboard_consul_synced ", "switchboard_catalog_last_change_timestamp_seconds "} {
		if strings.Contains(body, absent) {
			t.Errorf("/metrics has %q though its source is absent", absent)
		}
	}
	sessions = 5
	if !strings.Contains(scrape(), "switchboard_streams_open 5") {
		t.Error("a second scrape did not read the new session count")
	}
}
