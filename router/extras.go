package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/registry"
	"github.com/switchboard-mcp/switchboard/upstream"
)

// Prompts, resources and resource templates are aggregated like tools: prompt names get the
// namespace like tool names; resource URIs and URI templates get it as "namespace+" in front
// ("weather+file:///today.txt"), which keeps them URIs (+ is allowed in a scheme) and tells the
// gateway where to send a read. An empty namespace leaves them as they are.

// uriSeparator joins a namespace and a resource URI.
const uriSeparator = "+"

func exposeURI(namespace, uri string) string {
	if namespace == "" {
		return uri
	}
	return namespace + uriSeparator + uri
}

// extraEntry is one prompt, resource or template of the catalog.
type extraEntry struct {
	exposed   string // name or URI (template) as clients see it
	upstream  registry.ServiceName
	namespace string
	original  string
	raw       json.RawMessage
}

// extras is the catalog's prompts, resources and templates. Immutable once built.
type extras struct {
	prompts, resources, templates []*extraEntry // sorted by exposed
	promptByName, resourceByURI   map[string]*extraEntry
	templateByURI                 map[string]*extraEntry // by exposed URI template
	json                          []byte                 // all three as clients see them, to detect changes
}

// buildExtras names every prompt, resource and template; the first upstream (by name) keeps a
// contested name or URI, a later prompt is renamed with a hash suffix, a later resource or
// template is left out (a URI cannot be renamed without breaking it). Both are logged.
func buildExtras(listings []upstream.Listing, naming Naming, log *slog.Logger) *extras {
	x := &extras{promptByName: map[string]*extraEntry{}, resourceByURI: map[string]*extraEntry{}, templateByURI: map[string]*extraEntry{}}
	templatesSeen := map[string]bool{}
	for _, l := range listings { // sorted by upstream name: deterministic
		for _, p := range l.Prompts {
			name, _ := naming.candidate(l.Namespace, p.Name)
			if x.promptByName[string(name)] != nil {
				wanted := name
				name = naming.withSuffix(string(name), string(l.Name)+"\x00"+p.Name)
				log.Warn("prompt name collision resolved", "wanted", wanted, "exposed", name, "upstream", l.Name)
			}
			e := &extraEntry{exposed: string(name), upstream: l.Name, namespace: l.Namespace, original: p.Name, raw: p.Raw}
			x.promptByName[e.exposed] = e
			x.prompts = append(x.prompts, e)
		}
		for _, r := range l.Resources {
			uri := exposeURI(l.Namespace, r.Name)
			if x.resourceByURI[uri] != nil {
				log.Warn("resource left out: another upstream exposes the same URI", "uri", uri, "upstream", l.Name)
				continue
			}
			e := &extraEntry{exposed: uri, upstream: l.Name, namespace: l.Namespace, original: r.Name, raw: r.Raw}
			x.resourceByURI[uri] = e
			x.resources = append(x.resources, e)
		}
		for _, t := range l.Templates {
			tmpl := exposeURI(l.Namespace, t.Name)
			if templatesSeen[tmpl] {
				log.Warn("resource template left out: another upstream exposes the same one", "template", tmpl, "upstream", l.Name)
				continue
			}
			templatesSeen[tmpl] = true
			e := &extraEntry{exposed: tmpl, upstream: l.Name, namespace: l.Namespace, original: t.Name, raw: t.Raw}
			x.templateByURI[tmpl] = e
			x.templates = append(x.templates, e)
		}
	}
	for _, list := range [][]*extraEntry{x.prompts, x.resources, x.templates} {
		slices.SortFunc(list, func(a, b *extraEntry) int { return strings.Compare(a.exposed, b.exposed) })
	}
	var b bytes.Buffer
	for _, list := range [][]*extraEntry{x.prompts, x.resources, x.templates} {
		for _, e := range list {
			b.WriteString(e.exposed)
			b.Write(e.raw)
		}
		b.WriteByte(0)
	}
	x.json = b.Bytes()
	return x
}

// registerExtras puts the extras into the MCP server (which announces list changes to clients).
func (r *Router) registerExtras(x *extras) {
	prompts := decodeEach(r, "prompt", "prompt", x.prompts, func(p mcp.Prompt, e *extraEntry) (server.ServerPrompt, bool) {
		p.Name = e.exposed
		return server.ServerPrompt{Prompt: p, Handler: r.getPrompt}, true
	})
	resources := decodeEach(r, "resource", "uri", x.resources, func(res mcp.Resource, e *extraEntry) (server.ServerResource, bool) {
		res.URI = e.exposed
		return server.ServerResource{Resource: res, Handler: r.readResource}, true
	})
	templates := decodeEach(r, "resource template", "template", x.templates, func(t mcp.ResourceTemplate, e *extraEntry) (server.ServerResourceTemplate, bool) {
		if t.URITemplate == nil {
			return server.ServerResourceTemplate{}, false
		}
		exposed := mcp.NewResourceTemplate(e.exposed, t.Name)
		exposed.Description, exposed.MIMEType, exposed.Annotated = t.Description, t.MIMEType, t.Annotated
		return server.ServerResourceTemplate{Template: exposed, Handler: r.readFromTemplate(e)}, true
	})
	r.mcp.SetPrompts(prompts...)
	r.mcp.SetResources(resources...)
	r.mcp.SetResourceTemplates(templates...)
}

// decodeEach decodes each entry's definition as a D and turns it into what the MCP server
// registers; a definition that does not decode, or that expose refuses, is logged (the entry's
// original name under idKey) and left out.
func decodeEach[D, R any](r *Router, kind, idKey string, entries []*extraEntry, expose func(D, *extraEntry) (R, bool)) []R {
	out := make([]R, 0, len(entries))
	for _, e := range entries {
		var def D
		err := json.Unmarshal(e.raw, &def)
		var reg R
		ok := err == nil
		if ok {
			reg, ok = expose(def, e)
		}
		if !ok {
			r.log.Warn(kind+" left out: malformed definition", "upstream", e.upstream, idKey, e.original, "err", err)
			continue
		}
		out = append(out, reg)
	}
	return out
}

// request sends a request to an upstream and maps a failure to a plain error for the client
// (mcp-go answers it as a JSON-RPC error); the upstream's own JSON-RPC errors keep their code.
func (r *Router) request(ctx context.Context, up registry.ServiceName, method string, params map[string]any) (json.RawMessage, error) {
	raw, err := r.upstreams.Request(ctx, up, method, params)
	var rpcErr *upstream.RPCError
	switch {
	case errors.As(err, &rpcErr):
		return nil, jsonRPCError(ctx, rpcErr)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", up, err)
	}
	return raw, nil
}
