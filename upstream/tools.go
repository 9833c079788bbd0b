package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Bounds on what one upstream may make the gateway hold.
const (
	maxListPages = 100
	maxTools     = 10000
)

// Tool is one item an upstream lists (a tool, prompt, resource or resource template), as the
// upstream described it.
type Tool struct {
	// Name is the upstream's own name for it: the name of a tool or prompt, the URI of a
	// resource, the URI template of a template.
	Name string
	// Raw is the object exactly as the upstream sent it. mcp-go's typed mcp.Tool drops JSON
	// Schema keywords it does not model ($schema, oneOf, ...), so the gateway keeps this.
	Raw json.RawMessage
}

// Lists are everything an instance lists.
type Lists struct {
	Tools, Prompts, Resources, Templates []Tool
}

// listKind says how to list one kind of item.
type listKind struct{ method, field, key string }

var (
	toolList     = listKind{"tools/list", "tools", "name"}
	promptList   = listKind{"prompts/list", "prompts", "name"}
	resourceList = listKind{"resources/list", "resources", "uri"}
	templateList = listKind{"resources/templates/list", "resourceTemplates", "uriTemplate"}
)

// listAll lists what the server says it has: tools always, prompts and resources (and resource
// templates) when its capabilities name them.
func listAll(ctx context.Context, rpc transport.Interface, caps mcp.ServerCapabilities, newID func() mcp.RequestId) (Lists, error) {
	var l Lists
	var err error
	if l.Tools, err = listItems(ctx, rpc, toolList, newID); err != nil {
		return l, fmt.Errorf("listing tools: %w", err)
	}
	if caps.Prompts != nil {
		if l.Prompts, err = listItems(ctx, rpc, promptList, newID); err != nil {
			return l, fmt.Errorf("listing prompts: %w", err)
		}
	}
	if caps.Resources != nil {
		if l.Resources, err = listItems(ctx, rpc, resourceList, newID); err != nil {
			return l, fmt.Errorf("listing resources: %w", err)
		}
		// Templates are optional even for a server with resources.
		l.Templates, _ = listItems(ctx, rpc, templateList, newID)
	}
	return l, nil
}

// digest identifies what an instance lists: replicas that list the same have the same digest.
func digest(l Lists) string {
	h := sha256.New()
	for _, list := range [][]Tool{l.Tools, l.Prompts, l.Resources, l.Templates} {
		for _, t := range list {
			h.Write(t.Raw)
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return string(h.Sum(nil))
}

// listItems fetches every page of one list with raw requests, keeping each item's JSON as sent.
func listItems(ctx context.Context, rpc transport.Interface, kind listKind, newID func() mcp.RequestId) ([]Tool, error) {
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
			JSONRPC: mcp.JSONRPC_VERSION, ID: newID(), Method: kind.method, Params: params,
		})
		if err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, &RPCError{Code: resp.Error.Code, Message: resp.Error.Message, Data: resp.Error.Data}
		}
		items, next, err := parsePage(resp.Result, kind)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			if seen[item.Name] {
				continue // a repeated item in a hostile or buggy list: the first one stands
			}
			seen[item.Name] = true
			tools = append(tools, item)
		}
		if len(tools) > maxTools {
			return nil, fmt.Errorf("more than %d tools", maxTools)
		}
		if next == "" || next == cursor {
			return tools, nil
		}
		cursor = next
	}
}

// parsePage reads one page of a list result as an upstream sent it: its items, each with its key
// (name or URI) and kept byte for byte, and the next cursor.
func parsePage(result json.RawMessage, kind listKind) (items []Tool, next string, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(result, &fields); err != nil {
		return nil, "", fmt.Errorf("malformed %s result: %w", kind.method, err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(fields[kind.field], &raws); err != nil && fields[kind.field] != nil {
		return nil, "", fmt.Errorf("malformed %s result: %w", kind.method, err)
	}
	items = make([]Tool, 0, len(raws))
	for _, raw := range raws {
		var head map[string]json.RawMessage
		var key string
		if json.Unmarshal(raw, &head) != nil || json.Unmarshal(head[kind.key], &key) != nil || key == "" {
			return nil, "", fmt.Errorf("malformed %s result: an item without %q", kind.method, kind.key)
		}
		items = append(items, Tool{Name: key, Raw: raw})
	}
	_ = json.Unmarshal(fields["nextCursor"], &next)
	return items, next, nil
}
