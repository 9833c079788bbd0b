package router

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/switchboard-mcp/switchboard/registry"
)

// readResource serves resources/read of an exposed resource from its upstream.
func (r *Router) readResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	e := r.extras.Load().resourceByURI[req.Params.URI]
	if e == nil || !r.resourceAllowed(ctx, e) {
		if e != nil {
			r.refused(ctx, string(mcp.MethodResourcesRead), req.Params.URI)
		}
		return nil, resourceNotFound(ctx, req.Params.URI)
	}
	return r.read(ctx, e.upstream, e.namespace, e.original)
}

// readFromTemplate reads a URI that matched the exposed template of e.
func (r *Router) readFromTemplate(e *extraEntry) server.ResourceTemplateHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		if !r.resourceAllowed(ctx, e) && !r.resourceAllowed(ctx, &extraEntry{namespace: e.namespace, exposed: req.Params.URI}) {
			r.refused(ctx, string(mcp.MethodResourcesRead), req.Params.URI)
			return nil, resourceNotFound(ctx, req.Params.URI)
		}
		uri := req.Params.URI
		if e.namespace != "" {
			uri = strings.TrimPrefix(uri, e.namespace+uriSeparator)
		}
		return r.read(ctx, e.upstream, e.namespace, uri)
	}
}

// read reads an upstream's own URI and gives the contents back under the exposed URIs.
func (r *Router) read(ctx context.Context, up registry.ServiceName, namespace, uri string) ([]mcp.ResourceContents, error) {
	raw, err := r.request(ctx, up, string(mcp.MethodResourcesRead), map[string]any{"uri": uri})
	if err != nil {
		return nil, err
	}
	res, err := mcp.ParseReadResourceResult(&raw)
	if err != nil {
		return nil, fmt.Errorf("%s sent an unreadable resources/read result: %w", up, err)
	}
	for i, c := range res.Contents {
		switch c := c.(type) {
		case mcp.TextResourceContents:
			c.URI = exposeURI(namespace, c.URI)
			res.Contents[i] = c
		case mcp.BlobResourceContents:
			c.URI = exposeURI(namespace, c.URI)
			res.Contents[i] = c
		}
	}
	return res.Contents, nil
}
