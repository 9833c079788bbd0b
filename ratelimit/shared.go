package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// KeyPrefix starts the name of every bucket Shared keeps in Redis. redis_rate puts its own
// "rate:" in front, so the keys read "rate:switchboard:rl:TOOL:PRINCIPAL-HASH".
const KeyPrefix = "switchboard:rl:"

const (
	// defaultTimeout bounds one Redis command when NewShared is given none.
	defaultTimeout = 100 * time.Millisecond
	// restFor is how long Redis is left alone after it failed: calls are decided per replica
	// meanwhile, so a Redis that hangs costs one timeout per second, not one per call.
	restFor = time.Second
	// logEvery spaces the warnings of an outage: one line, not one per call.
	logEvery = 10 * time.Second
)

// Shared enforces limits across every replica: one bucket per (tool, principal) in Redis, so
// that N replicas together allow what one would, not N times as much. The buckets are GCRA
// (redis_rate), which admits the same calls as the token bucket of Limiter: Burst at once,
// then one every 1/Rate seconds.
//
// Shared fails open to the per-replica Limiter: when Redis errors or does not answer within the
// timeout, that call is decided by local, Redis is left alone for a second, onFallback counts
// the call and a warning is logged at most every ten seconds (an info line when Redis answers
// again). A call is never failed because Redis is down.
//
// Redis holds one key per (tool, principal) that called recently: each expires once its bucket
// is full again, at most Burst/Rate seconds after the last call. Safe for concurrent use.
type Shared struct {
	rl         *redis_rate.Limiter
	timeout    time.Duration
	local      *Limiter
	breaker    *gobreaker.CircuitBreaker[*redis_rate.Result]
	log        *slog.Logger
	onFallback func()

	lastWarn  atomic.Int64 // unix nanoseconds of the last outage warning
	fallbacks atomic.Int64 // calls decided per replica since that warning
	warned    atomic.Bool  // a warning was logged and Redis has not answered since
}

// NewShared returns a Shared keeping its buckets in rdb (standalone, Sentinel or Cluster).
// timeout bounds each Redis command (100ms when 0 or less) through its context; a client
// without ContextTimeoutEnabled ignores that deadline, so give it read, write and pool timeouts
// no longer (cache.RedisOptions sets them to redis.timeout). local decides the calls Redis
// cannot (nil: one of 100000 buckets); onFallback, if not nil, is called once for each of those
// calls (a metric). log gets the outage warnings.
func NewShared(rdb redis.UniversalClient, timeout time.Duration, local *Limiter, log *slog.Logger, onFallback func()) *Shared {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if local == nil {
		local = New(100_000)
	}
	if onFallback == nil {
		onFallback = func() {}
	}
	s := &Shared{rl: redis_rate.NewLimiter(rdb), timeout: timeout, local: local, log: log, onFallback: onFallback}
	s.breaker = gobreaker.NewCircuitBreaker[*redis_rate.Result](gobreaker.Settings{
		Name:        "ratelimit",
		MaxRequests: 1, // one call probes Redis after a rest; the others stay local meanwhile
		Timeout:     restFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallerLeft) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateClosed && s.warned.CompareAndSwap(true, false) {
				s.log.Info("Redis answers again: rate limits are cluster-wide again")
			}
		},
	})
	return s
}

// Allow takes a token for one call of tool by principal under limit from the bucket in Redis,
// or from local's when Redis cannot answer. When the bucket is empty it returns false and how
// long until a token will be there; nothing is taken then.
func (s *Shared) Allow(ctx context.Context, tool, principal string, limit Limit) (ok bool, retryAfter time.Duration) {
	if limit.Rate <= 0 {
		return true, 0
	}
	gcra := gcraLimit(limit)
	res, err := s.breaker.Execute(func() (*redis_rate.Result, error) {
		redisCtx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		res, err := s.rl.Allow(redisCtx, sharedKey(tool, principal), gcra)
		if err != nil && ctx.Err() != nil {
			return nil, errCallerLeft // not Redis's failure: neither counted nor logged
		}
		return res, err
	})
	switch {
	case errors.Is(err, errCallerLeft):
		return s.local.Allow(ctx, tool, principal, limit)
	case err != nil:
		s.fellBack(err)
		return s.local.Allow(ctx, tool, principal, limit)
	case res.Allowed > 0:
		return true, 0
	case res.RetryAfter > 0:
		return false, res.RetryAfter
	default: // no wait given: one emission interval
		return false, gcra.Period / time.Duration(gcra.Rate)
	}
}

// errCallerLeft marks a Redis call cut short by the caller's own context.
var errCallerLeft = errors.New("the caller left")

// fellBack counts a call decided per replica and warns, at most every logEvery, of the outage.
// The breaker's own refusals while Redis rests are counted, never logged.
func (s *Shared) fellBack(err error) {
	s.onFallback()
	n := s.fallbacks.Add(1)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return
	}
	now, last := time.Now().UnixNano(), s.lastWarn.Load()
	if now-last < int64(logEvery) || !s.lastWarn.CompareAndSwap(last, now) {
		return
	}
	s.fallbacks.Add(-n)
	s.warned.Store(true)
	s.log.Warn("Redis did not answer: rate limits are per replica until it does", "err", err, "calls_per_replica", n)
}

// sharedKey names the bucket of (tool, principal). The principal is hashed: a fixed length,
// so no principal's string can run into another's key (the hash is always the last 32
// characters, whatever the tool's name holds), and nothing personal is stored in Redis.
func sharedKey(tool, principal string) string {
	sum := sha256.Sum256([]byte(principal))
	return KeyPrefix + tool + ":" + hex.EncodeToString(sum[:16])
}

// gcraLimit is limit as redis_rate takes it: Rate events per Period, Burst at once. GCRA only
// uses the emission interval Period/Rate, so a fractional rate is one event per 1/Rate seconds
// rounded to the nanosecond (600/h is exactly 1 per 6s; 3/s is 1 per 333.333333ms, off by one
// part in 10^9; an error under 0.05% up to 10^6/s). Faster rates are whole events per second
// (off by under 0.00005%). A rate slower than one per 292 years counts as that.
func gcraLimit(l Limit) redis_rate.Limit {
	burst := max(l.Burst, 1) // as Limiter: a burst of 0 would admit nothing
	if l.Rate >= 1e6 {
		return redis_rate.Limit{Rate: int(math.Round(l.Rate)), Period: time.Second, Burst: burst}
	}
	period := time.Duration(math.MaxInt64)
	if ns := math.Round(float64(time.Second) / l.Rate); ns < float64(math.MaxInt64) {
		period = time.Duration(ns)
	}
	return redis_rate.Limit{Rate: 1, Period: period, Burst: burst}
}
