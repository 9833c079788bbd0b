package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// maxPayloadBytes bounds the payload tool so a demo cannot exhaust memory by accident.
const maxPayloadBytes = 16 << 20

// addOutputSchema is written by hand, with keywords mcp-go's typed schema does not model
// ($schema, additionalProperties), so tests can check a gateway re-exposes schemas byte for byte.
const addOutputSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"sum":{"type":"number"}},"required":["sum"],"additionalProperties":false}`

func newServer(name string, enableExit, withExtra bool) *server.MCPServer {
	s := server.NewMCPServer(name, "1.0.0",
		server.WithToolCapabilities(true),
		server.WithRecovery(),
		server.WithInstructions("Demo tools: time, arithmetic, echo, sleep, fail, payload."),
	)
	readOnly := mcp.WithReadOnlyHintAnnotation(true)

	s.AddTool(mcp.NewTool("now",
		mcp.WithDescription("Current time, RFC 3339, in an IANA time zone."),
		mcp.WithString("timezone", mcp.Description("IANA zone such as Europe/Paris; default UTC")),
		readOnly,
	), now)

	s.AddTool(mcp.NewTool("add",
		mcp.WithDescription("Adds two numbers."),
		mcp.WithNumber("a", mcp.Required()),
		mcp.WithNumber("b", mcp.Required()),
		mcp.WithRawOutputSchema(json.RawMessage(addOutputSchema)),
		readOnly, mcp.WithIdempotentHintAnnotation(true),
	), add)

	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Returns its text unchanged."),
		mcp.WithString("text", mcp.Required()),
		readOnly,
	), echo)

	s.AddTool(mcp.NewTool("whoami",
		mcp.WithDescription("The name this server was started with, to tell replicas apart; with --jwks, as JSON with the verified token's sub and aud."),
		readOnly,
	), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if v := verifiedFrom(ctx); v != nil {
			b, _ := json.Marshal(map[string]any{"server": name, "sub": v.Sub, "aud": v.Aud})
			return mcp.NewToolResultText(string(b)), nil
		}
		return mcp.NewToolResultText(name), nil
	})

	s.AddTool(mcp.NewTool("sleep",
		mcp.WithDescription("Waits ms milliseconds (stops early when the call is cancelled)."),
		mcp.WithNumber("ms", mcp.Required()),
		readOnly,
	), sleep)

	s.AddTool(mcp.NewTool("fail",
		mcp.WithDescription("Fails: a tool error result, or with jsonrpc=true a JSON-RPC error."),
		mcp.WithString("message"),
		mcp.WithBoolean("jsonrpc"),
	), fail)

	s.AddTool(mcp.NewTool("payload",
		mcp.WithDescription(fmt.Sprintf("Returns a text of the given size in bytes (at most %d).", maxPayloadBytes)),
		mcp.WithNumber("bytes", mcp.Required()),
		readOnly,
	), payload)

	// counter lets tests see, from outside, how often the upstream really ran: a cached call
	// answers an old count, a real one a new count.
	var calls atomic.Int64
	s.AddTool(mcp.NewTool("counter",
		mcp.WithDescription("Counts its calls and answers the count. delay_ms waits first; fail answers a tool error; pad adds that many bytes."),
		mcp.WithNumber("delay_ms"), mcp.WithBoolean("fail"), mcp.WithNumber("pad"),
		readOnly,
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-time.After(time.Duration(req.GetFloat("delay_ms", 0)) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		n := calls.Add(1)
		if req.GetBool("fail", false) {
			return mcp.NewToolResultErrorf("failure %d", n), nil
		}
		pad := min(max(int(req.GetFloat("pad", 0)), 0), maxPayloadBytes)
		return mcp.NewToolResultText(fmt.Sprint(n) + strings.Repeat(" ", pad)), nil
	})
	s.AddTool(mcp.NewTool("counter_peek",
		mcp.WithDescription("Answers the count of counter calls without counting."),
		readOnly,
	), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(fmt.Sprint(calls.Load())), nil
	})

	s.AddTool(mcp.NewTool("chatty",
		mcp.WithDescription("Sends count log messages and, when the caller asked for progress, count progress notifications, then answers."),
		mcp.WithNumber("count", mcp.Required()),
		mcp.WithString("tag", mcp.Description("put in every log message, to tell callers apart")),
		readOnly,
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		n := min(max(int(req.GetFloat("count", 0)), 0), 1000)
		tag := req.GetString("tag", "")
		var token any
		if req.Params.Meta != nil {
			token = req.Params.Meta.ProgressToken
		}
		srv := server.ServerFromContext(ctx)
		for i := 1; i <= n; i++ {
			_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationMessage),
				map[string]any{"level": "info", "logger": "chatty", "data": fmt.Sprintf("%s message %d of %d", tag, i, n)})
			if token != nil {
				_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress),
					map[string]any{"progressToken": token, "progress": i, "total": n})
			}
		}
		return mcp.NewToolResultText(fmt.Sprintf("sent %d", n)), nil
	})

	s.AddTool(mcp.NewTool("sample",
		mcp.WithDescription("Asks the client's LLM (sampling) to answer text, and answers what it said."),
		mcp.WithString("text", mcp.Required()),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		sreq := mcp.CreateMessageRequest{}
		sreq.Messages = []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent(req.GetString("text", ""))}}
		sreq.MaxTokens = 100
		//lint:ignore SA1019 a demo of the 2025-11-25 sampling feature, which gateways must pass on
		res, err := server.ServerFromContext(ctx).RequestSampling(ctx, sreq)
		if err != nil {
			return mcp.NewToolResultErrorf("sampling failed: %v", err), nil
		}
		b, _ := json.Marshal(res.Content)
		var text struct{ Type, Text string }
		if json.Unmarshal(b, &text) != nil || text.Type != "text" {
			return mcp.NewToolResultError("sampling answered something other than text"), nil
		}
		return mcp.NewToolResultText(text.Text), nil
	})

	extra := mcp.NewTool("extra", mcp.WithDescription("Present only while toggled on by toggle_extra."), readOnly)
	extraHandler := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("extra is here"), nil
	}
	var mu sync.Mutex
	extraOn := withExtra
	if extraOn {
		s.AddTool(extra, extraHandler)
	}
	s.AddTool(mcp.NewTool("toggle_extra",
		mcp.WithDescription("Adds or removes the tool named extra; the server announces tools/list_changed."),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		mu.Lock()
		defer mu.Unlock()
		extraOn = !extraOn
		if extraOn {
			s.AddTool(extra, extraHandler)
			return mcp.NewToolResultText("extra added"), nil
		}
		s.DeleteTools("extra")
		return mcp.NewToolResultText("extra removed"), nil
	})

	if enableExit {
		s.AddTool(mcp.NewTool("exit",
			mcp.WithDescription("Kills this server process at once, mid-call (for crash tests)."),
		), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			os.Exit(3)
			return nil, nil
		})
	}
	return s
}

func now(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	zone := req.GetString("timezone", "UTC")
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return mcp.NewToolResultErrorf("unknown time zone %q", zone), nil
	}
	t := time.Now().In(loc).Format(time.RFC3339)
	return mcp.NewToolResultStructured(map[string]any{"time": t, "timezone": zone}, t), nil
}

func add(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a, errA := req.RequireFloat("a")
	b, errB := req.RequireFloat("b")
	if errA != nil || errB != nil {
		return mcp.NewToolResultError("a and b must be numbers"), nil
	}
	sum := a + b
	return mcp.NewToolResultStructured(map[string]any{"sum": sum}, fmt.Sprint(sum)), nil
}

func echo(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	text, err := req.RequireString("text")
	if err != nil {
		return mcp.NewToolResultError("text is required"), nil
	}
	return mcp.NewToolResultText(text), nil
}

func sleep(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	ms := req.GetFloat("ms", 0)
	select {
	case <-time.After(time.Duration(ms * float64(time.Millisecond))):
		return mcp.NewToolResultText(fmt.Sprintf("slept %g ms", ms)), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func fail(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	msg := req.GetString("message", "this tool always fails")
	if req.GetBool("jsonrpc", false) {
		return nil, errors.New(msg) // mcp-go answers a handler error with JSON-RPC -32603
	}
	return mcp.NewToolResultError(msg), nil
}

func payload(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	n := int(req.GetFloat("bytes", 0))
	if n < 0 || n > maxPayloadBytes {
		return mcp.NewToolResultErrorf("bytes must be between 0 and %d", maxPayloadBytes), nil
	}
	return mcp.NewToolResultText(strings.Repeat("x", n)), nil
}
