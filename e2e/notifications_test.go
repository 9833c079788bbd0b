package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// recorder keeps the progress and log notifications a client gets.
type recorder struct {
	mu       sync.Mutex
	progress []any    // progress tokens, in order
	logs     []string // log message data, in order
}

func (r *recorder) handle(n mcp.JSONRPCNotification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch n.Method {
	case string(mcp.MethodNotificationProgress):
		r.progress = append(r.progress, n.Params.AdditionalFields["progressToken"])
	case string(mcp.MethodNotificationMessage):
		data, _ := n.Params.AdditionalFields["data"].(string)
		r.logs = append(r.logs, data)
	}
}

func chatty(t *testing.T, c *client.Client, token string, count int) {
	t.Helper()
	chattyNamed(t, c, "up__chatty", token, count)
}

func chattyNamed(t *testing.T, c *client.Client, tool, token string, count int) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = map[string]any{"count": count, "tag": token}
	req.Params.Meta = &mcp.Meta{ProgressToken: token}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError {
		t.Errorf("chatty: %v %+v", err, res)
	}
}

// TestProgressAndLogsReachTheCallingClient: progress notifications carry a token and reach the
// client of their call, never another; with one call at a time every one arrives (under
// concurrency a server's notifications written after its response may be lost). Log messages
// carry no tie to a call: with one call at a time each reaches its client; with concurrent calls
// they are dropped rather than risk another client.
func TestProgressAndLogsReachTheCallingClient(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	for _, tc := range []struct {
		name     string
		upstream string
		clients  int // concurrent callers; stdio cannot tell log messages of concurrent calls apart
	}{
		{"streamable-http, one caller", fmt.Sprintf("{name: up, url: %s}", demo.URL), 1},
		{"streamable-http, concurrent callers", fmt.Sprintf("{name: up, url: %s}", demo.URL), 3},
		{"stdio, one caller", fmt.Sprintf("{name: up, command: [%q]}", bin.demo), 1},
		{"stdio, concurrent callers", fmt.Sprintf("{name: up, command: [%q]}", bin.demo), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, "upstreams: ["+tc.upstream+"]\n")
			const count = 20
			recs := make([]*recorder, tc.clients)
			clients := make([]*client.Client, tc.clients)
			for i := range clients {
				recs[i] = &recorder{}
				clients[i] = connect(t, g.URL, true, recs[i].handle)
			}
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() { chatty(t, c, fmt.Sprintf("token-%d", i), count) })
			}
			wg.Wait()
			time.Sleep(500 * time.Millisecond) // servers may write a call's last notifications after its response
			for i, r := range recs {
				r.mu.Lock()
				if tc.clients == 1 && len(r.progress) != count {
					t.Errorf("client %d got %d progress notifications, want %d", i, len(r.progress), count)
				}
				for _, tok := range r.progress {
					if tok != fmt.Sprintf("token-%d", i) {
						t.Errorf("client %d got progress for token %v", i, tok)
						break
					}
				}
				for _, l := range r.logs {
					if !strings.HasPrefix(l, fmt.Sprintf("token-%d ", i)) {
						t.Errorf("client %d got another call's log message %q", i, l)
					}
				}
				if tc.clients == 1 && len(r.logs) != count {
					t.Errorf("client %d got %d log messages, want %d", i, len(r.logs), count)
				}
				r.mu.Unlock()
			}
		})
	}
}
