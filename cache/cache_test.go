package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestCanonical(t *testing.T) {
	t.Parallel()
	same := [][]string{
		{`{"a":1,"b":[1,2]}`, `{ "b" : [1.0, 2e0], "a": 1 }`, `{"b":[1,2],"a":1.000}`},
		{``, `{}`, ` {} `},
		{`{"x":{"z":null,"y":"é"}}`, `{"x":{"y":"\u00e9","z":null}}`},
		{`{"n":0.1}`, `{"n":1e-1}`},
	}
	for _, group := range same {
		want, err := Canonical([]byte(group[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range group[1:] {
			got, err := Canonical([]byte(in))
			if err != nil || string(got) != string(want) {
				t.Errorf("Canonical(%s) = %s, want %s (%v)", in, got, want, err)
			}
		}
	}
	for _, pair := range [][2]string{{`{"a":1}`, `{"a":"1"}`}, {`{"a":1}`, `{"a":2}`}, {`{"n":12345678901234567890}`, `{"n":12345678901234567891}`}} {
		a, _ := Canonical([]byte(pair[0]))
		b, _ := Canonical([]byte(pair[1]))
		if string(a) == string(b) {
			t.Errorf("%s and %s must differ", pair[0], pair[1])
		}
	}
	if _, err := Canonical([]byte(`{"a":`)); err == nil {
		t.Error("malformed JSON accepted")
	}
}

func TestKeyIsolation(t *testing.T) {
	t.Parallel()
	base := Key{Upstream: "weather", Tool: "forecast", DefHash: "d1", Scope: "alice", Args: []byte(`{}`)}
	variants := map[string]Key{
		"principal":  {Upstream: "weather", Tool: "forecast", DefHash: "d1", Scope: "bob", Args: []byte(`{}`)},
		"shared":     {Upstream: "weather", Tool: "forecast", DefHash: "d1", Args: []byte(`{}`)},
		"definition": {Upstream: "weather", Tool: "forecast", DefHash: "d2", Scope: "alice", Args: []byte(`{}`)},
		"arguments":  {Upstream: "weather", Tool: "forecast", DefHash: "d1", Scope: "alice", Args: []byte(`{"a":1}`)},
		"tool":       {Upstream: "weather", Tool: "forecast:x", DefHash: "d1", Scope: "alice", Args: []byte(`{}`)},
	}
	for name, k := range variants {
		if k.String() == base.String() {
			t.Errorf("a different %s gives the same key", name)
		}
	}
	// A tool's purge prefix never covers another tool whose name extends it.
	other := Key{Upstream: "weather", Tool: "forecast:x", DefHash: "d1", Args: []byte(`{}`)}.String()
	if prefix := ToolPrefix("weather", "forecast"); len(other) >= len(prefix) && other[:len(prefix)] == prefix {
		t.Errorf("purging forecast would purge %s", other)
	}
}

// stores runs a test against both stores: in process, and a real redis-server.
func stores(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) { test(t, NewMemory(1<<20)) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { c.Close() })
		test(t, NewRedis(c))
	})
}

func TestStores(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		c := New(s, time.Second, quiet)
		k := Key{Upstream: "u", Tool: "t", DefHash: "d", Args: []byte(`{}`)}.String()
		if _, ok := c.Get(ctx, k); ok {
			t.Fatal("hit in an empty store")
		}
		c.Set(ctx, k, []byte("result"), 300*time.Millisecond)
		hit, ok := c.Get(ctx, k)
		if !ok || string(hit.Value) != "result" || hit.Age < 0 || hit.Age > time.Second {
			t.Fatalf("get after set: %v %q age %v", ok, hit.Value, hit.Age)
		}
		time.Sleep(400 * time.Millisecond)
		if _, ok := c.Get(ctx, k); ok {
			t.Error("an expired entry was served")
		}

		for i := range 3 {
			c.Set(ctx, Key{Upstream: "u", Tool: "t", DefHash: "d", Args: []byte(fmt.Sprint(i))}.String(), []byte("x"), time.Minute)
			c.Set(ctx, Key{Upstream: "u", Tool: "other", DefHash: "d", Args: []byte(fmt.Sprint(i))}.String(), []byte("x"), time.Minute)
			c.Set(ctx, Key{Upstream: "v", Tool: "t", DefHash: "d", Args: []byte(fmt.Sprint(i))}.String(), []byte("x"), time.Minute)
		}
		if n, err := c.Purge(ctx, "u", "t"); n != 3 || err != nil {
			t.Errorf("purge of one tool removed %d (%v), want 3", n, err)
		}
		if n, err := c.Purge(ctx, "u", ""); n != 3 || err != nil {
			t.Errorf("purge of an upstream removed %d (%v), want 3", n, err)
		}
		if _, ok := c.Get(ctx, Key{Upstream: "v", Tool: "t", DefHash: "d", Args: []byte("0")}.String()); !ok {
			t.Error("another upstream's entry was purged")
		}
	})
}

func TestMemoryIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	m := NewMemory(10_000)
	ctx := context.Background()
	for i := range 1000 {
		_ = m.Set(ctx, fmt.Sprint("key-", i), make([]byte, 100), time.Minute)
	}
	if m.Bytes() > 10_000 {
		t.Errorf("holds %d bytes, bound 10000", m.Bytes())
	}
	if _, ok, _ := m.Get(ctx, "key-999"); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok, _ := m.Get(ctx, "key-0"); ok {
		t.Error("the oldest entry survived")
	}
}

func TestFailOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	c := New(NewRedis(client), 100*time.Millisecond, quiet)
	ctx := context.Background()
	c.Set(ctx, "k", []byte("v"), time.Minute)
	srv.Kill()
	for range 20 { // misses, quickly; after five failures the store is not even asked
		start := time.Now()
		if _, ok := c.Get(ctx, "k"); ok {
			t.Fatal("a hit from a dead Redis")
		}
		c.Set(ctx, "k", []byte("v"), time.Minute)
		if time.Since(start) > 2*time.Second {
			t.Fatal("a dead Redis held a call")
		}
	}
	// Get, Set, Get, Set, Get fail at the store; then it is skipped, and skips are not errors.
	if reads, writes := c.StoreErrors(); reads != 3 || writes != 2 {
		t.Errorf("store errors = %d reads, %d writes; want 3 and 2", reads, writes)
	}
	if c.StoreAvailable() {
		t.Error("store reported available after five failures in a row")
	}
	srv.Restart(t)
	time.Sleep(5100 * time.Millisecond) // the breaker's rest
	c.Set(ctx, "k", []byte("again"), time.Minute)
	if hit, ok := c.Get(ctx, "k"); !ok || string(hit.Value) != "again" {
		t.Errorf("after Redis came back: %v %q", ok, hit.Value)
	}
	if !c.StoreAvailable() {
		t.Error("store still reported unavailable after it answered again")
	}
}

// slowStore answers after its delay or when the context ends.
type slowStore struct {
	Store
	delay time.Duration
}

func (s slowStore) Get(ctx context.Context, _ string) ([]byte, bool, error) {
	select {
	case <-time.After(s.delay):
		return nil, false, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

func TestCallersLeavingDoNotTripTheStore(t *testing.T) {
	t.Parallel()
	c := New(slowStore{delay: time.Hour}, time.Hour, quiet)
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		c.Get(ctx, "k")
		cancel()
	}
	if reads, _ := c.StoreErrors(); reads != 0 || !c.StoreAvailable() {
		t.Errorf("callers that left counted as store failures: %d errors, available %v", reads, c.StoreAvailable())
	}
	// The store's own timeout is a failure.
	c = New(slowStore{delay: time.Hour}, time.Millisecond, quiet)
	c.Get(context.Background(), "k")
	if reads, _ := c.StoreErrors(); reads != 1 {
		t.Errorf("a store timeout counted %d times, want 1", reads)
	}
}

func TestFlightCallsOnce(t *testing.T) {
	t.Parallel()
	c := New(NewMemory(1<<20), time.Second, quiet)
	var calls atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	results := make(chan any, 10)
	for range 10 {
		wg.Go(func() {
			v, _, err := c.Flight(context.Background(), "k", func(context.Context) (any, error) {
				calls.Add(1)
				<-release
				return "value", nil
			})
			if err != nil {
				t.Error(err)
			}
			results <- v
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	if calls.Load() != 1 {
		t.Errorf("%d fills for 10 concurrent misses, want 1", calls.Load())
	}
	for v := range results {
		if v != "value" {
			t.Errorf("a caller got %v", v)
		}
	}
}

func BenchmarkHit(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) Store
	}{
		{"memory", func(*testing.B) Store { return NewMemory(1 << 20) }},
		{"redis", func(b *testing.B) Store {
			srv := redistest.Start(b)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			b.Cleanup(func() { c.Close() })
			return NewRedis(c)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := New(tc.store(b), time.Second, quiet)
			ctx := context.Background()
			k := Key{Upstream: "u", Tool: "t", DefHash: "d", Args: []byte(`{"a":1}`)}.String()
			c.Set(ctx, k, make([]byte, 512), time.Hour)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, ok := c.Get(ctx, k); !ok {
						b.Error("miss")
						return
					}
				}
			})
		})
	}
}

func TestRedisOptionsPickTheMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  config.Redis
		want string
	}{
		{"standalone", config.Redis{Address: "10.0.0.1:6379", DB: 2}, "*redis.Client"},
		{"cluster", config.Redis{Addresses: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}, "*redis.ClusterClient"},
		{"sentinel", config.Redis{Addresses: []string{"10.0.0.1:26379"}, MasterName: "mymaster"}, "*redis.Client"},
	}
	for _, tc := range tests {
		o, err := RedisOptions(&tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewUniversalClient(o)
		if got := fmt.Sprintf("%T", c); got != tc.want {
			t.Errorf("%s: client %s, want %s", tc.name, got, tc.want)
		}
		if tc.name == "sentinel" && o.MasterName != "mymaster" {
			t.Errorf("sentinel master name lost")
		}
		if o.MaxRetries != -1 {
			t.Errorf("%s: retries on; the cache must fail fast", tc.name)
		}
		c.Close()
	}
	if _, err := RedisOptions(&config.Redis{Address: "h:1", TLS: &config.RedisTLS{CAFile: "/nonexistent"}}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

// FuzzCanonical: Canonical accepts exactly one JSON value, and its output is JSON that is its
// own canonical form.
func FuzzCanonical(f *testing.F) {
	for _, seed := range []string{`{"b":1,"a":[1.0,"x",null,true]}`, `{"a":1e400}`, `{} ]`, `"\u00e9"`, `-0.0`, `{"a":{"a":{}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		canon, err := Canonical(raw)
		if err != nil {
			return
		}
		if len(bytes.Trim(raw, jsonSpace)) > 0 && !json.Valid(raw) {
			t.Fatalf("accepted %q, which is not one JSON value", raw)
		}
		if !json.Valid(canon) {
			t.Fatalf("Canonical(%q) = %q, not JSON", raw, canon)
		}
		again, err := Canonical(canon)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("Canonical is not stable: %q -> %q -> %q (%v)", raw, canon, again, err)
		}
		if canonical(raw) {
			var b bytes.Buffer
			var v any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if dec.Decode(&v) != nil || writeCanonical(&b, v) != nil || !bytes.Equal(b.Bytes(), raw) {
				t.Fatalf("%q taken as canonical, but decoded and written it is %q", raw, b.Bytes())
			}
		}
	})
}

func TestCanonicalTakesCanonicalArgumentsAsTheyAre(t *testing.T) {
	for raw, want := range map[string]bool{
		`{}`: true, `[]`: true, `{"text":"hello"}`: true, `{"a":[1,-2,{"b":null}],"c":true}`: true,
		`{ }`: false, `{"b":1,"a":2}`: false, `{"a":1,"a":1}`: false, `{"a":1.5}`: false, `{"a":-0}`: false,
		`{"a":"<b>"}`: false, `{"a":"\u00e9"}`: false, `{"a": 1}`: false, ` {}`: false, `[1 ,2]`: false,
	} {
		if got := canonical([]byte(raw)); got != want {
			t.Errorf("canonical(%s) = %v, want %v", raw, got, want)
		}
	}
	raw := []byte(`{"days":3,"query":"weather in Paris","units":"metric"}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = Canonical(raw) }); n != 0 {
		t.Errorf("Canonical of canonical arguments allocates %v times", n)
	}
}
