package middleware

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAccessLog(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-t0ken"
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		status    int
		bytes     float64
		principal any // nil: not logged
		aborted   bool
	}{
		{"a body and a principal", func(w http.ResponseWriter, r *http.Request) {
			SetPrincipal(r.Context(), "alice")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "hello")
		}, 201, 5, "alice", false},
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, 200, 0, nil, false},
		{"refused before authn", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusUnauthorized)
		}, 401, 3, nil, false},
		{"an interim status first", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, 0, nil, false},
		{"a panic", func(w http.ResponseWriter, r *http.Request) {
			SetPrincipal(r.Context(), "mallory")
			panic("boom")
		}, 500, 0, "mallory", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log, records := jsonLines(t, func(h slog.Handler) slog.Handler { return h })
			h := Chain(tc.handler, Recover(slog.New(slog.DiscardHandler)), RequestID, AccessLog(log))
			req := httptest.NewRequest(http.MethodPost, "/mcp?access_token="+secret, strings.NewReader(`{"token":"`+secret+`"}`))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Cookie", "session="+secret)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := records()
			if len(got) != 1 {
				t.Fatalf("%d log records for one request, want 1", len(got))
			}
			r := got[0]
			want := map[string]any{"msg": "http request", "method": "POST", "path": "/mcp",
				"status": float64(tc.status), "bytes": tc.bytes, "request_id": rec.Header().Get(RequestIDHeader),
				"principal": tc.principal}
			if tc.aborted {
				want["aborted"] = true
			}
			for k, v := range want {
				if r[k] != v {
					t.Errorf("%s: %v, want %v (record %v)", k, r[k], v, r)
				}
			}
			if _, ok := r["duration"]; !ok {
				t.Errorf("no duration: %v", r)
			}
			if rec.Code >= 200 && rec.Code != tc.status { // the recorder keeps an interim code, a client does not
				t.Errorf("the client got %d, the log says %d", rec.Code, tc.status)
			}
			if line := fmt.Sprint(r); strings.Contains(line, secret) || strings.Contains(line, "access_token") {
				t.Errorf("the log shows a secret: %s", line)
			}
		})
	}
}

func TestSetPrincipalWithoutAccessLog(t *testing.T) {
	t.Parallel()
	SetPrincipal(httptest.NewRequest(http.MethodGet, "/", nil).Context(), "alice") // does nothing, does not panic
}

// TestAccessLogKeepsStreaming checks that a streamed response reaches the client event by event
// through the access log's writer, and that http.ResponseController still reaches the connection.
func TestAccessLogKeepsStreaming(t *testing.T) {
	t.Parallel()
	log, records := jsonLines(t, func(h slog.Handler) slog.Handler { return h })
	firstRead := make(chan struct{})
	controllerErr := make(chan error, 1)
	srv := httptest.NewServer(Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		controllerErr <- http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-firstRead: // the client has the first event before the second is written
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}), RequestID, AccessLog(log)))
	defer srv.Close()

	lines := make(chan string)
	go func() {
		defer close(lines)
		resp, err := http.Get(srv.URL + "/mcp") // returns once the headers are flushed
		if err != nil {
			lines <- err.Error()
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	select {
	case line := <-lines:
		if line != "data: one" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the handler returned: Flush did not reach the client")
	}
	close(firstRead)
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	if strings.Join(rest, "|") != "|data: two|" {
		t.Errorf("the rest of the stream: %q", rest)
	}
	if err := <-controllerErr; err != nil {
		t.Errorf("http.ResponseController through the access log: %v", err)
	}
	srv.Close() // the handler has returned, so its record is written
	if got := records(); len(got) != 1 || got[0]["bytes"] != float64(len("data: one\n\ndata: two\n\n")) {
		t.Errorf("records %v", got)
	}
}
