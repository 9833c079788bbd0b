package envelope

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// members is what encoding/json makes of obj's members, in order of the keys.
func decoded(t testing.TB, obj []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatalf("%s: %v", obj, err)
	}
	return m
}

func TestMembersAgreeWithEncodingJSON(t *testing.T) {
	for _, obj := range []string{
		`{}`,
		` { } `,
		`{"a":1}`,
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"s":"}{][,\"\\"}}}`,
		"{\n\t\"a\" : [1, {\"b\": [true, false, null]}, \"]\"] ,\r\n \"c\":-1.5e+3 }",
		`{"quote":"a\"b","unicode":"h\u00e9llo ☃","empty":"","nested":{"x":{"y":{"z":[[]]}}}}`,
	} {
		want := decoded(t, []byte(obj))
		got := map[string]json.RawMessage{}
		Members([]byte(obj), func(k, v []byte) bool {
			got[string(k)] = append(json.RawMessage(nil), v...)
			return true
		})
		if len(got) != len(want) {
			t.Fatalf("%s: got %d members, want %d", obj, len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Errorf("%s: member %q = %s, want %s", obj, k, got[k], v)
			}
		}
	}
}

func TestElements(t *testing.T) {
	var got []string
	Elements([]byte(` [ {"a":"]"} , 2,"x" ,[3,[4]] ,null] `), func(v []byte) bool {
		got = append(got, string(v))
		return true
	})
	want := []string{`{"a":"]"}`, `2`, `"x"`, `[3,[4]]`, `null`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	Elements([]byte(`{"a":1}`), func([]byte) bool { t.Fatal("an object has no elements"); return false })
	Elements([]byte(`[]`), func([]byte) bool { t.Fatal("an empty array has no elements"); return false })
}

func TestPickTellsWhatADecoderWouldReadDifferently(t *testing.T) {
	keys := []string{"name", "arguments"}
	for _, c := range []struct {
		obj        string
		name, args string
		plain      bool
	}{
		{`{"name":"a","arguments":{"x":1}}`, `"a"`, `{"x":1}`, true},
		{`{"arguments":null}`, ``, `null`, true},
		{`{"other":1}`, ``, ``, true},
		{`{"name":"a","name":"b"}`, `"b"`, ``, false}, // twins: the last, as a map decode
		{`{"\u006eame":"a"}`, `"a"`, ``, false},       // escaped key: decoded
		{`{"Name":"a"}`, ``, ``, false},               // a struct decode would take it
		{`{"nam\u0065":"a","NAME":"b"}`, `"a"`, ``, false},
		{"{\"\u017fomething\":1,\"arguments\":[]}", ``, `[]`, true},
		{"{\"argument\u017f\":1}", ``, ``, false}, // U+017F folds to s, as encoding/json folds
	} {
		vals := make([][]byte, 2)
		plain := Pick([]byte(c.obj), keys, vals)
		if string(vals[0]) != c.name || string(vals[1]) != c.args || plain != c.plain {
			t.Errorf("%s: got name %s, arguments %s, plain %v; want %s, %s, %v", c.obj, vals[0], vals[1], plain, c.name, c.args, c.plain)
		}
	}
}

func TestStringAndKind(t *testing.T) {
	if s, ok := String([]byte(`"tools/call"`)); !ok || string(s) != "tools/call" {
		t.Errorf("String = %q, %v", s, ok)
	}
	for _, v := range []string{`"a\"b"`, `1`, `null`, `{}`, ``} {
		if _, ok := String([]byte(v)); ok {
			t.Errorf("String(%s) ok; want a decode", v)
		}
	}
	for v, want := range map[string]string{`"plain"`: "plain", `"a\u00e9\"b"`: `aé"b`, "\"\xff\"": "\ufffd"} {
		if got, ok := DecodeString([]byte(v)); !ok || got != want {
			t.Errorf("DecodeString(%s) = %q, %v; want %q", v, got, ok, want)
		}
	}
	for _, v := range []string{`1`, `null`, `["a"]`, ``} {
		if _, ok := DecodeString([]byte(v)); ok {
			t.Errorf("DecodeString(%s) ok; want not a string", v)
		}
	}
	for v, want := range map[string]byte{`{}`: '{', `[]`: '[', `""`: '"', `true`: 't', `false`: 'f', `null`: 'n', `-1`: '0', `3`: '0', ``: 0} {
		if got := Kind([]byte(v)); got != want {
			t.Errorf("Kind(%s) = %q, want %q", v, got, want)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	obj := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{"text":"hello"}}}`)
	keys := []string{"jsonrpc", "id", "method", "params"}
	var vals [4][]byte
	if n := testing.AllocsPerRun(100, func() { Pick(obj, keys, vals[:]) }); n != 0 {
		t.Errorf("Pick allocates %v times per message", n)
	}
}

// FuzzMembers holds Members, Elements and Pick to encoding/json on any valid JSON: the same
// members with the same raw values, never a panic.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":"\"}"}],"c":null}`, `[1,"2",{"3":4}]`, `"x"`, `{"a":1,"a":2}`, `{"\u0061":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) { // anything: it must return
			Members(b, func(_, v []byte) bool { Elements(v, func([]byte) bool { return true }); return true })
			Elements(b, func([]byte) bool { return true })
			Pick(b, []string{"a"}, make([][]byte, 1))
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil {
			i := 0
			Elements(b, func(v []byte) bool {
				if i >= len(arr) || string(v) != strings.TrimSpace(string(arr[i])) {
					t.Fatalf("%s: element %d = %s", b, i, v)
				}
				i++
				return true
			})
			if i != len(arr) {
				t.Fatalf("%s: %d elements, want %d", b, i, len(arr))
			}
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			Members(b, func([]byte, []byte) bool { t.Fatalf("%s is not an object but has members", b); return false })
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		vals := make([][]byte, len(keys))
		Pick(b, keys, vals)
		for i, k := range keys {
			if string(vals[i]) != strings.TrimSpace(string(m[k])) {
				t.Fatalf("%s: member %q = %s, want %s", b, k, vals[i], m[k])
			}
		}
	})
}
