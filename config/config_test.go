package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseDefaultsAndExpansion(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
upstreams:
  - name: everything
    url: http://127.0.0.1:3001/mcp
    headers: {Authorization: "Bearer ${TOKEN}"}
  - name: clock
    command: ["mcp-demo", "--stdio"]
    namespace: ""
    timeout: ${CLOCK_TIMEOUT:-5s}
`), env(map[string]string{"TOKEN": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.PublicURL != "http://127.0.0.1:8080" {
		t.Errorf("listen defaults: got %q, %q", cfg.Listen, cfg.PublicURL)
	}
	if cfg.Naming.Separator != "__" || cfg.Naming.MaxLength != 64 {
		t.Errorf("naming defaults: got %+v", cfg.Naming)
	}
	ev, clock := cfg.Upstreams[0], cfg.Upstreams[1]
	if ev.Headers["Authorization"] != "Bearer s3cret" {
		t.Errorf("header not expanded: %q", ev.Headers["Authorization"])
	}
	if ev.Transport != TransportStreamableHTTP || ev.Timeout.D() != 30*time.Second {
		t.Errorf("upstream defaults: transport %q timeout %v", ev.Transport, ev.Timeout.D())
	}
	if ev.NamespaceOf() != "everything" || clock.NamespaceOf() != "" {
		t.Errorf("namespaces: got %q and %q", ev.NamespaceOf(), clock.NamespaceOf())
	}
	if clock.Timeout.D() != 5*time.Second {
		t.Errorf("fallback expansion: timeout %v", clock.Timeout.D())
	}
}

func TestParseReportsEveryError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"unknown top-level key", "listn: x\nupstreams: [{name: a, url: http://h/mcp}]", []string{"listn: unknown key (line 1)"}},
		{"unknown nested key", "upstreams: [{name: a, url: http://h/mcp, timout: 3s}]", []string{"upstreams[0].timout: unknown key"}},
		{"duplicate key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\nupstreams: [{name: a, url: http://h/mcp}]", []string{"listen: key appears twice (line 2)"}},
		{"bad duration", "upstreams: [{name: a, url: http://h/mcp, timeout: soon}]", []string{`upstreams[0].timeout: want a positive duration like "30s", got "soon"`}},
		{"negative duration", "breaker: {open_for: -1s}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"breaker.open_for: want a positive duration"}},
		{"bad url", "upstreams: [{name: a, url: ftp://h/mcp}]", []string{`upstreams[0].url: want an http:// or https:// URL, got "ftp://h/mcp"`}},
		{"url and command", "upstreams: [{name: a, url: http://h/mcp, command: [x]}]", []string{"upstreams[0]: set either url or command, not both"}},
		{"neither url nor command", "upstreams: [{name: a}]", []string{"upstreams[0]: set url (an HTTP upstream) or command"}},
		{"duplicate names", "upstreams: [{name: a, url: http://h/mcp}, {name: b, url: http://h/mcp}, {name: a, command: [x]}]", []string{`upstreams[2].name: duplicate name "a" (also upstreams[0])`}},
		{"missing name", "upstreams: [{url: http://h/mcp}]", []string{"upstreams[0].name: required"}},
		{"bad name", "upstreams: [{name: 'a b', url: http://h/mcp}]", []string{`upstreams[0].name: want 1 to 64 characters`}},
		{"bad namespace", "upstreams: [{name: a, namespace: 'x.y', url: http://h/mcp}]", []string{`upstreams[0].namespace: want up to 64 characters`}},
		{"bad transport", "upstreams: [{name: a, url: http://h/mcp, transport: websocket}]", []string{`upstreams[0].transport: want "streamable-http" or "sse", got "websocket"`}},
		{"transport on command", "upstreams: [{name: a, command: [x], transport: sse}]", []string{"upstreams[0].transport: only for a url upstream"}},
		{"headers on command", "upstreams: [{name: a, command: [x], headers: {A: b}}]", []string{"upstreams[0].headers: only for a url upstream"}},
		{"env on url", "upstreams: [{name: a, url: http://h/mcp, env: {A: b}}]", []string{"upstreams[0].env: only for a command upstream"}},
		{"empty program", "upstreams: [{name: a, command: ['']}]", []string{"upstreams[0].command[0]: the program must not be empty"}},
		{"no upstreams", "listen: 127.0.0.1:8080", []string{"upstreams: no upstreams"}},
		{"unset env", "upstreams: [{name: a, url: http://h/mcp, headers: {A: '${NOPE}'}}]", []string{`upstreams[0].headers["A"]: environment variable NOPE is not set`}},
		{"bad listen", "listen: 8080\nupstreams: [{name: a, url: http://h/mcp}]", []string{`listen: want host:port, got "8080"`}},
		{"admin equals listen", "admin_listen: 127.0.0.1:8080\nupstreams: [{name: a, url: http://h/mcp}]", []string{"admin_listen: must differ from listen"}},
		{"bad separator", "naming: {separator: '.'}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`naming.separator: want 1 to 8 characters`}},
		{"max length range", "naming: {max_length: 8}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"naming.max_length: want 16 to 128, got 8"}},
		{"not an integer", "naming: {max_length: long}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`naming.max_length: want an integer, got "long"`}},
		{"origins and body limit", "allowed_origins: ['https://app.example.com', 'app.example.com', 'https://x/y']\nmax_request_bytes: 10\nupstreams: [{name: a, url: http://h/mcp}]",
			[]string{"max_request_bytes: want at least 1024", "allowed_origins[1]: want scheme://host", "allowed_origins[2]: want scheme://host"}},
		{"log and audit", "log: {format: xml, level: loud}\naudit: {max_size_mb: -1}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`log.format: want "text" or "json"`, "log.level: want debug", "audit.max_size_mb: want at least 1"}},
		{"page size", "page_size: -3\nupstreams: [{name: a, url: http://h/mcp}]", []string{"page_size: want at least 1, got -3"}},
		{"not a list", "upstreams: {name: a}", []string{"upstreams: want a list"}},
		{"unauthenticated on all interfaces", "listen: 0.0.0.0:8080\nupstreams: [{name: a, url: http://h/mcp}]", []string{`auth.mode: "none" serves anyone`}},
		{"bad auth mode", "auth: {mode: basic}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`auth.mode: want "none" or "oidc", got "basic"`}},
		{"clock skew too large", "auth: {mode: oidc, issuer: 'https://idp', audience: a, clock_skew: 10m}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"auth.clock_skew: want at most 5m"}},
		{"oidc without issuer", "auth: {mode: oidc}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"auth.issuer: required", "auth.audience: required"}},
		{"policies without oidc", "auth: {policies: [{when: {scope: s}, allow: [x]}]}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"auth.policies: need auth.mode"}},
		{"empty policy", "auth: {mode: oidc, issuer: 'https://idp', audience: a, policies: [{}]}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"auth.policies[0].when: set scope or claim", "auth.policies[0].allow: list at least one"}},
		{"bad glob", "auth: {mode: oidc, issuer: 'https://idp', audience: a, policies: [{when: {scope: s}, allow: ['[']}]}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"auth.policies[0].allow[0]: bad glob"}},
		{"bad rate", "limits: {default: {rate: fast}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`limits.default.rate: want a rate like`}},
		{"missing rate", "limits: {tools: {x: {burst: 3}}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`limits.tools["x"].rate: required`}},
		{"bulkhead", "bulkhead: {max_concurrent: -2, queue_timeout: soon}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"bulkhead.max_concurrent: want at least 1", "bulkhead.queue_timeout: want a positive duration"}},
		{"limit glob", "limits: {tools: {'[': {rate: 1/s}}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`limits.tools["["]: bad glob`}},
		{"breaker failures", "breaker: {failures: -1}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"breaker.failures: want at least 1"}},
		{"cache ttl missing", "cache: {tools: {x: {shared: true}}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`cache.tools["x"].ttl: required`}},
		{"redis address", "cache: {redis: {address: nowhere}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`cache.redis.address: want host:port`}},
		{"redis both", "cache: {redis: {address: 'h:1', addresses: ['h:2']}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"cache.redis: set address (one server) or addresses"}},
		{"redis none", "cache: {redis: {password: x}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"cache.redis.address: required"}},
		{"redis cluster db", "cache: {redis: {addresses: ['h:1', 'bad'], db: 2}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`cache.redis.addresses[1]: want host:port`, "cache.redis.db: a cluster has only database 0"}},
		{"sentinel without sentinels", "cache: {redis: {address: 'h:1', master_name: m}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"cache.redis.master_name: needs addresses"}},
		{"top-level redis address", "redis: {address: nowhere}\nupstreams: [{name: a, url: http://h/mcp}]", []string{`redis.address: want host:port`}},
		{"redis twice", "redis: {address: 'h:1'}\ncache: {redis: {address: 'h:2'}}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"cache.redis: the top-level redis is set too"}},
		{"session key size", "sessions: {key: c2hvcnQ=}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"sessions.key: want base64 of 32 bytes, got 5 bytes"}},
		{"session key not base64", "sessions: {key: '!!'}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"sessions.key: not base64"}},
		{"previous keys without a key", "sessions: {previous_keys: [AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=]}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"sessions.previous_keys: needs sessions.key"}},
		{"session limits", "sessions: {max_streams_per_principal: -1, state_entries: -5, replica_address: nowhere, max_age: never}\nupstreams: [{name: a, url: http://h/mcp}]", []string{"sessions.max_streams_per_principal: want at least 1", "sessions.state_entries: want at least 1", "sessions.replica_address: want host:port", "sessions.max_age: want a positive duration"}},
		{"trusted proxies", "trusted_proxies: [10.0.0.0/8, 10.1.2.3, nonsense]\nupstreams: [{name: a, url: http://h/mcp}]", []string{"trusted_proxies[1]: want a CIDR", "trusted_proxies[2]: want a CIDR"}},
		{"oauth2 incomplete", "upstreams: [{name: a, url: http://h/mcp, oauth2: {token_url: nope}}]", []string{`upstreams[0].oauth2.token_url: want an http`, "upstreams[0].oauth2.client_id: required"}},
		{"oauth2 on command", "upstreams: [{name: a, command: [x], oauth2: {token_url: http://idp/token, client_id: c}}]", []string{"upstreams[0].oauth2: only for a url upstream"}},
		{"oauth2 and an Authorization header", "upstreams: [{name: a, url: http://h/mcp, headers: {Authorization: x}, oauth2: {token_url: http://idp/token, client_id: c}}]", []string{"upstreams[0].oauth2: conflicts with headers.Authorization"}},
		{"consul scheme and tls", "consul: {scheme: ftp, tls: {cert_file: c.pem}}", []string{`consul.scheme: want "http" or "https"`, "consul.tls: set both cert_file and key_file"}},
		{"consul address", "consul: {address: nowhere}", []string{`consul.address: want host:port`}},
		{"many at once", "listn: x\nupstreams: [{name: a, url: http://h/mcp, command: [x]}, {name: a, url: 'nope'}]\nbreaker: {open_for: x}",
			[]string{"listn: unknown key", "upstreams[0]: set either", "upstreams[1].name: duplicate", "upstreams[1].url: want", "breaker.open_for: want"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), env(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("want %d errors, got %d:\n%v", len(tc.want), len(errs), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseRejectsMalformedYAML(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("upstreams: [\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "parsing config") {
		t.Fatalf("want a parse error, got %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	t.Parallel()
	matches, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, path := range matches {
		if _, err := Load(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want not-exist, got %v", err)
	}
}

func TestSessionsAndRedisDefaults(t *testing.T) {
	key := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	cfg, err := Parse([]byte("sessions: {key: "+key+"}\ncache: {redis: {address: 'h:1'}}\nupstreams: [{name: a, url: http://h/mcp}]"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis == nil || cfg.Redis.Address != "h:1" || cfg.Redis.Timeout.D() != 100*time.Millisecond {
		t.Errorf("cache.redis is not the gateway's Redis: %+v", cfg.Redis)
	}
	if cfg.Sessions.MaxAge.D() != 24*time.Hour || cfg.Sessions.MaxStreamsPerPrincipal != 16 || cfg.Sessions.StateEntries != 100_000 {
		t.Errorf("session defaults: %+v", cfg.Sessions)
	}
	if k, err := DecodeSessionKey(cfg.Sessions.Key); err != nil || len(k) != SessionKeySize {
		t.Errorf("the key does not decode to %d bytes: %v", SessionKeySize, err)
	}
}

func TestWarningsNameAPolicyThatCanNeverMatch(t *testing.T) {
	cfg, err := Parse([]byte(`
auth:
  mode: oidc
  issuer: https://idp
  audience: gw
  default_policy: deny
  policies:
    - {when: {scope: a}, allow: [x__*]}
    - {when: {scope: a, claim: {groups: g}}, allow: [y__*]}
    - {when: {scope: b}, allow: [z__*], allow_resources: ["z+file:///*"]}
upstreams: [{name: a, url: http://h/mcp}]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ws := cfg.Warnings()
	if len(ws) != 1 || ws[0].Path != "auth.policies[1]" || !strings.Contains(ws[0].Msg, "auth.policies[0]") {
		t.Errorf("warnings %v, want one naming auth.policies[1] shadowed by [0]", ws)
	}
	if cfg.Auth.DefaultPolicy != PolicyDeny || len(cfg.Auth.Policies[2].AllowResources) != 1 {
		t.Errorf("default_policy %q, allow_resources %v", cfg.Auth.DefaultPolicy, cfg.Auth.Policies[2].AllowResources)
	}
	if _, err := Parse([]byte("auth: {default_policy: maybe}\nupstreams: [{name: a, url: http://h/mcp}]"), func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), "auth.default_policy") {
		t.Errorf("a bad default_policy: %v", err)
	}
}
