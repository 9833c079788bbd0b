package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/switchboard-mcp/switchboard/internal/envelope"
)

// JSON-RPC error codes the envelope check answers with.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
)

// CheckEnvelope returns nil when body is one well-formed JSON-RPC 2.0 message (a request, a
// notification or a response), else the JSON-RPC error to answer with and the id to answer to.
func CheckEnvelope(body []byte) (id json.RawMessage, code int, msg string) {
	id, code, msg, _ = checkEnvelope(body)
	return id, code, msg
}

// envelopeKeys are the members checkEnvelope reads, in the order of its vals.
var envelopeKeys = []string{"jsonrpc", "id", "method", "params", "result", "error"}

// checkEnvelope is CheckEnvelope that also returns the method of a well-formed request or
// notification ("" for a response), read in the same pass. It decodes nothing but the short
// strings it checks (internal/envelope), as a map decode would read the message.
func checkEnvelope(body []byte) (id json.RawMessage, code int, msg, method string) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, codeInvalidRequest, "batches are not supported (MCP 2025-06-18 and later)", ""
	}
	if !json.Valid(trimmed) {
		return nil, codeParseError, "parse error: the body is not JSON", ""
	}
	if trimmed[0] != '{' {
		return nil, codeInvalidRequest, "invalid request: a JSON-RPC message is a JSON object", ""
	}
	var vals [6][]byte
	envelope.Pick(trimmed, envelopeKeys, vals[:])
	version, rawID, rawMethod, params, result, rpcErr := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
	if len(rawID) > 0 {
		id = rawID
	}
	if s, ok := envelope.DecodeString(version); !ok || s != "2.0" {
		return id, codeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`, ""
	}
	if len(id) > 0 && !validID(id) {
		return nil, codeInvalidRequest, "invalid request: the id must be a string or a number", ""
	}
	if rawMethod != nil {
		if method, _ = envelope.DecodeString(rawMethod); method == "" {
			return id, codeInvalidRequest, `invalid request: "method" must be a non-empty string`, ""
		}
		if params != nil && string(params) != "null" && params[0] != '{' {
			return id, codeInvalidRequest, `invalid request: "params" must be an object`, ""
		}
		return nil, 0, "", method
	}
	if len(id) == 0 || (result != nil) == (rpcErr != nil) {
		return id, codeInvalidRequest, `invalid request: a message without "method" must be a response with an id and either "result" or "error"`, ""
	}
	return nil, 0, "", ""
}

// validID reports whether id is a string or a number, or null (which the MCP server answers),
// not an object, an array or a bool.
func validID(id json.RawMessage) bool {
	k := envelope.Kind(id)
	return k == '"' || k == '0' || k == 'n'
}

// JSONRPC answers POSTs whose body is not one well-formed JSON-RPC 2.0 message with the
// JSON-RPC error (-32700 or -32600) and HTTP 400, before they reach the MCP server. It reads
// the body, so it must come after BodyLimit.
func JSONRPC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := Body(r)
		if err != nil {
			http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		id, code, msg, method := checkEnvelope(body)
		if code != 0 {
			if len(id) == 0 {
				id = json.RawMessage("null")
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q}}`+"\n", id, code, msg)
			return
		}
		r.Body = newReadBody(body)
		next.ServeHTTP(w, fill(r, func(s *scope) { s.rpcMethod = method }))
	})
}

// WithRPCMethod returns ctx naming method as the JSON-RPC method being served, as JSONRPC does
// for a POST: for transports without HTTP (stdio).
func WithRPCMethod(ctx context.Context, method string) context.Context {
	return with(ctx, func(s *scope) { s.rpcMethod = method })
}

// RPCMethodFrom returns the JSON-RPC method of the POST whose request ctx is ("" for a response,
// or outside a POST).
func RPCMethodFrom(ctx context.Context) string {
	return scopeOf(ctx).rpcMethod
}

// readBody is a body BodyLimit has read: Body hands its bytes on without another copy.
type readBody struct {
	*bytes.Reader
	body []byte
}

func newReadBody(b []byte) *readBody { return &readBody{Reader: bytes.NewReader(b), body: b} }

func (*readBody) Close() error { return nil }

// Body returns the request's whole body: the bytes BodyLimit read, when it did and nothing
// read them since, else read now.
func Body(r *http.Request) ([]byte, error) {
	if b, ok := r.Body.(*readBody); ok && b.Len() == len(b.body) {
		_, _ = b.Seek(0, io.SeekEnd) // read, as if by io.ReadAll
		return b.body, nil
	}
	return io.ReadAll(r.Body)
}

// readAll reads all of body in one allocation when its length is known (size >= 0).
func readAll(body io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(body)
	}
	b := make([]byte, size) // net/http reads no more than Content-Length
	if _, err := io.ReadFull(body, b); err != nil {
		return nil, err
	}
	return b, nil
}
