// Package config is the schema of switchboard.yaml: defaults, ${ENV} expansion, and validation that
// reports every problem with its key path before anything listens.
//
// Load is the only entry point: it parses, applies defaults and validates. A *Config it returns is
// valid and is never modified afterwards, so it may be shared by any number of goroutines.
package config

import (
	"time"
)

// Config is the whole of switchboard.yaml. Every key is documented in docs/config.md.
type Config struct {
	// Listen is the address of the MCP endpoint (/mcp). Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the gateway (without /mcp); the protected resource metadata
	// names it as the resource. Default: http:// + Listen (https:// with TLS).
	PublicURL string `yaml:"public_url"`
	// AdminListen is the address of /healthz, /readyz, /metrics and /admin/*. Empty: they are
	// served on Listen.
	AdminListen string `yaml:"admin_listen"`
	// Naming controls how upstream tool names become exposed names.
	Naming Naming `yaml:"naming"`
	// PageSize is the number of tools in one tools/list page. Default 1000.
	PageSize int `yaml:"page_size"`
	// MaxRequestBytes bounds the body of a request to /mcp; larger ones get 413. Default 4 MiB.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed to call /mcp, besides
	// localhost ones and the origin of public_url. Requests without an Origin header (not from a browser) are always allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Upstreams is the static source of upstream MCP servers.
	Upstreams []Upstream `yaml:"upstreams"`
	// Defaults holds gateway-wide defaults for upstream calls.
	Defaults Defaults `yaml:"defaults"`
	// Consul configures discovery of upstreams in Consul. Nil: Consul is not used.
	Consul *Consul `yaml:"consul"`
	// Auth configures client authentication and tool policies.
	Auth Auth `yaml:"auth"`
	// Limits configures per principal, per tool rate limits.
	Limits Limits `yaml:"limits"`
	// Breaker configures the circuit breaker of each upstream instance.
	Breaker Breaker `yaml:"breaker"`
	// Bulkhead bounds the concurrent calls to each upstream instance.
	Bulkhead Bulkhead `yaml:"bulkhead"`
	// ShutdownGrace is how long calls in flight may take to finish after SIGTERM. Default 20s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// Log configures the gateway's own log (stderr).
	Log Log `yaml:"log"`
	// Audit configures the audit log: one JSON line per call. Off unless a sink is set.
	Audit Audit `yaml:"audit"`
	// Cache configures the response cache.
	Cache Cache `yaml:"cache"`
	// Redis is the one Redis of the gateway: response cache, session state, cluster-wide rate
	// limits. Nil: everything stays in process. cache.redis is accepted as the same setting.
	Redis *Redis `yaml:"redis"`
	// Sessions configures the sealed, principal-bound session ids of the 2025-11-25 era.
	Sessions Sessions `yaml:"sessions"`
	// AllowedHosts are Host header values (host or host:port) served on a loopback listener
	// besides loopback names and public_url's host: a sidecar proxy in the pod (oauth2-proxy,
	// Envoy) forwards the public Host over loopback. Other hosts on loopback get 403 (DNS
	// rebinding protection).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed: anonymous callers are rate
	// limited per client address, and behind such a proxy that address is the one it forwarded.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Credentials are named credentials toward upstreams (token exchange), referred to by
	// upstreams[].credentials and by Consul services' mcp_credentials meta.
	Credentials map[string]Credential `yaml:"credentials"`

	// Servers are virtual MCP servers, each at /mcp/{name}.
	Servers []Server `yaml:"servers"`
	// RootServer false stops serving the whole catalog at /mcp. Default true.
	RootServer *bool `yaml:"root_server"`
	// RootSearch is tool search for /mcp: top-level tool_search, max_tools and always.
	RootSearch ToolSearch `yaml:",inline"`
	// Tools are operator overrides per exposed tool name.
	Tools map[string]ToolOverride `yaml:"tools"`
	// Pinning guards against tool definitions that change under the gateway.
	Pinning Pinning `yaml:"pinning"`
	// TLS serves listen and admin_listen over HTTPS. Nil: plain HTTP (TLS ends at a proxy, or
	// nowhere).
	TLS *TLS `yaml:"tls"`
	// Stdio configures `switchboard stdio`, the gateway of one client on stdin and stdout.
	Stdio Stdio `yaml:"stdio"`

	// redisKey is where the Redis setting was written ("redis" or "cache.redis"), for errors.
	redisKey string
}

// Sessions configures the Mcp-Session-Id the gateway mints: an authenticated encryption of
// what any replica needs to serve the session, so no replica keeps per-session memory for it.
type Sessions struct {
	// Key seals session ids: base64 of 32 bytes, the same on every replica. Secret. Empty: a
	// random key per process (sessions then survive neither a restart nor a move to another
	// replica).
	Key string `yaml:"key"`
	// PreviousKeys still open ids sealed before a key rotation. Secrets.
	PreviousKeys []string `yaml:"previous_keys"`
	// MaxAge is how long a session lives after initialize. Default 24h.
	MaxAge Duration `yaml:"max_age"`
	// MaxStreamsPerPrincipal caps the open GET streams of one principal (anonymous callers: one
	// client address) on one replica; the oldest is closed when a new one would exceed it.
	// Default 16.
	MaxStreamsPerPrincipal int `yaml:"max_streams_per_principal"`
	// StateEntries bounds the in-process session state (log levels, subscriptions, ended
	// sessions) when Redis is not configured. Default 100000.
	StateEntries int `yaml:"state_entries"`
	// ReplicaAddress is host:port where the other replicas reach this one's admin listener, to
	// hand it a client's answer to a request this replica sent (sampling, elicitation, roots).
	// Default: admin_listen (or listen), with an unspecified host replaced by this host's first
	// non-loopback address. On Kubernetes: the pod IP (the chart sets it).
	ReplicaAddress string `yaml:"replica_address"`
}

// Naming controls exposed tool names.
type Naming struct {
	// Separator joins namespace and original name. Default "__".
	Separator string `yaml:"separator"`
	// MaxLength is the longest exposed name; longer names are shortened with a hash suffix.
	// Default 64, at least 16.
	MaxLength int `yaml:"max_length"`
}

// Upstream is one statically configured upstream MCP server: either a URL (Streamable HTTP or
// legacy SSE) or a command (stdio child process), never both.
type Upstream struct {
	// Name identifies the upstream in logs and the admin view; unique, [A-Za-z0-9_-]+.
	Name string `yaml:"name"`
	// URL of the MCP endpoint, http or https.
	URL string `yaml:"url"`
	// Transport of URL: "streamable-http" (default) or "sse".
	Transport string `yaml:"transport"`
	// Namespace prefixes this upstream's tool names. Absent: Name. Empty string: no prefix.
	Namespace *string `yaml:"namespace"`
	// Headers are sent with every HTTP request to the upstream (the gateway's own credentials).
	Headers map[string]string `yaml:"headers"`
	// Timeout is the deadline of one call to this upstream. Default: defaults.timeout.
	Timeout Duration `yaml:"timeout"`
	// Command starts a stdio upstream: program and arguments. The gateway starts it, restarts it
	// with back-off when it exits, and stops it on shutdown.
	Command []string `yaml:"command"`
	// Env adds environment variables to Command's process (which otherwise inherits none but PATH
	// and HOME, so gateway secrets do not leak into children).
	Env map[string]string `yaml:"env"`
	// Dir is Command's working directory. Default: the gateway's.
	Dir string `yaml:"dir"`
	// OAuth2 gets the gateway's own token for this upstream with the client-credentials grant
	// (cached and refreshed before it expires). Only for url upstreams.
	OAuth2 *OAuth2 `yaml:"oauth2"`
	// Credentials names an entry of the top-level credentials: each call carries a token of
	// the calling user for this upstream. Only for streamable-http url upstreams.
	Credentials string `yaml:"credentials"`
}

// OAuth2 configures the client-credentials grant (RFC 6749 section 4.4).
type OAuth2 struct {
	// TokenURL is the authorization server's token endpoint.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret identify the gateway. ClientSecret is a secret.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Scopes to request.
	Scopes []string `yaml:"scopes"`
	// Audience, when set, is sent as the "audience" and "resource" parameters (RFC 8707).
	Audience string `yaml:"audience"`
}

// Defaults are gateway-wide settings for upstream calls.
type Defaults struct {
	// Timeout is the per-call deadline of upstreams that set none. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds connecting to and initializing an upstream session. Default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MaxResponseBytes bounds one answer of an HTTP upstream; a larger one fails the call with
	// upstream_unavailable. Default 16 MiB.
	MaxResponseBytes int `yaml:"max_response_bytes"`
}

// Consul configures discovery in Consul.
type Consul struct {
	// Address of the Consul agent, host:port. Default 127.0.0.1:8500.
	Address string `yaml:"address"`
	// Tag marks MCP services. Default "mcp".
	Tag string `yaml:"tag"`
	// Token is the ACL token. Secret.
	Token string `yaml:"token"`
	// Datacenter to query. Default: the agent's.
	Datacenter string `yaml:"datacenter"`
	// Namespace and Partition are passed through to Consul Enterprise. Default: none.
	Namespace string `yaml:"namespace"`
	Partition string `yaml:"partition"`
	// Scheme is "http" (default) or "https".
	Scheme string `yaml:"scheme"`
	// TLS configures HTTPS to the agent.
	TLS ConsulTLS `yaml:"tls"`
}

// ConsulTLS configures TLS to the Consul agent.
type ConsulTLS struct {
	// CAFile verifies the agent's certificate. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the gateway's client certificate, when the agent asks for one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the agent's certificate.
	ServerName string `yaml:"server_name"`
}

// Auth configures authentication of clients.
type Auth struct {
	// Mode is "none" (default) or "oidc". "none" is refused unless Listen is a loopback address or
	// AllowUnauthenticated is true.
	Mode string `yaml:"mode"`
	// AllowUnauthenticated permits mode "none" on a non-loopback address.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// Issuer is the OIDC issuer URL.
	Issuer string `yaml:"issuer"`
	// Audience is the audience tokens must carry: usually PublicURL (RFC 8707), or what the IdP
	// puts in aud for this API (Entra ID: the application ID).
	Audience string `yaml:"audience"`
	// RequiredScopes must all be granted to use the gateway.
	RequiredScopes []string `yaml:"required_scopes"`
	// AdminScope is required of tokens for /admin/* when auth is on and the admin endpoints are
	// not on a loopback-only admin_listen. Default "switchboard:admin".
	AdminScope string `yaml:"admin_scope"`
	// ClockSkew is tolerated on token expiry and not-before. Default 30s, at most 5m.
	ClockSkew Duration `yaml:"clock_skew"`
	// Policies decide what a principal may see and use (tools, prompts, resources, templates,
	// completions); the first match wins.
	Policies []Policy `yaml:"policies"`
	// DefaultPolicy is what a principal no policy matches gets: "allow" (everything, the
	// default) or "deny" (nothing).
	DefaultPolicy string `yaml:"default_policy"`
}

// Policy allows a set of tools to principals that match When.
type Policy struct {
	// When is the match condition.
	When PolicyMatch `yaml:"when"`
	// Allow lists exposed-name globs: the tools and prompts they match; a glob that covers a
	// whole namespace ("everything__*") also grants that upstream's resources and templates.
	Allow []string `yaml:"allow"`
	// AllowResources lists globs over exposed resource URIs and templates ('*' crosses '/').
	AllowResources []string `yaml:"allow_resources"`
}

// PolicyMatch matches a principal by scope or by claim values.
type PolicyMatch struct {
	// Scope the token must carry.
	Scope string `yaml:"scope"`
	// Claim values the token must carry (a list claim matches when it contains the value).
	Claim map[string]string `yaml:"claim"`
}

// Limits configures rate limits per principal per tool.
type Limits struct {
	// Default applies to every tool without an override. Absent: no limit.
	Default *Limit `yaml:"default"`
	// Tools maps exposed tool names, or globs of them, to their limit. An exact name wins over a
	// glob; globs are tried in sorted order.
	Tools map[string]Limit `yaml:"tools"`
}

// Limit is a token bucket.
type Limit struct {
	// Rate like "5/s" or "600/m".
	Rate Rate `yaml:"rate"`
	// Burst is the bucket size. Default: the rate per second, at least 1.
	Burst int `yaml:"burst"`
}

// Breaker configures circuit breakers.
type Breaker struct {
	// Failures in a row that open the breaker. Default 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long an open breaker rejects calls before a probe. Default 30s.
	OpenFor Duration `yaml:"open_for"`
}

// Log configures the gateway's log.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
}

// Audit configures the audit log's sinks; both may be set.
type Audit struct {
	// Stdout writes audit lines to standard output.
	Stdout bool `yaml:"stdout"`
	// File writes audit lines to this file, rotated at MaxSizeMB, keeping MaxBackups old files.
	File string `yaml:"file"`
	// MaxSizeMB is the size at which the file rotates. Default 100.
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxBackups is how many rotated files are kept. Default 5.
	MaxBackups int `yaml:"max_backups"`
}

// Bulkhead bounds concurrent calls per upstream instance, so one slow upstream cannot hold every
// goroutine of the gateway.
type Bulkhead struct {
	// MaxConcurrent calls in flight per instance. Default 64.
	MaxConcurrent int `yaml:"max_concurrent"`
	// QueueTimeout is how long a call beyond MaxConcurrent waits for a slot. Default 1s.
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// Cache configures the response cache.
type Cache struct {
	// Redis is the same setting as the top-level redis, accepted here as round 1 wrote it.
	Redis *Redis `yaml:"redis"`
	// MemoryBytes bounds the in-process cache (used when Redis is not configured). Default 64 MiB.
	MemoryBytes int `yaml:"memory_bytes"`
	// MaxEntryBytes: results larger than this are not cached. Default 1 MiB.
	MaxEntryBytes int `yaml:"max_entry_bytes"`
	// Tools maps exposed tool names, or globs of them, to their caching rule. An exact name wins
	// over a glob; globs are tried in sorted order.
	Tools map[string]CacheRule `yaml:"tools"`
}

// Redis locates Redis: one address (standalone), several (Cluster), or Sentinels with the
// master's name.
type Redis struct {
	// Address host:port of a standalone server.
	Address string `yaml:"address"`
	// Addresses of Cluster nodes, or of Sentinels when MasterName is set.
	Addresses []string `yaml:"addresses"`
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate (ACL). Password is a secret.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DB selects a database (standalone and Sentinel only).
	DB int `yaml:"db"`
	// TLS turns on TLS to Redis.
	TLS *RedisTLS `yaml:"tls"`
	// Timeout bounds each Redis command; past it a cache read or write is skipped, session
	// state falls back to what the sealed id carries, and limits to per-replica. Default 100ms.
	Timeout Duration `yaml:"timeout"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// CAFile verifies the server's certificate. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
}

// CacheRule says how long a tool's results are cached and for whom.
type CacheRule struct {
	// TTL of a cached result.
	TTL Duration `yaml:"ttl"`
	// Shared results are the same for every principal.
	Shared bool `yaml:"shared"`
}

// applyDefaults fills what the file left out. It runs before validation.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.PublicURL == "" {
		c.PublicURL = c.scheme() + "://" + c.Listen
	}
	if c.Naming.Separator == "" {
		c.Naming.Separator = "__"
	}
	if c.PageSize == 0 {
		c.PageSize = 1000
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.Defaults.MaxResponseBytes == 0 {
		c.Defaults.MaxResponseBytes = 16 << 20
	}
	if c.Naming.MaxLength == 0 {
		c.Naming.MaxLength = 64
	}
	if c.Defaults.Timeout == 0 {
		c.Defaults.Timeout = Duration(30 * time.Second)
	}
	if c.Defaults.ConnectTimeout == 0 {
		c.Defaults.ConnectTimeout = Duration(10 * time.Second)
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.URL != "" && u.Transport == "" {
			u.Transport = TransportStreamableHTTP
		}
		if u.Timeout == 0 {
			u.Timeout = c.Defaults.Timeout
		}
	}
	if c.Consul != nil {
		if c.Consul.Address == "" {
			c.Consul.Address = "127.0.0.1:8500"
		}
		if c.Consul.Tag == "" {
			c.Consul.Tag = "mcp"
		}
		if c.Consul.Scheme == "" {
			c.Consul.Scheme = "http"
		}
	}
	if c.Auth.Mode == "" {
		c.Auth.Mode = AuthNone
	}
	if c.Auth.DefaultPolicy == "" {
		c.Auth.DefaultPolicy = PolicyAllow
	}
	if c.Auth.AdminScope == "" {
		c.Auth.AdminScope = "switchboard:admin"
	}
	if c.Auth.ClockSkew == 0 {
		c.Auth.ClockSkew = Duration(30 * time.Second)
	}
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = 5
	}
	if c.Breaker.OpenFor == 0 {
		c.Breaker.OpenFor = Duration(30 * time.Second)
	}
	if c.Bulkhead.MaxConcurrent == 0 {
		c.Bulkhead.MaxConcurrent = 64
	}
	if c.Bulkhead.QueueTimeout == 0 {
		c.Bulkhead.QueueTimeout = Duration(time.Second)
	}
	if c.Cache.MemoryBytes == 0 {
		c.Cache.MemoryBytes = 64 << 20
	}
	if c.Cache.MaxEntryBytes == 0 {
		c.Cache.MaxEntryBytes = 1 << 20
	}
	c.curationDefaults()
	c.redisKey = "redis"
	if c.Redis == nil && c.Cache.Redis != nil {
		c.Redis, c.redisKey = c.Cache.Redis, "cache.redis"
	}
	if c.Redis != nil && c.Redis.Timeout == 0 {
		c.Redis.Timeout = Duration(100 * time.Millisecond)
	}
	if c.Sessions.MaxAge == 0 {
		c.Sessions.MaxAge = Duration(24 * time.Hour)
	}
	if c.Sessions.MaxStreamsPerPrincipal == 0 {
		c.Sessions.MaxStreamsPerPrincipal = 16
	}
	if c.Sessions.StateEntries == 0 {
		c.Sessions.StateEntries = 100_000
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Audit.MaxSizeMB == 0 {
		c.Audit.MaxSizeMB = 100
	}
	if c.Audit.MaxBackups == 0 {
		c.Audit.MaxBackups = 5
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = Duration(20 * time.Second)
	}
}

// Transports of URL upstreams.
const (
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
)

// Default policies.
const (
	PolicyAllow = "allow"
	PolicyDeny  = "deny"
)

// Auth modes.
const (
	AuthNone = "none"
	AuthOIDC = "oidc"
)

// NamespaceOf returns the namespace of u's tools: its Namespace when set, else its Name.
func (u Upstream) NamespaceOf() string {
	if u.Namespace != nil {
		return *u.Namespace
	}
	return u.Name
}
