package glob

import (
	"path"
	"strings"
	"testing"
)

func TestPatternMatchesAsPathMatchDoes(t *testing.T) {
	t.Parallel()
	patterns := []string{"weather__forecast", "weather__*", "*", "w?ather__*", "[a-c]*__now", "*__now", "a/*", "", `we\*`}
	names := []string{"weather__forecast", "weather__radar", "wxather__x", "clock__now", "b__now", "a/b", "a/b/c", "", "we*", "weather_"}
	for _, g := range patterns {
		p, err := Compile(g)
		if err != nil {
			t.Fatalf("%q: %v", g, err)
		}
		for _, n := range names {
			want, _ := path.Match(g, n)
			if got := p.Match(n); got != want {
				t.Errorf("%q matching %q: %v, path.Match says %v", g, n, got, want)
			}
		}
	}
}

func TestCompileRefusesABadGlob(t *testing.T) {
	t.Parallel()
	if _, err := Compile("weather__["); err == nil {
		t.Fatal("an unclosed [ compiled")
	}
	if _, err := CompileList([]string{"ok*", "bad["}); err == nil {
		t.Fatal("a list with a bad glob compiled")
	}
}

func TestRulesExactNameThenFirstGlobInOrder(t *testing.T) {
	t.Parallel()
	r, err := NewRules(map[string]int{"weather__forecast": 1, "weather__*": 2, "x*": 3, "c*": 4})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"weather__forecast": 1, "weather__radar": 2, "xx__y": 3, "clock__now": 4} {
		if got, ok := r.Match(name); !ok || got != want {
			t.Errorf("%s: %d %v, want %d", name, got, ok, want)
		}
	}
	if _, ok := r.Match("zz"); ok {
		t.Error("a name no rule covers matched")
	}
	sorted, _ := NewRules(map[string]int{"weather__*": 1, "w*": 2})
	if got, _ := sorted.Match("weather__radar"); got != 2 { // "w*" sorts before "weather__*"
		t.Errorf("globs must be tried in sorted order: got %d", got)
	}
	var none *Rules[int]
	if _, ok := none.Match("x"); ok {
		t.Error("nil rules matched")
	}
	var empty List
	if empty.Match("x") || (Pattern{}).Match("") {
		t.Error("the zero List or Pattern matched")
	}
}

func FuzzPattern(f *testing.F) {
	f.Add("weather__*", "weather__radar")
	f.Add("a?[b-c]*", "axb")
	f.Fuzz(func(t *testing.T, g, name string) {
		p, err := Compile(g)
		if err != nil {
			return
		}
		want, _ := path.Match(g, name)
		if p.Match(name) != want {
			t.Fatalf("%q vs %q: %v, path.Match says %v", g, name, p.Match(name), want)
		}
	})
}

func TestURIPatterns(t *testing.T) {
	for _, tc := range []struct {
		glob, uri string
		want      bool
	}{
		{"everything+demo://resource/*", "everything+demo://resource/static/document/1", true},
		{"everything+demo://resource/*", "other+demo://resource/1", false},
		{"*", "anything://at/all", true},
		{"file:///docs/?.md", "file:///docs/a.md", true},
		{"file:///docs/?.md", "file:///docs/ab.md", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact://one", "exact://one", true},
		{"exact://one", "exact://one/more", false},
		{"[not-a-class]", "[not-a-class]", true},
	} {
		if got := CompileURI(tc.glob).Match(tc.uri); got != tc.want {
			t.Errorf("%q on %q: %v, want %v", tc.glob, tc.uri, got, tc.want)
		}
	}
}

func FuzzURIPattern(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Fuzz(func(t *testing.T, g, uri string) {
		p := CompileURI(g)
		_ = p.Match(uri) // never panics, never loops
		if !strings.ContainsAny(g, "*?") && p.Match(uri) != (g == uri) {
			t.Fatalf("literal %q on %q", g, uri)
		}
	})
}
