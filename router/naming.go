package router

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// ExposedName is a tool name as clients see it: namespace + separator + the upstream's name,
// restricted to [A-Za-z0-9_-] and at most Naming.MaxLength bytes.
type ExposedName string

// Naming turns upstream tool names into exposed names.
type Naming struct {
	Separator string // joins namespace and name; assumed to be of the allowed characters
	MaxLength int    // at least 16
}

const hashLen = 8 // hex digits of the suffix that keeps shortened or colliding names distinct

// candidate is the exposed name a tool asks for: the joined name with every disallowed character
// replaced by '_', shortened with a hash suffix when too long. altered reports whether it differs
// from the plain join, which loses to an unaltered name in a collision.
func (n Naming) candidate(namespace, original string) (name ExposedName, altered bool) {
	joined := original
	if namespace != "" {
		joined = namespace + n.Separator + original
	}
	var b strings.Builder
	b.Grow(len(joined))
	for i := 0; i < len(joined); i++ {
		c := joined[i]
		if c == '_' || c == '-' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > n.MaxLength {
		return n.withSuffix(s, joined), true
	}
	return ExposedName(s), s != joined
}

// withSuffix shortens name to leave room for "_" + a hash of key, and appends it. The same key
// always gives the same suffix, so names are stable across restarts and replicas.
func (n Naming) withSuffix(name, key string) ExposedName {
	sum := sha256.Sum256([]byte(key))
	keep := min(len(name), n.MaxLength-hashLen-1)
	return ExposedName(name[:keep] + "_" + hex.EncodeToString(sum[:])[:hashLen])
}
