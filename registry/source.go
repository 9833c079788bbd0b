package registry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Source publishes the upstreams it knows as complete snapshots. Run calls emit with each new
// snapshot, never concurrently, until ctx ends; a source that is unreachable emits nothing, so
// its last snapshot stays in force. The static file and Consul are both sources.
type Source interface {
	// Name names the source in logs and in renamed upstreams ("NAME@consul").
	Name() string
	Run(ctx context.Context, emit func(Snapshot))
}

var (
	_ Source = (*StaticSource)(nil)
	_ Source = (*Consul)(nil)
)

// StaticSource is the config file's upstreams. Set replaces them (a reloaded file) and the next
// snapshot is emitted at once; nothing else is special about a reload.
type StaticSource struct {
	mu      sync.Mutex
	current Snapshot
	changed chan struct{} // 1 slot: Set never blocks
}

// NewStatic returns the source of snap.
func NewStatic(snap Snapshot) *StaticSource {
	return &StaticSource{current: snap, changed: make(chan struct{}, 1)}
}

// Name is "static".
func (s *StaticSource) Name() string { return "static" }

// Set makes snap the source's snapshot. Safe for concurrent use.
func (s *StaticSource) Set(snap Snapshot) {
	s.mu.Lock()
	s.current = snap
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run emits the snapshot now and after every Set, until ctx ends.
func (s *StaticSource) Run(ctx context.Context, emit func(Snapshot)) {
	for {
		s.mu.Lock()
		snap := s.current
		s.mu.Unlock()
		emit(snap)
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		}
	}
}

// Aggregator runs sources and merges their latest snapshots into the one the gateway runs.
// Sources rank in the order given: on a name clash the earlier keeps the name (see Merge).
type Aggregator struct {
	sources []Source
	apply   func(Snapshot)
	log     *slog.Logger

	mu             sync.Mutex // serializes merges, so apply sees them in order
	latest         []Snapshot
	emitted        []bool
	defaultTimeout time.Duration
	synced         chan struct{}
	syncedOnce     sync.Once
}

// NewAggregator returns an aggregator of sources that hands every merged snapshot to apply
// (never concurrently). Upstreams without a timeout get defaultTimeout.
func NewAggregator(sources []Source, defaultTimeout time.Duration, apply func(Snapshot), log *slog.Logger) *Aggregator {
	return &Aggregator{sources: sources, apply: apply, log: log, defaultTimeout: defaultTimeout,
		latest: make([]Snapshot, len(sources)), emitted: make([]bool, len(sources)), synced: make(chan struct{})}
}

// Synced is closed once every source has emitted at least once.
func (a *Aggregator) Synced() <-chan struct{} { return a.synced }

// SetDefaultTimeout changes the timeout of upstreams that set none (a reload). It applies from
// the next merge, so a reload that also hands the static source its new snapshot is applied
// once, not twice (each apply may restart instances whose timeout changed).
func (a *Aggregator) SetDefaultTimeout(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.defaultTimeout = d
}

// Run runs every source until ctx ends and returns when they all have.
func (a *Aggregator) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, s := range a.sources {
		wg.Go(func() { s.Run(ctx, func(snap Snapshot) { a.update(i, snap) }) })
	}
	wg.Wait()
}

func (a *Aggregator) update(i int, snap Snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.latest[i], a.emitted[i] = snap, true
	a.mergeLocked()
	for _, ok := range a.emitted {
		if !ok {
			return
		}
	}
	a.syncedOnce.Do(func() { close(a.synced) })
}

func (a *Aggregator) mergeLocked() {
	merged := Snapshot{}
	for i, s := range a.sources {
		merged = Merge(merged, a.latest[i], s.Name(), a.defaultTimeout, a.log)
	}
	a.apply(merged)
}
