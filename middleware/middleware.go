// Package middleware holds the HTTP layers in front of the MCP endpoint, each a
// func(http.Handler) http.Handler built once at start-up: panic recovery, the request id, the
// access log, the Origin check, the request body limit and the JSON-RPC envelope check. They run
// in the order docs/design.md gives.
package middleware

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Chain applies layers so that the first one is the outermost.
func Chain(h http.Handler, layers ...func(http.Handler) http.Handler) http.Handler {
	for _, l := range slices.Backward(layers) {
		h = l(h)
	}
	return h
}

// Recover turns a panic in a handler into a 500 and a log record, so one bad request cannot take
// the process down. http.ErrAbortHandler is re-raised: it is how handlers abort on purpose. The
// record carries the request id when RequestID, inside, has set the response's X-Request-Id.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.Error("handler panicked", "panic", p, "method", r.Method, "path", r.URL.Path,
						"request_id", w.Header().Get(RequestIDHeader))
					http.Error(w, "internal error", http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// Origin refuses browser requests from foreign origins (403), which protects a gateway on
// loopback from DNS rebinding: a page of evil.example resolving to 127.0.0.1 still sends its own
// Origin. Allowed: no Origin header (not a browser), the origins listed, and any localhost,
// 127.0.0.1 or [::1] origin (a local client such as an inspector).
func Origin(allowed []string) func(http.Handler) http.Handler {
	set := map[string]bool{}
	for _, o := range allowed {
		set[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin != "" && !set[strings.ToLower(origin)] && !isLocalOrigin(origin) {
				http.Error(w, "forbidden origin: "+origin, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func isLocalOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BodyLimit answers 413 to a request whose body is larger than max bytes. The body is read
// here, up to the limit, so that the answer is a clean 413 whatever the handler would do with a
// truncated body.
func BodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				tooLarge(w, max)
				return
			}
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			body, err := readAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				tooLarge(w, max)
				return
			case err != nil:
				http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = newReadBody(body)
			next.ServeHTTP(w, r)
		})
	}
}

func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Connection", "close")
	http.Error(w, "request body too large: the limit is "+formatBytes(max), http.StatusRequestEntityTooLarge)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
