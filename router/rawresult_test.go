package router

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/cache"
)

var resultCorpus = []string{
	okResult,
	`{}`,
	`{"content":null}`,
	`{"content":[],"isError":true}`,
	`{"content":[{"type":"image","data":"x","mimeType":"image/png"}],"_meta":{"a":[1]}}`,
	`{"content":[],"_meta":{}}`,
	`{"content":[],"_meta":null}`,
	`{ "content" : [ ] }`,
	`{"resultType":"input_required","inputRequests":{}}`,
	`{"content":[{"type":"hologram"}]}`,
	`{"content":{"type":"text"}}`,
	`{"content":[],"isError":"yes"}`,
	`{"content":[],"_meta":[]}`,
	`{"Content":[]}`,
	`{"content":[],"content":[{"type":"text","text":"twice"}]}`,
	`{"content":[{"\u0074ype":"text","text":"escaped key"}]}`,
	`{"content":[],"_meta":{"io.switchboard/cache":"the upstream's own"}}`,
	`[]`,
	`"text"`,
}

// FuzzResultShape holds resultShape to mcp-go's decoder (and, on bytes that are not JSON, to
// returning at all): it never refuses a result mcp-go
// reads, agrees on isError, and a result it accepts gets a cache mark that decodes as the
// decoded result marked by hand.
func FuzzResultShape(f *testing.F) {
	for _, s := range resultCorpus {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) { // a tampered cache entry: refused or not, it must return
			if _, ok := resultShape(raw); ok {
				_ = appendCacheMarked(nil, raw, time.Second)
			}
			return
		}
		raw = bytes.TrimSpace(raw) // as the transport's decoder gives a raw value
		isError, ok := resultShape(raw)
		decoded, err := mcp.ParseCallToolResult((*json.RawMessage)(&raw))
		if err == nil && !ok {
			t.Fatalf("%s: refused, but mcp-go reads it", raw)
		}
		if err != nil {
			return // accepted or not: what resultShape does not look at (fields inside items)
		}
		if isError != decoded.IsError {
			t.Fatalf("%s: isError %v, mcp-go: %v", raw, isError, decoded.IsError)
		}
		marked := appendCacheMarked(nil, raw, 1500*time.Millisecond)
		got, err := mcp.ParseCallToolResult((*json.RawMessage)(&marked))
		if err != nil {
			t.Fatalf("%s marked is %s: %v", raw, marked, err)
		}
		r := &Router{log: quiet}
		want := r.decoded(t.Context(), answer{raw: raw, hit: &cache.Hit{Age: 1500 * time.Millisecond}})
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		var gv, wv any
		_ = json.Unmarshal(g, &gv)
		_ = json.Unmarshal(w, &wv)
		if !reflect.DeepEqual(gv, wv) {
			t.Fatalf("%s marked decodes to\n%s\nwant\n%s", raw, g, w)
		}
	})
}

func TestResultShape(t *testing.T) {
	for _, c := range []struct {
		raw         string
		isError, ok bool
	}{
		{okResult, false, true},
		{`{"content":[],"isError":true}`, true, true},
		{`{"content":null}`, false, true},
		{`{"resultType":"input_required"}`, false, true},
		{`{}`, false, false},
		{`{"content":[{"type":"hologram"}]}`, false, false},
		{`{"content":{"type":"text"}}`, false, false},
		{`{"content":[],"isError":"yes"}`, false, false},
		{`{"content":[],"_meta":[]}`, false, false},
		{`[]`, false, false},
	} {
		isError, ok := resultShape(json.RawMessage(c.raw))
		if isError != c.isError || ok != c.ok {
			t.Errorf("%s: isError %v, ok %v; want %v, %v", c.raw, isError, ok, c.isError, c.ok)
		}
	}
}

func TestAppendCacheMarked(t *testing.T) {
	for raw, want := range map[string]string{
		okResult:                          `{"_meta":{"io.switchboard/cache":{"hit":true,"ageMs":1500}},"content":[{"type":"text","text":"hello"}]}`,
		`{}`:                              `{"_meta":{"io.switchboard/cache":{"hit":true,"ageMs":1500}}}`,
		`{"content":[],"_meta":{}}`:       `{"content":[],"_meta":{"io.switchboard/cache":{"hit":true,"ageMs":1500}}}`,
		`{"content":[],"_meta":{"a":1} }`: `{"content":[],"_meta":{"a":1,"io.switchboard/cache":{"hit":true,"ageMs":1500}} }`,
		`{"content":[],"_meta":null}`:     `{"content":[],"_meta":{"io.switchboard/cache":{"hit":true,"ageMs":1500}}}`,
	} {
		if got := appendCacheMarked([]byte("x"), json.RawMessage(raw), 1500*time.Millisecond); string(got) != "x"+want {
			t.Errorf("%s marked:\n%s\nwant\n%s", raw, got[1:], want)
		}
	}
}

func TestResultShapeDoesNotAllocate(t *testing.T) {
	raw := json.RawMessage(`{"content":[{"type":"text","text":"hello"},{"type":"image","data":"x","mimeType":"image/png"}],"isError":false,"_meta":{"a":1}}`)
	if n := testing.AllocsPerRun(100, func() { resultShape(raw) }); n != 0 {
		t.Errorf("resultShape allocates %v times per result", n)
	}
}
