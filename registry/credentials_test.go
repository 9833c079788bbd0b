package registry

import (
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/switchboard-mcp/switchboard/config"
)

func TestCredentialsReachTheInstance(t *testing.T) {
	t.Parallel()
	u, err := upstreamFromConsul("weather", []*api.ServiceEntry{
		entry("w1", 1, map[string]string{MetaCredentials: "tickets"}),
		entry("w2", 2, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Instances[0].Credentials; got != "tickets" {
		t.Errorf("mcp_credentials: got %q, want tickets", got)
	}
	if got := u.Instances[1].Credentials; got != "" {
		t.Errorf("an instance without mcp_credentials got %q", got)
	}
	other := u.Instances[0]
	other.Credentials = "other"
	if u.Instances[0].Equal(other) {
		t.Error("instances with different credentials are equal: a changed mcp_credentials would keep the old session")
	}

	snap := Static(&config.Config{Upstreams: []config.Upstream{{Name: "t", URL: "http://h/mcp", Credentials: "tickets"}}})
	if got := snap[0].Instances[0].Credentials; got != "tickets" {
		t.Errorf("static upstream credentials: got %q, want tickets", got)
	}
}
