package gateway

import (
	"context"
	"encoding/json"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/pinning"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/router"
)

// newPins builds the rug-pull guard: pins in Redis when the gateway has one (shared by every
// replica), else in pinning.file, else in memory only.
func (g *Gateway) newPins(cfg *config.Config) (*pinning.Pins, error) {
	var store pinning.Store
	switch {
	case g.redis != nil:
		store = pinning.NewRedisStore(g.redis, 0)
	case cfg.Pinning.File != "":
		file, err := pinning.OpenFile(cfg.Pinning.File, g.log)
		if err != nil {
			return nil, err
		}
		g.onClose(func() { _ = file.Close() })
		store = file
	}
	return pinning.New(context.Background(), pinning.Options{Mode: pinning.Mode(cfg.Pinning.Mode), NewTools: pinning.NewTools(cfg.Pinning.NewTools),
		Store: store, Timeout: redisTimeout(cfg), Logger: g.log})
}

// reviewOf is how the catalog asks the pins which definition to serve.
func reviewOf(pins *pinning.Pins) func(registry.ServiceName, string, json.RawMessage) router.Pinned {
	return func(service registry.ServiceName, tool string, raw json.RawMessage) router.Pinned {
		d := pins.Review(string(service), tool, raw)
		return router.Pinned{Serve: d.Serve, Held: d.Held, Hidden: d.Hidden}
	}
}

// runPins keeps the pins in step with the other replicas and rebuilds the catalog when an
// approval, a rejection or another replica's change means it should.
func (g *Gateway) runPins(ctx context.Context) {
	go func() { _ = g.pins.Run(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.pins.Changed():
			g.router.Rebuild()
		}
	}
}

// pinAdmin serves /admin/pins: held changes, approve, reject, by exposed name.
func (g *Gateway) pinAdmin() *pinning.Admin {
	exposedOf := func(service, tool string) string {
		return g.router.ExposedNameOf(registry.ServiceName(service), tool)
	}
	return pinning.NewAdmin(g.pins, g.resolvePinned, exposedOf)
}

// resolvePinned maps an exposed tool name to its upstream service and tool, held new tools
// (which no catalog lists) included.
func (g *Gateway) resolvePinned(exposed string) (string, string, bool) {
	if e, ok := g.router.Catalog().Lookup(exposed); ok {
		return string(e.Upstream), e.Tool, true
	}
	for _, h := range g.pins.Held() { // a held new tool is in no catalog
		if g.router.ExposedNameOf(registry.ServiceName(h.Service), h.Tool) == exposed {
			return h.Service, h.Tool, true
		}
	}
	return "", "", false
}
