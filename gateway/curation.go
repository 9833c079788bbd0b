package gateway

import (
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/glob"
	"github.com/switchboard-mcp/switchboard/router"
)

// serversOf compiles the config's servers: the root (nil with root_server false) and the
// virtual ones. The globs were validated with the config.
func serversOf(cfg *config.Config) (root *router.Server, virtual []*router.Server) {
	if *cfg.RootServer {
		root = &router.Server{All: true, Search: searchOf(cfg.RootSearch)}
	}
	for _, s := range cfg.Servers {
		virtual = append(virtual, &router.Server{
			Name: s.Name, Description: s.Description,
			Tools: mustGlobs(s.Tools), Prompts: mustGlobs(s.Prompts), Resources: glob.CompileURIList(s.Resources),
			Search: searchOf(s.ToolSearch),
		})
	}
	return root, virtual
}

func searchOf(t config.ToolSearch) router.Search {
	return router.Search{Mode: t.Mode, MaxTools: t.MaxTools, Always: mustGlobs(t.Always)}
}

func mustGlobs(globs []string) glob.List {
	l := make(glob.List, 0, len(globs))
	for _, g := range globs {
		l = append(l, glob.MustCompile(g))
	}
	return l
}

// overridesOf is the config's tools section as the catalog applies it.
func overridesOf(cfg *config.Config) map[router.ExposedName]router.Override {
	out := make(map[router.ExposedName]router.Override, len(cfg.Tools))
	for name, o := range cfg.Tools {
		a := o.Annotations
		out[router.ExposedName(name)] = router.Override{Description: o.Description, Title: o.Title, Disabled: o.Disabled,
			Annotations: router.AnnotationOverride{Title: a.Title, ReadOnlyHint: a.ReadOnlyHint, DestructiveHint: a.DestructiveHint,
				IdempotentHint: a.IdempotentHint, OpenWorldHint: a.OpenWorldHint}}
	}
	return out
}
