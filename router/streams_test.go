package router

import (
	"testing"

	"github.com/switchboard-mcp/switchboard/sessions"
)

func streamOf(principal, id string) *clientSession {
	return newClientSession(sessions.Ticket{ID: id, Principal: principal}, sessions.NewMemoryState(10))
}

func ended(st *stream) bool {
	select {
	case <-st.done:
		return true
	default:
		return false
	}
}

func TestStreamsPerPrincipalAreCappedOldestFirst(t *testing.T) {
	tbl := newStreams(2)
	first, second := tbl.open(streamOf("alice", "s1"), "alice"), tbl.open(streamOf("alice", "s2"), "alice")
	bob := tbl.open(streamOf("bob", "s3"), "bob")
	third := tbl.open(streamOf("alice", "s4"), "alice")
	if !ended(first) {
		t.Error("alice's oldest stream is still open past her cap of 2")
	}
	if ended(second) || ended(third) || ended(bob) {
		t.Error("a stream within its principal's cap was closed")
	}
	if n := tbl.len(); n != 3 {
		t.Errorf("%d streams counted, want 3", n)
	}
	tbl.close(third)
	if n := tbl.len(); n != 2 {
		t.Errorf("%d streams after one closed, want 2", n)
	}
}

func TestEndingASessionEndsItsStreams(t *testing.T) {
	tbl := newStreams(16)
	a1, a2, other := tbl.open(streamOf("p", "a"), "p"), tbl.open(streamOf("p", "a"), "p"), tbl.open(streamOf("p", "b"), "p")
	if tbl.notesOf("a") == nil || tbl.notesOf("zzz") != nil {
		t.Error("notesOf does not find the session's stream, or finds one for a session with none")
	}
	tbl.endSession("a")
	if !ended(a1) || !ended(a2) || ended(other) {
		t.Error("endSession must end exactly the session's streams")
	}
}

func TestDrainingClosesStreamsAndRefusesNewOnes(t *testing.T) {
	tbl := newStreams(16)
	open := tbl.open(streamOf("p", "a"), "p")
	tbl.closeAll()
	if !ended(open) {
		t.Error("an open stream survived closeAll")
	}
	if tbl.open(streamOf("p", "b"), "p") != nil {
		t.Error("a stream opened while draining")
	}
}
