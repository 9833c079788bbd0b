package registry

import (
	"slices"
	"strings"

	"github.com/switchboard-mcp/switchboard/config"
)

// Static returns the snapshot of the upstreams listed in the config file. Each has one instance.
func Static(cfg *config.Config) Snapshot {
	snap := make(Snapshot, 0, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		inst := Instance{ID: "static", Headers: u.Headers, OAuth2: oauth2Client(u.OAuth2), Credentials: u.Credentials,
			Command: u.Command, Env: u.Env, Dir: u.Dir}
		switch {
		case len(u.Command) > 0:
			inst.Transport = Stdio
		case u.Transport == config.TransportSSE:
			inst.Transport, inst.URL = SSE, u.URL
		default:
			inst.Transport, inst.URL = StreamableHTTP, u.URL
		}
		snap = append(snap, Upstream{
			Name:      ServiceName(u.Name),
			Namespace: u.NamespaceOf(),
			Timeout:   u.Timeout.D(),
			Instances: []Instance{inst},
		})
	}
	slices.SortFunc(snap, func(a, b Upstream) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return snap
}

// oauth2Client is the instance's client credentials from the config's, nil for none.
func oauth2Client(o *config.OAuth2) *OAuth2Client {
	if o == nil {
		return nil
	}
	return &OAuth2Client{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes, Audience: o.Audience}
}
