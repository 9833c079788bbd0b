package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// send POSTs body to url with the headers a Streamable HTTP client sends, plus extra.
func send(t *testing.T, url, body string, extra map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rpcCode returns the JSON-RPC error code in a JSON or SSE body, or 0.
func rpcCode(body string) int {
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimPrefix(line, "data: ")
		var m struct{ Error *struct{ Code int } }
		if json.Unmarshal([]byte(line), &m) == nil && m.Error != nil {
			return m.Error.Code
		}
	}
	return 0
}

func TestTransportHygiene(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("max_request_bytes: 65536\nallowed_origins: [\"https://app.example.com\"]\nupstreams: [{name: demo, url: %s}]\n", demo.URL))
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

	t.Run("origin", func(t *testing.T) {
		for origin, want := range map[string]int{"https://evil.example": 403, "https://app.example.com": 200, "http://localhost:6274": 200} {
			if st, body := send(t, g.URL, init, map[string]string{"Origin": origin}); st != want {
				t.Errorf("Origin %s: %d %s, want %d", origin, st, body, want)
			}
		}
	})
	t.Run("body limit", func(t *testing.T) {
		huge := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{"text":"` + strings.Repeat("x", 70000) + `"}}}`
		if st, body := send(t, g.URL, huge, nil); st != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body: %d %s", st, body)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		if st, body := send(t, g.URL, `{"jsonrpc":"2.0","id":1,"method":`, nil); rpcCode(body) != -32700 {
			t.Errorf("malformed JSON: %d %s, want -32700", st, body)
		}
	})

	// Within a session.
	c := connect(t, g.URL, true, nil)
	session := c.GetSessionId()
	headers := map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
	t.Run("invalid request", func(t *testing.T) {
		if st, body := send(t, g.URL, `{"jsonrpc":"2.0","id":2}`, headers); rpcCode(body) != -32600 {
			t.Errorf("a request without a method: %d %s, want -32600", st, body)
		}
	})
	t.Run("ping", func(t *testing.T) {
		if st, body := send(t, g.URL, `{"jsonrpc":"2.0","id":3,"method":"ping"}`, headers); st != 200 || !strings.Contains(body, `"result":{}`) {
			t.Errorf("ping: %d %s", st, body)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		bad := map[string]string{"Mcp-Session-Id": "mcp-session-00000000-0000-0000-0000-000000000000", "Mcp-Protocol-Version": "2025-11-25"}
		if st, body := send(t, g.URL, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, bad); st != http.StatusNotFound {
			t.Errorf("an unknown session: %d %s, want 404", st, body)
		}
	})
	t.Run("unsupported protocol version", func(t *testing.T) {
		bad := map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "1999-01-01"}
		if st, body := send(t, g.URL, `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, bad); st != http.StatusBadRequest {
			t.Errorf("an unsupported protocol version: %d %s, want 400", st, body)
		}
	})
}
