package middleware

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var echoBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, _ = w.Write(b)
})

func TestOrigin(t *testing.T) {
	t.Parallel()
	h := Origin([]string{"https://app.example.com"})(echoBody)
	for origin, want := range map[string]int{
		"":                        200, // not a browser
		"https://app.example.com": 200,
		"HTTPS://APP.EXAMPLE.COM": 200,
		"http://localhost:6274":   200,
		"http://127.0.0.1:3000":   200,
		"http://[::1]:8080":       200,
		"https://evil.example":    403,
		"http://localhost.evil":   403,
		"null":                    403,
	} {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("x"))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Origin %q: %d, want %d", origin, rec.Code, want)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := BodyLimit(1024)(echoBody)
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"under", 1024, false, 200}, {"over", 1025, false, 413}, {"over, chunked", 5000, true, 413}, {"under, chunked", 10, true, 200},
	} {
		body := strings.Repeat("x", tc.size)
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		if tc.chunked {
			req.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
		if tc.want == 200 && rec.Body.String() != body {
			t.Errorf("%s: the handler got %d bytes, want %d", tc.name, rec.Body.Len(), tc.size)
		}
		if tc.want == 413 && !strings.Contains(rec.Body.String(), "the limit is 1 KiB") {
			t.Errorf("%s: %q", tc.name, rec.Body.String())
		}
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	h := Recover(slog.New(slog.NewTextHandler(io.Discard, nil)))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 500 {
		t.Errorf("a panic gave %d", rec.Code)
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var order []string
	layer := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { order = append(order, name); next.ServeHTTP(w, r) })
		}
	}
	Chain(echoBody, layer("a"), layer("b"), layer("c")).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Join(order, "") != "abc" {
		t.Errorf("order %v", order)
	}
}

func TestCheckEnvelope(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]int{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`:                     0,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`:       0,
		`{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}`: 0,
		`{"jsonrpc":"2.0","id":1,"result":{}}`:                         0,
		`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`:    0,
		`{"jsonrpc":"2.0","id":1,"method":`:                            -32700,
		`not json`:                                                     -32700,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`:                   -32600,
		`{"jsonrpc":"1.0","id":1,"method":"ping"}`:                     -32600,
		`{"id":1,"method":"ping"}`:                                     -32600,
		`{"jsonrpc":"2.0","id":1}`:                                     -32600,
		`{"jsonrpc":"2.0","id":1,"method":5}`:                          -32600,
		`{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}`:               -32600,
		`{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}`:        -32600,
		`{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}}`:      -32600,
		`"just a string"`:                                              -32600,
	} {
		if _, code, msg := CheckEnvelope([]byte(body)); code != want {
			t.Errorf("%s: code %d (%s), want %d", body, code, msg, want)
		}
	}
}

func TestCheckEnvelopeReadsTheMethod(t *testing.T) {
	for body, want := range map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`: "tools/call",
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`:     "notifications/initialized",
		`{"jsonrpc":"2.0","id":1,"result":{}}`:                       "",
		`{"jsonrpc":"2.0","id":1,"method":""}`:                       "",
	} {
		if _, _, _, got := checkEnvelope([]byte(body)); got != want {
			t.Errorf("%s: method %q, want %q", body, got, want)
		}
	}
}

func FuzzCheckEnvelope(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","id":1,"result":{}}`, `[1]`, `{`, `{"jsonrpc":"2.0","id":1e400,"method":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, code, msg := CheckEnvelope(body)
		if code != 0 && code != -32700 && code != -32600 {
			t.Fatalf("code %d", code)
		}
		if (code == 0) != (msg == "") {
			t.Fatalf("code %d with message %q", code, msg)
		}
	})
}
