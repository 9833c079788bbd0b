package registry

import (
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func entry(id string, port int, meta map[string]string) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Node: "n1", Address: "10.0.0.1"},
		Service: &api.AgentService{ID: id, Service: "weather", Port: port, Meta: meta},
	}
}

func TestUpstreamFromConsul(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []*api.ServiceEntry
		check   func(t *testing.T, u Upstream)
		wantErr string
	}{
		{"defaults", []*api.ServiceEntry{entry("w1", 3001, nil)}, func(t *testing.T, u Upstream) {
			if u.Namespace != "weather" || u.Timeout != 0 || len(u.Instances) != 1 {
				t.Errorf("got %+v", u)
			}
			if in := u.Instances[0]; in.URL != "http://10.0.0.1:3001/mcp" || in.Transport != StreamableHTTP || in.ID != "n1/w1" {
				t.Errorf("instance %+v", in)
			}
		}, ""},
		{"every key", []*api.ServiceEntry{entry("w1", 443, map[string]string{
			"mcp_path": "/v1/mcp", "mcp_transport": "sse", "mcp_scheme": "https", "mcp_namespace": "",
			"mcp_timeout": "5s", "mcp_rate_limit": "600/m", "mcp_cache_ttl": "1m"})}, func(t *testing.T, u Upstream) {
			if u.Namespace != "" || u.Timeout != 5*time.Second || u.RateLimit.PerSecond != 10 || u.CacheTTL != time.Minute {
				t.Errorf("got %+v", u)
			}
			if in := u.Instances[0]; in.URL != "https://10.0.0.1:443/v1/mcp" || in.Transport != SSE {
				t.Errorf("instance %+v", in)
			}
		}, ""},
		{"replicas in ID order", []*api.ServiceEntry{entry("w2", 2, nil), entry("w1", 1, nil)}, func(t *testing.T, u Upstream) {
			if len(u.Instances) != 2 || u.Instances[0].ID != "n1/w1" {
				t.Errorf("got %+v", u.Instances)
			}
		}, ""},
		{"bad timeout", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_timeout": "soon"})}, nil, "mcp_timeout"},
		{"bad transport", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_transport": "grpc"})}, nil, "mcp_transport"},
		{"bad scheme", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_scheme": "ftp"})}, nil, "mcp_scheme"},
		{"bad path", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_path": "mcp"})}, nil, "mcp_path"},
		{"path with a fragment", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_path": "/mcp#x"})}, nil, "without ? or #"},
		{"port out of range", []*api.ServiceEntry{entry("w1", 70000, nil)}, nil, "port 70000 is out of range"},
		{"address with a path", []*api.ServiceEntry{func() *api.ServiceEntry { e := entry("w1", 1, nil); e.Service.Address = "evil.example/x"; return e }()}, nil, "not a host name"},
		{"bad namespace", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_namespace": "a.b"})}, nil, "mcp_namespace"},
		{"bad rate", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_rate_limit": "lots"})}, nil, "mcp_rate_limit"},
		{"bad ttl", []*api.ServiceEntry{entry("w1", 1, map[string]string{"mcp_cache_ttl": "-1s"})}, nil, "mcp_cache_ttl"},
		{"no port", []*api.ServiceEntry{entry("w1", 0, nil)}, nil, "address"},
		{"one bad replica rejects the service", []*api.ServiceEntry{entry("w1", 1, nil), entry("w2", 2, map[string]string{"mcp_timeout": "x"})}, nil, "instance n1/w2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := upstreamFromConsul("weather", tc.entries)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error about %s, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, u)
		})
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	static := Snapshot{{Name: "weather", Namespace: "weather", Timeout: time.Second}}
	discovered := Snapshot{{Name: "clock", Namespace: "clock"}, {Name: "weather", Namespace: "wx"}}
	got := Merge(static, discovered, "consul", 30*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(got) != 3 || got[0].Name != "clock" || got[1].Name != "weather" || got[2].Name != "weather@consul" {
		t.Fatalf("got %+v", got)
	}
	if got[1].Timeout != time.Second || got[0].Timeout != 30*time.Second || got[2].Namespace != "wx" {
		t.Errorf("got %+v", got)
	}
}

// FuzzParseInstance: whatever a registration's address, port and meta hold, parseInstance either
// refuses it or returns a URL that goes to that host and port and path, and nowhere else.
func FuzzParseInstance(f *testing.F) {
	f.Add("10.0.0.2", 8080, "/mcp", "streamable-http", "http", "30s", "10/s", "1m")
	f.Add("", 0, "mcp", "grpc", "ftp", "-1s", "x", "0")
	f.Add("::1", 443, "/a b?c#d", "sse", "https", "1h", "5/m", "10s")
	f.Fuzz(func(t *testing.T, addr string, port int, path, transport, scheme, timeout, rate, ttl string) {
		e := entry("w-1", port, map[string]string{
			MetaPath: path, MetaTransport: transport, MetaScheme: scheme,
			MetaTimeout: timeout, MetaRateLimit: rate, MetaCacheTTL: ttl,
		})
		e.Service.Address = addr
		in, _, err := parseInstance(e)
		if err != nil {
			return
		}
		u, err := url.Parse(in.URL)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", in.URL, err)
		}
		host := addr
		if host == "" {
			host = e.Node.Address
		}
		if u.Scheme != scheme || u.Host != net.JoinHostPort(host, strconv.Itoa(port)) || u.Path != path ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			t.Fatalf("address %q port %d path %q: URL %q goes elsewhere", addr, port, path, in.URL)
		}
	})
}
