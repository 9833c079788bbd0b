package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// answerAs is an LLM (sampling handler) that signs its answers.
type answerAs string

func (a answerAs) CreateMessage(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return &mcp.CreateMessageResult{SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent("from " + string(a))}, Model: "test"}, nil
}

// connectSampler opens a 2025-11-25 session whose client answers sampling requests as name.
func connectSampler(t *testing.T, url, name string) *client.Client {
	t.Helper()
	//lint:ignore SA1019 the 2025-11-25 era is the one under test here
	tr, err := transport.NewStreamableHTTP(url, transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION), client.WithSamplingHandler(answerAs(name)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	init.Params.Capabilities.Sampling = &mcp.SamplingCapability{}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestSamplingGoesToTheCallingClientOnly: an upstream's sampling request during a call is asked
// of the client that made the call. Under concurrency the gateway may have to refuse it (it
// cannot always tell which call an upstream's request belongs to), but it never asks another
// client.
func TestSamplingGoesToTheCallingClientOnly(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	for _, tc := range []struct{ name, upstream string }{
		{"streamable-http", fmt.Sprintf("{name: up, url: %s}", demo.URL)},
		{"stdio", fmt.Sprintf("{name: up, command: [%q]}", bin.demo)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, "upstreams: ["+tc.upstream+"]\n")
			alice, bob := connectSampler(t, g.URL, "alice"), connectSampler(t, g.URL, "bob")
			if got := text(call(t, alice, "up__sample", map[string]any{"text": "hi"})); got != "from alice" {
				t.Errorf("one call: sampled %q, want from alice", got)
			}
			var wg sync.WaitGroup
			answered := map[string]int{}
			var mu sync.Mutex
			for _, who := range []struct {
				name string
				c    *client.Client
			}{{"alice", alice}, {"bob", bob}} {
				for range 5 {
					wg.Go(func() {
						res, err := callErr(who.c, "up__sample", map[string]any{"text": "hi"})
						if err != nil {
							t.Error(err)
							return
						}
						got := text(res)
						switch {
						case !res.IsError && got != "from "+who.name:
							t.Errorf("%s's call was sampled by another client: %q", who.name, got)
						case res.IsError && !strings.HasPrefix(got, "sampling failed"):
							t.Errorf("%s's call: %q", who.name, got)
						case !res.IsError:
							mu.Lock()
							answered[who.name]++
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			t.Logf("concurrent calls answered by their own client: %v (the others refused)", answered)
		})
	}
}

func TestResourcesAndPromptsAreNamespaced(t *testing.T) {
	t.Parallel()
	g := startGateway(t, fmt.Sprintf("upstreams: [{name: goev, command: [%q]}]\n", needGoEverything(t)))
	c := connect(t, g.URL, true, nil)
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()

	prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range prompts.Prompts {
		names = append(names, p.Name)
	}
	if len(names) == 0 || !strings.HasPrefix(names[0], "goev__") {
		t.Fatalf("prompts: %v", names)
	}
	getReq := mcp.GetPromptRequest{}
	getReq.Params.Name = "goev__simple_prompt"
	if res, err := c.GetPrompt(ctx, getReq); err != nil || len(res.Messages) == 0 {
		t.Errorf("prompts/get goev__simple_prompt: %v %+v (prompts: %v)", err, res, names)
	}

	resources, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil || len(resources.Resources) == 0 {
		t.Fatalf("resources: %v %+v", err, resources)
	}
	uri := resources.Resources[0].URI
	if !strings.HasPrefix(uri, "goev+test://") {
		t.Fatalf("resource URI %q is not namespaced", uri)
	}
	readReq := mcp.ReadResourceRequest{}
	readReq.Params.URI = uri
	read, err := c.ReadResource(ctx, readReq)
	if err != nil || len(read.Contents) == 0 {
		t.Fatalf("read %s: %v", uri, err)
	}
	if tc, ok := read.Contents[0].(mcp.TextResourceContents); ok && tc.URI != uri {
		t.Errorf("contents name %q, want the exposed %q", tc.URI, uri)
	}

	templates, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
	if err != nil || len(templates.ResourceTemplates) == 0 || !strings.HasPrefix(templates.ResourceTemplates[0].URITemplate.Raw(), "goev+test://") {
		t.Fatalf("templates: %v %+v", err, templates)
	}
	readReq.Params.URI = "goev+test://dynamic/resource/7"
	if read, err := c.ReadResource(ctx, readReq); err != nil || len(read.Contents) == 0 {
		t.Errorf("read through the template: %v", err)
	}
	readReq.Params.URI = "goev+test://nothing/here"
	if _, err := c.ReadResource(ctx, readReq); err == nil {
		t.Error("reading an unknown resource succeeded")
	}
}

// TestClientCancellationReachesTheUpstream: a client that gives up on a call (here: closes the
// request) makes the gateway cancel the upstream request, so the upstream's work stops.
func TestClientCancellationReachesTheUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, upstream string }{
		{"streamable-http", "http"},
		{"stdio", "stdio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var up string
			if tc.upstream == "http" {
				up = fmt.Sprintf("{name: up, url: %s}", startDemoHTTP(t, "demo", false).URL)
			} else {
				up = fmt.Sprintf("{name: up, command: [%q]}", bin.demo)
			}
			g := startGateway(t, "upstreams: ["+up+"]\n")
			c := connect(t, g.URL, true, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req := mcp.CallToolRequest{}
			req.Params.Name = "up__counter"
			req.Params.Arguments = map[string]any{"delay_ms": 1500}
			if _, err := c.CallTool(ctx, req); err == nil {
				t.Fatal("the call was not cut by the client's deadline")
			}
			time.Sleep(2 * time.Second) // past the upstream's delay: it would have counted by now
			if n, _ := count(t, c, "up__counter_peek", nil); n != "0" {
				t.Errorf("the upstream finished the cancelled call (count %s)", n)
			}
			// The counter does count a call that is not cancelled.
			if n, _ := count(t, c, "up__counter", nil); n != "1" {
				t.Errorf("an uncancelled call counted to %s, want 1", n)
			}
		})
	}
}
