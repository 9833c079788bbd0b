package config

import (
	"fmt"
	"regexp"
)

// Server is a virtual MCP server at /mcp/{name}: the part of the catalog its selectors match,
// intersected with each caller's policy view.
type Server struct {
	// Name is the path segment: [a-z0-9_-], 1 to 64 characters.
	Name string `yaml:"name"`
	// Description is shown in the admin view and given to clients as the server's instructions.
	Description string `yaml:"description"`
	// Tools, Prompts and Resources are globs over exposed names (tools, prompts) and exposed
	// URIs and templates (resources; '*' crosses '/'). An empty list selects none of that kind.
	Tools     []string `yaml:"tools"`
	Prompts   []string `yaml:"prompts"`
	Resources []string `yaml:"resources"`
	// ToolSearch, MaxTools and Always: see ToolSearch.
	ToolSearch `yaml:",inline"`
}

// ToolSearch configures tool search for one server (or /mcp): when on, tools/list lists the
// Always tools and the gateway's switchboard__search_tools and switchboard__call_tool, which
// find and call any tool of the caller's view.
type ToolSearch struct {
	// Mode is "off" (default), "on", or "auto" (on when the caller's view has more than
	// MaxTools tools).
	Mode string `yaml:"tool_search"`
	// MaxTools is where auto turns search on. Default 100.
	MaxTools int `yaml:"max_tools"`
	// Always lists exposed tool names that stay listed when search is on.
	Always []string `yaml:"always"`
}

// ToolOverride is the operator's word on one exposed tool: what the LLM sees instead of what
// the upstream wrote. Pins hash the upstream's definition, not the override.
type ToolOverride struct {
	// Description and Title replace the upstream's when set.
	Description *string `yaml:"description"`
	Title       *string `yaml:"title"`
	// Disabled hides the tool: not listed, and calls answer unknown tool.
	Disabled bool `yaml:"disabled"`
	// Annotations replace the hints that are set here; the others stay the upstream's.
	Annotations Annotations `yaml:"annotations"`
}

// Annotations are a tool's hints (MCP ToolAnnotations); nil: not overridden.
type Annotations struct {
	Title           *string `yaml:"title"`
	ReadOnlyHint    *bool   `yaml:"readOnlyHint"`
	DestructiveHint *bool   `yaml:"destructiveHint"`
	IdempotentHint  *bool   `yaml:"idempotentHint"`
	OpenWorldHint   *bool   `yaml:"openWorldHint"`
}

// Pinning configures the rug-pull guard: a tool definition that changes after it was first seen.
type Pinning struct {
	// Mode is "off", "warn" (default: log, count, serve the new one) or "hold" (serve the last
	// approved one and refuse calls with definition_changed until an operator approves).
	Mode string `yaml:"mode"`
	// NewTools is "allow" (default) or "hold" (a tool never seen is not listed until approved).
	NewTools string `yaml:"new_tools"`
	// File keeps the pins across restarts when Redis is not configured.
	File string `yaml:"file"`
}

// Tool search modes, pinning modes.
const (
	SearchOff  = "off"
	SearchOn   = "on"
	SearchAuto = "auto"

	PinOff   = "off"
	PinWarn  = "warn"
	PinHold  = "hold"
	PinAllow = "allow"
)

var serverName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

func (t *ToolSearch) applyDefaults() {
	if t.Mode == "" {
		t.Mode = SearchOff
	}
	if t.MaxTools == 0 {
		t.MaxTools = 100
	}
}

func (t ToolSearch) validate(path string) Errors {
	var errs Errors
	switch t.Mode {
	case SearchOff, SearchOn, SearchAuto:
	default:
		errs = append(errs, FieldError{Path: path + "tool_search", Msg: fmt.Sprintf("want %q, %q or %q, got %q", SearchOff, SearchOn, SearchAuto, t.Mode)})
	}
	if t.MaxTools < 1 {
		errs = append(errs, FieldError{Path: path + "max_tools", Msg: fmt.Sprintf("want at least 1, got %d", t.MaxTools)})
	}
	for i, name := range t.Always {
		if err := checkGlob(name); err != nil {
			errs = append(errs, FieldError{Path: fmt.Sprintf("%salways[%d]", path, i), Msg: err.Error()})
		}
	}
	return errs
}

// curationDefaults fills the defaults of servers, root tool search and pinning.
func (c *Config) curationDefaults() {
	if c.RootServer == nil {
		root := true
		c.RootServer = &root
	}
	c.RootSearch.applyDefaults()
	for i := range c.Servers {
		c.Servers[i].ToolSearch.applyDefaults()
	}
	if c.Pinning.Mode == "" {
		c.Pinning.Mode = PinWarn
	}
	if c.Pinning.NewTools == "" {
		c.Pinning.NewTools = PinAllow
	}
}

// validateCuration checks servers, root tool search, overrides and pinning.
func (c *Config) validateCuration() Errors {
	var errs Errors
	fail := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	errs = append(errs, c.RootSearch.validate("")...)
	seen := map[string]bool{}
	for i, s := range c.Servers {
		p := fmt.Sprintf("servers[%d].", i)
		switch {
		case !serverName.MatchString(s.Name):
			fail(p+"name", "want 1 to 64 of a-z 0-9 _ -, got %q", s.Name)
		case seen[s.Name]:
			fail(p+"name", "%q is used by another server", s.Name)
		}
		seen[s.Name] = true
		for kind, globs := range map[string][]string{"tools": s.Tools, "prompts": s.Prompts} {
			for j, g := range globs {
				if err := checkGlob(g); err != nil {
					fail(fmt.Sprintf("%s%s[%d]", p, kind, j), "%v", err)
				}
			}
		}
		if len(s.Tools)+len(s.Prompts)+len(s.Resources) == 0 {
			fail(p+"tools", "select something: tools, prompts or resources")
		}
		errs = append(errs, s.ToolSearch.validate(p)...)
	}
	if !*c.RootServer && len(c.Servers) == 0 {
		fail("root_server", "false serves nothing: define servers")
	}
	switch c.Pinning.Mode {
	case PinOff, PinWarn, PinHold:
	default:
		fail("pinning.mode", "want %q, %q or %q, got %q", PinOff, PinWarn, PinHold, c.Pinning.Mode)
	}
	switch c.Pinning.NewTools {
	case PinAllow, PinHold:
	default:
		fail("pinning.new_tools", "want %q or %q, got %q", PinAllow, PinHold, c.Pinning.NewTools)
	}
	return errs
}
