package config

import (
	"strings"
	"testing"
)

func TestCurationConfig(t *testing.T) {
	cfg, err := Parse([]byte(`
tool_search: auto
max_tools: 50
always: ["fx__echo"]
servers:
  - {name: research, description: "For research", tools: ["everything__*", "fx__echo"], prompts: ["everything__*"], resources: ["everything+*"], tool_search: on, always: ["fx__echo"]}
  - {name: small, tools: ["fx__*"]}
tools:
  "fx__echo": {description: "Echoes.", title: "Echo", annotations: {readOnlyHint: true}}
  "fx__fail": {disabled: true}
pinning: {mode: hold, new_tools: hold, file: /tmp/pins.json}
upstreams: [{name: a, url: http://h/mcp}]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if !*cfg.RootServer || cfg.RootSearch.Mode != SearchAuto || cfg.RootSearch.MaxTools != 50 || cfg.RootSearch.Always[0] != "fx__echo" {
		t.Errorf("root: %v %+v", *cfg.RootServer, cfg.RootSearch)
	}
	if len(cfg.Servers) != 2 || cfg.Servers[0].Mode != SearchOn || cfg.Servers[0].MaxTools != 100 || cfg.Servers[1].Mode != SearchOff {
		t.Errorf("servers: %+v", cfg.Servers)
	}
	o := cfg.Tools["fx__echo"]
	if *o.Description != "Echoes." || *o.Annotations.ReadOnlyHint != true || !cfg.Tools["fx__fail"].Disabled {
		t.Errorf("overrides: %+v", cfg.Tools)
	}
	if cfg.Pinning.Mode != PinHold || cfg.Pinning.NewTools != PinHold {
		t.Errorf("pinning: %+v", cfg.Pinning)
	}
	def, _ := Parse([]byte("upstreams: [{name: a, url: http://h/mcp}]"), func(string) (string, bool) { return "", false })
	if def.Pinning.Mode != PinWarn || def.RootSearch.Mode != SearchOff || !*def.RootServer {
		t.Errorf("defaults: %+v %+v", def.Pinning, def.RootSearch)
	}
}

func TestCurationConfigErrors(t *testing.T) {
	_, err := Parse([]byte(`
root_server: false
tool_search: sometimes
servers:
  - {name: Bad Name, tools: ["["]}
  - {name: dup, tools: [x]}
  - {name: dup}
tools: {"fx__echo": {annotations: {spicy: true}}}
pinning: {mode: strict, new_tools: maybe}
upstreams: [{name: a, url: http://h/mcp}]
`), func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`tool_search: want "off"`, `servers[0].name: want 1 to 64`, `servers[0].tools[0]: bad glob`,
		`servers[2].name: "dup" is used`, `servers[2].tools: select something`, `tools["fx__echo"].annotations.spicy: unknown key`,
		`pinning.mode: want`, `pinning.new_tools: want`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
