package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Bounds on what one upstream may make the gateway hold.
const (
	maxListPages = 100
	maxTools     = 10000
)

// Tool is one tool of an upstream, as the upstream described it.
type Tool struct {
	// Name is the upstream's own name for the tool.
	Name string
	// Raw is the tool object exactly as the upstream sent it. mcp-go's typed mcp.Tool drops
	// JSON Schema keywords it does not model ($schema, oneOf, ...), so the gateway keeps this.
	Raw json.RawMessage
}

// digest identifies a tool list: replicas that list the same tools have the same digest.
func digest(tools []Tool) string {
	h := sha256.New()
	for _, t := range tools {
		h.Write(t.Raw)
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// listTools fetches every page of tools/list with raw requests, keeping each tool's JSON as sent.
func listTools(ctx context.Context, rpc transport.Interface, newID func() mcp.RequestId) ([]Tool, error) {
	var tools []Tool
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page == maxListPages {
			return nil, fmt.Errorf("more than %d pages", maxListPages)
		}
		var params any // absent, not null: some servers reject "params": null
		if cursor != "" {
			params = map[string]any{"cursor": cursor}
		}
		resp, err := rpc.SendRequest(ctx, transport.JSONRPCRequest{
			JSONRPC: mcp.JSONRPC_VERSION, ID: newID(), Method: string(mcp.MethodToolsList), Params: params,
		})
		if err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, &RPCError{Code: resp.Error.Code, Message: resp.Error.Message, Data: resp.Error.Data}
		}
		var result struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(resp.Result, &result); err != nil {
			return nil, fmt.Errorf("malformed tools/list result: %w", err)
		}
		for _, raw := range result.Tools {
			var head struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(raw, &head); err != nil || head.Name == "" {
				return nil, errors.New("malformed tools/list result: a tool without a name")
			}
			if seen[head.Name] {
				continue // a repeated tool in a hostile or buggy list: the first one stands
			}
			seen[head.Name] = true
			tools = append(tools, Tool{Name: head.Name, Raw: raw})
		}
		if len(tools) > maxTools {
			return nil, fmt.Errorf("more than %d tools", maxTools)
		}
		if result.NextCursor == "" || result.NextCursor == cursor {
			return tools, nil
		}
		cursor = result.NextCursor
	}
}
