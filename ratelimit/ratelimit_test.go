package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBurstThenRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := New(100)
	l.now = func() time.Time { return now }
	lim := Limit{Rate: 2, Burst: 3} // 2/s, 3 at once
	allowed := 0
	var waits []time.Duration
	for range 10 {
		ok, wait := l.Allow(t.Context(), "t", "alice", lim)
		if ok {
			allowed++
		} else {
			waits = append(waits, wait)
		}
	}
	if allowed != 3 || len(waits) != 7 {
		t.Fatalf("allowed %d, rejected %d; want 3 and 7", allowed, len(waits))
	}
	for _, w := range waits {
		if w != 500*time.Millisecond {
			t.Errorf("retry after %v, want 500ms (one token at 2/s)", w)
		}
	}
	// Another principal, and another tool, have buckets of their own.
	if ok, _ := l.Allow(t.Context(), "t", "bob", lim); !ok {
		t.Error("bob was limited by alice's bucket")
	}
	if ok, _ := l.Allow(t.Context(), "u", "alice", lim); !ok {
		t.Error("tool u was limited by tool t's bucket")
	}
	// Half a second later, one more call passes.
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow(t.Context(), "t", "alice", lim); !ok {
		t.Error("the bucket did not refill")
	}
	if ok, _ := l.Allow(t.Context(), "t", "alice", lim); ok {
		t.Error("the bucket gave more than it refilled")
	}
}

func TestUnlimited(t *testing.T) {
	t.Parallel()
	l := New(10)
	for range 1000 {
		if ok, _ := l.Allow(t.Context(), "t", "p", Unlimited); !ok {
			t.Fatal("an unlimited call was rejected")
		}
	}
	if l.Len() != 0 {
		t.Errorf("unlimited calls made %d buckets", l.Len())
	}
}

func TestChangedLimitStartsAFreshBucket(t *testing.T) {
	t.Parallel()
	l := New(10)
	l.Allow(t.Context(), "t", "p", Limit{Rate: 1, Burst: 1})
	if ok, _ := l.Allow(t.Context(), "t", "p", Limit{Rate: 100, Burst: 100}); !ok {
		t.Error("a raised limit still used the old, empty bucket")
	}
}

func TestTableIsBounded(t *testing.T) {
	t.Parallel()
	l := New(1000)
	for i := range 100_000 {
		l.Allow(t.Context(), "t", fmt.Sprint("principal-", i), Limit{Rate: 1, Burst: 1})
	}
	if l.Len() != 1000 {
		t.Errorf("%d buckets for 100000 principals, want the bound 1000", l.Len())
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(100_000)
	lim := Limit{Rate: 1e9, Burst: 1e9}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(b.Context(), "weather__forecast", "alice", lim)
		}
	})
}

// Concurrent first calls of one principal share one bucket: a burst of 1 lets exactly one pass.
func TestConcurrentFirstCallsShareTheBucket(t *testing.T) {
	t.Parallel()
	l := New(10000)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now } // no refill while the calls race
	lim := Limit{Rate: 0.001, Burst: 1}
	for round := range 300 {
		principal := fmt.Sprint("p", round)
		var passed atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if ok, _ := l.Allow(t.Context(), "t", principal, lim); ok {
					passed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := passed.Load(); n != 1 {
			t.Fatalf("round %d: %d of 8 concurrent first calls passed a burst of 1", round, n)
		}
	}
}
