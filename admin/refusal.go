package admin

import (
	"bytes"
	"net/http"
	"strings"
)

// ExplainRefusals wraps the admin auth (next) so that a browser refused on the console's page
// gets an HTML page saying why and how to reach the console, instead of the JSON error the API
// answers. The status and WWW-Authenticate challenge stay; API clients (no text/html in
// Accept) and every other path get next's answer unchanged. scope is the admin scope.
func (c *Console) ExplainRefusals(next http.Handler, scope string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		console := r.URL.Path == ConsolePath || strings.HasPrefix(r.URL.Path, ConsolePath+"console/")
		if r.Method != http.MethodGet || !console || !strings.Contains(r.Header.Get("Accept"), "text/html") {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&refusalWriter{ResponseWriter: w, page: func(status int) []byte {
			var b bytes.Buffer
			_ = c.tmpl.ExecuteTemplate(&b, "refused", struct {
				Status   int
				Scope    string
				HadToken bool
				Host     string
			}{status, scope, r.Header.Get("Authorization") != "", r.Host})
			return b.Bytes()
		}}, r)
	})
}

// refusalWriter replaces a 401 or 403 answer with page(status).
type refusalWriter struct {
	http.ResponseWriter
	page     func(status int) []byte
	replaced bool
}

func (w *refusalWriter) WriteHeader(status int) {
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	body := w.page(status)
	securityHeaders(w.ResponseWriter)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
}

func (w *refusalWriter) Write(p []byte) (int, error) {
	if w.replaced {
		return len(p), nil // the JSON error, replaced by the page
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
