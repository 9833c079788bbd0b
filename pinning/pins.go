// Package pinning guards against rug pulls: an upstream that changes a tool's description or
// schema after the gateway first saw it, to steer an agent somewhere else. Each tool definition
// is pinned the first time it is seen; each time the catalog is built, Review decides whether a
// changed definition is served (warn: logged and counted, and it becomes the pin) or held for an
// operator (hold: the last approved definition is listed and calls are refused until an
// approval). Pins live in a Store (Redis, shared by every replica, or a file); process memory is
// a cache of it that keeps deciding while the store is unreachable.
package pinning

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what a changed definition of a pinned tool does.
type Mode string

const (
	// ModeOff serves every definition as it is and stores nothing.
	ModeOff Mode = "off"
	// ModeWarn serves a changed definition, logs and counts the change, and pins it.
	ModeWarn Mode = "warn"
	// ModeHold keeps serving the pinned definition and refuses calls until an operator approves
	// the change.
	ModeHold Mode = "hold"
)

// NewTools says what a tool with no pin does.
type NewTools string

const (
	// NewToolsAllow trusts a tool on first sight.
	NewToolsAllow NewTools = "allow"
	// NewToolsHold hides a new tool of an already pinned service until an operator approves it.
	NewToolsHold NewTools = "hold"
)

// Options configure Pins. The zero value is warn mode, new tools allowed, pins in memory only.
type Options struct {
	// Mode is what a changed definition does; "" is ModeWarn.
	Mode Mode
	// NewTools is what a tool with no pin does; "" is NewToolsAllow.
	NewTools NewTools
	// Store keeps the pins; nil keeps them in memory only (gone at restart).
	Store Store
	// Timeout bounds each write to the store made while reviewing or deciding; zero is 250ms.
	// After a failure, reviews decide from memory without waiting until Run reaches the store
	// again, so a catalog build waits for the store at most once.
	Timeout time.Duration
	// TrustWindow is how long after a service's first pin its other tools are still trusted on
	// first sight with NewToolsHold: the tools of a service seen for the first time are pinned,
	// not held (trust on first sight), even when its instances list them a little apart. Zero is
	// one minute.
	TrustWindow time.Duration
	// Logger receives the changes and the store's outages; nil is slog.Default().
	Logger *slog.Logger
}

// Decision is what the catalog does with one tool.
type Decision struct {
	// Serve is the definition to list: the current one, or the last approved one while a change
	// is held. It may be a slice of the store's copy: do not modify it. Nil when Hidden.
	Serve json.RawMessage
	// Held means calls must be refused with definition_changed: the upstream now serves a
	// definition nobody approved.
	Held bool
	// Hidden means a held new tool: not listed, and calls are refused as for an unknown tool.
	Hidden bool
}

// Errors of Approve and Reject.
var (
	// ErrNotHeld: the tool has no held change (it is unknown, or its change was decided or went
	// away).
	ErrNotHeld = errors.New("no held change for this tool")
	// ErrStale: the held change is not the one the caller named (it changed again meanwhile).
	ErrStale = errors.New("the held change is not the one named")
	// ErrUnavailable: the store could not record the decision; nothing changed.
	ErrUnavailable = errors.New("pin store unavailable")
)

// Pins decides, per tool definition, what the gateway lists. Safe for concurrent use. It keeps
// one entry and one cached hash per tool ever seen (pins are never dropped when a tool
// disappears, so a tool that comes back is compared with its pin); that is bounded by the
// upstreams' catalogs, not by anything a client sends.
type Pins struct {
	mode     Mode
	newTools NewTools
	store    Store
	timeout  time.Duration
	window   time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu        sync.RWMutex
	entries   map[Key]Entry
	firstPin  map[string]time.Time // per service, the Since of its oldest pin
	seen      map[Key]seenDef      // the last raw definition reviewed per tool, and its hash
	announced map[Key]string       // the hash of the last change logged per tool: log once per change

	down    atomic.Bool   // the store failed; decide from memory until Run reaches it again
	wake    chan struct{} // tells Run that the store went down
	changed chan struct{}
	changes atomic.Uint64
}

type seenDef struct {
	raw  []byte
	hash string
}

// maxAttempts bounds the compare-and-swap retries when other replicas write the same tool.
const maxAttempts = 3

// New returns Pins over opts.Store, loaded from it. A store that cannot be read now is not an
// error: Pins decides from memory, logs, and Run keeps trying. An unknown mode is an error.
func New(ctx context.Context, opts Options) (*Pins, error) {
	p := &Pins{
		mode:      opts.Mode,
		newTools:  opts.NewTools,
		store:     opts.Store,
		timeout:   opts.Timeout,
		window:    opts.TrustWindow,
		log:       opts.Logger,
		now:       time.Now,
		entries:   map[Key]Entry{},
		firstPin:  map[string]time.Time{},
		seen:      map[Key]seenDef{},
		announced: map[Key]string{},
		wake:      make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
	}
	if p.mode == "" {
		p.mode = ModeWarn
	}
	if p.newTools == "" {
		p.newTools = NewToolsAllow
	}
	switch p.mode {
	case ModeOff, ModeWarn, ModeHold:
	default:
		return nil, fmt.Errorf("pinning mode %q: want off, warn or hold", p.mode)
	}
	switch p.newTools {
	case NewToolsAllow, NewToolsHold:
	default:
		return nil, fmt.Errorf("pinning new_tools %q: want allow or hold", p.newTools)
	}
	if p.timeout <= 0 {
		p.timeout = 250 * time.Millisecond
	}
	if p.window <= 0 {
		p.window = time.Minute
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.store != nil {
		lctx, cancel := context.WithTimeout(ctx, p.loadTimeout())
		defer cancel()
		entries, err := p.store.Load(lctx)
		if err != nil {
			p.markDown(err)
		} else {
			p.setAll(entries)
		}
	}
	return p, nil
}

// loadTimeout bounds reading the whole store, which is bigger than one write.
func (p *Pins) loadTimeout() time.Duration { return max(10*p.timeout, 2*time.Second) }

// Changed fires (one pending signal at most) when the catalog should be rebuilt: an approval or
// rejection here, or a change another replica wrote, or the store's view after an outage.
func (p *Pins) Changed() <-chan struct{} { return p.changed }

// Changes counts the changed definitions and held new tools this replica detected, each
// distinct definition once; the gateway exports it as switchboard_pin_changes_total.
func (p *Pins) Changes() uint64 { return p.changes.Load() }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Review decides what the catalog lists for the tool an upstream (service) calls tool, whose
// definition, as the upstream sent it, is def. It is called for every tool on every catalog
// build: an unchanged definition costs a map lookup and a byte comparison. A definition seen
// for the first time, or changed, costs a hash and one write to the store, bounded by
// Options.Timeout; after a write fails, reviews decide from memory without waiting until Run
// reaches the store again. It never fails.
func (p *Pins) Review(service, tool string, def json.RawMessage) Decision {
	if p.mode == ModeOff {
		return Decision{Serve: def}
	}
	k := Key{Service: service, Tool: tool}
	p.mu.RLock()
	s, ok := p.seen[k]
	e := p.entries[k]
	p.mu.RUnlock()
	h := s.hash
	if !ok || !bytes.Equal(s.raw, def) {
		h = Hash(def)
		p.mu.Lock()
		p.seen[k] = seenDef{raw: bytes.Clone(def), hash: h}
		p.mu.Unlock()
	}
	if e.Held == nil && e.Pin != nil && e.Pin.Hash == h {
		return Decision{Serve: def}
	}
	return p.decide(k, def, h, e)
}

// event is a change to log and count once the store has taken it.
type event struct {
	kind   Kind
	fields []string
	hash   string
}

// decide applies the rules to a tool whose entry e does not simply pin def, writing the outcome
// to the store; when another replica wrote first, it decides again on what that one stored.
func (p *Pins) decide(k Key, def json.RawMessage, h string, e Entry) Decision {
	for range maxAttempts {
		next, d, ev := p.rule(k, def, h, e)
		if next == nil {
			return d
		}
		cur, ok := p.swap(k, e, *next)
		if ok {
			if ev != nil {
				p.announce(k, ev)
			}
			return d
		}
		e = cur
	}
	// Still racing: decide on what is known without writing.
	_, d, _ := p.rule(k, def, h, e)
	return d
}

// rule is the decision for def (hash h) given entry e, and the entry to store (nil: keep e).
func (p *Pins) rule(k Key, def json.RawMessage, h string, e Entry) (*Entry, Decision, *event) {
	now := p.now().UTC()
	serve := Decision{Serve: def}
	switch {
	case e.empty():
		if p.newTools == NewToolsHold && !p.trusting(k.Service, now) {
			held := &Change{Kind: KindNew, Hash: h, Def: compact(def), FirstSeen: now}
			return &Entry{Held: held}, Decision{Hidden: true}, &event{kind: KindNew, hash: h}
		}
		return &Entry{Pin: &Pin{Hash: h, Def: compact(def), Since: now}}, serve, nil

	case e.Pin == nil: // a held new tool
		if p.newTools == NewToolsAllow { // new_tools was hold when it was held
			return &Entry{Pin: &Pin{Hash: h, Def: compact(def), Since: now}}, serve, nil
		}
		if e.Held.Hash == h {
			return nil, Decision{Hidden: true}, nil
		}
		held := &Change{Kind: KindNew, Hash: h, Def: compact(def), FirstSeen: now}
		return &Entry{Held: held}, Decision{Hidden: true}, &event{kind: KindNew, hash: h}

	case e.Pin.Hash == h: // the pinned definition; a held change went away
		if e.Held == nil {
			return nil, serve, nil
		}
		return &Entry{Pin: e.Pin}, serve, nil

	case p.mode == ModeWarn:
		ev := &event{kind: KindChanged, fields: changedFields(e.Pin.Def, def), hash: h}
		return &Entry{Pin: &Pin{Hash: h, Def: compact(def), Since: now}}, serve, ev

	default: // ModeHold
		held := Decision{Serve: e.Pin.Def, Held: true}
		if e.Held != nil && e.Held.Hash == h {
			return nil, held, nil
		}
		ev := &event{kind: KindChanged, fields: changedFields(e.Pin.Def, def), hash: h}
		change := &Change{Kind: KindChanged, Hash: h, Def: compact(def), FirstSeen: now}
		return &Entry{Pin: e.Pin, Held: change}, held, ev
	}
}

// trusting reports whether a tool of service with no pin is trusted on first sight under
// NewToolsHold: the service has no pin yet, or its first one is younger than the trust window.
func (p *Pins) trusting(service string, now time.Time) bool {
	p.mu.RLock()
	first, ok := p.firstPin[service]
	p.mu.RUnlock()
	return !ok || now.Sub(first) < p.window
}

// set records k's entry; p.mu is held.
func (p *Pins) set(k Key, e Entry) {
	p.entries[k] = e
	if e.Pin != nil {
		if first, ok := p.firstPin[k.Service]; !ok || e.Pin.Since.Before(first) {
			p.firstPin[k.Service] = e.Pin.Since
		}
	}
}

// setAll replaces every entry; p.mu is held (or p is not shared yet).
func (p *Pins) setAll(entries map[Key]Entry) {
	p.entries = make(map[Key]Entry, len(entries))
	p.firstPin = map[string]time.Time{}
	for k, e := range entries {
		p.set(k, e)
	}
}

// announce logs and counts a change, once per distinct definition of a tool (a replica that
// learns of it again, after an outage or from another replica, stays quiet).
func (p *Pins) announce(k Key, ev *event) {
	p.mu.Lock()
	if p.announced[k] == ev.hash {
		p.mu.Unlock()
		return
	}
	p.announced[k] = ev.hash
	p.mu.Unlock()
	p.changes.Add(1)
	switch {
	case ev.kind == KindNew:
		p.log.Warn("new tool held until an operator approves it",
			"service", k.Service, "tool", k.Tool, "hash", ev.hash)
	case p.mode == ModeWarn:
		p.log.Warn("tool definition changed; serving the new one",
			"service", k.Service, "tool", k.Tool, "fields", ev.fields, "hash", ev.hash)
	default:
		p.log.Warn("tool definition changed; held until an operator approves it, the pinned one is served",
			"service", k.Service, "tool", k.Tool, "fields", ev.fields, "hash", ev.hash)
	}
}

// swap writes next over old for k: to the store (bounded by the timeout) unless it is down, else
// to memory only (Run writes it back once the store is reachable). It returns what is now known
// to be stored and whether the swap happened.
func (p *Pins) swap(k Key, old, next Entry) (Entry, bool) {
	if p.store != nil && !p.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		cur, ok, err := p.store.Swap(ctx, k, old, next)
		cancel()
		if err == nil {
			p.mu.Lock()
			p.set(k, cur)
			p.mu.Unlock()
			return cur, ok
		}
		p.markDown(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.entries[k]; !same(cur, old) {
		return cur, false
	}
	p.set(k, next)
	return next, true
}

// markDown records that the store failed, once per outage in the log, and wakes Run to retry.
func (p *Pins) markDown(err error) {
	if p.down.CompareAndSwap(false, true) {
		p.log.Warn("pin store unreachable; deciding from memory and retrying", "error", err)
		notify(p.wake)
	}
}

func (p *Pins) markUp() {
	if p.down.CompareAndSwap(true, false) {
		p.log.Info("pin store reachable again")
	}
}

// Status is a tool's state after an approval or rejection.
type Status struct {
	Service string `json:"service"`
	Tool    string `json:"upstream_tool"`
	// State is "pinned" (listed, calls served when the upstream serves the pin), "held" (the
	// pinned definition listed, calls refused) or "hidden" (a held new tool).
	State string `json:"state"`
	// PinnedHash is the hash of the pinned definition; "" for a new tool.
	PinnedHash string `json:"pinned_hash,omitempty"`
	// HeldHash is the hash of the held definition, if any.
	HeldHash string `json:"held_hash,omitempty"`
	// Note says what happens next, when it is not obvious.
	Note string `json:"note,omitempty"`
}

// Approve makes k's held change its pin, so the next catalog build serves it. hash, if not "",
// must be the held change's hash (ErrStale otherwise), so that an operator approves the
// definition they read. It fails with ErrNotHeld, ErrStale or ErrUnavailable; the decision is
// in the store (seen by every replica) when it returns nil.
func (p *Pins) Approve(ctx context.Context, k Key, hash string) (Status, error) {
	return p.settle(ctx, k, hash, func(e Entry, now time.Time) (Entry, bool) {
		return Entry{Pin: &Pin{Hash: e.Held.Hash, Def: e.Held.Def, Since: now}}, true
	})
}

// Reject refuses k's held change: the pin stays and is served. The upstream is not told; while
// it keeps serving the rejected definition the tool stays held (calls refused, or a new tool
// hidden) and the change stays listed, marked rejected, until the upstream serves the pin again
// (the change is then dropped), changes again (a new held change) or the change is approved
// after all. Errors are Approve's.
func (p *Pins) Reject(ctx context.Context, k Key, hash string) (Status, error) {
	return p.settle(ctx, k, hash, func(e Entry, now time.Time) (Entry, bool) {
		if e.Held.RejectedAt != nil {
			return e, false
		}
		c := *e.Held
		c.RejectedAt = &now
		return Entry{Pin: e.Pin, Held: &c}, true
	})
}

func (p *Pins) settle(ctx context.Context, k Key, hash string, decide func(Entry, time.Time) (Entry, bool)) (Status, error) {
	synced := false
	for range maxAttempts {
		e := p.entry(k)
		if e.Held == nil && !synced && p.store != nil {
			// Another replica may have held it since this one last read the store.
			synced = true
			if err := p.sync(ctx); err == nil {
				e = p.entry(k)
			}
		}
		if e.Held == nil {
			return Status{}, ErrNotHeld
		}
		if hash != "" && e.Held.Hash != hash {
			return Status{}, ErrStale
		}
		next, write := decide(e, p.now().UTC())
		if !write {
			return p.status(k), nil
		}
		ok, err := p.swapNow(ctx, k, e, next)
		if err != nil {
			return Status{}, err
		}
		if ok {
			notify(p.changed)
			return p.status(k), nil
		}
	}
	return Status{}, fmt.Errorf("%w: other writers keep changing this tool", ErrUnavailable)
}

// swapNow is swap for an operator's decision: it must land in the store, down or not.
func (p *Pins) swapNow(ctx context.Context, k Key, old, next Entry) (bool, error) {
	if p.store == nil {
		_, ok := p.swap(k, old, next)
		return ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cur, ok, err := p.store.Swap(ctx, k, old, next)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	p.mu.Lock()
	p.set(k, cur)
	p.mu.Unlock()
	return ok, nil
}

func (p *Pins) entry(k Key) Entry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.entries[k]
}

func (p *Pins) status(k Key) Status {
	p.mu.RLock()
	e, s := p.entries[k], p.seen[k]
	p.mu.RUnlock()
	st := Status{Service: k.Service, Tool: k.Tool, State: "pinned"}
	if e.Pin != nil {
		st.PinnedHash = e.Pin.Hash
	}
	if e.Held == nil {
		if e.Pin != nil && s.hash != "" && s.hash != e.Pin.Hash {
			st.Note = "the upstream was last seen serving another definition; the next catalog build decides on it"
		}
		return st
	}
	st.HeldHash = e.Held.Hash
	st.State = "held"
	if e.Held.Kind == KindNew {
		st.State = "hidden"
	}
	if e.Held.RejectedAt != nil {
		st.Note = "rejected: the pin stays; while the upstream keeps serving the rejected definition the tool stays " +
			st.State + " (calls refused) and the change stays listed, until the upstream serves the pin again, changes again, or the change is approved"
	}
	return st
}

// HeldChange is one held change, with the pin it would replace (nil for a new tool).
type HeldChange struct {
	Key
	Change
	Pinned *Pin
}

// Held returns every held change, rejected ones included, sorted by service and tool.
func (p *Pins) Held() []HeldChange {
	p.mu.RLock()
	var out []HeldChange
	for k, e := range p.entries {
		if e.Held != nil {
			out = append(out, HeldChange{Key: k, Change: *e.Held, Pinned: e.Pin})
		}
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b HeldChange) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Tool, b.Tool))
	})
	return out
}
