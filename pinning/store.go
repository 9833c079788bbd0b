package pinning

import (
	"context"
	"encoding/json"
	"time"
)

// Key names one pinned tool: the upstream service and the upstream's own tool name (not the
// exposed name, which naming may change without the tool changing).
type Key struct {
	Service string
	Tool    string
}

// Pin is the trusted definition of a tool: the first one seen, or the last one approved (or, in
// warn mode, the last one served).
type Pin struct {
	Hash  string          `json:"hash"`  // Hash of Def
	Def   json.RawMessage `json:"def"`   // the definition as the upstream sent it, compacted
	Since time.Time       `json:"since"` // when it became the pin
}

// Kind says what a held change is.
type Kind string

const (
	// KindChanged is a pinned tool whose definition changed.
	KindChanged Kind = "changed"
	// KindNew is a tool with no pin, held because new_tools is hold.
	KindNew Kind = "new"
)

// Change is a definition held for an operator's decision.
type Change struct {
	Kind      Kind            `json:"kind"`
	Hash      string          `json:"hash"`       // Hash of Def
	Def       json.RawMessage `json:"def"`        // the held definition, compacted
	FirstSeen time.Time       `json:"first_seen"` // when a replica first saw this definition
	// RejectedAt is when an operator rejected the change; nil: awaiting a decision. A rejected
	// change stays held while the upstream serves it, so it stays listed too.
	RejectedAt *time.Time `json:"rejected_at,omitempty"`
}

// Entry is everything stored about one tool. The zero Entry is "nothing stored".
type Entry struct {
	Pin  *Pin    // nil: never trusted (a held new tool, or nothing)
	Held *Change // nil: nothing held
}

func (e Entry) empty() bool { return e.Pin == nil && e.Held == nil }

// same reports whether a and b decide alike: the same pin, the same held change in the same
// state. It is what "the catalog should be rebuilt" compares.
func same(a, b Entry) bool {
	if (a.Pin == nil) != (b.Pin == nil) || (a.Held == nil) != (b.Held == nil) {
		return false
	}
	if a.Pin != nil && a.Pin.Hash != b.Pin.Hash {
		return false
	}
	if a.Held != nil {
		x, y := a.Held, b.Held
		if x.Kind != y.Kind || x.Hash != y.Hash || !x.FirstSeen.Equal(y.FirstSeen) ||
			(x.RejectedAt == nil) != (y.RejectedAt == nil) {
			return false
		}
	}
	return true
}

// Store keeps pins and held changes, in a file or where every replica sees them (Redis).
// Implementations are safe for concurrent use.
type Store interface {
	// Load returns every stored entry.
	Load(ctx context.Context) (map[Key]Entry, error)
	// Swap replaces k's entry with next if what is stored is old (the zero Entry: nothing), and
	// returns what is stored afterwards and whether it swapped. A first pin is therefore set only
	// where none is, so replicas racing on a tool agree on the one that landed first.
	Swap(ctx context.Context, k Key, old, next Entry) (Entry, bool, error)
}

// Watcher is a Store that other replicas write to as well.
type Watcher interface {
	// Watch calls changed, which must not block, whenever another replica may have written,
	// and once at the start; it returns when ctx ends.
	Watch(ctx context.Context, changed func())
}
