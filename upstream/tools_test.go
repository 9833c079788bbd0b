package upstream

import (
	"encoding/json"
	"testing"
)

func TestParsePage(t *testing.T) {
	items, next, err := parsePage(json.RawMessage(`{"tools":[{"name":"a","x":{"$schema":1}},{"name":"b"}],"nextCursor":"c2"}`), toolList)
	if err != nil || len(items) != 2 || next != "c2" {
		t.Fatalf("parsePage = %v, %q, %v", items, next, err)
	}
	if items[0].Name != "a" || string(items[0].Raw) != `{"name":"a","x":{"$schema":1}}` {
		t.Errorf("item kept as %s %s, want byte for byte", items[0].Name, items[0].Raw)
	}
	for _, bad := range []string{`[]`, `{"tools":{}}`, `{"tools":[{"title":"no name"}]}`, `{"tools":[{"name":""}]}`, `{"tools":[7]}`} {
		if _, _, err := parsePage(json.RawMessage(bad), toolList); err == nil {
			t.Errorf("parsePage(%s) accepted a malformed page", bad)
		}
	}
	if items, _, err := parsePage(json.RawMessage(`{}`), toolList); err != nil || len(items) != 0 {
		t.Errorf("a page without tools: %v %v, want none and no error", items, err)
	}
}

// FuzzParsePage: whatever an upstream sends as a list page, parsePage returns an error or items
// that each have their key and are the JSON objects the upstream sent.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`{"tools":[{"name":"a","inputSchema":{"type":"object"}}],"nextCursor":"x"}`), 0)
	f.Add([]byte(`{"resources":[{"uri":"file:///a"}]}`), 2)
	f.Add([]byte(`{"tools":[{"name":1}]}`), 0)
	f.Add([]byte(`{"tools":null,"nextCursor":5}`), 0)
	kinds := []listKind{toolList, promptList, resourceList, templateList}
	f.Fuzz(func(t *testing.T, result []byte, k int) {
		kind := kinds[uint(k)%uint(len(kinds))]
		items, _, err := parsePage(result, kind)
		if err != nil {
			return
		}
		for _, it := range items {
			// Checked by another road than parsePage's: a generic decode and a type assertion.
			var obj map[string]any
			if json.Unmarshal(it.Raw, &obj) != nil {
				t.Fatalf("item %q kept as %s, not an object", it.Name, it.Raw)
			}
			if key, _ := obj[kind.key].(string); key != it.Name || key == "" {
				t.Fatalf("item %q kept as %s", it.Name, it.Raw)
			}
		}
	})
}
