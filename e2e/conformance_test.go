package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// gatewayGaps are the conformance scenarios that pass against the upstream directly but not yet
// through the gateway, each with the reason. The test fails if one of them starts passing (so
// the list only ever shrinks) and if any other scenario passes directly but not through the
// gateway. docs/conformance.md has the table.
var gatewayGaps = map[string]string{}

// flaky scenarios fail now and then against the upstream itself: mcp-go's conformance server
// drops the last notification before a response (it runs without an event store), so they pass
// in about one run of four, directly or not. They are reported, not judged here; what the gateway
// does with progress and log messages is tested deterministically in
// TestProgressAndLogsReachTheCallingClient, against an upstream that drops nothing.
var flaky = []string{"tools-call-with-logging", "tools-call-with-progress"}

// timestamp ends the name of each scenario's result folder.
var timestamp = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}T[0-9-]+Z?$`)

// scenarioResult is one scenario's checks.
type scenarioResult struct {
	passed, failed int
	failures       []string
}

func (r scenarioResult) ok() bool { return r.failed == 0 && r.passed > 0 }

// runConformance runs the official suite (all active server scenarios, or one) against url and
// returns each scenario's result.
func runConformance(t *testing.T, url, scenario string) map[string]scenarioResult {
	t.Helper()
	node22, suite := needConformance(t)
	out := t.TempDir()
	args := []string{suite, "server", "--url", url, "-o", out}
	if scenario != "" {
		args = append(args, "--scenario", scenario)
	}
	cmd := exec.Command(node22, args...)
	cmd.Dir = out
	stdout, err := cmd.Output()
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit { // exit 1 just means a check failed
		t.Fatalf("conformance suite: %v", err)
	}
	results := map[string]scenarioResult{}
	dirs, _ := filepath.Glob(filepath.Join(out, "server-*", "checks.json"))
	if len(dirs) == 0 {
		t.Fatalf("the conformance suite wrote no results:\n%s", stdout)
	}
	for _, path := range dirs {
		name := strings.TrimPrefix(timestamp.ReplaceAllString(filepath.Base(filepath.Dir(path)), ""), "server-")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var checks []struct{ ID, Status, ErrorMessage string }
		if err := json.Unmarshal(raw, &checks); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var r scenarioResult
		for _, c := range checks {
			switch c.Status {
			case "SUCCESS":
				r.passed++
			case "FAILURE":
				r.failed++
				r.failures = append(r.failures, c.ID+": "+c.ErrorMessage)
			}
		}
		results[name] = r
	}
	return results
}

func TestConformanceThroughTheGateway(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := start(t, []string{"CONFORMANCE_ADDR=" + addr}, needConfServer(t))
	waitTCP(t, addr, p)
	direct := "http://" + addr + "/mcp"
	gw := startGateway(t, fmt.Sprintf("upstreams: [{name: conformance, url: %s, namespace: \"\"}]\n", direct))

	upstream := runConformance(t, direct, "")
	through := runConformance(t, gw.URL, "")

	var table strings.Builder
	table.WriteString("| scenario | upstream directly | through the gateway |\n|---|---|---|\n")
	names := make([]string, 0, len(upstream))
	for name := range upstream {
		names = append(names, name)
	}
	slices.Sort(names)
	sum := func(m map[string]scenarioResult) (p, f int) {
		for _, r := range m {
			p, f = p+r.passed, f+r.failed
		}
		return
	}
	for _, name := range names {
		u, g := upstream[name], through[name]
		fmt.Fprintf(&table, "| %s | %d/%d | %d/%d |\n", name, u.passed, u.passed+u.failed, g.passed, g.passed+g.failed)
		_, gap := gatewayGaps[name]
		switch {
		case slices.Contains(flaky, name):
		case u.ok() && !g.ok() && !gap:
			t.Errorf("%s passes against the upstream but not through the gateway: %v", name, g.failures)
		case gap && g.ok():
			t.Errorf("%s passes through the gateway now: remove it from gatewayGaps", name)
		}
	}
	up, uf := sum(upstream)
	gp, gf := sum(through)
	fmt.Fprintf(&table, "| **total checks** | %d/%d | %d/%d |\n", up, up+uf, gp, gp+gf)
	t.Logf("conformance:\n%s", table.String())
	if path := os.Getenv("CONFORMANCE_TABLE"); path != "" {
		_ = os.WriteFile(path, []byte(table.String()), 0o644)
	}
}
