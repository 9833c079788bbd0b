package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-mcp/switchboard/glob"
)

var (
	upstreamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	namespace    = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)
	separator    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,8}$`)
)

// validate checks the meaning of a decoded, defaulted config. It reports every problem and has no
// side effects.
func (c *Config) validate() Errors {
	var errs Errors
	fail := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	listenErr := checkHostPort(c.Listen)
	if listenErr != nil {
		fail("listen", "%v", listenErr)
	}
	if err := checkHTTPURL(c.PublicURL); err != nil {
		fail("public_url", "%v", err)
	}
	if c.AdminListen != "" {
		if err := checkHostPort(c.AdminListen); err != nil {
			fail("admin_listen", "%v", err)
		} else if c.AdminListen == c.Listen {
			fail("admin_listen", "must differ from listen (leave it empty to serve admin endpoints on listen)")
		}
	}
	if !separator.MatchString(c.Naming.Separator) {
		fail("naming.separator", "want 1 to 8 characters of A-Z a-z 0-9 _ -, got %q", c.Naming.Separator)
	}
	if c.Naming.MaxLength < 16 || c.Naming.MaxLength > 128 {
		fail("naming.max_length", "want 16 to 128, got %d", c.Naming.MaxLength)
	}

	if c.Defaults.MaxResponseBytes < 1024 {
		fail("defaults.max_response_bytes", "want at least 1024, got %d", c.Defaults.MaxResponseBytes)
	}
	if c.MaxRequestBytes < 1024 {
		fail("max_request_bytes", "want at least 1024, got %d", c.MaxRequestBytes)
	}
	for i, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			fail(fmt.Sprintf("allowed_origins[%d]", i), "want scheme://host[:port], got %q", o)
		}
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		fail("log.format", "want \"text\" or \"json\", got %q", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		fail("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Audit.MaxSizeMB < 1 {
		fail("audit.max_size_mb", "want at least 1, got %d", c.Audit.MaxSizeMB)
	}
	if c.Audit.MaxBackups < 0 {
		fail("audit.max_backups", "want 0 or more, got %d", c.Audit.MaxBackups)
	}
	if c.PageSize < 1 {
		fail("page_size", "want at least 1, got %d", c.PageSize)
	}

	if len(c.Upstreams) == 0 && c.Consul == nil {
		fail("upstreams", "no upstreams: list some here or configure consul")
	}
	firstWithName := map[string]int{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.Name == "":
			fail(p+".name", "required")
		case !upstreamName.MatchString(u.Name):
			fail(p+".name", "want 1 to 64 characters of A-Z a-z 0-9 _ -, got %q", u.Name)
		default:
			if j, dup := firstWithName[u.Name]; dup {
				fail(p+".name", "duplicate name %q (also upstreams[%d])", u.Name, j)
			} else {
				firstWithName[u.Name] = i
			}
		}
		if u.Namespace != nil && !namespace.MatchString(*u.Namespace) {
			fail(p+".namespace", "want up to 64 characters of A-Z a-z 0-9 _ -, got %q", *u.Namespace)
		}
		switch {
		case u.URL != "" && len(u.Command) > 0:
			fail(p, "set either url or command, not both")
		case u.URL == "" && len(u.Command) == 0:
			fail(p, "set url (an HTTP upstream) or command (a stdio upstream)")
		case u.URL != "":
			if err := checkHTTPURL(u.URL); err != nil {
				fail(p+".url", "%v", err)
			}
			if u.Transport != TransportStreamableHTTP && u.Transport != TransportSSE {
				fail(p+".transport", "want %q or %q, got %q", TransportStreamableHTTP, TransportSSE, u.Transport)
			}
			if len(u.Env) > 0 {
				fail(p+".env", "only for a command upstream")
			}
			if u.Dir != "" {
				fail(p+".dir", "only for a command upstream")
			}
			if o := u.OAuth2; o != nil {
				if err := checkHTTPURL(o.TokenURL); err != nil {
					fail(p+".oauth2.token_url", "%v", err)
				}
				if o.ClientID == "" {
					fail(p+".oauth2.client_id", "required")
				}
				if _, set := u.Headers["Authorization"]; set {
					fail(p+".oauth2", "conflicts with headers.Authorization: choose one credential")
				}
			}
		default:
			if u.Command[0] == "" {
				fail(p+".command[0]", "the program must not be empty")
			}
			if u.Transport != "" {
				fail(p+".transport", "only for a url upstream (a command upstream speaks stdio)")
			}
			if len(u.Headers) > 0 {
				fail(p+".headers", "only for a url upstream")
			}
			if u.OAuth2 != nil {
				fail(p+".oauth2", "only for a url upstream")
			}
		}
	}

	if c.Consul != nil {
		if err := checkHostPort(c.Consul.Address); err != nil {
			fail("consul.address", "%v", err)
		}
		if c.Consul.Scheme != "http" && c.Consul.Scheme != "https" {
			fail("consul.scheme", "want \"http\" or \"https\", got %q", c.Consul.Scheme)
		}
		if (c.Consul.TLS.CertFile == "") != (c.Consul.TLS.KeyFile == "") {
			fail("consul.tls", "set both cert_file and key_file, or neither")
		}
	}

	switch c.Auth.Mode {
	case AuthNone:
		if listenErr == nil && !c.Auth.AllowUnauthenticated && !isLoopback(c.Listen) {
			fail("auth.mode", "\"none\" serves anyone who reaches %s: listen on a loopback address, use \"oidc\", or set auth.allow_unauthenticated: true", c.Listen)
		}
	case AuthOIDC:
		if err := checkHTTPURL(c.Auth.Issuer); err != nil {
			fail("auth.issuer", "%v", err)
		}
		if c.Auth.Audience == "" {
			fail("auth.audience", "required with mode \"oidc\"")
		}
		if c.Auth.ClockSkew.D() > 5*time.Minute {
			fail("auth.clock_skew", "want at most 5m, got %v", c.Auth.ClockSkew.D())
		}
	default:
		fail("auth.mode", "want %q or %q, got %q", AuthNone, AuthOIDC, c.Auth.Mode)
	}
	if len(c.Auth.Policies) > 0 && c.Auth.Mode != AuthOIDC && c.Stdio.Principal == nil {
		fail("auth.policies", "need auth.mode \"oidc\" (or stdio.principal, for switchboard stdio): without tokens there is no principal to match")
	}
	for i, pol := range c.Auth.Policies {
		p := fmt.Sprintf("auth.policies[%d]", i)
		if pol.When.Scope == "" && len(pol.When.Claim) == 0 {
			fail(p+".when", "set scope or claim")
		}
		if len(pol.Allow) == 0 && len(pol.AllowResources) == 0 {
			fail(p+".allow", "list at least one tool name or glob (or allow_resources)")
		}
		for j, g := range pol.Allow {
			if err := checkGlob(g); err != nil {
				fail(fmt.Sprintf("%s.allow[%d]", p, j), "%v", err)
			}
		}
	}

	if c.Auth.DefaultPolicy != PolicyAllow && c.Auth.DefaultPolicy != PolicyDeny {
		fail("auth.default_policy", "want %q or %q, got %q", PolicyAllow, PolicyDeny, c.Auth.DefaultPolicy)
	}

	if c.Limits.Default != nil {
		errs = append(errs, c.Limits.Default.validate("limits.default")...)
	}
	for _, name := range sortedKeys(c.Limits.Tools) {
		p := fmt.Sprintf("limits.tools[%q]", name)
		if err := checkGlob(name); err != nil {
			fail(p, "%v", err)
		}
		errs = append(errs, c.Limits.Tools[name].validate(p)...)
	}
	if c.Bulkhead.MaxConcurrent < 1 {
		fail("bulkhead.max_concurrent", "want at least 1, got %d", c.Bulkhead.MaxConcurrent)
	}

	if c.Breaker.Failures < 1 {
		fail("breaker.failures", "want at least 1, got %d", c.Breaker.Failures)
	}

	if c.Cache.Redis != nil && c.redisKey == "redis" {
		fail("cache.redis", "the top-level redis is set too: set one of them")
	}
	if r := c.Redis; r != nil {
		k := c.redisKey
		switch {
		case r.Address != "" && len(r.Addresses) > 0:
			fail(k, "set address (one server) or addresses (cluster or sentinels), not both")
		case r.Address == "" && len(r.Addresses) == 0:
			fail(k+".address", "required (or addresses)")
		case r.Address != "":
			if err := checkHostPort(r.Address); err != nil {
				fail(k+".address", "%v", err)
			}
			if r.MasterName != "" {
				fail(k+".master_name", "needs addresses: the sentinels")
			}
		}
		for i, a := range r.Addresses {
			if err := checkHostPort(a); err != nil {
				fail(fmt.Sprintf("%s.addresses[%d]", k, i), "%v", err)
			}
		}
		if r.DB < 0 {
			fail(k+".db", "want 0 or more, got %d", r.DB)
		}
		if r.DB != 0 && len(r.Addresses) > 0 && r.MasterName == "" {
			fail(k+".db", "a cluster has only database 0")
		}
	}
	errs = append(errs, c.Sessions.validate()...)
	errs = append(errs, c.validateCuration()...)
	errs = append(errs, c.validateCredentials()...)
	errs = append(errs, c.validateTLS()...)
	errs = append(errs, c.Stdio.validate()...)
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ @?#") {
			fail(fmt.Sprintf("allowed_hosts[%d]", i), "want a host or host:port as clients send in Host, got %q", h)
		}
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			fail(fmt.Sprintf("trusted_proxies[%d]", i), "want a CIDR like 10.0.0.0/8, got %q", cidr)
		}
	}
	if c.Cache.MemoryBytes < 0 {
		fail("cache.memory_bytes", "want 0 or more, got %d", c.Cache.MemoryBytes)
	}
	if c.Cache.MaxEntryBytes < 0 {
		fail("cache.max_entry_bytes", "want 0 or more, got %d", c.Cache.MaxEntryBytes)
	}
	for _, name := range sortedKeys(c.Cache.Tools) {
		p := fmt.Sprintf("cache.tools[%q]", name)
		if err := checkGlob(name); err != nil {
			fail(p, "%v", err)
		}
		if c.Cache.Tools[name].TTL == 0 {
			fail(p+".ttl", "required")
		}
	}
	return errs
}

func (l Limit) validate(p string) Errors {
	var errs Errors
	if l.Rate.PerSecond == 0 {
		errs = append(errs, FieldError{Path: p + ".rate", Msg: "required"})
	}
	if l.Burst < 0 {
		errs = append(errs, FieldError{Path: p + ".burst", Msg: fmt.Sprintf("want 0 or more, got %d", l.Burst)})
	}
	return errs
}

func checkHostPort(addr string) error {
	if addr == "" {
		return fmt.Errorf("required")
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	return nil
}

func checkHTTPURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	return nil
}

func checkGlob(g string) error {
	_, err := glob.Compile(g)
	return err
}

// isLoopback reports whether addr (host:port) only accepts connections from this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SessionKeySize is the size of a session key, in bytes (AES-256).
const SessionKeySize = 32

// DecodeSessionKey decodes a session key as the config writes it: base64 (standard or URL
// alphabet, padded or not) of SessionKeySize bytes.
func DecodeSessionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != SessionKeySize {
				return nil, fmt.Errorf("want base64 of %d bytes, got %d bytes (make one with: openssl rand -base64 32)", SessionKeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64 (make one with: openssl rand -base64 32)")
}

func (s Sessions) validate() Errors {
	var errs Errors
	if s.Key != "" {
		if _, err := DecodeSessionKey(s.Key); err != nil {
			errs = append(errs, FieldError{Path: "sessions.key", Msg: err.Error()})
		}
	}
	for i, k := range s.PreviousKeys {
		if _, err := DecodeSessionKey(k); err != nil {
			errs = append(errs, FieldError{Path: fmt.Sprintf("sessions.previous_keys[%d]", i), Msg: err.Error()})
		}
	}
	if len(s.PreviousKeys) > 0 && s.Key == "" {
		errs = append(errs, FieldError{Path: "sessions.previous_keys", Msg: "needs sessions.key: previous keys only open ids, the key seals them"})
	}
	if s.MaxStreamsPerPrincipal < 1 {
		errs = append(errs, FieldError{Path: "sessions.max_streams_per_principal", Msg: fmt.Sprintf("want at least 1, got %d", s.MaxStreamsPerPrincipal)})
	}
	if s.StateEntries < 1 {
		errs = append(errs, FieldError{Path: "sessions.state_entries", Msg: fmt.Sprintf("want at least 1, got %d", s.StateEntries)})
	}
	if s.ReplicaAddress != "" {
		if err := checkHostPort(s.ReplicaAddress); err != nil {
			errs = append(errs, FieldError{Path: "sessions.replica_address", Msg: err.Error()})
		}
	}
	return errs
}

// Warnings are what is valid but almost certainly not meant: `validate` prints them and the
// gateway logs them at start.
func (c *Config) Warnings() []FieldError {
	var out []FieldError
	for i, later := range c.Auth.Policies {
		for j, earlier := range c.Auth.Policies[:i] {
			if shadows(earlier.When, later.When) {
				out = append(out, FieldError{Path: fmt.Sprintf("auth.policies[%d]", i),
					Msg: fmt.Sprintf("can never match: auth.policies[%d] matches every principal it would (the first match wins)", j)})
				break
			}
		}
	}
	return append(out, c.tlsWarnings()...)
}

// shadows reports whether every principal that matches later also matches earlier: earlier
// asks for no more than later does.
func shadows(earlier, later PolicyMatch) bool {
	if earlier.Scope != "" && earlier.Scope != later.Scope {
		return false
	}
	for claim, value := range earlier.Claim {
		if later.Claim[claim] != value {
			return false
		}
	}
	return true
}
