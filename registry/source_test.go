package registry

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fixedSource emits one snapshot and then waits, like a source that synced once.
type fixedSource struct {
	name string
	snap Snapshot
}

func (f fixedSource) Name() string { return f.name }
func (f fixedSource) Run(ctx context.Context, emit func(Snapshot)) {
	emit(f.snap)
	<-ctx.Done()
}

// appliedSnapshots collects what an aggregator applies.
type appliedSnapshots struct {
	mu   sync.Mutex
	last Snapshot
	seen chan Snapshot
}

func (a *appliedSnapshots) apply(s Snapshot) {
	a.mu.Lock()
	a.last = s
	a.mu.Unlock()
	select {
	case a.seen <- s:
	default:
	}
}

func (a *appliedSnapshots) waitFor(t *testing.T, what string, ok func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		a.mu.Lock()
		last := a.last
		a.mu.Unlock()
		if ok(last) {
			return last
		}
		select {
		case <-a.seen:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: never applied; last %+v", what, last)
		}
	}
}

func TestAggregatorMergesSourcesAndAppliesAReload(t *testing.T) {
	t.Parallel()
	static := NewStatic(Snapshot{{Name: "weather", Namespace: "weather"}})
	discovered := fixedSource{name: "consul", snap: Snapshot{{Name: "weather", Namespace: "wx"}, {Name: "clock", Namespace: "clock"}}}
	got := &appliedSnapshots{seen: make(chan Snapshot, 1)}
	agg := NewAggregator([]Source{static, discovered}, 7*time.Second, got.apply, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { agg.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	select {
	case <-agg.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("not synced after both sources emitted")
	}
	snap := got.waitFor(t, "both sources", func(s Snapshot) bool { return len(s) == 3 })
	if snap[0].Name != "clock" || snap[1].Name != "weather" || snap[2].Name != "weather@consul" || snap[1].Namespace != "weather" {
		t.Errorf("the static source must keep its name on a clash: %+v", snap)
	}
	if snap[0].Timeout != 7*time.Second {
		t.Errorf("default timeout not applied: %+v", snap[0])
	}

	// A reload is a new snapshot from the static source, nothing special.
	static.Set(Snapshot{{Name: "fx", Namespace: "fx"}})
	got.waitFor(t, "the reloaded file", func(s Snapshot) bool {
		return len(s) == 3 && s[1].Name == "fx" && s[2].Name == "weather" && s[2].Namespace == "wx"
	})
	agg.SetDefaultTimeout(time.Second)
	static.Set(Snapshot{{Name: "fx", Namespace: "fx"}}) // a reload: the new timeout comes with the file's snapshot
	got.waitFor(t, "a new default timeout", func(s Snapshot) bool { return len(s) == 3 && s[0].Timeout == time.Second })
}

func TestAggregatorIsNotSyncedUntilEverySourceEmitted(t *testing.T) {
	t.Parallel()
	silent := fixedSource{name: "consul"}
	agg := NewAggregator([]Source{NewStatic(nil), silentSource{silent}}, time.Second, func(Snapshot) {}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go agg.Run(ctx)
	select {
	case <-agg.Synced():
		t.Fatal("synced although one source never answered")
	case <-time.After(100 * time.Millisecond):
	}
}

// silentSource never emits (an unreachable Consul).
type silentSource struct{ fixedSource }

func (s silentSource) Run(ctx context.Context, _ func(Snapshot)) { <-ctx.Done() }
