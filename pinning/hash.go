package pinning

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/switchboard-mcp/switchboard/cache"
)

// hashedFields are the parts of a definition that steer an agent, in sorted order. name is the
// pin's key, and _meta (and anything else) is the upstream's own bookkeeping, which may change
// without the tool changing.
var hashedFields = []string{"annotations", "description", "inputSchema", "outputSchema", "title"}

// fields returns the hashed fields present in def (a field set to null counts as absent).
func fields(def json.RawMessage) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(def, &all); err != nil {
		return nil, err
	}
	part := make(map[string]json.RawMessage, len(hashedFields))
	for _, f := range hashedFields {
		if v, ok := all[f]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			part[f] = v
		}
	}
	return part, nil
}

// canonicalPart is the canonical JSON of def's hashed fields.
func canonicalPart(def json.RawMessage) ([]byte, error) {
	part, err := fields(def)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(part)
	if err != nil {
		return nil, err
	}
	return cache.Canonical(b)
}

// Hash identifies what a definition tells an agent: the SHA-256, in hex, of the canonical JSON
// of its description, title, inputSchema, outputSchema and annotations. Two definitions that
// differ only in key order, spacing, number spelling, name or _meta hash alike. A definition
// that is not a JSON object hashes by its bytes ("raw:" + hex), so any change of it still shows.
func Hash(def json.RawMessage) string {
	canon, err := canonicalPart(def)
	if err != nil {
		sum := sha256.Sum256(def)
		return "raw:" + hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// changedFields names the hashed fields whose canonical JSON differs between old and next;
// nil when either is not a JSON object.
func changedFields(old, next json.RawMessage) []string {
	a, errA := fields(old)
	b, errB := fields(next)
	if errA != nil || errB != nil {
		return nil
	}
	var changed []string
	for _, f := range hashedFields {
		if !bytes.Equal(canonicalOrNil(a[f]), canonicalOrNil(b[f])) {
			changed = append(changed, f)
		}
	}
	return changed
}

func canonicalOrNil(v json.RawMessage) []byte {
	if v == nil {
		return nil
	}
	c, err := cache.Canonical(v)
	if err != nil {
		return v
	}
	return c
}

// pretty renders def's hashed fields as indented canonical JSON (keys sorted, numbers in one
// spelling, <, > and & left alone so a poisoned description reads as written), for a diff. A
// definition that is not a JSON object is returned as it is.
func pretty(def json.RawMessage) string {
	canon, err := canonicalPart(def)
	if err != nil {
		return string(def)
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(def)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return string(def)
	}
	return b.String()
}

// compact returns def without insignificant space, so that stored entries encode the same
// way every time. A definition that is not JSON (no upstream that speaks MCP sends one) is kept
// as a JSON string of its bytes, so that it can still be stored and shown.
func compact(def json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, def); err != nil {
		s, _ := json.Marshal(string(def))
		return s
	}
	return b.Bytes()
}
