package router

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// tools/list is answered here, from definitions serialized once per catalog, instead of by
// mcp-go, which sorts, filters and marshals every tool again on every request (12 ms for 1,000
// tools on the benchmark machine). Only requests whose answer cannot differ are taken: a 2025-era
// session the gateway knows to be open. Everything else goes on to mcp-go.

// listPages caches the serialized pages of one catalog, per view and cursor.
type listPages struct {
	catalog *Catalog
	pages   sync.Map // view key + "\x00" + cursor -> []byte (the result object)
}

// serveToolsList answers a tools/list request and reports whether it did.
func (r *Router) serveToolsList(w http.ResponseWriter, req *http.Request) bool {
	sid := req.Header.Get("Mcp-Session-Id")
	if req.Method != http.MethodPost || sid == "" {
		return false
	}
	if v := req.Header.Get("Mcp-Protocol-Version"); v != "" && v != mcp.LATEST_LEGACY_PROTOCOL_VERSION && !strings.HasPrefix(v, "2025-") {
		return false
	}
	if _, open := r.live.Load(sid); !open {
		return false
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return false
	}
	req.Body = io.NopCloser(bytes.NewReader(body)) // for mcp-go, when it is not ours to answer
	if !bytes.Contains(body, []byte(`"tools/list"`)) {
		return false
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Cursor string `json:"cursor"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != string(mcp.MethodToolsList) || len(msg.ID) == 0 {
		return false
	}
	result, ok := r.toolsPage(req, msg.Params.Cursor)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"error":{"code":-32602,"message":"invalid cursor"}}`))
		return true
	}
	out := make([]byte, 0, len(result)+64)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, msg.ID...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	out = append(out, "}\n"...)
	_, _ = w.Write(out)
	return true
}

// toolsPage returns the serialized result of one tools/list page for the caller's view, or
// false for a cursor the gateway did not make.
func (r *Router) toolsPage(req *http.Request, cursor string) ([]byte, bool) {
	key, allowed := "all", func(string) bool { return true }
	if r.view != nil {
		var only func(string) bool
		if key, only = r.view(req.Context()); only != nil {
			allowed = only
		}
	}
	c := r.catalog.Load()
	pages := r.pages.Load()
	if pages == nil || pages.catalog != c {
		pages = &listPages{catalog: c}
		r.pages.Store(pages)
	}
	cacheKey := key + "\x00" + cursor
	if b, ok := pages.pages.Load(cacheKey); ok {
		return b.([]byte), true
	}
	offset := 0
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		n, ok := strings.CutPrefix(string(raw), "sb1:")
		if err != nil || !ok {
			return nil, false
		}
		if offset, err = strconv.Atoi(n); err != nil || offset < 0 {
			return nil, false
		}
	}
	var visible []*Entry
	for _, e := range c.entries {
		if allowed(string(e.Name)) {
			visible = append(visible, e)
		}
	}
	if offset > len(visible) {
		return nil, false
	}
	end := min(offset+max(r.pageSize, 1), len(visible))
	var b bytes.Buffer
	b.WriteString(`{"tools":[`)
	for i, e := range visible[offset:end] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.defJSON)
	}
	b.WriteByte(']')
	if end < len(visible) {
		b.WriteString(`,"nextCursor":"` + base64.RawURLEncoding.EncodeToString([]byte("sb1:"+strconv.Itoa(end))) + `"`)
	}
	b.WriteByte('}')
	pages.pages.Store(cacheKey, b.Bytes())
	return b.Bytes(), true
}
