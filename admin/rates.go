package admin

import (
	"context"
	"sync"
	"time"
)

// Totals are the process's call and cache counters since it started (telemetry's counters, as
// the gateway reads them).
type Totals struct {
	Calls, Errors, CacheHits, CacheMisses uint64
}

// Sampling of the console's rates: every sampleEvery, the last sampleKeep samples (six minutes).
const (
	sampleEvery = 5 * time.Second
	sampleKeep  = 73
)

type sample struct {
	at time.Time
	Totals
}

// Rates keeps a ring of samples of the process's counters, so the console shows calls/s and the
// error ratio over the last minutes without a Prometheus server. Bounded: sampleKeep samples.
// Safe for concurrent use.
type Rates struct {
	read func() Totals
	now  func() time.Time

	mu    sync.Mutex
	ring  [sampleKeep]sample
	next  int // where the next sample goes
	count int // samples held, up to sampleKeep
}

// NewRates samples read, which must be fast and safe to call from any goroutine.
func NewRates(read func() Totals) *Rates {
	return &Rates{read: read, now: time.Now}
}

// Run samples every sampleEvery until ctx ends.
func (r *Rates) Run(ctx context.Context) {
	r.Sample()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.Sample()
		}
	}
}

// Sample takes one sample now.
func (r *Rates) Sample() {
	s := sample{at: r.now(), Totals: r.read()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = s
	r.next = (r.next + 1) % sampleKeep
	r.count = min(r.count+1, sampleKeep)
}

// samples returns the held samples, oldest first.
func (r *Rates) samples() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]sample, 0, r.count)
	for i := range r.count {
		out = append(out, r.ring[(r.next-r.count+i+sampleKeep)%sampleKeep])
	}
	return out
}

// Window is what happened over a span of time, from two samples.
type Window struct {
	Span                  time.Duration // 0: fewer than two samples yet
	CallsPerSecond        float64
	Calls, Errors         uint64
	CacheHits, CacheTotal uint64
}

// ErrorRatio is Errors over Calls, 0 without calls.
func (w Window) ErrorRatio() float64 { return ratio(w.Errors, w.Calls) }

// HitRatio is CacheHits over lookups, 0 without lookups.
func (w Window) HitRatio() float64 { return ratio(w.CacheHits, w.CacheTotal) }

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func between(a, b sample) Window {
	w := Window{Span: b.at.Sub(a.at),
		Calls: b.Calls - a.Calls, Errors: b.Errors - a.Errors,
		CacheHits: b.CacheHits - a.CacheHits, CacheTotal: b.CacheHits + b.CacheMisses - a.CacheHits - a.CacheMisses}
	if w.Span > 0 {
		w.CallsPerSecond = float64(w.Calls) / w.Span.Seconds()
	}
	return w
}

// Last is the window from the oldest sample at most span old to the newest; shorter while the
// process is young.
func (r *Rates) Last(span time.Duration) Window {
	s := r.samples()
	if len(s) < 2 {
		return Window{}
	}
	newest := s[len(s)-1]
	from := s[0]
	for _, x := range s {
		if newest.at.Sub(x.at) <= span {
			from = x
			break
		}
	}
	return between(from, newest)
}

// Total is what the counters hold at the newest sample: everything since the process started.
func (r *Rates) Total() Window {
	s := r.samples()
	if len(s) == 0 {
		return Window{}
	}
	return between(sample{}, s[len(s)-1])
}

// Series is calls/s and errors/s of each interval between samples, oldest first, for the
// sparkline.
func (r *Rates) Series() (calls, errors []float64) {
	s := r.samples()
	for i := 1; i < len(s); i++ {
		w := between(s[i-1], s[i])
		if w.Span <= 0 {
			continue
		}
		calls = append(calls, w.CallsPerSecond)
		errors = append(errors, float64(w.Errors)/w.Span.Seconds())
	}
	return calls, errors
}
