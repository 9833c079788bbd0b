// Package registry holds the sources of upstream descriptors. A source publishes complete,
// immutable snapshots; consumers diff the old snapshot against the new one and never patch
// shared state in place.
package registry

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-mcp/switchboard/ratelimit"
)

// ServiceName identifies an upstream: the name of a static upstream or of a Consul service.
type ServiceName string

// Transport is how the gateway speaks to an instance.
type Transport string

// Transports.
const (
	StreamableHTTP Transport = "streamable-http"
	SSE            Transport = "sse"
	Stdio          Transport = "stdio"
)

// Upstream describes one upstream MCP server: a namespace of tools served by one or more
// interchangeable instances (replicas).
type Upstream struct {
	Name ServiceName
	// Namespace prefixes the upstream's tool names; empty exposes them unprefixed.
	Namespace string
	// Timeout is the deadline of one call.
	Timeout time.Duration
	// RateLimit is the per principal, per tool limit from mcp_rate_limit; zero: none set.
	RateLimit ratelimit.Rate
	// CacheTTL is how long results of its readOnlyHint tools may be cached (mcp_cache_ttl).
	CacheTTL time.Duration
	// Instances are the replicas, in a stable order.
	Instances []Instance
}

// Equal reports whether a and b describe the same upstream.
func (a Upstream) Equal(b Upstream) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Timeout == b.Timeout &&
		a.RateLimit == b.RateLimit && a.CacheTTL == b.CacheTTL &&
		slices.EqualFunc(a.Instances, b.Instances, Instance.Equal)
}

// InstanceID identifies an instance within its upstream.
type InstanceID string

// Instance is one process serving an upstream: a URL, or a command the gateway runs.
type Instance struct {
	ID        InstanceID
	Transport Transport
	// URL of the MCP endpoint (StreamableHTTP, SSE).
	URL string
	// Headers sent with every HTTP request: the gateway's own credentials, never a client's.
	Headers map[string]string
	// OAuth2, when set, gets the gateway's own token for the instance (client credentials).
	OAuth2 *OAuth2Client
	// Credentials, when set, names the gateway's credentials entry (config credentials) that
	// gets each call a token of its caller for this instance (token exchange). The upstream
	// package resolves the name; an unknown one keeps the instance from connecting.
	Credentials string
	// Command, Env and Dir start a Stdio instance.
	Command []string
	Env     map[string]string
	Dir     string
}

// Equal reports whether a and b describe the same instance, so that an unchanged instance in a
// new snapshot keeps its session.
func (a Instance) Equal(b Instance) bool {
	return a.ID == b.ID && a.Transport == b.Transport && a.URL == b.URL && a.Dir == b.Dir &&
		maps.Equal(a.Headers, b.Headers) && slices.Equal(a.Command, b.Command) && maps.Equal(a.Env, b.Env) &&
		reflect.DeepEqual(a.OAuth2, b.OAuth2) && a.Credentials == b.Credentials
}

// OAuth2Client is how the gateway gets its own token for an instance: the OAuth 2.0 client
// credentials grant.
type OAuth2Client struct {
	// TokenURL is the authorization server's token endpoint.
	TokenURL string
	// ClientID and ClientSecret identify the gateway. ClientSecret is a secret.
	ClientID, ClientSecret string
	// Scopes to request.
	Scopes []string
	// Audience, when set, is sent as the "audience" and "resource" parameters (RFC 8707).
	Audience string
}

// Snapshot is the complete set of upstreams known to a source, sorted by name.
type Snapshot []Upstream

func snapshotsEqual(a, b Snapshot) bool { return slices.EqualFunc(a, b, Upstream.Equal) }

// Merge combines the snapshot of the higher-ranked sources (kept) with the snapshot of the
// source named source into the snapshot the gateway runs, sorted by name. Upstreams without a
// timeout get defaultTimeout. An upstream of source whose name kept already has is kept under
// the name "NAME@source" (its namespace is unchanged, so its tools still show under it, and the
// catalog resolves any tool name clash); the clash is logged.
func Merge(kept, next Snapshot, source string, defaultTimeout time.Duration, log *slog.Logger) Snapshot {
	taken := make(map[ServiceName]bool, len(kept))
	out := make(Snapshot, 0, len(kept)+len(next))
	for _, u := range kept {
		taken[u.Name] = true
		out = append(out, u)
	}
	for _, u := range next {
		if taken[u.Name] {
			renamed := u.Name + ServiceName("@"+source)
			log.Warn("an upstream has the name of one from a higher-ranked source; that one keeps it",
				"source", source, "upstream", u.Name, "renamed_to", renamed)
			u.Name = renamed
		}
		taken[u.Name] = true
		out = append(out, u)
	}
	for i := range out {
		if out[i].Timeout == 0 {
			out[i].Timeout = defaultTimeout
		}
	}
	slices.SortFunc(out, func(a, b Upstream) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
}
