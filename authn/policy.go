package authn

import (
	"strconv"

	"github.com/switchboard-mcp/switchboard/glob"
)

// Policy allows the tools whose exposed names match Allow (globs) to principals that match: the
// scope, when set, is granted, and every claim, when set, has the value (or contains it).
type Policy struct {
	Scope  string
	Claims map[string]string
	Allow  glob.List
}

// Policies are tried in order; the first that matches a principal decides its tools. A principal
// no policy matches may use every tool (the required scopes were already checked).
type Policies []Policy

func (pol Policy) matches(p *Principal) bool {
	if pol.Scope != "" && !p.HasScope(pol.Scope) {
		return false
	}
	for claim, value := range pol.Claims {
		if !p.HasClaim(claim, value) {
			return false
		}
	}
	return true
}

// View returns what principal p may see and call: nil when every tool (p is nil because auth
// is off, or no policy matches p), else a predicate on exposed names. Matching the principal
// happens once here, not once per tool.
func (ps Policies) View(p *Principal) func(name string) bool {
	if p == nil {
		return nil
	}
	for _, pol := range ps {
		if pol.matches(p) {
			return pol.Allow.Match
		}
	}
	return nil
}

// Allows reports whether principal p may see and call the tool exposed as name.
func (ps Policies) Allows(p *Principal, name string) bool {
	view := ps.View(p)
	return view == nil || view(name)
}

// ViewKey names the view of principal p: principals with the same key see the same tools. It is
// the index of the policy that decides for p ("p3"), or "all".
func (ps Policies) ViewKey(p *Principal) string {
	if p != nil {
		for i, pol := range ps {
			if pol.matches(p) {
				return "p" + strconv.Itoa(i)
			}
		}
	}
	return "all"
}
