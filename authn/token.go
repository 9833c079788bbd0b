package authn

import "context"

type tokenKey struct{}

// WithToken returns ctx carrying the request's verified bearer token, as the client sent it.
// It is there only to be exchanged for a token toward an upstream (tokenexchange): never log
// it, never forward it.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the request's verified bearer token, or "" when auth is off or the request
// carried none.
func TokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}
