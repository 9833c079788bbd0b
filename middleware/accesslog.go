package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// access is what AccessLog learns about a request from the layers inside it.
type access struct {
	principal atomic.Pointer[string]
}

// SetPrincipal records who made the request for its access log line. The authn layer (or
// whoever learns the principal) calls it with the request's context; AccessLog runs outside
// authn, so this is how the subject gets back out. Without AccessLog around the request it does
// nothing. It may be called from any goroutine; the last call wins.
func SetPrincipal(ctx context.Context, subject string) {
	if a := scopeOf(ctx).access; a != nil {
		a.principal.Store(&subject)
	}
}

// AccessLog writes one info record "http request" per request to log, when the handler returns:
// method, path (never the query string, which may carry secrets), status, bytes written in the
// body, duration, the principal SetPrincipal recorded and, through LogHandler, the request id.
// No header and no body is logged. A request whose handler panicked or aborted is logged with
// aborted=true, and status 500 when nothing was written yet (what Recover answers).
//
// The response writer it passes on keeps http.Flusher (streamed responses) and Unwrap for
// http.ResponseController.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	log = slog.New(LogHandler(log.Handler()))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			began := time.Now()
			a := &access{}
			rec := &recorder{ResponseWriter: w}
			done := false
			defer func() {
				status := rec.status
				if status == 0 {
					status = http.StatusOK // what net/http sends for a handler that wrote nothing
					if !done {
						status = http.StatusInternalServerError
					}
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int64("bytes", rec.bytes),
					slog.Duration("duration", time.Since(began)),
				}
				if p := a.principal.Load(); p != nil {
					attrs = append(attrs, slog.String("principal", *p))
				}
				if !done {
					attrs = append(attrs, slog.Bool("aborted", true))
				}
				log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
			}()
			next.ServeHTTP(rec, fill(r, func(s *scope) { s.access = a }))
			done = true
		})
	}
}

// recorder notes the status and the body size of a response on its way out.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim: the final status comes later
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what was written so far, when the writer underneath can.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the writer underneath (deadlines, hijacking).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ http.Flusher = (*recorder)(nil)
