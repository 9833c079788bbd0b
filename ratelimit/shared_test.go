package ratelimit

import (
	"bytes"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

// logBuffer is a log that tests can read while the limiter writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// replica is one gateway replica's limiter on a Redis at addr, with its fallbacks counted and
// its log kept.
type replica struct {
	*Shared
	fallbacks atomic.Int64
	log       logBuffer
}

func newReplica(t *testing.T, addr string) *replica {
	t.Helper()
	// As cache.RedisOptions makes them: short timeouts, no retries.
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	r := &replica{}
	r.Shared = NewShared(rdb, 100*time.Millisecond, New(1000), slog.New(slog.NewTextHandler(&r.log, nil)), func() { r.fallbacks.Add(1) })
	return r
}

func TestSharedLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := newReplica(t, srv.Addr), newReplica(t, srv.Addr)
	lim := Limit{Rate: 5, Burst: 5}

	start := time.Now()
	allowed := 0
	for i := range 30 { // alternating, as a round-robin balancer sends them
		r := a
		if i%2 == 1 {
			r = b
		}
		ok, wait := r.Allow(t.Context(), "weather__forecast", "sub:alice", lim)
		switch {
		case ok:
			allowed++
		case wait <= 0 || wait > 200*time.Millisecond:
			t.Errorf("call %d: retry after %v, want within the 200ms a token takes at 5/s", i+1, wait)
		}
	}
	// Two per-replica limiters would allow 10 at once. Together the replicas allow the burst,
	// plus what refilled while the calls ran.
	refilled := int(math.Ceil(time.Since(start).Seconds() * lim.Rate))
	if allowed < lim.Burst || allowed > lim.Burst+refilled {
		t.Errorf("two replicas allowed %d of 30 calls, want the burst of 5 (+%d refilled)", allowed, refilled)
	}
	if n := a.fallbacks.Load() + b.fallbacks.Load(); n != 0 {
		t.Errorf("%d calls fell back with Redis up", n)
	}

	// Other principals and other tools have buckets of their own, on every replica.
	if ok, _ := b.Allow(t.Context(), "weather__forecast", "sub:bob", lim); !ok {
		t.Error("bob was limited by alice's bucket")
	}
	if ok, _ := a.Allow(t.Context(), "weather__alerts", "sub:alice", lim); !ok {
		t.Error("another tool was limited by weather__forecast's bucket")
	}
	for range 10 {
		if ok, _ := a.Allow(t.Context(), "weather__forecast", "sub:alice", Unlimited); !ok {
			t.Fatal("an unlimited call was rejected")
		}
	}
}

func TestSharedRetryAfterOfAFractionalRate(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := newReplica(t, srv.Addr)
	lim := Limit{Rate: 600.0 / 3600, Burst: 1} // 600/h: one every 6s
	if ok, _ := r.Allow(t.Context(), "t", "p", lim); !ok {
		t.Fatal("the first call was limited")
	}
	ok, wait := r.Allow(t.Context(), "t", "p", lim)
	if ok || wait <= 5*time.Second || wait > 6*time.Second {
		t.Errorf("second call: ok %v, retry after %v; want a wait of nearly 6s", ok, wait)
	}
}

func TestSharedFallsBackToTheReplicaWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := newReplica(t, srv.Addr)
	lim := Limit{Rate: 0.001, Burst: 3} // no refill during the test
	if ok, _ := r.Allow(t.Context(), "t", "redis", lim); !ok || r.fallbacks.Load() != 0 {
		t.Fatalf("with Redis up: ok %v, fallbacks %d", ok, r.fallbacks.Load())
	}

	srv.Kill()
	allowed := 0
	for range 50 {
		if ok, _ := r.Allow(t.Context(), "t", "alice", lim); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("with Redis down the replica allowed %d of 50, want its own burst of 3", allowed)
	}
	if n := r.fallbacks.Load(); n != 50 {
		t.Errorf("%d fallbacks counted, want one per call (50)", n)
	}
	if n := strings.Count(r.log.String(), "rate limits are per replica"); n != 1 {
		t.Errorf("%d warnings for 50 calls, want 1:\n%s", n, r.log.String())
	}

	// Redis back (empty): after its rest, calls are decided in Redis again.
	srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := r.fallbacks.Load()
		r.Allow(t.Context(), "t", "bob", lim)
		if r.fallbacks.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls still fall back 10s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(r.log.String(), "rate limits are cluster-wide again") {
		t.Errorf("no line says Redis answers again:\n%s", r.log.String())
	}
}

func TestSharedFallsBackWhenRedisHangs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	r := newReplica(t, ln.Addr().String())
	for range 3 {
		if ok, _ := r.Allow(t.Context(), "t", "alice", Limit{Rate: 1, Burst: 3}); !ok {
			t.Error("a call within the replica's burst was limited")
		}
	}
	if n := r.fallbacks.Load(); n != 3 {
		t.Errorf("%d fallbacks, want 3", n)
	}
}

func TestSharedKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	pairs := [][2][2]string{
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"t", "sub:alice"}, {"t", "sub:alice "}},
		{{"t", "addr:192.0.2.1"}, {"t", "sub:addr:192.0.2.1"}},
		{{"t", ""}, {"t:", ""}},
	}
	for _, p := range pairs {
		if k1, k2 := sharedKey(p[0][0], p[0][1]), sharedKey(p[1][0], p[1][1]); k1 == k2 {
			t.Errorf("%q and %q share the key %s", p[0], p[1], k1)
		}
	}
	if k := sharedKey("weather__forecast", "sub:alice"); !strings.HasPrefix(k, KeyPrefix+"weather__forecast:") || strings.Contains(k, "alice") {
		t.Errorf("key %q: want the prefix and tool, and no principal in clear", k)
	}
}

func TestGCRALimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   Limit
		want redis_rate.Limit
	}{
		{"whole per second", Limit{Rate: 5, Burst: 5}, redis_rate.Limit{Rate: 1, Period: 200 * time.Millisecond, Burst: 5}},
		{"600/h", Limit{Rate: 600.0 / 3600, Burst: 10}, redis_rate.Limit{Rate: 1, Period: 6 * time.Second, Burst: 10}},
		{"3/s", Limit{Rate: 3, Burst: 3}, redis_rate.Limit{Rate: 1, Period: 333333333, Burst: 3}},
		{"0.5/s", Limit{Rate: 0.5, Burst: 1}, redis_rate.Limit{Rate: 1, Period: 2 * time.Second, Burst: 1}},
		{"burst 0", Limit{Rate: 1}, redis_rate.Limit{Rate: 1, Period: time.Second, Burst: 1}},
		{"very fast", Limit{Rate: 2.5e6, Burst: 100}, redis_rate.Limit{Rate: 2_500_000, Period: time.Second, Burst: 100}},
		{"slower than int64 nanoseconds", Limit{Rate: 1e-12, Burst: 1}, redis_rate.Limit{Rate: 1, Period: math.MaxInt64, Burst: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := gcraLimit(tc.in)
			if got != tc.want {
				t.Errorf("gcraLimit(%+v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if tc.in.Rate < 1e9 { // the emission interval is the rate's, to one part in 10^6
				interval := got.Period.Seconds() / float64(got.Rate)
				if math.Abs(interval*tc.in.Rate-1) > 1e-6 && got.Period != math.MaxInt64 {
					t.Errorf("emission interval %gs for a rate of %g/s", interval, tc.in.Rate)
				}
			}
		})
	}
}
