package router

import (
	"context"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/registry"
)

// subscriptions are the clients' resource subscriptions. Who subscribed to what is session
// state (sessions.State: any replica may serve the subscribe, another the stream); this
// replica subscribes upstream once per URI it was asked for, and keeps that subscription (a
// notification nobody subscribed to is dropped when it is fanned out, see ResourceUpdated).
type subscriptions struct {
	mu       sync.Mutex
	upstream map[string]bool // exposed URIs this replica subscribed to upstream
}

func (s *subscriptions) hooks(r *Router, h *server.Hooks) {
	h.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		t, ok := ticketFrom(ctx)
		e := r.extras.Load().resourceByURI[req.Params.URI]
		if !ok || e == nil || !r.resourceAllowed(ctx, e) {
			return // answered as for a URI that does not exist: mcp-go acknowledges any
		}
		if err := r.sessions.opts.State.Subscribe(ctx, t.ID, req.Params.URI, t.ExpiresAt()); err != nil {
			r.log.Warn("recording a resource subscription failed", "uri", req.Params.URI, "err", err)
		}
		s.mu.Lock()
		first := !s.upstream[req.Params.URI]
		if first {
			if s.upstream == nil {
				s.upstream = map[string]bool{}
			}
			s.upstream[req.Params.URI] = true // bounded by the catalog's resources
		}
		s.mu.Unlock()
		if first {
			_, _ = r.upstreams.Request(context.WithoutCancel(ctx), e.upstream, string(mcp.MethodResourcesSubscribe), map[string]any{"uri": e.original})
		}
	})
	h.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		if t, ok := ticketFrom(ctx); ok {
			if err := r.sessions.opts.State.Unsubscribe(ctx, t.ID, req.Params.URI); err != nil {
				r.log.Warn("removing a resource subscription failed", "uri", req.Params.URI, "err", err)
			}
		}
	})
}

// ResourceUpdated passes an upstream's notifications/resources/updated on: published to every
// replica, each sends it to its streams whose session subscribed.
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
	ctx, cancel := stateContext()
	defer cancel()
	if err := r.sessions.opts.State.PublishUpdate(ctx, exposed); err != nil {
		// Shared state is down: this replica's own streams still get it.
		r.log.Warn("publishing a resource update failed; only this replica's streams get it", "uri", exposed, "err", err)
		r.sessions.resourceUpdated(exposed)
	}
}
