package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     []string
	}{
		{"valid", "upstreams: [{name: a, url: http://127.0.0.1:1/mcp}]", 0, []string{"ok (1 static upstreams)"}},
		{"every problem listed", `
listn: 127.0.0.1:1
upstreams:
  - {name: a, url: http://h/mcp, command: [x], timeout: forever}
  - {name: a, url: "ftp://h"}
`, 1, []string{"5 problem(s)", "listn: unknown key", "upstreams[0].timeout: want a positive duration", "upstreams[0]: set either url or command", `upstreams[1].name: duplicate name "a"`, "upstreams[1].url: want an http"}},
		{"secrets are not echoed", "upstreams: [{name: a, url: http://h/mcp, headers: {Authorization: 'Bearer hunter2'}, timeout: nope}]", 1,
			[]string{"upstreams[0].timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run([]string{"validate", "--config", writeConfig(t, tc.config)}, nil, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("a secret was printed:\n%s", out)
			}
		})
	}
}

func TestServeRefusesABadConfig(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve", "--config", writeConfig(t, "upstreams: [{name: a}]")}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "upstreams[0]: set url") {
		t.Errorf("serve with a bad config: exit %d\n%s", code, stderr.String())
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("unknown command: exit %d\n%s", code, stderr.String())
	}
}

// TestStdioWritesOnlyJSONRPC: `stdio` refuses a bad config or flags on stderr; with a good
// config and an input that ends at once it starts, stops, and writes nothing at all to stdout
// (its logs go to stderr).
func TestStdioWritesOnlyJSONRPC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{"bad config", []string{"stdio", "--config", writeConfig(t, "upstreams: [{name: a}]")}, 1, "upstreams[0]: set url"},
		{"bad principal", []string{"stdio", "--config", writeConfig(t, "upstreams: [{name: a, url: 'http://127.0.0.1:1/mcp'}]\nstdio: {principal: {scopes: [a]}}")}, 1, "stdio.principal.subject: required"},
		{"config and upstream", []string{"stdio", "--config", "x.yaml", "--upstream", "http://127.0.0.1:1/mcp"}, 2, "not both"},
		{"bad upstream", []string{"stdio", "--upstream", "ftp://h/mcp"}, 1, "http:// or https://"},
		{"no such server", []string{"stdio", "--server", "nope", "--config", writeConfig(t, "upstreams: [{name: a, url: 'http://127.0.0.1:1/mcp'}]")}, 1, `no virtual server is named "nope"`},
		{"input ends", []string{"stdio", "--config", writeConfig(t, "upstreams: [{name: a, url: 'http://127.0.0.1:1/mcp'}]\nadmin_listen: ''\n")}, 0, "the client closed its input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q in stderr:\n%s", code, tc.wantCode, tc.want, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout carries more than JSON-RPC: %q", stdout.String())
			}
		})
	}
}
