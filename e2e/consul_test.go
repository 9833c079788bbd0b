package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// callable waits until tool answers want (or anything, when want is "") through c.
func callable(t testing.TB, c *client.Client, tool, want string) {
	t.Helper()
	eventually(t, 20*time.Second, tool+" callable", func() error {
		res, err := callErr(c, tool, nil)
		switch {
		case err != nil:
			return err
		case res.IsError:
			return errors.New(text(res))
		case want != "" && text(res) != want:
			return fmt.Errorf("answered %q, want %q", text(res), want)
		}
		return nil
	})
}

// unknown waits until tool is no longer routed: the gateway answers -32602.
func unknown(t testing.TB, c *client.Client, tool string) {
	t.Helper()
	eventually(t, 20*time.Second, tool+" gone", func() error {
		resp := rawCall(t, c, tool, nil)
		if resp.Error == nil || resp.Error.Code != mcp.INVALID_PARAMS {
			return fmt.Errorf("still routed: %s", resp.Result)
		}
		return nil
	})
}

func TestConsulRegistrationLifecycle(t *testing.T) {
	t.Parallel()
	agent := startConsul(t)
	g := consulGateway(t, agent)
	c := connect(t, g.URL, true, nil)
	weather := startDemoHTTP(t, "weather-1", false)
	broken := startDemoHTTP(t, "broken-1", false)

	// Registered: callable, and connected clients are told.
	notified := make(chan struct{}, 16)
	connect(t, g.URL, true, func(n mcp.JSONRPCNotification) { // a second client, watching
		if n.Method == string(mcp.MethodNotificationToolsListChanged) {
			notified <- struct{}{}
		}
	})
	agent.register(t, "weather", "weather-1", weather, map[string]string{"mcp_path": "/mcp", "mcp_timeout": "5s"})
	callable(t, c, "weather__whoami", "weather-1")
	waitNotified(t, notified)

	// A service with a bad registration is skipped alone.
	agent.register(t, "broken", "broken-1", broken, map[string]string{"mcp_timeout": "soon"})
	agent.register(t, "clock", "clock-1", broken, map[string]string{"mcp_namespace": "time"})
	callable(t, c, "time__whoami", "broken-1")
	if _, ok := rawTools(t, c)["broken__whoami"]; ok {
		t.Error("a service with a bad mcp_timeout was exposed")
	}
	if got := text(call(t, c, "weather__whoami", nil)); got != "weather-1" {
		t.Errorf("weather stopped working next to a bad registration: %q", got)
	}

	// Critical: no longer routed. Passing again: routed again.
	agent.setHealth(t, "weather-1", api.HealthCritical)
	unknown(t, c, "weather__whoami")
	agent.setHealth(t, "weather-1", api.HealthPassing)
	callable(t, c, "weather__whoami", "weather-1")

	// Deregistered: gone.
	agent.deregister(t, "weather-1")
	unknown(t, c, "weather__whoami")
}

func TestConsulReplicasShareLoadAndFailOver(t *testing.T) {
	t.Parallel()
	agent := startConsul(t)
	g := consulGateway(t, agent)
	c := connect(t, g.URL, true, nil)
	a := startDemoHTTP(t, "replica-a", false)
	b := startDemoHTTP(t, "replica-b", false)
	agent.register(t, "demo", "replica-a", a, nil)
	agent.register(t, "demo", "replica-b", b, nil)
	callable(t, c, "demo__whoami", "")

	seen := map[string]int{}
	eventually(t, 20*time.Second, "both replicas take calls", func() error {
		for range 20 {
			seen[text(call(t, c, "demo__whoami", nil))]++
		}
		if seen["replica-a"] == 0 || seen["replica-b"] == 0 {
			return fmt.Errorf("calls went to %v", seen)
		}
		return nil
	})

	// One replica dies without deregistering: every call still succeeds, on the other.
	a.proc.kill()
	for i := range 30 {
		res := call(t, c, "demo__whoami", nil)
		if res.IsError || text(res) != "replica-b" {
			t.Fatalf("call %d after replica-a died: isError=%v %q", i, res.IsError, text(res))
		}
	}
}

// A rolling deploy: replicas of one service list different tools. The catalog shows what most
// connected replicas list, ties going to the newest list, and a call goes to a replica that has
// the tool.
func TestConsulReplicasThatDisagreeOnTools(t *testing.T) {
	t.Parallel()
	agent := startConsul(t)
	g := consulGateway(t, agent)
	c := connect(t, g.URL, true, nil)
	oldA := startDemoHTTP(t, "old-a", false)
	oldB := startDemoHTTP(t, "old-b", false)
	newC := runDemoHTTP(t, "new-c", fmt.Sprintf("127.0.0.1:%d", freePort(t)), false, "--extra")
	agent.register(t, "demo", "old-a", oldA, nil)
	agent.register(t, "demo", "old-b", oldB, nil)
	callable(t, c, "demo__whoami", "")
	agent.register(t, "demo", "new-c", newC, nil)
	eventually(t, 20*time.Second, "the new replica takes calls", func() error {
		for range 20 {
			if text(call(t, c, "demo__whoami", nil)) == "new-c" {
				return nil
			}
		}
		return fmt.Errorf("no call reached new-c")
	})
	if _, ok := rawTools(t, c)["demo__extra"]; ok {
		t.Fatal("demo__extra exposed while only one replica of three lists it")
	}

	// One old replica leaves: one lists extra, one does not; the newer list wins.
	agent.deregister(t, "old-a")
	eventually(t, 20*time.Second, "demo__extra exposed", func() error {
		if _, ok := rawTools(t, c)["demo__extra"]; !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	for i := range 30 {
		if res := call(t, c, "demo__extra", nil); res.IsError || text(res) != "extra is here" {
			t.Fatalf("call %d of demo__extra went to a replica without it: isError=%v %q", i, res.IsError, text(res))
		}
	}
	// Tools both list still go to both.
	seen := map[string]int{}
	for range 40 {
		seen[text(call(t, c, "demo__whoami", nil))]++
	}
	if seen["old-b"] == 0 || seen["new-c"] == 0 {
		t.Errorf("demo__whoami went to %v, want both remaining replicas", seen)
	}
}

func TestConsulOutageKeepsTheCatalog(t *testing.T) {
	t.Parallel()
	agent := startConsul(t)
	g := consulGateway(t, agent)
	c := connect(t, g.URL, true, nil)
	first := startDemoHTTP(t, "first", false)
	second := startDemoHTTP(t, "second", false)
	agent.register(t, "first", "first", first, nil)
	callable(t, c, "first__whoami", "first")

	agent.proc.kill()
	// Calls keep working, readiness stays up, and /readyz says Consul is unreachable.
	eventually(t, 20*time.Second, "outage reported", func() error {
		st, body := readyz(t, g)
		if st != http.StatusOK {
			return fmt.Errorf("readyz %d during a Consul outage: %s", st, body)
		}
		var r struct {
			Details struct{ Consul struct{ Reachable *bool } }
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Details.Consul.Reachable == nil {
			return fmt.Errorf("readyz has no details.consul.reachable: %s", body)
		}
		if *r.Details.Consul.Reachable {
			return fmt.Errorf("consul still reported reachable: %s", body)
		}
		return nil
	})
	for range 5 {
		if got := text(call(t, c, "first__whoami", nil)); got != "first" {
			t.Fatalf("call during the outage: %q", got)
		}
	}

	// Consul returns (a dev agent, empty): new registrations are picked up.
	agent.start(t)
	agent.register(t, "first", "first", first, nil)
	agent.register(t, "second", "second", second, nil)
	callable(t, c, "second__whoami", "second")
	callable(t, c, "first__whoami", "first")
	if st, body := readyz(t, g); st != http.StatusOK {
		t.Errorf("readyz after Consul came back: %d %s", st, body)
	}
}

// With ACLs on (default deny), the gateway discovers with a read token; a token Consul does not
// know leaves it not ready, saying why.
func TestConsulWithACLs(t *testing.T) {
	t.Parallel()
	agent := startConsulWith(t, "3c4e9a52-5d0e-4f6b-9a3e-7f1d2b8c6e01", "")
	policy, _, err := agent.Client.ACL().PolicyCreate(&api.ACLPolicy{
		Name:  "switchboard-read",
		Rules: `service_prefix "" { policy = "read" } node_prefix "" { policy = "read" }`,
	}, nil)
	if err != nil {
		t.Fatalf("creating the read policy: %v", err)
	}
	token, _, err := agent.Client.ACL().TokenCreate(&api.ACLToken{
		Description: "switchboard", Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}},
	}, nil)
	if err != nil {
		t.Fatalf("creating the gateway's token: %v", err)
	}

	g := startGateway(t, fmt.Sprintf("consul: {address: %q, token: %q}\n", agent.Addr, token.SecretID))
	c := connect(t, g.URL, true, nil)
	demo := startDemoHTTP(t, "demo-acl", false)
	agent.register(t, "demo", "demo-acl", demo, nil)
	callable(t, c, "demo__whoami", "demo-acl")

	unknownToken := launchGateway(t, fmt.Sprintf("consul: {address: %q, token: %q}\n", agent.Addr, "00000000-0000-4000-8000-000000000000"))
	body := waitNotReady(t, unknownToken, 30*time.Second, "ACL not found", "waiting for Consul")
	t.Logf("readyz with an unknown token: %s", body)
}

// Over HTTPS with client certificates required: the gateway verifies the agent with the CA and
// presents its certificate; without one it stays not ready, saying why.
func TestConsulOverMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	agent := startConsulWith(t, "", fmt.Sprintf(`
ports { https = %s }
tls {
  defaults { ca_file = %q, cert_file = %q, key_file = %q }
  https { verify_incoming = true }
}`, portOf(httpsAddr), pki.CA, pki.ServerCert, pki.ServerKey))

	g := startGateway(t, fmt.Sprintf(`consul:
  address: %q
  scheme: https
  tls: {ca_file: %q, cert_file: %q, key_file: %q}
`, httpsAddr, pki.CA, pki.ClientCert, pki.ClientKey))
	c := connect(t, g.URL, true, nil)
	demo := startDemoHTTP(t, "demo-tls", false)
	agent.register(t, "demo", "demo-tls", demo, nil)
	callable(t, c, "demo__whoami", "demo-tls")

	noClientCert := launchGateway(t, fmt.Sprintf("consul: {address: %q, scheme: https, tls: {ca_file: %q}}\n", httpsAddr, pki.CA))
	body := waitNotReady(t, noClientCert, 30*time.Second, "certificate")
	t.Logf("readyz without a client certificate: %s", body)
}
