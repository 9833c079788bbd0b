package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// declines is a user who declines every elicitation.
type declines struct{}

func (declines) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionDecline}}, nil
}

// connectModern opens a client of the newest era mcp-go speaks (2026-07-28: no session, no
// server-to-client requests) that answers sampling as name and declines elicitations.
func connectModern(t *testing.T, url, name string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithSamplingHandler(answerAs(name)), client.WithElicitationHandler(declines{}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	init.Params.Capabilities.Sampling = &mcp.SamplingCapability{}
	init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestModernClientsAnswerUpstreamRequests: a 2026-07-28 client calls tools of 2025-era
// upstreams that sample (mcp-demo) and elicit (the npm reference server); the gateway turns
// the upstreams' requests into input_required results, and the client's retries complete the
// calls; through two replicas behind round-robin nginx a retry landing on the other replica is
// handed to the one holding the call.
func TestModernClientsAnswerUpstreamRequests(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	everything := startNPMEverything(t)
	upstreams := fmt.Sprintf("upstreams: [{name: demo, url: %s}, {name: everything, url: %s}]\n", demo.URL, everything.URL)
	one := startGateway(t, "servers: [{name: sampling, tools: [\"demo__sample\", \"everything__trigger-elicitation-request\"]}]\n"+upstreams)
	fleet, gws := startFleet(t, 2, upstreams)
	for _, tc := range []struct{ name, url string }{{"one gateway", one.URL}, {"a virtual server", one.URL + "/sampling"}, {"two replicas behind nginx", fleet}} {
		t.Run(tc.name, func(t *testing.T) {
			c := connectModern(t, tc.url, "modern")
			if tc.name == "a virtual server" {
				ctx, cancel := contextWithTimeout(30 * time.Second)
				list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
				cancel()
				if err != nil || len(list.Tools) != 2 {
					t.Errorf("the 2026-era client at a virtual server lists %+v (%v), want its 2 tools", list, err)
				}
			}
			for i := range 4 { // several, so that retries land on either replica
				ctx, cancel := contextWithTimeout(30 * time.Second)
				req := mcp.CallToolRequest{}
				req.Params.Name, req.Params.Arguments = "demo__sample", map[string]any{"text": fmt.Sprintf("question %d", i)}
				res, err := c.CallTool(ctx, req)
				cancel()
				if err != nil || res.IsError || text(res) != "from modern" {
					t.Fatalf("sampling call %d: %v %s", i, err, textOf(res))
				}
			}
			ctx, cancel := contextWithTimeout(30 * time.Second)
			defer cancel()
			req := mcp.CallToolRequest{}
			req.Params.Name = "everything__trigger-elicitation-request"
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError || !strings.Contains(textOf(res), "declined") {
				t.Errorf("elicitation call: %v %s", err, textOf(res))
			}
		})
	}
	forwarded := 0
	for _, g := range gws {
		forwarded += strings.Count(g.logs(), "path=/internal/resume")
	}
	if forwarded == 0 {
		t.Error("no retry was handed between the replicas: the cross-replica path went untested")
	}
}

func textOf(res *mcp.CallToolResult) string {
	if res == nil {
		return "<nil>"
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}
