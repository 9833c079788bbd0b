// Package ratelimit keeps token buckets per (tool, principal): Limiter in this process, in a
// table bounded in size, so memory does not grow with the number of principals; Shared in
// Redis, for limits that hold across every replica, falling back to a Limiter while Redis is
// down.
package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate tokens per second, up to Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Unlimited is the zero Limit: no bucket, every call passes.
var Unlimited = Limit{}

// Limiter holds the buckets. Safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex // makes finding or making a bucket one step: two first calls share one
	buckets *simplelru.LRU[key, *bucket]
	now     func() time.Time
}

type key struct {
	tool, principal string
}

// bucket remembers its limit, so a changed limit (a new config or registration) starts a
// fresh bucket instead of keeping the old one's rate.
type bucket struct {
	limit Limit
	rl    *rate.Limiter
}

// New returns a Limiter keeping at most maxBuckets buckets; the least recently used is dropped
// when a new one is needed (an idle principal's bucket, which refills anyway).
func New(maxBuckets int) *Limiter {
	c, _ := simplelru.NewLRU[key, *bucket](maxBuckets, nil) // fails only for maxBuckets <= 0
	return &Limiter{buckets: c, now: time.Now}
}

// Allow takes a token for one call of tool by principal under limit. When the bucket is empty
// it returns false and how long until a token will be there; nothing is taken then. The buckets
// are this process's alone; ctx is not used (it is there so that Limiter and Shared take the
// same calls).
func (l *Limiter) Allow(_ context.Context, tool, principal string, limit Limit) (ok bool, retryAfter time.Duration) {
	if limit.Rate <= 0 {
		return true, 0
	}
	b := l.bucket(key{tool, principal}, limit)
	now := l.now()
	r := b.rl.ReserveN(now, 1) // always OK: the burst is at least 1
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now) // give the token back: a rejected call must not cost the next one
		return false, delay
	}
	return true, 0
}

// bucket returns k's bucket under limit, making it when there is none or its limit changed.
func (l *Limiter) bucket(k key, limit Limit) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets.Get(k)
	if !found || b.limit != limit {
		b = &bucket{limit: limit, rl: rate.NewLimiter(rate.Limit(limit.Rate), max(limit.Burst, 1))}
		l.buckets.Add(k, b)
	}
	return b
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}
