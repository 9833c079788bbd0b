package router

import (
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var defaultNaming = Naming{Separator: "__", MaxLength: 64}

func tool(name string) upstream.Tool {
	raw, _ := json.Marshal(map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}})
	return upstream.Tool{Name: name, Raw: raw}
}

func listing(name, namespace string, tools ...string) upstream.Listing {
	l := upstream.Listing{Name: registry.ServiceName(name), Namespace: namespace}
	for _, t := range tools {
		l.Tools = append(l.Tools, tool(t))
	}
	return l
}

func names(c *Catalog) []string {
	var out []string
	for _, e := range c.Entries() {
		out = append(out, string(e.Name))
	}
	return out
}

func TestCatalogNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 80)
	tests := []struct {
		name     string
		listings []upstream.Listing
		want     []string
	}{
		{"namespaced", []upstream.Listing{listing("weather", "weather", "forecast"), listing("clock", "clock", "now")},
			[]string{"clock__now", "weather__forecast"}},
		{"empty namespace", []upstream.Listing{listing("clock", "", "now")}, []string{"now"}},
		{"disallowed characters", []upstream.Listing{listing("fs", "fs", "read.file/v2")}, []string{"fs__read_file_v2"}},
		{"too long", []upstream.Listing{listing("a", "a", long)}, []string{"a__" + strings.Repeat("x", 52) + "_" + hashOf("a__"+long)}},
		{"collision: first upstream keeps it", []upstream.Listing{listing("b", "", "echo"), listing("a", "", "echo")},
			[]string{"echo", "echo_" + hashOf("b\x00echo")}},
		{"collision: the unaltered name wins", []upstream.Listing{listing("a", "", "x.y"), listing("b", "", "x_y")},
			[]string{"x_y", "x_y_" + hashOf("a\x00x.y")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := buildCatalog(tc.listings, defaultNaming, Policy{}, quiet)
			if got := names(c); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func hashOf(key string) string {
	return strings.TrimPrefix(string(defaultNaming.withSuffix("", key)), "_")
}

func TestCatalogRoutesToOriginalNames(t *testing.T) {
	t.Parallel()
	c := buildCatalog([]upstream.Listing{listing("a", "", "echo"), listing("b", "", "echo")}, defaultNaming, Policy{}, quiet)
	upstreams := map[registry.ServiceName]bool{}
	for _, e := range c.Entries() {
		got, ok := c.Lookup(string(e.Name))
		if !ok || got != e || got.Tool != "echo" {
			t.Errorf("%s routes to %+v", e.Name, got)
		}
		upstreams[e.Upstream] = true
		var def struct{ Name string }
		_ = json.Unmarshal(e.defJSON, &def)
		if def.Name != string(e.Name) {
			t.Errorf("definition of %s names itself %q", e.Name, def.Name)
		}
	}
	if len(c.Entries()) != 2 || !upstreams["a"] || !upstreams["b"] {
		t.Errorf("the two echo tools route to upstreams %v, want a and b", upstreams)
	}
	if _, ok := c.Lookup("missing"); ok {
		t.Error("lookup of a missing tool succeeded")
	}
}

func TestCatalogKeepsRawSchemas(t *testing.T) {
	t.Parallel()
	raw := `{"name":"pick","description":"d","inputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","oneOf":[{"required":["a"]},{"required":["b"]}]},"outputSchema":{"type":"object","additionalProperties":false},"execution":{"taskSupport":"required"}}`
	c := buildCatalog([]upstream.Listing{{Name: "u", Namespace: "u", Tools: []upstream.Tool{{Name: "pick", Raw: json.RawMessage(raw)}}}}, defaultNaming, Policy{}, quiet)
	if c.Len() != 1 {
		t.Fatalf("want 1 tool, got %d", c.Len())
	}
	var got map[string]json.RawMessage
	_ = json.Unmarshal(c.Entries()[0].defJSON, &got)
	if s := string(got["inputSchema"]); s != `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","oneOf":[{"required":["a"]},{"required":["b"]}]}` {
		t.Errorf("input schema changed: %s", s)
	}
	if s := string(got["outputSchema"]); s != `{"type":"object","additionalProperties":false}` {
		t.Errorf("output schema changed: %s", s)
	}
	if _, ok := got["execution"]; ok {
		t.Errorf("task execution is not proxied, yet exposed: %s", got["execution"])
	}
}

func TestCatalogLeavesOutBrokenDefinitions(t *testing.T) {
	t.Parallel()
	c := buildCatalog([]upstream.Listing{{Name: "u", Namespace: "u", Tools: []upstream.Tool{
		{Name: "noschema", Raw: json.RawMessage(`{"name":"noschema"}`)},
		{Name: "badschema", Raw: json.RawMessage(`{"name":"badschema","inputSchema":[1]}`)},
		tool("fine"),
	}}}, defaultNaming, Policy{}, quiet)
	if got := names(c); !slices.Equal(got, []string{"u__fine"}) {
		t.Errorf("got %v, want only u__fine", got)
	}
}

func TestCatalogSameTools(t *testing.T) {
	t.Parallel()
	a := buildCatalog([]upstream.Listing{listing("a", "a", "x", "y")}, defaultNaming, Policy{}, quiet)
	b := buildCatalog([]upstream.Listing{listing("a", "a", "y", "x")}, defaultNaming, Policy{}, quiet)
	if !a.sameTools(b) {
		t.Error("the same tools in another order must count as no change")
	}
	changed := listing("a", "a", "x", "y")
	changed.Tools[0].Raw = json.RawMessage(`{"name":"x","description":"new","inputSchema":{"type":"object"}}`)
	if a.sameTools(buildCatalog([]upstream.Listing{changed}, defaultNaming, Policy{}, quiet)) {
		t.Error("a changed description must count as a change")
	}
}

var exposedNameRule = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// FuzzExposedNames checks, for arbitrary upstream names, that every exposed name keeps to the
// rule, that names are unique and deterministic whatever the order of upstreams, and that each
// exposed name routes back to its upstream and original name.
func FuzzExposedNames(f *testing.F) {
	f.Add("weather", "forecast", "", "forecast")
	f.Add("a", "read.file", "", "a__read_file")
	f.Add("ns", strings.Repeat("é", 70), "ns", strings.Repeat("é", 70)+"x")
	f.Add("", "echo", "", "echo")
	f.Fuzz(func(t *testing.T, ns1, tool1, ns2, tool2 string) {
		if tool1 == "" || tool2 == "" {
			t.Skip("upstream tools always have names")
		}
		in := []upstream.Listing{
			{Name: "one", Namespace: ns1, Tools: []upstream.Tool{tool(tool1)}},
			{Name: "two", Namespace: ns2, Tools: []upstream.Tool{tool(tool2)}},
		}
		c := buildCatalog(in, defaultNaming, Policy{}, quiet)
		reversed := buildCatalog([]upstream.Listing{in[1], in[0]}, defaultNaming, Policy{}, quiet)
		if !slices.Equal(names(c), names(reversed)) {
			t.Fatalf("names depend on order: %v vs %v", names(c), names(reversed))
		}
		if c.Len() != 2 {
			t.Fatalf("want 2 tools, got %v", names(c))
		}
		for _, e := range c.Entries() {
			if !exposedNameRule.MatchString(string(e.Name)) {
				t.Fatalf("exposed name %q breaks the rule", e.Name)
			}
			got, ok := c.Lookup(string(e.Name))
			if !ok || got != e {
				t.Fatalf("%q does not route back", e.Name)
			}
		}
		want := map[string]string{"one": tool1, "two": tool2}
		for _, e := range c.Entries() {
			if want[string(e.Upstream)] != e.Tool {
				t.Fatalf("%s routes to %s/%s", e.Name, e.Upstream, e.Tool)
			}
		}
	})
}
