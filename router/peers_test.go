package router

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/sessions"
)

// TestAnAnswerReachesAReplicaOverTLS: with tls on, the admin listeners speak HTTPS, and an
// answer is handed to the replica waiting over it (a certificate that does not name the pod IP
// is fine: the body is sealed).
func TestAnAnswerReachesAReplicaOverTLS(t *testing.T) {
	sealer, err := sessions.NewSealer(sessions.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	peerTLS := &tls.Config{InsecureSkipVerify: true}
	waiting, receiver := newAsks(sealer, "").overTLS(peerTLS), newAsks(sealer, "").overTLS(peerTLS)
	srv := httptest.NewTLSServer(waiting) // its certificate names example.com, not the address
	defer srv.Close()
	waiting.self = strings.TrimPrefix(srv.URL, "https://")

	id, answers, stop, err := waiting.start("s")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := receiver.deliver(context.Background(), "s", quoted(id), clientAnswer{Result: json.RawMessage(`{"ok":true}`)}); err != nil {
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

	// Without peer TLS the same forward speaks plain HTTP to a TLS listener and fails.
	id, _, stop2, _ := waiting.start("s")
	defer stop2()
	if err := newAsks(sealer, "").deliver(context.Background(), "s", quoted(id), clientAnswer{}); err == nil {
		t.Error("a plain-HTTP forward to a TLS listener succeeded")
	}
}

// TestParkedRetriesGoOverTLS: a 2026-era retry for a call another replica holds goes to its
// admin listener over https with tls on, with the forward's own timeout kept.
func TestParkedRetriesGoOverTLS(t *testing.T) {
	sealer, _ := sessions.NewSealer(sessions.RandomKey())
	plain := newParked(sealer, "")
	p := newParked(sealer, "").overTLS(&tls.Config{InsecureSkipVerify: true})
	if p.client.Timeout != plain.client.Timeout || p.client.Transport == nil {
		t.Errorf("client over TLS: timeout %v (want %v), transport %v", p.client.Timeout, plain.client.Timeout, p.client.Transport)
	}
	if got := peerURL(p.peerTLS, "10.0.0.7:9090", resumePath); got != "https://10.0.0.7:9090/internal/resume" {
		t.Errorf("retry URL %s", got)
	}
	if got := peerURL(plain.peerTLS, "10.0.0.7:9090", resumePath); got != "http://10.0.0.7:9090/internal/resume" {
		t.Errorf("retry URL without TLS %s", got)
	}
}
