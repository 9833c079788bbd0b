package router

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard-mcp/switchboard/upstream"
)

func TestErrorWriterRewrites(t *testing.T) {
	t.Parallel()
	upstreamErr := &upstream.RPCError{Code: -32001, Message: "quota exceeded", Data: map[string]any{"retry": 3.0}}
	placeholder := `{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"` + errPlaceholder.Error() + `"}}`
	tests := []struct {
		name string
		slot *upstream.RPCError
		in   string
		want string
	}{
		{"placeholder in a JSON body", upstreamErr, placeholder + "\n",
			`{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"quota exceeded","data":{"retry":3}}}` + "\n"},
		{"placeholder in an SSE event", upstreamErr, "event: message\ndata: " + placeholder + "\n\n",
			"event: message\ndata: " + `{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"quota exceeded","data":{"retry":3}}}` + "\n\n"},
		{"mcp-go's not found", nil, `{"jsonrpc":"2.0","id":"a","error":{"code":-32602,"message":"tool 'x__y' not found: tool not found"}}`,
			`{"jsonrpc":"2.0","id":"a","error":{"code":-32602,"message":"unknown tool: x__y"}}`},
		{"other errors untouched", upstreamErr, `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}`,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}`},
		{"a result with an error key untouched", upstreamErr, `{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"error":"x"}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"error":"x"}}}`},
		{"placeholder without a slot value untouched", nil, placeholder, placeholder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h := withJSONRPCErrors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.slot != nil {
					_ = jsonRPCError(r.Context(), tc.slot)
				}
				_, _ = w.Write([]byte(tc.in))
			}), nil)
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mcp", nil))
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestJSONRPCErrorWithoutSlotKeepsTheMessage(t *testing.T) {
	t.Parallel()
	err := jsonRPCError(context.Background(), &upstream.RPCError{Code: 1, Message: "plain"})
	if err.Error() != "plain" {
		t.Errorf("got %v", err)
	}
}

// FuzzRewriteMessage: whatever a response holds, rewriting never panics, never turns valid JSON
// into invalid JSON, and leaves messages without an error alone.
func FuzzRewriteMessage(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"` + errPlaceholder.Error() + `"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"a","error":{"code":-32602,"message":"tool 'x' not found: tool not found"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	f.Add([]byte(`{"error":`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		slot := &errorSlot{err: &upstream.RPCError{Code: -1, Message: "m"}}
		w := &errorWriter{slot: slot}
		out := w.rewriteMessage(msg)
		if json.Valid(msg) && !json.Valid(out) {
			t.Fatalf("valid %s became invalid %s", msg, out)
		}
		if !bytes.Contains(msg, errorKey) && !bytes.Equal(out, msg) {
			t.Fatalf("a message without an error changed: %s -> %s", msg, out)
		}
		_ = w.rewrite(msg)
	})
}
