package config

import (
	"fmt"
	"strings"
)

// Stdio configures `switchboard stdio --config FILE`: the gateway serving the one client that
// launched it, on stdin and stdout. Nobody presents a token there, whatever auth.mode says.
type Stdio struct {
	// Principal is who the stdio client is: auth.policies and auth.default_policy apply to it as
	// to a verified token's principal. Nil: nobody, as with auth.mode none (policies do not
	// apply; the client sees every tool). A change needs a restart.
	Principal *StdioPrincipal `yaml:"principal"`
}

// StdioPrincipal is the stdio client's principal, written out as a token would carry it.
type StdioPrincipal struct {
	// Subject names the user in audit lines, in rate limits' and the cache's per-principal keys,
	// and as the "sub" claim. Required.
	Subject string `yaml:"subject"`
	// Scopes are what policies' when.scope match.
	Scopes []string `yaml:"scopes"`
	// Claims are what policies' when.claim match, each a list of values (a policy's value
	// matches when the list holds it, as for a list claim such as groups).
	Claims map[string][]string `yaml:"claims"`
}

// validate checks stdio.principal; absent is valid.
func (s Stdio) validate() Errors {
	p := s.Principal
	if p == nil {
		return nil
	}
	var errs Errors
	fail := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Subject) == "" {
		fail("stdio.principal.subject", "required: the stdio user's name, as a token's sub would say")
	}
	for i, scope := range p.Scopes {
		if scope == "" || strings.ContainsAny(scope, " \t\r\n") {
			fail(fmt.Sprintf("stdio.principal.scopes[%d]", i), "want one scope without spaces, got %q", scope)
		}
	}
	for _, claim := range sortedKeys(p.Claims) {
		path := fmt.Sprintf("stdio.principal.claims[%q]", claim)
		switch values := p.Claims[claim]; {
		case claim == "":
			fail(path, "want a claim name")
		case claim == "sub":
			fail(path, "set stdio.principal.subject instead")
		case len(values) == 0:
			fail(path, "want at least one value")
		}
	}
	return errs
}
