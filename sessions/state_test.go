package sessions

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-mcp/switchboard/internal/redistest"
)

// states runs fn against both State implementations: in process, and in a real redis-server.
func states(t *testing.T, fn func(t *testing.T, s State)) {
	t.Run("memory", func(t *testing.T) { fn(t, NewMemoryState(100)) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { rdb.Close() })
		fn(t, NewRedisState(rdb, time.Second))
	})
}

func TestStateKeepsWhatChangesDuringASession(t *testing.T) {
	states(t, func(t *testing.T, s State) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		if lvl, err := s.LogLevel(ctx, "a"); err != nil || lvl != "" {
			t.Errorf("unset level: %q, %v", lvl, err)
		}
		must(t, s.SetLogLevel(ctx, "a", "warning", exp))
		if lvl, _ := s.LogLevel(ctx, "a"); lvl != "warning" {
			t.Errorf("level %q, want warning", lvl)
		}
		if lvl, _ := s.LogLevel(ctx, "b"); lvl != "" {
			t.Errorf("another session's level leaked: %q", lvl)
		}
		must(t, s.Subscribe(ctx, "a", "res://x", exp))
		if ok, _ := s.Subscribed(ctx, "a", "res://x"); !ok {
			t.Error("not subscribed after Subscribe")
		}
		if ok, _ := s.Subscribed(ctx, "b", "res://x"); ok {
			t.Error("another session is subscribed")
		}
		must(t, s.Unsubscribe(ctx, "a", "res://x"))
		if ok, _ := s.Subscribed(ctx, "a", "res://x"); ok {
			t.Error("still subscribed after Unsubscribe")
		}
		if ended, _ := s.Ended(ctx, "a"); ended {
			t.Error("ended before End")
		}
		must(t, s.Subscribe(ctx, "a", "res://y", exp))
		must(t, s.End(ctx, "a", exp))
		if ended, _ := s.Ended(ctx, "a"); !ended {
			t.Error("not ended after End")
		}
		if ok, _ := s.Subscribed(ctx, "a", "res://y"); ok {
			t.Error("an ended session keeps its subscriptions")
		}
	})
}

func TestStateBoundsSubscriptions(t *testing.T) {
	states(t, func(t *testing.T, s State) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		for i := range MaxSubscriptions {
			must(t, s.Subscribe(ctx, "a", fmt.Sprintf("res://%d", i), exp))
		}
		if err := s.Subscribe(ctx, "a", "res://one-too-many", exp); !errors.Is(err, ErrTooManySubscriptions) {
			t.Errorf("subscription %d: %v, want ErrTooManySubscriptions", MaxSubscriptions+1, err)
		}
		must(t, s.Subscribe(ctx, "a", "res://0", exp)) // again: not a new one
	})
}

// TestAnEndedSessionIsEndedOnEveryReplica: two replicas' states on one Redis; a session that
// one ends is ended for the other at once, though the other had just answered "not ended".
func TestAnEndedSessionIsEndedOnEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	newState := func() *RedisState {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { rdb.Close() })
		return NewRedisState(rdb, time.Second)
	}
	one, two := newState(), newState()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go two.Updates(ctx, func(string) {})
	time.Sleep(200 * time.Millisecond) // two is subscribed
	if ended, _ := two.Ended(ctx, "s"); ended {
		t.Fatal("ended before End")
	}
	must(t, one.End(ctx, "s", time.Now().Add(time.Hour)))
	eventually := time.Now().Add(500 * time.Millisecond) // well inside the second two may reuse its answer
	for {
		if ended, _ := two.Ended(ctx, "s"); ended {
			return
		}
		if time.Now().After(eventually) {
			t.Fatal("the other replica still serves the ended session")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStateForgetsAtExpiry(t *testing.T) {
	states(t, func(t *testing.T, s State) {
		ctx := context.Background()
		must(t, s.End(ctx, "a", time.Now().Add(time.Second)))
		if ended, _ := s.Ended(ctx, "a"); !ended {
			t.Fatal("not ended")
		}
		time.Sleep(1500 * time.Millisecond)
		if ended, _ := s.Ended(ctx, "a"); ended {
			t.Error("an ended session is remembered past its expiry")
		}
	})
}

func TestStatePublishesUpdatesToEveryReplica(t *testing.T) {
	states(t, func(t *testing.T, s State) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan string, 4)
		go s.Updates(ctx, func(uri string) { got <- uri })
		deadline := time.After(5 * time.Second)
		for {
			must(t, s.PublishUpdate(ctx, "res://x")) // until the subscriber is listening
			select {
			case uri := <-got:
				if uri != "res://x" {
					t.Errorf("got %q", uri)
				}
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("no update arrived")
			}
		}
	})
}

func TestMemoryStateIsBounded(t *testing.T) {
	m := NewMemoryState(10)
	ctx := context.Background()
	for i := range 1000 {
		must(t, m.SetLogLevel(ctx, fmt.Sprint(i), "info", time.Now().Add(time.Hour)))
	}
	if m.Len() != 10 {
		t.Errorf("%d sessions kept, want the bound, 10", m.Len())
	}
}

func TestRedisStateDownIsAnErrorNotAHang(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	s := NewRedisState(rdb, 200*time.Millisecond)
	srv.Kill()
	start := time.Now()
	if _, err := s.Ended(context.Background(), "a"); err == nil {
		t.Error("no error with Redis gone")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with Redis gone", d)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEnded is the session-state cost every 2025-era request pays: "was this session
// ended?", in process and in a real redis-server on loopback.
func BenchmarkEnded(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	for name, s := range map[string]State{"memory": NewMemoryState(100_000), "redis": NewRedisState(rdb, time.Second)} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Ended(ctx, "a-session-id"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
