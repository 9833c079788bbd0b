package router

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/sessions"
)

func TestRequestStatesAreSealedAndBound(t *testing.T) {
	sealer, _ := sessions.NewSealer(sessions.RandomKey())
	p := newParked(sealer, "10.0.0.1:9090")
	pc := newParkedCall("demo__sample", "alice", context.Background())
	if err := p.park(pc); err != nil {
		t.Fatal(err)
	}
	st, err := p.open(p.state(pc))
	if err != nil || st.ID != pc.parkedID() || st.Replica != "10.0.0.1:9090" || st.Principal != "alice" {
		t.Fatalf("open(state) = %+v, %v", st, err)
	}
	other, _ := sessions.NewSealer(sessions.RandomKey())
	foreign := newParked(other, "x:1")
	for _, forged := range []string{"", "garbage", foreign.state(pc), p.state(pc)[:20]} {
		if _, err := p.open(forged); err == nil {
			t.Errorf("a forged state %q opened", forged)
		}
	}
}

func TestParkedCallsAreBounded(t *testing.T) {
	sealer, _ := sessions.NewSealer(sessions.RandomKey())
	p := newParked(sealer, "")
	p.max = 2
	for range 2 {
		if err := p.park(newParkedCall("t", "p", context.Background())); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.park(newParkedCall("t", "p", context.Background())); err == nil {
		t.Error("a third call was parked past the bound of 2")
	}
}

func TestInputRelayTurnsARequestIntoAnInputRequest(t *testing.T) {
	sealer, _ := sessions.NewSealer(sessions.RandomKey())
	r := &Router{parked: newParked(sealer, "")}
	pc := newParkedCall("demo__sample", "alice", context.Background())
	relay := &inputRelay{call: pc, r: r, caps: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapability{}}}
	if raw, err := relay.Request(context.Background(), string(mcp.MethodListRoots), nil); err != nil || string(raw) != `{"roots":[]}` {
		t.Errorf("roots of a client that declared none: %s, %v; want none, asked of nobody", raw, err)
	}
	if _, err := relay.Request(context.Background(), string(mcp.MethodElicitationCreate), json.RawMessage(`{}`)); err == nil {
		t.Error("an elicitation was asked of a client that declared none")
	}
	got := make(chan json.RawMessage, 1)
	go func() {
		raw, _ := relay.Request(context.Background(), string(mcp.MethodSamplingCreateMessage), json.RawMessage(`{"messages":[],"maxTokens":5}`))
		got <- raw
	}()
	<-pc.asked
	pending := pc.pending()
	if len(pending) != 1 {
		t.Fatalf("pending: %v", pending)
	}
	for id, in := range pending {
		if in.Method != mcp.MethodSamplingCreateMessage || in.Sampling == nil {
			t.Errorf("input request %s: %+v", id, in)
		}
		pc.answer(id, json.RawMessage(`{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}`))
	}
	if raw := <-got; len(raw) == 0 {
		t.Error("the upstream's request got no answer")
	}
	if pc.parkedID() == 0 {
		t.Error("a call that asked for input was not parked")
	}
}
