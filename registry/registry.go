// Package registry holds the sources of upstream descriptors. A source publishes complete,
// immutable snapshots; consumers diff the old snapshot against the new one and never patch
// shared state in place.
package registry

import (
	"maps"
	"slices"
	"time"
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
	// Instances are the replicas, in a stable order.
	Instances []Instance
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
	// Command, Env and Dir start a Stdio instance.
	Command []string
	Env     map[string]string
	Dir     string
}

// Equal reports whether a and b describe the same instance, so that an unchanged instance in a
// new snapshot keeps its session.
func (a Instance) Equal(b Instance) bool {
	return a.ID == b.ID && a.Transport == b.Transport && a.URL == b.URL && a.Dir == b.Dir &&
		maps.Equal(a.Headers, b.Headers) && slices.Equal(a.Command, b.Command) && maps.Equal(a.Env, b.Env)
}

// Snapshot is the complete set of upstreams known to a source, sorted by name.
type Snapshot []Upstream
