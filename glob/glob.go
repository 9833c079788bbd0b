// Package glob matches exposed names (tools, prompts) against the patterns of the config:
// limits.tools, cache.tools and the policies' allow lists. Patterns are compiled once, when the
// config loads; matching then costs a comparison for the common shapes ("name", "prefix*").
package glob

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Pattern is one compiled glob with path.Match's syntax (*, ?, [...]). The zero Pattern
// matches nothing.
type Pattern struct {
	text string
	kind kind
	lit  string // the literal, or the prefix before a lone trailing '*'
}

type kind uint8

const (
	never kind = iota
	exact
	prefix
	general
	anyRun // CompileURI: '*' crosses '/'
)

// Compile parses a glob; the error says what is wrong with it.
func Compile(g string) (Pattern, error) {
	if _, err := path.Match(g, ""); err != nil {
		return Pattern{}, fmt.Errorf("bad glob %q: %v", g, err)
	}
	meta := strings.IndexAny(g, `*?[\`)
	switch {
	case meta < 0:
		return Pattern{text: g, kind: exact, lit: g}, nil
	case meta == len(g)-1 && g[meta] == '*':
		return Pattern{text: g, kind: prefix, lit: g[:meta]}, nil
	}
	return Pattern{text: g, kind: general}, nil
}

// MustCompile is Compile for patterns already validated; it panics on a bad one.
func MustCompile(g string) Pattern {
	p, err := Compile(g)
	if err != nil {
		panic(err)
	}
	return p
}

// String is the pattern as written.
func (p Pattern) String() string { return p.text }

// Match reports whether name matches the pattern. Like path.Match, '*' does not cross '/'.
func (p Pattern) Match(name string) bool {
	switch p.kind {
	case exact:
		return name == p.lit
	case prefix:
		return strings.HasPrefix(name, p.lit) && !strings.Contains(name[len(p.lit):], "/")
	case general:
		ok, _ := path.Match(p.text, name)
		return ok
	case anyRun:
		return matchAnyRun(p.text, name)
	}
	return false
}

// List is a set of patterns; a name matches when any does. The zero List matches nothing.
type List []Pattern

// CompileList compiles every pattern; the error names the first bad one.
func CompileList(globs []string) (List, error) {
	out := make(List, 0, len(globs))
	for _, g := range globs {
		p, err := Compile(g)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Match reports whether any pattern matches name.
func (l List) Match(name string) bool {
	for _, p := range l {
		if p.Match(name) {
			return true
		}
	}
	return false
}

// Rules maps names and globs to values: the value under exactly the name wins, else the first
// glob in sorted order that matches. Immutable once built.
type Rules[V any] struct {
	exact map[string]V
	globs []Pattern // sorted by text
	vals  []V
}

// NewRules compiles the keys of rules; the error names the first bad glob.
func NewRules[V any](rules map[string]V) (*Rules[V], error) {
	r := &Rules[V]{exact: make(map[string]V, len(rules))}
	keys := make([]string, 0, len(rules))
	for k, v := range rules {
		r.exact[k] = v
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, err := Compile(k)
		if err != nil {
			return nil, err
		}
		if p.kind != exact {
			r.globs, r.vals = append(r.globs, p), append(r.vals, rules[k])
		}
	}
	return r, nil
}

// Match returns the rule for name. A nil *Rules has none.
func (r *Rules[V]) Match(name string) (V, bool) {
	var zero V
	if r == nil {
		return zero, false
	}
	if v, ok := r.exact[name]; ok {
		return v, true
	}
	for i, p := range r.globs {
		if p.Match(name) {
			return r.vals[i], true
		}
	}
	return zero, false
}

// CompileURI parses a glob over resource URIs: '*' matches any run of characters, '/'
// included (a URI's path is not a file name), and '?' any one character; everything else is
// literal. Unlike Compile, there are no classes, so nothing in a URI can make it malformed.
func CompileURI(g string) Pattern {
	if !strings.ContainsAny(g, "*?") {
		return Pattern{text: g, kind: exact, lit: g}
	}
	return Pattern{text: g, kind: anyRun}
}

// CompileURIList is CompileURI for every glob.
func CompileURIList(globs []string) List {
	out := make(List, 0, len(globs))
	for _, g := range globs {
		out = append(out, CompileURI(g))
	}
	return out
}

// matchAnyRun matches name against pattern p of CompileURI: the classic two-pointer walk,
// which backtracks only to the last '*', so it is linear in practice and never exponential.
func matchAnyRun(p, name string) bool {
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(name) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == name[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
