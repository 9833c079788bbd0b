package router

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/internal/envelope"
)

// A tools/call result stays the bytes the upstream sent, from its response to the client's
// (fastpath.go): these read and mark it without decoding it.

// resultKeys are the members of a result resultShape reads, in the order of its vals.
var resultKeys = []string{"content", "isError", "_meta", "resultType", "structuredContent"}

// contentTypes are the content item types a client can read (mcp.UnmarshalContent's).
var contentTypes = []string{mcp.ContentTypeText, mcp.ContentTypeImage, mcp.ContentTypeAudio, mcp.ContentTypeLink,
	mcp.ContentTypeResource, mcp.ContentTypeToolUse, mcp.ContentTypeToolResult}

// resultShape reports whether raw has the shape of a tools/call result, as mcp-go's decoder
// checks it - an object whose content is an array of items of known types (absent only from a
// result asking for input), isError a bool, _meta an object, resultType a string - and whether
// it is a tool error. It does not look inside content items: their fields reach the client as
// the upstream wrote them, as through any proxy. raw is valid JSON (the transport decoded it,
// or the cache kept it).
func resultShape(raw json.RawMessage) (isError, ok bool) {
	if envelope.Kind(raw) != '{' {
		return false, false
	}
	var vals [5][]byte
	if !envelope.Pick(raw, resultKeys, vals[:]) {
		return decodedShape(raw) // keys a decoder may read otherwise: decode
	}
	content, flag, meta, resultType, _ := vals[0], vals[1], vals[2], vals[3], vals[4]
	switch {
	case !oneOf(flag, 't', 'f', 'n', 0), !oneOf(meta, '{', 'n', 0), !oneOf(resultType, '"', 'n', 0):
		return false, false
	case content == nil:
		t, _ := envelope.String(resultType)
		return false, string(t) == string(mcp.ResultTypeInputRequired)
	case !oneOf(content, '[', 'n'):
		return false, false
	}
	ok = true
	envelope.Elements(content, func(item []byte) bool {
		ok = knownContent(item)
		return ok
	})
	return envelope.Kind(flag) == 't', ok
}

// knownContent reports whether item is an object with a "type" of a known content type.
func knownContent(item []byte) bool {
	var typ [1][]byte
	if envelope.Kind(item) != '{' || !envelope.Pick(item, typeKey, typ[:]) {
		_, err := mcp.UnmarshalContent(item)
		return err == nil
	}
	t, ok := envelope.String(typ[0])
	if !ok {
		return false
	}
	for _, known := range contentTypes {
		if string(t) == known {
			return true
		}
	}
	return false
}

// decodedShape is resultShape by decoding, for results whose keys need it.
func decodedShape(raw json.RawMessage) (isError, ok bool) {
	res, err := mcp.ParseCallToolResult(&raw)
	if err != nil {
		return false, false
	}
	return res.IsError, true
}

func oneOf(v []byte, kinds ...byte) bool {
	k := envelope.Kind(v)
	for _, want := range kinds {
		if k == want {
			return true
		}
	}
	return false
}

// appendCacheMarked appends raw, a result resultShape accepted, to dst with the cache's mark
// in its _meta: the bytes around are copied, not decoded. The mark goes last in _meta, so it
// is the one read even where the upstream sent a key of the same name.
func appendCacheMarked(dst []byte, raw json.RawMessage, age time.Duration) []byte {
	var vals [1][]byte
	if !envelope.Pick(raw, metaKey, vals[:]) {
		return appendDecodedMarked(dst, raw, age) // a _meta key a decoder may read otherwise
	}
	meta := vals[0]
	switch {
	case meta == nil: // the result gets a _meta of the mark alone, first
		dst = append(dst, raw[0])
		dst = appendMark(append(dst, `"_meta":{`...), age)
		dst = append(dst, '}')
		if !emptyObject(raw) {
			dst = append(dst, ',')
		}
		return append(dst, raw[1:]...)
	case envelope.Kind(meta) != '{': // null
		at := offset(raw, meta)
		dst = appendMark(append(append(dst, raw[:at]...), '{'), age)
		return append(append(dst, '}'), raw[at+len(meta):]...)
	}
	closing := offset(raw, meta) + len(meta) - 1 // _meta's own closing brace
	dst = append(dst, raw[:closing]...)
	if !emptyObject(meta) {
		dst = append(dst, ',')
	}
	return append(appendMark(dst, age), raw[closing:]...)
}

// appendDecodedMarked is appendCacheMarked by decoding and encoding, for results whose keys
// need it.
func appendDecodedMarked(dst []byte, raw json.RawMessage, age time.Duration) []byte {
	res, err := mcp.ParseCallToolResult(&raw)
	if err != nil { // resultShape accepted it: a field inside an item; passed on unmarked
		return append(dst, raw...)
	}
	if res.Meta == nil {
		res.Meta = &mcp.Meta{}
	}
	if res.Meta.AdditionalFields == nil {
		res.Meta.AdditionalFields = map[string]any{}
	}
	res.Meta.AdditionalFields[CacheMetaKey] = map[string]any{"hit": true, "ageMs": age.Milliseconds()}
	b, _ := json.Marshal(res)
	return append(dst, b...)
}

var metaKey, typeKey = []string{"_meta"}, []string{"type"}

func appendMark(dst []byte, age time.Duration) []byte {
	dst = append(dst, `"`+CacheMetaKey+`":{"hit":true,"ageMs":`...)
	return append(strconv.AppendInt(dst, age.Milliseconds(), 10), '}')
}

// offset is where sub, a slice of b, starts in b.
func offset(b, sub []byte) int { return cap(b) - cap(sub) }

func emptyObject(obj []byte) bool {
	empty := true
	envelope.Members(obj, func(_, _ []byte) bool { empty = false; return false })
	return empty
}
