package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/sessions"
)

// twoReplicas returns the asks of two replicas sharing a session key, each reachable over real
// HTTP at its own address.
func twoReplicas(t *testing.T) (a, b *asks) {
	t.Helper()
	sealer, err := sessions.NewSealer(sessions.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	a, b = newAsks(sealer, ""), newAsks(sealer, "")
	for _, r := range []*asks{a, b} {
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		r.self = strings.TrimPrefix(srv.URL, "http://")
	}
	return a, b
}

func quoted(s string) json.RawMessage { b, _ := json.Marshal(s); return b }

func TestAnAnswerReachesTheReplicaWaiting(t *testing.T) {
	a, b := twoReplicas(t)
	for name, receiver := range map[string]*asks{"same replica": a, "other replica": b} {
		t.Run(name, func(t *testing.T) {
			id, answers, stop, err := a.start("session-1")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			err = receiver.deliver(context.Background(), "session-1", quoted(id), clientAnswer{Result: json.RawMessage(`{"ok":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case ans := <-answers:
				if string(ans.Result) != `{"ok":true}` {
					t.Errorf("answer %s", ans.Result)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the answer never reached the waiting replica")
			}
			// Delivered once: the same answer again finds nobody waiting.
			if err := receiver.deliver(context.Background(), "session-1", quoted(id), clientAnswer{}); !errors.Is(err, errNotWaiting) {
				t.Errorf("a second answer: %v, want errNotWaiting", err)
			}
		})
	}
}

func TestAnAnswerFromAnotherSessionIsRefused(t *testing.T) {
	a, b := twoReplicas(t)
	id, answers, stop, _ := a.start("alice-session")
	defer stop()
	for _, r := range []*asks{a, b} {
		if err := r.deliver(context.Background(), "bob-session", quoted(id), clientAnswer{Result: json.RawMessage(`{}`)}); !errors.Is(err, errNotWaiting) {
			t.Errorf("Bob's answer to Alice's request: %v, want errNotWaiting", err)
		}
	}
	for _, forged := range []string{"sb-", "sb-AAAA", "sb-" + strings.Repeat("A", 200), "not-ours", ""} {
		if err := b.deliver(context.Background(), "alice-session", quoted(forged), clientAnswer{}); !errors.Is(err, errNotWaiting) {
			t.Errorf("forged id %q: %v, want errNotWaiting", forged, err)
		}
	}
	select {
	case <-answers:
		t.Error("a refused answer was delivered")
	default:
	}
}

func TestForwardsMustBeSealedWithTheSessionKey(t *testing.T) {
	a, _ := twoReplicas(t)
	_, answers, stop, _ := a.start("s")
	defer stop()
	other, _ := sessions.NewSealer(sessions.RandomKey())
	intruder := newAsks(other, "")
	err := intruder.forward(context.Background(), a.self, forwarded{N: 1, Session: "s", Answer: clientAnswer{Result: json.RawMessage(`{}`)}})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a forward sealed with another key: %v, want refused with 403", err)
	}
	select {
	case <-answers:
		t.Error("an unsealed forward was delivered")
	default:
	}
}

func TestWaitsAreBounded(t *testing.T) {
	a, _ := twoReplicas(t)
	a.max = 3
	for range 3 {
		if _, _, _, err := a.start("s"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := a.start("s"); err == nil {
		t.Error("a fourth wait was accepted past the bound of 3")
	}
}

func TestAnUnreachableReplicaIsAClearError(t *testing.T) {
	sealer, _ := sessions.NewSealer(sessions.RandomKey())
	gone := httptest.NewServer(newAsks(sealer, ""))
	a := newAsks(sealer, strings.TrimPrefix(gone.URL, "http://"))
	id, _, stop, _ := a.start("s")
	defer stop()
	gone.Close() // the replica waiting is gone
	b := newAsks(sealer, "127.0.0.1:1")
	b.client.Timeout = 2 * time.Second
	err := b.deliver(context.Background(), "s", quoted(id), clientAnswer{})
	if err == nil || errors.Is(err, errNotWaiting) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("answer for a replica that is gone: %v, want an error saying it is unreachable", err)
	}
}
