package router

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/switchboard-mcp/switchboard/cache"
	"github.com/switchboard-mcp/switchboard/ratelimit"
	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// reply is what the differential test's upstream does on a call: say things on the way (as an
// upstream's progress and log messages reach the relay), then answer.
type reply struct {
	notes  []map[string]any // notifications/progress params (progressToken set by the relay) or, with "level", notifications/message
	result string
	err    error
}

// scriptedUpstreams answers each tool's call with its reply.
func scriptedUpstreams(replies map[string]reply) *fakeUpstreams {
	tools := make([]string, 0, len(replies))
	for name := range replies {
		tools = append(tools, name)
	}
	return &fakeUpstreams{
		listings: []upstream.Listing{listing("demo", "demo", tools...)},
		answer: func(_ int, req upstream.CallRequest) (upstream.CallResult, error) {
			rep := replies[req.Tool]
			for _, n := range rep.notes {
				params := map[string]any{}
				for k, v := range n {
					params[k] = v
				}
				method := string(mcp.MethodNotificationProgress)
				if _, isLog := n["level"]; isLog {
					method = string(mcp.MethodNotificationMessage)
				} else if req.Relay.ProgressToken() == nil {
					continue
				} else {
					params["progressToken"] = req.Relay.ProgressToken()
				}
				req.Relay.Notify(method, params)
			}
			return upstream.CallResult{Raw: json.RawMessage(rep.result), Instance: "i1"}, rep.err
		},
	}
}

// exchange is what a client gets for one request: the response's kind and every message in it.
type exchange struct {
	status      int
	contentType string
	messages    []map[string]any // decoded, each result normalized through mcp-go's decoder
}

// post sends body on session and reads the response as a client does.
func post(t *testing.T, h http.Handler, session, body string) exchange {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, mcpRequest(body, session))
	ex := exchange{status: rec.Code, contentType: rec.Header().Get("Content-Type")}
	var raw [][]byte
	if strings.HasPrefix(ex.contentType, "text/event-stream") {
		sc := bufio.NewScanner(rec.Body)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				raw = append(raw, []byte(data))
			}
		}
	} else {
		raw = append(raw, rec.Body.Bytes())
	}
	for _, m := range raw {
		ex.messages = append(ex.messages, normalized(t, m))
	}
	return ex
}

// normalized decodes one JSON-RPC message; a result goes through mcp-go's decoder and encoder,
// so two results that decode the same compare equal; a cache hit's age is zeroed.
func normalized(t *testing.T, msg []byte) map[string]any {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("a message that is not JSON: %v: %.300s", err, msg)
	}
	out := map[string]any{}
	for k, v := range m {
		var x any
		if k == "result" {
			res, err := mcp.ParseCallToolResult(&v)
			if err != nil {
				t.Fatalf("a result mcp-go cannot read: %v: %.300s", err, v)
			}
			if res.Meta != nil {
				if mark, ok := res.Meta.AdditionalFields[CacheMetaKey].(map[string]any); ok {
					mark["ageMs"] = 0
				}
			}
			v, _ = json.Marshal(res)
		}
		_ = json.Unmarshal(v, &x)
		out[k] = x
	}
	return out
}

// slowly is body with the key "name" of its params escaped: mcp-go reads it the same, and
// readMessage leaves the message to it, so the same call takes the slow path.
func slowly(body string) string {
	return strings.Replace(body, `"name":`, `"n\u0061me":`, 1)
}

func callBody(tool, extra string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{` + extra + `"name":"` + tool + `","arguments":{"text":"hé ☃"}}}`
}

// TestFastPathAnswersAsTheSlowPath is the differential test of the fast path: for a corpus of
// calls, the same request answered by the fast path and by mcp-go's decodes to the same
// messages, of the same kind (JSON or an SSE stream), with the same status.
func TestFastPathAnswersAsTheSlowPath(t *testing.T) {
	huge := `{"content":[{"type":"text","text":"` + strings.Repeat("x", 2<<20) + `"}]}`
	replies := map[string]reply{
		"text":        {result: okResult},
		"image":       {result: `{"content":[{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}]}`},
		"audio":       {result: `{"content":[{"type":"audio","data":"UklGRg==","mimeType":"audio/wav"}]}`},
		"resource":    {result: `{"content":[{"type":"resource","resource":{"uri":"file:///a","text":"a","mimeType":"text/plain"}},{"type":"resource_link","uri":"file:///b","name":"b"}]}`},
		"structured":  {result: `{"content":[{"type":"text","text":"{\"a\":1}"}],"structuredContent":{"a":1,"b":[true,null,"\u2028"]}}`},
		"tool_error":  {result: `{"content":[{"type":"text","text":"boom"}],"isError":true}`},
		"unicode":     {result: `{"content":[{"type":"text","text":"h\u00e9llo ☃ 𝄞 \"q\" \\ </script><b>"}]}`},
		"with_meta":   {result: `{"_meta":{"upstream":{"n":1}},"content":[]}`},
		"empty_meta":  {result: `{ "content" : [ ] , "_meta" : { } }`},
		"null_meta":   {result: `{"content":[{"type":"text","text":"x"}],"_meta":null}`},
		"huge":        {result: huge},
		"extra":       {result: `{"content":[{"type":"text","text":"x"}],"notInTheSpec":{"kept":true}}`},
		"unusable":    {result: `{"contents":[]}`},
		"bad_item":    {result: `{"content":[{"type":"hologram"}]}`},
		"not_object":  {result: `[1,2]`},
		"rpc_error":   {err: &upstream.RPCError{Code: -32001, Message: "nope", Data: map[string]any{"why": "because"}}},
		"timeout":     {err: upstream.ErrTimeout},
		"no_instance": {err: upstream.ErrNoInstance},
		"progress": {result: okResult, notes: []map[string]any{
			{"progress": 1, "total": 2, "message": "half"}, {"progress": 2, "total": 2}}},
		"logs": {result: okResult, notes: []map[string]any{
			{"level": "debug", "logger": "demo", "data": "quiet"}, {"level": "error", "logger": "demo", "data": map[string]any{"a": 1}}}},
		"limited":     {result: okResult},
		"cached":      {result: `{"content":[{"type":"text","text":"from the upstream"}]}`},
		"cached_meta": {result: `{"content":[],"_meta":{"k":"v"}}`},
		"secret":      {result: okResult},
	}
	opts := Options{
		Cache:         cache.New(cache.NewMemory(1<<20), time.Second, quiet),
		MaxEntryBytes: 1 << 20,
		View: func(context.Context) (string, func(string) bool) {
			return "no-secret", func(name string) bool { return name != "demo__secret" }
		},
		Policy: Policy{
			Cache: func(name ExposedName, _ time.Duration, _ mcp.ToolAnnotation) *CacheRule {
				if strings.HasPrefix(string(name), "demo__cached") {
					return &CacheRule{TTL: time.Hour}
				}
				return nil
			},
			Limit: func(name ExposedName, _ ratelimit.Rate) ratelimit.Limit {
				if name == "demo__limited" {
					return ratelimit.Limit{Rate: 0.001, Burst: 1}
				}
				return ratelimit.Unlimited
			},
			Review: func(_ registry.ServiceName, tool string, raw json.RawMessage) Pinned {
				return Pinned{Serve: raw, Held: tool == "held"}
			},
		},
	}
	replies["held"] = reply{result: okResult}
	r := newPipelineRouter(t, scriptedUpstreams(replies), opts)
	h := r.Handler()
	session := initialize(t, h)
	h.ServeHTTP(httptest.NewRecorder(), mcpRequest(`{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"info"}}`, session))

	cases := []struct{ name, body string }{
		{"unknown tool", callBody("demo__nothing", "")},
		{"outside the caller's view", callBody("demo__secret", "")},
		{"held definition", callBody("demo__held", "")},
		{"progress token", callBody("demo__progress", `"_meta":{"progressToken":"tok-1"},`)},
		{"numeric progress token", callBody("demo__progress", `"_meta":{"progressToken":42},`)},
		{"progress without a token", callBody("demo__progress", "")},
		{"trace context in _meta", callBody("demo__text", `"_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},`)},
		{"no arguments", `{"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"demo__text"}}`},
	}
	for name := range replies {
		if name != "secret" && name != "held" && name != "limited" && !strings.HasPrefix(name, "cached") {
			cases = append(cases, struct{ name, body string }{name, callBody("demo__"+name, "")})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast, slow := post(t, h, session, c.body), post(t, h, session, slowly(c.body))
			compare(t, fast, slow)
		})
	}
	// Stateful ones, in order: the first call fills the cache (or takes the one token), the
	// second is a hit (or limited). Fast first, then slow, each from a fresh state.
	for _, tool := range []string{"demo__cached", "demo__cached_meta", "demo__limited"} {
		t.Run(tool, func(t *testing.T) {
			var got [2][]exchange
			for i, body := range []string{callBody(tool, ""), slowly(callBody(tool, ""))} {
				r := newPipelineRouter(t, scriptedUpstreams(replies), opts)
				h := r.Handler()
				s := initialize(t, h)
				got[i] = []exchange{post(t, h, s, body), post(t, h, s, body)}
			}
			compare(t, got[0][0], got[1][0])
			compare(t, got[0][1], got[1][1])
			if reflect.DeepEqual(got[0][0].messages, got[0][1].messages) {
				t.Errorf("the second call answered as the first: %v; want a cache hit or a refusal", got[0][1].messages)
			}
		})
	}
}

func compare(t *testing.T, fast, slow exchange) {
	t.Helper()
	if fast.status != slow.status || fast.contentType != slow.contentType {
		t.Errorf("fast path: %d %s; slow path: %d %s", fast.status, fast.contentType, slow.status, slow.contentType)
	}
	if !reflect.DeepEqual(fast.messages, slow.messages) {
		f, _ := json.Marshal(fast.messages)
		s, _ := json.Marshal(slow.messages)
		t.Errorf("fast path answered\n%.600s\nslow path answered\n%.600s", f, s)
	}
	if len(fast.messages) == 0 {
		t.Error("no answer")
	}
}

func initialize(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, mcpRequest(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, ""))
	session := rec.Header().Get("Mcp-Session-Id")
	if session == "" {
		t.Fatalf("no session: %d %s", rec.Code, rec.Body.String())
	}
	return session
}

// TestFastPathTakesOnlyPlainCalls: what readMessage hands the fast path, and what it leaves to
// mcp-go's decoder.
func TestFastPathTakesOnlyPlainCalls(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool
	}{
		{callBody("demo__echo", ""), true},
		{callBody("demo__echo", `"_meta":{"progressToken":1},`), true},
		{slowly(callBody("demo__echo", "")), false},
		{callBody("demo__echo", `"Name":"demo__other",`), false},
		{callBody("demo__echo", `"task":{"ttl":1000},`), false},
		{callBody("demo__echo", `"_meta":"not an object",`), false},
		{`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"demo__echo"}}`, false}, // a notification
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, false},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`, false},
	} {
		msg, ok := readMessage([]byte(c.body))
		if !ok || (msg.call != nil) != c.fast {
			t.Errorf("%s: read %v, fast path %v; want fast path %v", c.body, ok, msg.call != nil, c.fast)
		}
	}
	if msg, _ := readMessage([]byte(callBody("demo__echo", `"_meta":{"progressToken":"t","traceparent":"tp"},`))); msg.call.name != "demo__echo" ||
		string(msg.call.args) != `{"text":"hé ☃"}` || msg.call.progressToken != "t" || msg.call.traceParent != "tp" {
		t.Errorf("read %+v", msg.call)
	}
}

// FuzzReadMessage: whatever the body, readMessage does not panic, reads only JSON objects (a
// message whose keys need decoding and do not decode is not read, as before the fast path),
// and what it reads of a valid message agrees with encoding/json's reading.
func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{callBody("demo__echo", `"_meta":{"progressToken":"t"},`), `{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"id":"\u0031","method":"tools\/call","params":{"name":"a\"b","arguments":[1]}}`, `{"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, `[`, `{"a":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, ok := readMessage(body)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"params"`
		}
		object := json.Valid(body) && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))
		if ok && !object {
			t.Fatalf("%q: read, but it is no JSON object", body)
		}
		if !ok || json.Unmarshal(body, &m) != nil {
			return
		}
		if msg.Method != m.Method || string(msg.ID) != string(m.ID) {
			t.Fatalf("%q: read method %q id %s; encoding/json: %q %s", body, msg.Method, msg.ID, m.Method, m.ID)
		}
		if msg.call != nil && (msg.call.name != m.Params.Name || string(msg.call.args) != string(m.Params.Arguments)) {
			t.Fatalf("%q: read call %q %s; encoding/json: %q %s", body, msg.call.name, msg.call.args, m.Params.Name, m.Params.Arguments)
		}
	})
}
