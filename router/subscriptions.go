package router

import (
	"context"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/registry"
)

// subscriptions are the clients' resource subscriptions. The gateway subscribes upstream once
// per URI and fans notifications/resources/updated out to the subscribed sessions.
type subscriptions struct {
	mu       sync.Mutex
	sessions map[string]map[string]bool // exposed URI -> session ids
}

func (s *subscriptions) hooks(r *Router, h *server.Hooks) {
	h.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		e := r.extras.Load().resourceByURI[req.Params.URI]
		if sess == nil || e == nil {
			return
		}
		s.mu.Lock()
		if s.sessions == nil {
			s.sessions = map[string]map[string]bool{}
		}
		first := len(s.sessions[req.Params.URI]) == 0
		if s.sessions[req.Params.URI] == nil {
			s.sessions[req.Params.URI] = map[string]bool{}
		}
		s.sessions[req.Params.URI][sess.SessionID()] = true
		s.mu.Unlock()
		if first {
			_, _ = r.upstreams.Request(context.WithoutCancel(ctx), e.upstream, string(mcp.MethodResourcesSubscribe), map[string]any{"uri": e.original})
		}
	})
	h.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		sess := server.ClientSessionFromContext(ctx)
		if sess == nil {
			return
		}
		s.mu.Lock()
		delete(s.sessions[req.Params.URI], sess.SessionID())
		last := len(s.sessions[req.Params.URI]) == 0
		s.mu.Unlock()
		if e := r.extras.Load().resourceByURI[req.Params.URI]; e != nil && last {
			_, _ = r.upstreams.Request(context.WithoutCancel(ctx), e.upstream, string(mcp.MethodResourcesUnsubscribe), map[string]any{"uri": e.original})
		}
	})
	h.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ids := range s.sessions {
			delete(ids, sess.SessionID())
		}
	})
}

// ResourceUpdated passes an upstream's notifications/resources/updated to the subscribed clients.
func (r *Router) ResourceUpdated(up registry.ServiceName, uri string) {
	x := r.extras.Load()
	var exposed string
	for _, e := range x.resources {
		if e.upstream == up && e.original == uri {
			exposed = e.exposed
			break
		}
	}
	if exposed == "" {
		return
	}
	r.subs.mu.Lock()
	ids := make([]string, 0, len(r.subs.sessions[exposed]))
	for id := range r.subs.sessions[exposed] {
		ids = append(ids, id)
	}
	r.subs.mu.Unlock()
	for _, id := range ids {
		_ = r.mcp.SendNotificationToSpecificClient(id, string(mcp.MethodNotificationResourceUpdated), map[string]any{"uri": exposed})
	}
}
