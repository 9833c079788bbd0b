package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// RequestIDHeader carries a request's id, on the way in (a caller's or a balancer's) and back.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a kept incoming id: it ends up in every log line, audit record and span
// of the request.
const maxRequestIDLen = 128

// ValidRequestID reports whether id is 1-128 characters of [A-Za-z0-9._:-], the ids RequestID
// keeps: enough for UUIDs, ULIDs and the ids balancers mint, and nothing that could forge a log
// line or a header.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// RequestID gives every request an id: the incoming X-Request-Id when ValidRequestID accepts
// it, else a new random one, which replaces the incoming header for the layers inside. The id is
// echoed in the response's X-Request-Id and put in the request's context for RequestIDFrom.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		header := []string{id} // one value shared by the request's header and the response's
		if !ValidRequestID(id) {
			id = newRequestID()
			header[0] = id
			r.Header[RequestIDHeader] = header // the canonical name: Set without its copy
		}
		w.Header()[RequestIDHeader] = header
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scopeKey{}, &scope{requestID: id, perRequest: true})))
	})
}

// WithRequestID returns ctx carrying id, for work that starts outside an HTTP request (and for
// tests); RequestID does it for requests.
func WithRequestID(ctx context.Context, id string) context.Context {
	return with(ctx, func(s *scope) { s.requestID = id })
}

// RequestIDFrom returns the id of the request ctx belongs to, or "" when it carries none.
func RequestIDFrom(ctx context.Context) string {
	return scopeOf(ctx).requestID
}

// LogHandler wraps h so that every record logged with a context carrying a request id
// (slog's InfoContext, LogAttrs, ...) gets a request_id attribute. Within a group opened by
// WithGroup the attribute lands in that group. Wrapping twice adds it once. It is safe for
// concurrent use when h is.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

var _ slog.Handler = logHandler{}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r = r.Clone() // the caller's record may share its attributes with other copies
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
