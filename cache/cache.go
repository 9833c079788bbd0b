// Package cache is the response cache: tool results keyed by upstream, tool, definition, sharing
// scope and canonical arguments, in Redis or in process. It fails open: a store that is slow or
// down never fails a call, it only stops saving upstream calls.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/singleflight"
)

// Store keeps bytes under keys for a time. Implementations: Redis, Memory.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// version prefixes every key: a change of key layout or value format bumps it, so old entries
// are never read as new ones.
const version = "sb:v1:"

// Key identifies one cached result.
type Key struct {
	Upstream string
	Tool     string // the upstream's own name
	DefHash  string // of the tool's definition: a changed schema never serves old results
	Scope    string // the principal, or "" for a tool whose results are shared
	Args     []byte // canonical JSON of the arguments
}

// String is the store key. Names are escaped so that the upstream and tool prefixes used for
// purges never match another upstream's or tool's keys; the principal and arguments are hashed
// (bounded length, nothing personal in the key).
func (k Key) String() string {
	scope := "shared"
	if k.Scope != "" {
		scope = "p-" + shortHash([]byte(k.Scope))
	}
	return ToolPrefix(k.Upstream, k.Tool) + k.DefHash + ":" + scope + ":" + shortHash(k.Args)
}

// UpstreamPrefix is the prefix of every key of upstream.
func UpstreamPrefix(upstream string) string { return version + escape(upstream) + ":" }

// ToolPrefix is the prefix of every key of one tool of upstream.
func ToolPrefix(upstream, tool string) string { return UpstreamPrefix(upstream) + escape(tool) + ":" }

var escaper = strings.NewReplacer("%", "%25", ":", "%3A", "*", "%2A", "?", "%3F", "[", "%5B", "]", "%5D", "\\", "%5C")

// escape keeps ':' as the separator and keeps glob characters out of purge patterns.
func escape(s string) string { return escaper.Replace(s) }

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// DefinitionHash returns the hash of a tool definition's JSON.
func DefinitionHash(def []byte) string {
	sum := sha256.Sum256(def)
	return hex.EncodeToString(sum[:8])
}

// Cache reads and fills a Store, failing open, with single flight for concurrent misses.
type Cache struct {
	store   Store
	timeout time.Duration
	breaker *gobreaker.CircuitBreaker[[]byte]
	flight  singleflight.Group
	log     *slog.Logger
	now     func() time.Time

	readErrors, writeErrors atomic.Uint64
}

// New returns a Cache over store. timeout bounds each store operation (0: none, for a store in
// process, which cannot hang: its reads then cost no timer); after five failures in a
// row the store is skipped for 5 seconds, then tried again.
func New(store Store, timeout time.Duration, log *slog.Logger) *Cache {
	c := &Cache{store: store, timeout: timeout, log: log, now: time.Now}
	c.breaker = gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        "cache",
		MaxRequests: 1,
		Timeout:     5 * time.Second,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= 5 },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				log.Warn("cache store failing; calls go to upstreams uncached until it answers again")
			} else if to == gobreaker.StateClosed {
				log.Info("cache store answering again")
			}
		},
	})
	return c
}

// Hit is a cached result.
type Hit struct {
	Value []byte
	Age   time.Duration
}

// Get returns the value under k, or ok false on a miss or a store failure (logged once per
// outage by the breaker, never returned: the caller goes to the upstream).
func (c *Cache) Get(ctx context.Context, k string) (Hit, bool) {
	raw, err := c.breaker.Execute(func() ([]byte, error) {
		storeCtx := ctx
		if c.timeout > 0 {
			var cancel context.CancelFunc
			storeCtx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		v, found, err := c.store.Get(storeCtx, k)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, nil // the caller left: not the store's failure
		case err != nil:
			c.readErrors.Add(1)
			return nil, err
		case !found:
			return nil, nil
		}
		return v, nil
	})
	if err != nil || len(raw) < 8 {
		return Hit{}, false
	}
	stored := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	return Hit{Value: raw[8:], Age: max(c.now().Sub(stored), 0)}, true
}

// Set stores value under k for ttl, prefixed with the time it was stored (for the age of hits).
func (c *Cache) Set(ctx context.Context, k string, value []byte, ttl time.Duration) {
	buf := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(buf, uint64(c.now().UnixNano()))
	copy(buf[8:], value)
	_, _ = c.breaker.Execute(func() ([]byte, error) {
		// The caller's answer does not wait for this; a client that left does not stop it.
		ctx := context.WithoutCancel(ctx)
		if c.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		err := c.store.Set(ctx, k, buf, ttl)
		if err != nil {
			c.writeErrors.Add(1)
		}
		return nil, err
	})
}

// StoreErrors is how many store reads and writes failed (timeouts included) since start; reads
// and writes skipped while the store is skipped are not counted.
func (c *Cache) StoreErrors() (reads, writes uint64) {
	return c.readErrors.Load(), c.writeErrors.Load()
}

// StoreAvailable is false while the store is skipped after failing five times in a row.
func (c *Cache) StoreAvailable() bool { return c.breaker.State() != gobreaker.StateOpen }

// Flight runs fill once for all concurrent callers with the same key; each caller stops waiting
// when its own ctx ends. fill runs detached from any one caller, so one leaving does not fail
// the others. shared reports whether the result was another caller's.
func (c *Cache) Flight(ctx context.Context, k string, fill func(context.Context) (any, error)) (v any, shared bool, err error) {
	ch := c.flight.DoChan(k, func() (any, error) { return fill(context.WithoutCancel(ctx)) })
	select {
	case r := <-ch:
		return r.Val, r.Shared, r.Err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// Purge removes the entries of one tool of upstream, or of all its tools when tool is "".
func (c *Cache) Purge(ctx context.Context, upstream, tool string) (int, error) {
	prefix := UpstreamPrefix(upstream)
	if tool != "" {
		prefix = ToolPrefix(upstream, tool)
	}
	n, err := c.store.DeletePrefix(ctx, prefix)
	if err != nil {
		return n, errors.Join(errors.New("purging the cache"), err)
	}
	return n, nil
}
