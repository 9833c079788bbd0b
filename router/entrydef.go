package router

import "cmp"

// Title is the tool's display title as clients see it (its title, else its annotations' title;
// the operator's override, else the upstream's; the pinned definition's while a change is held),
// "" when it has none. It comes from an upstream: whoever shows it must escape it.
func (e *Entry) Title() string { return cmp.Or(e.def.Title, e.def.Annotations.Title) }

// Description is the tool's description as clients see it, chosen like Title; escape it too.
func (e *Entry) Description() string { return e.def.Description }
