package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-mcp/switchboard/internal/envelope"
)

// jsonSpace is the white space JSON allows between tokens (not all of Unicode's).
const jsonSpace = " \t\r\n"

// Canonical returns the canonical JSON of a JSON value: object keys sorted, no insignificant
// space, numbers in one spelling (1, 1.0 and 1e0 are all 1). Two argument objects a tool cannot
// tell apart get the same bytes, and so the same cache key.
func Canonical(raw []byte) ([]byte, error) {
	if len(bytes.Trim(raw, jsonSpace)) == 0 {
		return []byte("{}"), nil // absent arguments are the empty object
	}
	if canonical(raw) {
		return raw, nil // the usual arguments of a client: already so, no decode needed
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("arguments are not JSON: %w", err)
	}
	if rest := bytes.Trim(raw[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return nil, fmt.Errorf("arguments are not one JSON value")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// canonical reports whether raw is already canonical JSON, read without decoding it (no
// allocation): valid, no space, keys in order and each once, strings as json.Marshal writes
// them, numbers integers not -0. A false answer only means Canonical has to decode.
func canonical(raw []byte) bool {
	if len(bytes.Trim(raw, jsonSpace)) != len(raw) || !json.Valid(raw) {
		return false
	}
	return canonicalValue(raw)
}

func canonicalValue(v []byte) bool {
	if string(v) == "{}" || string(v) == "[]" {
		return true
	}
	switch envelope.Kind(v) {
	case '{':
		ok, n, prev := true, 1, []byte(nil) // n: the bytes the members take, with braces and commas
		envelope.Members(v, func(key, value []byte) bool {
			ok = canonicalString(key) && (prev == nil || bytes.Compare(prev, key) < 0) && canonicalValue(value)
			n += len(key) + 3 + len(value) + 1 // "key": value and a comma (or the closing brace)
			prev = key
			return ok
		})
		return ok && n == len(v) // no space anywhere between
	case '[':
		ok, n := true, 1
		envelope.Elements(v, func(e []byte) bool {
			ok = canonicalValue(e)
			n += len(e) + 1
			return ok
		})
		return ok && n == len(v)
	case '"':
		return canonicalString(v[1 : len(v)-1])
	case '0':
		return !bytes.ContainsAny(v, ".eE") && string(v) != "-0"
	}
	return true // true, false, null
}

// canonicalString reports whether s (without its quotes) is as json.Marshal writes a string:
// no escape, valid UTF-8, none of what it escapes (<, >, &, U+2028, U+2029).
func canonicalString(s []byte) bool {
	return utf8.Valid(s) && !bytes.ContainsAny(s, "\\<>&\u2028\u2029")
}

func writeCanonical(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			if err := writeCanonical(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(canonicalNumber(v))
	default: // strings, booleans, null
		out, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(out)
	}
	return nil
}

// canonicalNumber spells a number one way: integers (exactly representable) without fraction or
// exponent, others in Go's shortest round-trip form.
func canonicalNumber(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		return strings.TrimPrefix(s, "+") // a huge integer: keep its digits
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
