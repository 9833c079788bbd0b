package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-mcp/switchboard/internal/oidctest"
)

// rpcResult is one JSON-RPC answer.
type rpcResult struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpc sends method with params on session and returns the answer (from a JSON body or the last
// message of an SSE stream).
func rpc(t *testing.T, url, token, session, method string, params any) rpcResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	resp := mcpPost(t, url, token, session, string(body))
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: HTTP %d: %s", method, resp.StatusCode, b)
	}
	var out rpcResult
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"id":7`) {
				_ = json.Unmarshal([]byte(data), &out)
			}
		}
		return out
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return out
}

// names lists field of every item of the result's list key.
func names(t *testing.T, r rpcResult, list, field string) []string {
	t.Helper()
	var m map[string][]map[string]any
	if err := json.Unmarshal(r.Result, &m); err != nil {
		t.Fatalf("%s: %v (%s)", list, err, r.Result)
	}
	var out []string
	for _, item := range m[list] {
		out = append(out, fmt.Sprint(item[field]))
	}
	return out
}

// sameAnswer reports whether two answers are the same once each one's own name is replaced.
func sameAnswer(a rpcResult, aName string, b rpcResult, bName string) bool {
	norm := func(r rpcResult, name string) string {
		j, _ := json.Marshal(r)
		return strings.ReplaceAll(string(j), name, "NAME")
	}
	return norm(a, aName) == norm(b, bName)
}

// TestPolicyCoversEveryMethod: a principal allowed one tool of one upstream sees and uses no
// prompt, resource, template or completion of another (list, get, read, subscribe, complete),
// each answered exactly as for one that does not exist; a principal allowed the whole
// namespace, or some URIs by allow_resources, sees them.
func TestPolicyCoversEveryMethod(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "fx", false)
	everything := startNPMEverything(t)
	g := startGateway(t, fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %s
  audience: %s
  required_scopes: [mcp]
  policies:
    - {when: {scope: fx-only}, allow: ["fx__echo"]}
    - {when: {scope: whole}, allow: ["everything__*"]}
    - {when: {scope: some}, allow: ["fx__echo"], allow_resources: ["everything+demo://resource/static/document/s*"]}
upstreams: [{name: fx, url: %s}, {name: everything, url: %s}]
`, iss.URL, resource, demo.URL, everything.URL))
	token := func(scopes string) string {
		return iss.Sign("ec-1", iss.Claims("user-"+strings.Fields(scopes)[1], resource, scopes))
	}
	admin, fxOnly, whole, some := token("mcp all"), token("mcp fx-only"), token("mcp whole"), token("mcp some")

	// What exists: an unrestricted principal (no policy matches, default allow) sees it all.
	as := initialize(t, g.URL, admin)
	prompts := names(t, rpc(t, g.URL, admin, as, "prompts/list", map[string]any{}), "prompts", "name")
	resources := names(t, rpc(t, g.URL, admin, as, "resources/list", map[string]any{}), "resources", "uri")
	templates := names(t, rpc(t, g.URL, admin, as, "resources/templates/list", map[string]any{}), "resourceTemplates", "uriTemplate")
	if len(prompts) == 0 || len(resources) == 0 || len(templates) == 0 {
		t.Fatalf("the everything server should have prompts, resources and templates: %v %v %v", prompts, resources, templates)
	}
	prompt, res := "everything__simple-prompt", resources[0] // a prompt that takes no arguments
	if !slices.Contains(prompts, prompt) {
		t.Fatalf("no %s among %v", prompt, prompts)
	}

	fs := initialize(t, g.URL, fxOnly)
	for _, tc := range []struct{ method, list, field string }{
		{"prompts/list", "prompts", "name"}, {"resources/list", "resources", "uri"}, {"resources/templates/list", "resourceTemplates", "uriTemplate"},
	} {
		if got := names(t, rpc(t, g.URL, fxOnly, fs, tc.method, map[string]any{}), tc.list, tc.field); len(got) != 0 {
			t.Errorf("fx-only %s: %v, want nothing", tc.method, got)
		}
	}
	if got := names(t, rpc(t, g.URL, fxOnly, fs, "tools/list", map[string]any{}), "tools", "name"); len(got) != 1 || got[0] != "fx__echo" {
		t.Errorf("fx-only tools/list: %v", got)
	}
	for _, tc := range []struct {
		method        string
		params        func(name string) any
		hidden, nonex string
	}{
		{"prompts/get", func(n string) any { return map[string]any{"name": n} }, prompt, "everything__no-such-prompt"},
		{"resources/read", func(n string) any { return map[string]any{"uri": n} }, res, "everything+demo://no/such/resource"},
		{"resources/subscribe", func(n string) any { return map[string]any{"uri": n} }, res, "everything+demo://no/such/resource"},
		{"completion/complete", func(n string) any {
			return map[string]any{"ref": map[string]any{"type": "ref/prompt", "name": n}, "argument": map[string]any{"name": "x", "value": ""}}
		}, prompt, "everything__no-such-prompt"},
		{"tools/call", func(n string) any { return map[string]any{"name": n, "arguments": map[string]any{}} }, "fx__now", "fx__no-such-tool"},
	} {
		hidden := rpc(t, g.URL, fxOnly, fs, tc.method, tc.params(tc.hidden))
		missing := rpc(t, g.URL, fxOnly, fs, tc.method, tc.params(tc.nonex))
		if !sameAnswer(hidden, tc.hidden, missing, tc.nonex) {
			t.Errorf("%s of %s outside the view answered %+v; of one that does not exist %+v: they must be the same", tc.method, tc.hidden, hidden, missing)
		}
		if tc.method != "resources/subscribe" && hidden.Error == nil {
			t.Errorf("%s of %s outside the view succeeded: %s", tc.method, tc.hidden, hidden.Result)
		}
	}
	// The admin really can get and read them: the refusals above are the policy's.
	if r := rpc(t, g.URL, admin, as, "prompts/get", map[string]any{"name": prompt}); r.Error != nil {
		t.Errorf("admin prompts/get %s: %+v", prompt, r.Error)
	}
	if r := rpc(t, g.URL, admin, as, "resources/read", map[string]any{"uri": res}); r.Error != nil {
		t.Errorf("admin resources/read %s: %+v", res, r.Error)
	}

	// A namespace-wide allow grants the upstream's resources and templates.
	ws := initialize(t, g.URL, whole)
	if got := names(t, rpc(t, g.URL, whole, ws, "resources/list", map[string]any{}), "resources", "uri"); len(got) != len(resources) {
		t.Errorf("whole-namespace resources/list: %d, want all %d", len(got), len(resources))
	}
	if got := names(t, rpc(t, g.URL, whole, ws, "prompts/list", map[string]any{}), "prompts", "name"); len(got) != len(prompts) {
		t.Errorf("whole-namespace prompts/list: %d, want all %d", len(got), len(prompts))
	}
	// allow_resources grants some URIs and no prompt.
	ss := initialize(t, g.URL, some)
	granted := names(t, rpc(t, g.URL, some, ss, "resources/list", map[string]any{}), "resources", "uri")
	if len(granted) == 0 || len(granted) >= len(resources) {
		t.Errorf("allow_resources granted %d of %d resources, want some", len(granted), len(resources))
	}
	for _, uri := range granted {
		if !strings.HasPrefix(uri, "everything+demo://resource/static/document/s") {
			t.Errorf("allow_resources granted %s", uri)
		}
	}
	if len(granted) > 0 {
		if r := rpc(t, g.URL, some, ss, "resources/read", map[string]any{"uri": granted[0]}); r.Error != nil {
			t.Errorf("reading a granted resource: %+v", r.Error)
		}
	}
	if got := names(t, rpc(t, g.URL, some, ss, "prompts/list", map[string]any{}), "prompts", "name"); len(got) != 0 {
		t.Errorf("allow_resources granted prompts: %v", got)
	}
}

// TestDefaultPolicyDeny: with auth.default_policy deny, a principal no policy matches sees
// nothing and may call nothing.
func TestDefaultPolicyDeny(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "fx", false)
	g := startGateway(t, fmt.Sprintf(`
auth:
  mode: oidc
  issuer: %s
  audience: %s
  default_policy: deny
  policies: [{when: {scope: fx}, allow: ["fx__*"]}]
upstreams: [{name: fx, url: %s}]
`, iss.URL, resource, demo.URL))
	stranger := iss.Sign("ec-1", iss.Claims("stranger", resource, "mcp"))
	s := initialize(t, g.URL, stranger)
	if got := names(t, rpc(t, g.URL, stranger, s, "tools/list", map[string]any{}), "tools", "name"); len(got) != 0 {
		t.Errorf("default deny: tools/list %v", got)
	}
	if r := rpc(t, g.URL, stranger, s, "tools/call", map[string]any{"name": "fx__echo", "arguments": map[string]any{"text": "x"}}); r.Error == nil {
		t.Errorf("default deny: the call succeeded: %s", r.Result)
	}
	member := iss.Sign("ec-1", iss.Claims("member", resource, "mcp fx"))
	ms := initialize(t, g.URL, member)
	if got := names(t, rpc(t, g.URL, member, ms, "tools/list", map[string]any{}), "tools", "name"); len(got) < 5 {
		t.Errorf("a matching policy: tools/list %v", got)
	}
}

// auditLines returns the gateway's audit lines (JSON objects with an outcome).
func auditLines(g *gateway) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(g.logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["outcome"] != nil {
			out = append(out, m)
		}
	}
	return out
}

// TestRefusalsAreAudited: every kind of refusal writes an audit line with its reason, the
// principal when known, the method and the name; none holds a token or an argument value; the
// refusals metric counts each reason.
func TestRefusalsAreAudited(t *testing.T) {
	t.Parallel()
	iss := oidctest.New()
	t.Cleanup(iss.Close)
	demo := startDemoHTTP(t, "fx", false)
	g := startGateway(t, fmt.Sprintf(`
audit: {stdout: true}
auth:
  mode: oidc
  issuer: %s
  audience: %s
  required_scopes: [mcp]
  policies: [{when: {scope: narrow}, allow: ["fx__echo"]}]
limits: {tools: {"fx__echo": {rate: 1/m, burst: 1}}}
upstreams: [{name: fx, url: %s}]
`, iss.URL, resource, demo.URL))
	claims := func(change func(map[string]any)) string {
		c := iss.Claims("alice", resource, "mcp narrow")
		change(c)
		return iss.Sign("ec-1", c)
	}
	alice := claims(func(map[string]any) {})
	expired := claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	wrongAud := claims(func(c map[string]any) { c["aud"] = "https://elsewhere.test" })
	noScope := claims(func(c map[string]any) { c["scope"] = "narrow" })
	forged := alice[:len(alice)-4] + "AAAA"
	bob := iss.Sign("ec-1", iss.Claims("bob", resource, "mcp narrow"))
	const secretArg = "s3cret-argument-value"
	listCall := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fx__echo","arguments":{"text":"` + secretArg + `"}}}`

	for _, tok := range []string{"", "garbage-token", expired, wrongAud, forged, noScope} {
		resp := mcpPost(t, g.URL, tok, "", listCall)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %.20q: HTTP %d", tok, resp.StatusCode)
		}
	}
	s := initialize(t, g.URL, alice)
	rpc(t, g.URL, alice, s, "tools/call", map[string]any{"name": "fx__now", "arguments": map[string]any{"secret": secretArg}}) // outside the view
	rpc(t, g.URL, alice, s, "tools/call", map[string]any{"name": "fx__echo", "arguments": map[string]any{"text": secretArg}})  // allowed
	rpc(t, g.URL, alice, s, "tools/call", map[string]any{"name": "fx__echo", "arguments": map[string]any{"text": secretArg}})  // rate limited
	mcpPost(t, g.URL, bob, s, listBody)                                                                                        // Alice's session, Bob's token

	want := []struct{ outcome, reason, subject, method, tool string }{
		{"unauthenticated", "missing_token", "", "tools/call", "fx__echo"},
		{"unauthenticated", "malformed_token", "", "tools/call", "fx__echo"},
		{"unauthenticated", "expired_token", "", "tools/call", "fx__echo"},
		{"unauthenticated", "wrong_audience", "", "tools/call", "fx__echo"},
		{"unauthenticated", "bad_signature", "", "tools/call", "fx__echo"},
		{"forbidden", "insufficient_scope", "alice", "tools/call", "fx__echo"},
		{"not_allowed", "", "alice", "", "fx__now"},
		{"rate_limited", "", "alice", "", "fx__echo"},
		{"session_refused", "session belongs to another principal", "bob", "tools/list", ""},
	}
	eventually(t, 5*time.Second, "an audit line for every refusal", func() error {
		lines := auditLines(g)
		for _, w := range want {
			found := false
			for _, l := range lines {
				str := func(k string) string { s, _ := l[k].(string); return s }
				if str("outcome") == w.outcome && str("reason") == w.reason && str("subject") == w.subject && str("method") == w.method && str("tool") == w.tool {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no audit line %+v in:\n%v", w, lines)
			}
		}
		return nil
	})
	out := g.logs()
	for _, secret := range []string{alice, expired, wrongAud, forged, noScope, bob, secretArg} {
		if strings.Contains(out, secret) {
			t.Errorf("the gateway's output holds a token or an argument value (%.24s...)", secret)
		}
	}
	for reason, least := range map[string]float64{"missing_token": 1, "malformed_token": 1, "expired_token": 1, "wrong_audience": 1,
		"bad_signature": 1, "insufficient_scope": 1, "not_allowed": 1, "rate_limited": 1, "session_refused": 1} {
		if got := scrape(t, g, fmt.Sprintf(`switchboard_refusals_total{reason=%q}`, reason)); got < least {
			t.Errorf("switchboard_refusals_total{reason=%q} = %v, want at least %v", reason, got, least)
		}
	}
}
