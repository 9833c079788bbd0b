package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// consulAgent is a real Consul agent in dev mode on free loopback ports.
type consulAgent struct {
	Addr   string // host:port of the HTTP API
	Client *api.Client
	proc   *proc
	args   []string
}

func startConsul(t testing.TB) *consulAgent {
	t.Helper()
	return startConsulWith(t, "", "")
}

// startConsulWith starts an agent whose own requests (registrations) carry managementToken; with
// a token, ACLs are enabled with default deny and that token as the initial management token.
// extraHCL, when set, is more agent configuration.
func startConsulWith(t testing.TB, managementToken, extraHCL string) *consulAgent {
	t.Helper()
	// A free port can be taken by another test (or an outgoing connection) before the agent
	// binds it; then the agent exits at once, and a fresh set of ports is tried.
	for attempt := 1; ; attempt++ {
		a := newConsulAgent(t, managementToken, extraHCL)
		err := a.tryStart(t)
		if err != nil && attempt < 3 && strings.Contains(a.proc.out.String(), "address already in use") {
			continue
		}
		if err != nil {
			t.Fatalf("consul exited:\n%s", a.proc.out.String())
		}
		if managementToken != "" {
			// A leader comes before the ACL system is bootstrapped with the management token.
			eventually(t, 60*time.Second, "consul ACL bootstrap", func() error {
				_, _, err := a.Client.ACL().TokenReadSelf(nil)
				return err
			})
		}
		return a
	}
}

// newConsulAgent is the agent's command line and client on a fresh set of free ports.
func newConsulAgent(t testing.TB, managementToken, extraHCL string) *consulAgent {
	t.Helper()
	ports := freePorts(t, 4) // HTTP, Serf LAN, Serf WAN, server RPC
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	a := &consulAgent{Addr: addr, args: []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", portOf(addr), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
		"-serf-lan-port", fmt.Sprint(ports[1]), "-serf-wan-port", fmt.Sprint(ports[2]),
		"-server-port", fmt.Sprint(ports[3]), "-node", "e2e", "-log-level", "warn"}}
	if managementToken != "" {
		a.args = append(a.args, "-hcl", fmt.Sprintf(
			`acl { enabled = true, default_policy = "deny", tokens { initial_management = %q, agent = %q } }`,
			managementToken, managementToken))
	}
	if extraHCL != "" {
		a.args = append(a.args, "-hcl", extraHCL)
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.Token = managementToken
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Client = client
	return a
}

// start runs the agent and waits until it has a leader. A dev agent keeps no state: after a
// restart, registrations are gone.
func (a *consulAgent) start(t testing.TB) {
	t.Helper()
	if err := a.tryStart(t); err != nil {
		t.Fatalf("consul exited:\n%s", a.proc.out.String())
	}
}

// errExited: the agent process ended before it had a leader.
var errExited = errors.New("consul exited")

// tryStart runs the agent and waits until it has a leader, or returns errExited.
func (a *consulAgent) tryStart(t testing.TB) error {
	t.Helper()
	a.proc = start(t, nil, needConsul(t), a.args...)
	exited := false
	eventually(t, 60*time.Second, "consul leader", func() error {
		select {
		case <-a.proc.done:
			exited = true
			return nil
		default:
		}
		leader, err := a.Client.Status().Leader()
		if err == nil && leader == "" {
			err = fmt.Errorf("no leader yet")
		}
		return err
	})
	if exited {
		return errExited
	}
	return nil
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// register adds an instance of service at up's address with a passing TTL check.
func (a *consulAgent) register(t testing.TB, service, id string, up *upstreamHTTP, meta map[string]string) {
	t.Helper()
	port := 0
	fmt.Sscan(portOf(up.addr), &port)
	err := a.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: service, Tags: []string{"mcp"}, Address: "127.0.0.1", Port: port, Meta: meta,
		Check: &api.AgentServiceCheck{CheckID: "ttl-" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
}

func (a *consulAgent) setHealth(t testing.TB, id, status string) {
	t.Helper()
	if err := a.Client.Agent().UpdateTTL("ttl-"+id, "", status); err != nil {
		t.Fatalf("setting %s %s: %v", id, status, err)
	}
}

func (a *consulAgent) deregister(t testing.TB, id string) {
	t.Helper()
	if err := a.Client.Agent().ServiceDeregister(id); err != nil {
		t.Fatalf("deregistering %s: %v", id, err)
	}
}

// consulGateway starts a gateway that discovers its upstreams in a.
func consulGateway(t testing.TB, a *consulAgent) *gateway {
	t.Helper()
	return startGateway(t, fmt.Sprintf("consul: {address: %q}\n", a.Addr))
}
