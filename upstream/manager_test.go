package upstream

import (
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/registry"
)

func TestApplyKeepsUnchangedInstances(t *testing.T) {
	t.Parallel()
	m := NewManager(quietLog, Settings{ConnectTimeout: time.Second, BreakerFailures: 5, BreakerOpenFor: time.Second, MaxConcurrent: 4, QueueTimeout: time.Second})
	t.Cleanup(m.Close)
	inst := func(id, url string) registry.Instance {
		return registry.Instance{ID: registry.InstanceID(id), Transport: registry.StreamableHTTP, URL: url}
	}
	snap := func(instances ...registry.Instance) registry.Snapshot {
		return registry.Snapshot{{Name: "svc", Namespace: "svc", Timeout: time.Second, Instances: instances}}
	}
	// Nothing listens on these addresses: the instances only retry, which is all this needs.
	m.Apply(snap(inst("a", "http://127.0.0.1:1/mcp"), inst("b", "http://127.0.0.1:2/mcp")))
	first := m.Upstream("svc").instances

	m.Apply(snap(inst("a", "http://127.0.0.1:1/mcp"), inst("b", "http://127.0.0.1:3/mcp"), inst("c", "http://127.0.0.1:4/mcp")))
	second := m.Upstream("svc").instances
	if len(second) != 3 {
		t.Fatalf("want 3 instances, got %d", len(second))
	}
	if second[0] != first[0] {
		t.Error("an unchanged instance was replaced")
	}
	if second[1] == first[1] {
		t.Error("an instance whose URL changed kept its old session")
	}
	select {
	case <-first[1].done:
	case <-time.After(5 * time.Second):
		t.Error("the replaced instance was not stopped")
	}

	m.Apply(nil)
	if m.Upstream("svc") != nil {
		t.Error("a removed upstream is still routed")
	}
	for _, in := range second {
		select {
		case <-in.done:
		case <-time.After(5 * time.Second):
			t.Errorf("instance %s not stopped after its upstream left", in.spec.ID)
		}
	}
}
