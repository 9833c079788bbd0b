package pinning

import (
	"context"
	"sync"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/backoff"
)

// Run keeps the in-memory view in step with the store until ctx ends: it reloads when another
// replica wrote (a Watcher store's signal), retries with capped back-off while the store is
// unreachable, and then writes back what was decided meanwhile for tools the store does not
// know. Changed fires when the reloaded view decides differently for a tool reviewed here. Run
// returns nil when ctx ends; with no store it only waits for that.
func (p *Pins) Run(ctx context.Context) error {
	if p.store == nil {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	kick := make(chan struct{}, 1)
	if w, ok := p.store.(Watcher); ok {
		wg.Go(func() { w.Watch(ctx, func() { notify(kick) }) })
	}
	b := backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}
	for {
		var retry <-chan time.Time
		if p.down.Load() {
			retry = time.After(b.Next())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-p.wake:
			continue // down now: wait before retrying
		case <-retry:
		}
		if err := p.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.markDown(err)
			continue
		}
		b.Reset()
	}
}

// sync replaces the in-memory view with the store's. Entries known here that the store lacks
// (decided while it was unreachable, or lost with a Redis that restarted empty) are written
// back, each only where the store still has none; everything the store has wins.
func (p *Pins) sync(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, p.loadTimeout())
	stored, err := p.store.Load(lctx)
	cancel()
	if err != nil {
		return err
	}
	changed := false
	missing := map[Key]Entry{}
	p.mu.Lock()
	for k, e := range p.entries {
		s := stored[k]
		switch {
		case s.empty() && !e.empty():
			missing[k] = e
			stored[k] = e
		case !same(e, s):
			changed = true
		}
	}
	p.setAll(stored)
	p.mu.Unlock()
	for k, e := range missing {
		wctx, cancel := context.WithTimeout(ctx, p.timeout)
		cur, ok, err := p.store.Swap(wctx, k, Entry{}, e)
		cancel()
		if err != nil {
			return err // still in memory: the next sync writes it
		}
		if !ok { // another replica wrote it first
			p.mu.Lock()
			p.set(k, cur)
			p.mu.Unlock()
			changed = changed || !same(cur, e)
		}
	}
	p.markUp()
	if changed {
		notify(p.changed)
	}
	return nil
}
