package authn

import "path"

// Policy allows the tools whose exposed names match Allow (globs) to principals that match: the
// scope, when set, is granted, and every claim, when set, has the value (or contains it).
type Policy struct {
	Scope  string
	Claims map[string]string
	Allow  []string
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

// Allows reports whether principal p may see and call the tool exposed as name. A nil p (auth
// off) may use everything.
func (ps Policies) Allows(p *Principal, name string) bool {
	if p == nil {
		return true
	}
	for _, pol := range ps {
		if !pol.matches(p) {
			continue
		}
		for _, glob := range pol.Allow {
			if ok, _ := path.Match(glob, name); ok { // globs were validated with the config
				return true
			}
		}
		return false
	}
	return true
}
