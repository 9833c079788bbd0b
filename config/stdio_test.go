package config

import (
	"strings"
	"testing"
)

func TestStdioPrincipalParses(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(`
upstreams: [{name: a, url: 'http://h/mcp'}]
stdio:
  principal:
    subject: ${USER_NAME}
    scopes: [weather:read, mcp]
    claims: {groups: [analysts, staff]}
`), env(map[string]string{"USER_NAME": "ana"}))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Stdio.Principal
	if p == nil || p.Subject != "ana" || strings.Join(p.Scopes, " ") != "weather:read mcp" ||
		strings.Join(p.Claims["groups"], " ") != "analysts staff" {
		t.Errorf("stdio.principal: got %+v", p)
	}
	none, err := Parse([]byte("upstreams: [{name: a, url: 'http://h/mcp'}]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if none.Stdio.Principal != nil {
		t.Errorf("no stdio section: got principal %+v, want nil (nobody)", none.Stdio.Principal)
	}
}

// TestPoliciesNeedAPrincipal: policies without auth.mode oidc are refused, unless a stdio
// principal is there for them to match.
func TestPoliciesNeedAPrincipal(t *testing.T) {
	t.Parallel()
	const base = "upstreams: [{name: a, url: 'http://h/mcp'}]\nauth: {policies: [{when: {scope: s}, allow: ['a__*']}]}\n"
	if _, err := Parse([]byte(base), env(nil)); err == nil || !strings.Contains(err.Error(), `auth.policies: need auth.mode "oidc"`) {
		t.Errorf("policies without a principal: %v", err)
	}
	if _, err := Parse([]byte(base+"stdio: {principal: {subject: ana, scopes: [s]}}\n"), env(nil)); err != nil {
		t.Errorf("policies for the stdio principal: %v", err)
	}
}

func TestStdioPrincipalReportsEveryError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"no subject", "stdio: {principal: {scopes: [a]}}",
			[]string{"stdio.principal.subject: required"}},
		{"bad scopes and claims", "stdio: {principal: {subject: ana, scopes: ['a b', ''], claims: {groups: [], sub: [x]}}}",
			[]string{`stdio.principal.scopes[0]: want one scope without spaces, got "a b"`, `stdio.principal.scopes[1]`,
				`stdio.principal.claims["groups"]: want at least one value`, `stdio.principal.claims["sub"]: set stdio.principal.subject instead`}},
		{"a claim written as one value", "stdio: {principal: {subject: ana, claims: {email: ana@example.com}}}",
			[]string{`stdio.principal.claims["email"]: want a list`}},
		{"unknown key", "stdio: {principal: {subject: ana, scope: a}}",
			[]string{"stdio.principal.scope: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte("upstreams: [{name: a, url: 'http://h/mcp'}]\n"+tc.yaml), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
