// Package envelope reads the members of a JSON object without decoding them: each key and value
// is a slice of the input's own bytes. It is what the gateway's hot path reads of a JSON-RPC
// message (the envelope: jsonrpc, id, method, params) and of a tools/call result (its shape),
// without the allocations of encoding/json.
//
// Every function takes input that json.Valid accepts (Object checks); on such input they never
// fail, and they never allocate. On anything else (bytes from a store that was tampered with)
// they return something meaningless, but return: no panic, no endless loop.
package envelope

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Object reports whether b, after surrounding whitespace, is one valid JSON object.
func Object(b []byte) bool {
	i := space(b, 0)
	return i < len(b) && b[i] == '{' && json.Valid(b)
}

// Members calls fn with the key and the raw value of each member of obj in order, until fn
// returns false. key is the key as written, quotes stripped and escapes left as they are (see
// Plain); value is the member's whole JSON value. obj must be valid JSON; if it is not an object,
// fn is never called.
func Members(obj []byte, fn func(key, value []byte) bool) {
	i := space(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i = space(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		keyEnd := stringEnd(obj, i)
		if keyEnd-1 <= i || obj[keyEnd-1] != '"' {
			return // not JSON after all: an unterminated key
		}
		key := obj[i+1 : keyEnd-1]
		i = space(obj, keyEnd)
		i = space(obj, i+1) // the colon
		if i >= len(obj) {
			return
		}
		end := valueEnd(obj, i)
		if end == i { // not JSON after all: stop rather than loop
			return
		}
		if !fn(key, obj[i:end]) {
			return
		}
		i = space(obj, end)
		if i < len(obj) && obj[i] == ',' {
			i = space(obj, i+1)
		}
	}
}

// Elements calls fn with each element of the JSON array arr in order, until fn returns false.
// arr must be valid JSON; if it is not an array, fn is never called.
func Elements(arr []byte, fn func(value []byte) bool) {
	i := space(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i = space(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := valueEnd(arr, i)
		if end == i { // not JSON after all: stop rather than loop
			return
		}
		if !fn(arr[i:end]) {
			return
		}
		i = space(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = space(arr, i+1)
		}
	}
}

// Plain reports whether a key or string as Members gives it has no escape: it then means
// exactly its bytes. One with escapes ("\u006eame") has to be decoded to be compared.
func Plain(s []byte) bool { return bytes.IndexByte(s, '\\') < 0 }

// String returns the value of the JSON string v without its quotes when it means exactly its
// bytes (no escape, valid UTF-8), and whether it was such a string. Anything else (another
// type, escapes, bytes a decoder replaces) is not ok: decode it.
func String(v []byte) (s []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' || !Plain(v[1:len(v)-1]) || !utf8.Valid(v[1:len(v)-1]) {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// DecodeString returns the JSON string v decoded, and whether v is a string. One that means its
// bytes (String) costs only the string; one with escapes is decoded by encoding/json.
func DecodeString(v []byte) (string, bool) {
	if s, ok := String(v); ok {
		return string(s), true
	}
	var s string
	return s, Kind(v) == '"' && json.Unmarshal(v, &s) == nil
}

// Kind is the JSON type of a raw value: '{', '[', '"', 't' or 'f' (a bool), 'n' (null), or
// '0' (a number); 0 for an empty value.
func Kind(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; c {
	case '{', '[', '"', 'n', 't', 'f':
		return c
	}
	return '0'
}

// Pick stores in vals[i] the value of obj's member keys[i] (nil when there is none), reading
// keys as encoding/json does into a map: escapes and invalid UTF-8 decoded, the last of twins
// kept. It reports
// whether obj was plain for those keys: none written with escapes, none twice, none matching
// one of keys only without regard to case. A reader that must agree with encoding/json's
// struct decoding (which matches keys whatever their case) decodes a message that is not plain.
func Pick(obj []byte, keys []string, vals [][]byte) (plain bool) {
	plain = true
	clear(vals)
	Members(obj, func(key, value []byte) bool {
		if !Plain(key) || !utf8.Valid(key) { // encoding/json makes U+FFFD of invalid UTF-8
			plain = false
			var k string
			if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k) != nil {
				return true
			}
			key = []byte(k)
		}
		for i, want := range keys {
			switch {
			case string(key) == want:
				if vals[i] != nil {
					plain = false
				}
				vals[i] = value
			case strings.EqualFold(string(key), want):
				plain = false
			}
		}
		return true
	})
	return plain
}

func space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts (with its quote) at i.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte; \uXXXX's digits are plain bytes
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value that starts at i.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	// A number or a literal: up to the next delimiter.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
