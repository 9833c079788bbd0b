package router

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// Entry is one tool of the catalog: how clients see it and where its calls go.
type Entry struct {
	Name     ExposedName
	Upstream registry.ServiceName
	Tool     string // the upstream's own name, sent on tools/call
	// Limit is the per principal rate limit of the tool; zero: none.
	Limit ratelimit.Limit
	// Idempotent tools (annotated idempotentHint or readOnlyHint) may be retried on another
	// instance after a transport failure.
	Idempotent bool
	// Cache is how the tool's results are cached; nil: not at all.
	Cache *CacheRule
	// DefHash identifies the definition, so a changed tool never gets old cached results.
	DefHash string
	// Held is a tool whose upstream changed its definition and pinning holds the change: the
	// last approved definition is listed, calls are refused with definition_changed.
	Held         bool
	def          mcp.Tool
	defJSON      []byte // def as clients receive it; compared to detect real changes
	upstreamRate ratelimit.Rate
	upstreamTTL  time.Duration
}

// CacheRule says how long a tool's results are cached, and whether one principal's result may
// serve another (Shared: the result does not depend on who calls).
type CacheRule struct {
	TTL    time.Duration
	Shared bool
}

// Policy is how the catalog shapes each tool from the config: which definition is served
// (pinning), the operator's overrides, its rate limit and cache rule. A nil func gives none.
type Policy struct {
	// Review decides which definition of an upstream's tool is served (pinning); nil: the
	// upstream's current one.
	Review func(service registry.ServiceName, tool string, raw json.RawMessage) Pinned
	// Overrides are the operator's word on exposed tools: what the LLM sees.
	Overrides map[ExposedName]Override
	// Limit gives the tool exposed as name, whose upstream set upstreamRate (zero: none), its
	// rate limit.
	Limit LimitFunc
	// Cache gives the tool exposed as name its cache rule, from the upstream's own TTL for
	// read-only tools and the tool's annotations; nil: not cached.
	Cache func(name ExposedName, upstreamTTL time.Duration, annotations mcp.ToolAnnotation) *CacheRule
}

// Pinned is pinning's decision on one upstream tool.
type Pinned struct {
	// Serve is the definition to list: the current one, or the last approved one.
	Serve json.RawMessage
	// Held: the upstream changed the definition and the change awaits approval; calls are
	// refused with definition_changed.
	Held bool
	// Hidden: a new tool awaiting approval; not in the catalog at all.
	Hidden bool
}

// Override is the operator's word on one exposed tool. Nil fields keep the upstream's.
type Override struct {
	Description, Title *string
	// Disabled leaves the tool out of the catalog: unknown to every caller.
	Disabled    bool
	Annotations AnnotationOverride
}

// AnnotationOverride replaces the tool annotations that are set.
type AnnotationOverride struct {
	Title                                                        *string
	ReadOnlyHint, DestructiveHint, IdempotentHint, OpenWorldHint *bool
}

// apply puts o on def.
func (o Override) apply(def *mcp.Tool) {
	if o.Description != nil {
		def.Description = *o.Description
	}
	if o.Title != nil {
		def.Title = *o.Title
	}
	a := &def.Annotations
	if o.Annotations.Title != nil {
		a.Title = *o.Annotations.Title
	}
	for _, f := range []struct {
		to   **bool
		from *bool
	}{
		{&a.ReadOnlyHint, o.Annotations.ReadOnlyHint}, {&a.DestructiveHint, o.Annotations.DestructiveHint},
		{&a.IdempotentHint, o.Annotations.IdempotentHint}, {&a.OpenWorldHint, o.Annotations.OpenWorldHint},
	} {
		if f.from != nil {
			v := *f.from
			*f.to = &v
		}
	}
}

// LimitFunc gives the rate limit of the tool exposed as name, whose upstream set upstreamRate
// (zero when it set none).
type LimitFunc func(name ExposedName, upstreamRate ratelimit.Rate) ratelimit.Limit

// Catalog is the union of the upstreams' tools under their exposed names. It is immutable: a
// change builds a new Catalog, swapped in whole.
type Catalog struct {
	entries []*Entry // sorted by Name
	byName  map[ExposedName]*Entry
}

// Lookup returns the entry exposed as name.
func (c *Catalog) Lookup(name string) (*Entry, bool) {
	e, ok := c.byName[ExposedName(name)]
	return e, ok
}

// Len is the number of tools.
func (c *Catalog) Len() int { return len(c.entries) }

// Entries returns the entries sorted by exposed name. The slice must not be modified.
func (c *Catalog) Entries() []*Entry { return c.entries }

// sameTools reports whether c and o show clients exactly the same tools.
func (c *Catalog) sameTools(o *Catalog) bool {
	return slices.EqualFunc(c.entries, o.entries, func(a, b *Entry) bool {
		return a.Name == b.Name && bytes.Equal(a.defJSON, b.defJSON)
	})
}

// buildCatalog names every tool of every listing and resolves collisions deterministically: the
// same listings always give the same catalog, whatever their order. A tool whose definition
// cannot be used is left out and logged; nothing aborts the build.
//
// policy gives each tool its rate limit and cache rule.
func buildCatalog(listings []upstream.Listing, naming Naming, policy Policy, log *slog.Logger) *Catalog {
	type candidate struct {
		entry   *Entry
		altered bool
	}
	byName := map[ExposedName][]candidate{}
	for _, l := range listings {
		for _, t := range l.Tools {
			raw, held := t.Raw, false
			if policy.Review != nil {
				pin := policy.Review(l.Name, t.Name, t.Raw)
				if pin.Hidden {
					continue
				}
				raw, held = pin.Serve, pin.Held
			}
			def, err := exposedDefinition(raw)
			if err != nil {
				log.Warn("tool left out of the catalog", "upstream", l.Name, "tool", t.Name, "err", err)
				continue
			}
			name, altered := naming.candidate(l.Namespace, t.Name)
			e := &Entry{Upstream: l.Name, Tool: t.Name, def: def, upstreamRate: l.RateLimit, upstreamTTL: l.CacheTTL, Held: held}
			byName[name] = append(byName[name], candidate{e, altered})
		}
	}

	c := &Catalog{byName: make(map[ExposedName]*Entry, len(byName))}
	var losers []*Entry
	for name, cands := range byName {
		// An unaltered name wins over one made by replacing characters; then upstream, tool.
		slices.SortFunc(cands, func(a, b candidate) int {
			if a.altered != b.altered {
				if a.altered {
					return 1
				}
				return -1
			}
			return cmp.Or(cmp.Compare(a.entry.Upstream, b.entry.Upstream), cmp.Compare(a.entry.Tool, b.entry.Tool))
		})
		cands[0].entry.Name = name
		c.byName[name] = cands[0].entry
		for _, l := range cands[1:] {
			l.entry.Name = name // renamed below, once every winner holds its name
			losers = append(losers, l.entry)
		}
	}
	slices.SortFunc(losers, func(a, b *Entry) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Upstream, b.Upstream), cmp.Compare(a.Tool, b.Tool))
	})
	for _, e := range losers {
		wanted := e.Name
		key := string(e.Upstream) + "\x00" + e.Tool
		name := naming.withSuffix(string(wanted), key)
		for i := 1; c.byName[name] != nil; i++ { // a suffix clash: astronomically rare, still handled
			name = naming.withSuffix(string(wanted), fmt.Sprintf("%s\x00%d", key, i))
		}
		e.Name = name
		c.byName[name] = e
		log.Warn("tool name collision resolved", "wanted", wanted, "exposed", name, "upstream", e.Upstream, "tool", e.Tool,
			"kept_by", c.byName[wanted].Upstream)
	}

	c.entries = make([]*Entry, 0, len(c.byName))
	for name, e := range c.byName {
		if o, ok := policy.Overrides[name]; ok {
			if o.Disabled {
				delete(c.byName, name)
				continue
			}
			o.apply(&e.def)
		}
		a := e.def.Annotations
		e.Idempotent = (a.IdempotentHint != nil && *a.IdempotentHint) || (a.ReadOnlyHint != nil && *a.ReadOnlyHint)
		if policy.Limit != nil {
			e.Limit = policy.Limit(e.Name, e.upstreamRate)
		}
		if policy.Cache != nil {
			e.Cache = policy.Cache(e.Name, e.upstreamTTL, e.def.Annotations)
		}
		e.def.Name = string(e.Name)
		e.defJSON, _ = json.Marshal(e.def) // cannot fail: exposedDefinition marshalled it already
		e.DefHash = cache.DefinitionHash(e.defJSON)
		c.entries = append(c.entries, e)
	}
	slices.SortFunc(c.entries, func(a, b *Entry) int { return cmp.Compare(a.Name, b.Name) })
	return c
}

// exposedDefinition turns an upstream's raw tool JSON into the definition clients get. The input
// and output schemas stay the upstream's raw JSON, keyword for keyword (mcp-go's typed schema
// would drop $schema, oneOf and the like).
func exposedDefinition(raw json.RawMessage) (mcp.Tool, error) {
	var t mcp.Tool
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("malformed definition: %w", err)
	}
	var schemas struct {
		Input  json.RawMessage `json:"inputSchema"`
		Output json.RawMessage `json:"outputSchema"`
	}
	if err := json.Unmarshal(raw, &schemas); err != nil {
		return t, fmt.Errorf("malformed definition: %w", err)
	}
	if len(schemas.Input) == 0 || schemas.Input[0] != '{' {
		return t, fmt.Errorf("inputSchema must be a JSON object")
	}
	t.InputSchema, t.RawInputSchema = mcp.ToolInputSchema{}, schemas.Input
	t.OutputSchema, t.RawOutputSchema = mcp.ToolOutputSchema{}, nil
	if len(schemas.Output) > 0 && !bytes.Equal(schemas.Output, []byte("null")) {
		t.RawOutputSchema = schemas.Output
	}
	// Task-augmented execution is not proxied: a client sees a plain tool, and the upstream
	// answers a plain call as it sees fit.
	t.Execution = nil
	if err := mcp.ValidateParamHeaderAnnotations(&t); err != nil {
		return t, err
	}
	if _, err := json.Marshal(t); err != nil {
		return t, fmt.Errorf("unusable definition: %w", err)
	}
	return t, nil
}
