package middleware

import (
	"context"
	"net/http"
)

// scope is what the layers learn of one request, in one context value. RequestID puts a fresh
// one in (the one copy of the request it makes for its context), and the layers inside fill it
// in instead of each copying the request again for a context value of its own: a call's
// request went through six such copies, the largest garbage of the hot path after net/http's
// own. Each field is set by one layer before it calls the next and only read after.
type scope struct {
	requestID  string
	access     *access
	clientAddr string
	rpcMethod  string
	// perRequest: made by RequestID for one request, so the layers may fill it in. A scope
	// made by a With function may be shared by work that outlives a request: never changed.
	perRequest bool
}

type scopeKey struct{}

// scopeOf returns ctx's scope, read-only, or an empty one.
func scopeOf(ctx context.Context) *scope {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		return s
	}
	return &noScope
}

var noScope scope // never changed

// with returns ctx with a copy of its scope changed by set: for the With functions.
func with(ctx context.Context, set func(*scope)) context.Context {
	s := *scopeOf(ctx)
	s.perRequest = false
	set(&s)
	return context.WithValue(ctx, scopeKey{}, &s)
}

// fill changes r's scope by set: in place when RequestID made it for r, else on a copy, in a
// copy of r.
func fill(r *http.Request, set func(*scope)) *http.Request {
	if s, ok := r.Context().Value(scopeKey{}).(*scope); ok && s.perRequest {
		set(s)
		return r
	}
	return r.WithContext(with(r.Context(), set))
}
