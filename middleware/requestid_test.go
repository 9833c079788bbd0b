package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var mintedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// serveID runs RequestID around a handler that reports what it saw, for an incoming header
// value (nil: no header).
func serveID(t *testing.T, incoming *string) (echoed, inContext, inHeader string) {
	t.Helper()
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inContext, inHeader = RequestIDFrom(r.Context()), r.Header.Get(RequestIDHeader)
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	if incoming != nil {
		req.Header[RequestIDHeader] = []string{*incoming} // as sent, even what Set would refuse
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Header().Get(RequestIDHeader), inContext, inHeader
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		incoming *string
		kept     bool
	}{
		{"none", nil, false},
		{"empty", ptr(""), false},
		{"uuid", ptr("0b6f2b6e-3f0e-4c8a-9d4e-1f2a3b4c5d6e"), true},
		{"balancer style", ptr("1-67891233-abcdef012345678912345678:span.7_x"), true},
		{"an equals sign", ptr("Root=1-2"), false},
		{"128 characters", ptr(strings.Repeat("a", 128)), true},
		{"129 characters", ptr(strings.Repeat("a", 129)), false},
		{"a space", ptr("two words"), false},
		{"a forged log line", ptr("x\nlevel=ERROR msg=forged"), false},
		{"a forged header", ptr("x\r\nSet-Cookie: a=b"), false},
		{"markup", ptr("<script>"), false},
		{"non-ASCII", ptr("idé"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			echoed, inContext, inHeader := serveID(t, tc.incoming)
			if tc.kept && echoed != *tc.incoming {
				t.Errorf("X-Request-Id %q was replaced by %q", *tc.incoming, echoed)
			}
			if !tc.kept && !mintedID.MatchString(echoed) {
				t.Errorf("X-Request-Id %v: echoed %q, want a new id", tc.incoming, echoed)
			}
			if inContext != echoed || inHeader != echoed {
				t.Errorf("the handler saw %q in its context and %q in the header, the client %q", inContext, inHeader, echoed)
			}
		})
	}
}

func TestRequestIDMintsDistinctIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id, _, _ := serveID(t, nil)
		if seen[id] {
			t.Fatalf("id %q minted twice", id)
		}
		seen[id] = true
	}
}

func ptr(s string) *string { return &s }

// jsonLines returns a logger writing JSON to a buffer, and a way to read its records.
func jsonLines(t *testing.T, wrap func(slog.Handler) slog.Handler) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(wrap(slog.NewJSONHandler(&buf, nil)))
	return log, func() []map[string]any {
		var records []map[string]any
		for line := range strings.Lines(buf.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			records = append(records, m)
		}
		return records
	}
}

func TestLogHandler(t *testing.T) {
	t.Parallel()
	twice := func(h slog.Handler) slog.Handler { return LogHandler(LogHandler(h)) }
	log, records := jsonLines(t, twice)
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "with an id")
	log.With("component", "router").InfoContext(ctx, "from a derived logger")
	log.InfoContext(context.Background(), "without an id")
	log.Info("without a context")

	got := records()
	if len(got) != 4 {
		t.Fatalf("%d records, want 4", len(got))
	}
	for i, want := range []any{"req-1", "req-1", nil, nil} {
		if got[i]["request_id"] != want {
			t.Errorf("%q: request_id %v, want %v", got[i]["msg"], got[i]["request_id"], want)
		}
	}
	if got[1]["component"] != "router" {
		t.Errorf("the derived logger lost its attribute: %v", got[1])
	}
}

// FuzzRequestID checks that whatever a client sends as X-Request-Id, the id echoed (and logged)
// is well-formed, and that a well-formed one is kept.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "0b6f2b6e-3f0e-4c8a-9d4e-1f2a3b4c5d6e", "x\r\ny", strings.Repeat("z", 129), "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, incoming string) {
		echoed, inContext, _ := serveID(t, &incoming)
		if !ValidRequestID(echoed) || len(echoed) > 128 || strings.ContainsAny(echoed, " \r\n\t\"=") {
			t.Fatalf("incoming %q: echoed %q", incoming, echoed)
		}
		if ValidRequestID(incoming) != (echoed == incoming) {
			t.Fatalf("incoming %q (valid %v): echoed %q", incoming, ValidRequestID(incoming), echoed)
		}
		if inContext != echoed {
			t.Fatalf("context %q, echoed %q", inContext, echoed)
		}
	})
}
