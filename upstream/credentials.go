package upstream

import (
	"context"
	"fmt"

	"github.com/switchboard-mcp/switchboard/authn"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/tokenexchange"
)

// Per-user credentials ride per request over the instance's one shared session: a call of an
// instance that names credentials gets its caller's token exchanged for one toward the
// upstream (tokenexchange), which the transport sends as that call's Authorization header. The
// session's own traffic (initialize, lists, pings, the GET stream) carries no caller and so no
// such token: only the instance's static headers.

// upstreamTokenKey puts the exchanged token of a call into the context of the requests sent
// upstream for it, where bearerHeader finds it: the call itself, its notifications/cancelled,
// and the answers to what the upstream asks the client during the call.
type upstreamTokenKey struct{}

func withUpstreamToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, upstreamTokenKey{}, token)
}

func upstreamTokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(upstreamTokenKey{}).(string)
	return t
}

// bearerHeader is the Streamable HTTP transport's header function of an instance with
// credentials: the call's exchanged token, or nothing for the session's own requests.
func bearerHeader(ctx context.Context) map[string]string {
	if t := upstreamTokenFrom(ctx); t != "" {
		return map[string]string{"Authorization": "Bearer " + t}
	}
	return nil
}

// exchangers builds one Exchanger per named credential, shared by every instance that names
// it, so a user's token is exchanged once per credential, not once per instance.
func exchangers(creds map[string]tokenexchange.Config, m *Manager) map[string]*tokenexchange.Exchanger {
	out := make(map[string]*tokenexchange.Exchanger, len(creds))
	for name, c := range creds {
		c.Name = name
		out[name] = tokenexchange.New(c, m.http)
	}
	return out
}

// credentialsFor resolves the credentials spec names: nil for none, else its Exchanger, or why
// the instance cannot carry them (then it must not connect: a call would go out with the
// gateway's own credentials or none).
func (m *Manager) credentialsFor(spec registry.Instance) (*tokenexchange.Exchanger, error) {
	if spec.Credentials == "" {
		return nil, nil
	}
	e, ok := m.exchangers[spec.Credentials]
	switch {
	case !ok:
		return nil, fmt.Errorf("credentials %q (Consul meta %s) are not defined in this gateway's credentials: the instance is not connected, so that no call goes out without its caller's token",
			spec.Credentials, registry.MetaCredentials)
	case spec.Transport != registry.StreamableHTTP:
		return nil, fmt.Errorf("credentials %q need the streamable-http transport, not %s: it cannot carry a per-request token", spec.Credentials, spec.Transport)
	}
	return e, nil
}

// withCallerToken returns ctx carrying the token of ctx's caller toward in, when in has
// credentials; ctx itself when it has none. Errors wrap ErrAuth: the call has no caller
// token (auth is off: a bug, validation refuses it), or the exchange failed.
func (in *Instance) withCallerToken(ctx context.Context) (context.Context, error) {
	switch {
	case in.credentials == "":
		return ctx, nil
	case in.credErr != nil:
		return nil, fmt.Errorf("%w: %w: %v", ErrAuth, errNotSent, in.credErr)
	}
	p, raw := authn.PrincipalFrom(ctx), authn.TokenFrom(ctx)
	if p == nil || raw == "" {
		return nil, fmt.Errorf("%w: credentials %q need the caller's verified token, and this call has none", ErrAuth, in.credentials)
	}
	tok, err := in.exchange.Token(ctx, tokenexchange.Subject{Issuer: p.Issuer, Subject: p.Subject, Token: raw})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return withUpstreamToken(ctx, tok), nil
}
