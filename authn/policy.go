package authn

import (
	"strconv"

	"github.com/switchboard-mcp/switchboard/glob"
)

// Policy decides what principals that match may see and use: the scope, when set, is granted,
// and every claim, when set, has the value (or contains it).
//   - Allow (globs over exposed names) grants tools and prompts; a pattern that covers a whole
//     namespace ("everything__*", "*") also grants that upstream's resources and templates.
//   - AllowResources (globs over exposed URIs, glob.CompileURI) grants resources and templates
//     one by one.
type Policy struct {
	Scope          string
	Claims         map[string]string
	Allow          glob.List
	AllowResources glob.List
}

// Policies are tried in order; the first that matches a principal decides its view.
type Policies []Policy

// Rules are the policies, what a principal none matches gets, and how names are namespaced.
type Rules struct {
	Policies Policies
	// DenyUnmatched gives a principal no policy matches an empty view (auth.default_policy:
	// deny); otherwise it sees everything (allow, the default).
	DenyUnmatched bool
	// Separator joins a namespace and a name (naming.separator).
	Separator string
}

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

// decide returns the index of the policy that decides for p, or -1 when none does.
func (rs *Rules) decide(p *Principal) int {
	for i, pol := range rs.Policies {
		if pol.matches(p) {
			return i
		}
	}
	return -1
}

// View returns which exposed tool and prompt names principal p may see and use: nil for every
// one (auth is off, or no policy matches and the default allows), else a predicate. Matching
// the principal happens once here, not once per name.
func (rs *Rules) View(p *Principal) func(name string) bool {
	if p == nil {
		return nil
	}
	switch i := rs.decide(p); {
	case i >= 0:
		return rs.Policies[i].Allow.Match
	case rs.DenyUnmatched:
		return nothing
	}
	return nil
}

// ResourceView returns which resources and templates (by their upstream's namespace and their
// exposed URI) p may see and read: nil for every one, else a predicate.
func (rs *Rules) ResourceView(p *Principal) func(namespace, uri string) bool {
	if p == nil {
		return nil
	}
	switch i := rs.decide(p); {
	case i >= 0:
		pol := rs.Policies[i]
		return func(namespace, uri string) bool {
			return pol.AllowResources.Match(uri) || covers(pol.Allow, namespace, rs.Separator)
		}
	case rs.DenyUnmatched:
		return func(string, string) bool { return false }
	}
	return nil
}

func nothing(string) bool { return false }

// covers reports whether allow grants every name of namespace: it matches names of that
// namespace of any length. Names hold no '/', so a pattern ending in '*' after the namespace
// prefix ("everything__*", "every*", "*") covers it and one naming tools ("everything__echo",
// "everything__?") does not. An empty namespace (names without prefix) is covered only by a
// pattern that matches any name.
func covers(allow glob.List, namespace, sep string) bool {
	prefix := namespace + sep
	if namespace == "" {
		prefix = ""
	}
	return allow.Match(prefix+"\x01") && allow.Match(prefix+"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c")
}

// Allows reports whether principal p may see and call the tool exposed as name.
func (rs *Rules) Allows(p *Principal, name string) bool {
	view := rs.View(p)
	return view == nil || view(name)
}

// ViewKey names the view of principal p: principals with the same key see the same. It is the
// index of the policy that decides for p ("p3"), "none" for the empty default, or "all".
func (rs *Rules) ViewKey(p *Principal) string {
	if p == nil {
		return "all"
	}
	switch i := rs.decide(p); {
	case i >= 0:
		return "p" + strconv.Itoa(i)
	case rs.DenyUnmatched:
		return "none"
	}
	return "all"
}
