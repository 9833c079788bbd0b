package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// threeUpstreams is the acceptance set-up: two HTTP upstreams (our demo, the npm reference
// server) and one stdio upstream (mcp-go's everything example).
func threeUpstreams(t *testing.T) (*gateway, *upstreamHTTP, *upstreamHTTP) {
	demo := startDemoHTTP(t, "demo-http", false)
	everything := startNPMEverything(t)
	g := startGateway(t, fmt.Sprintf(`
upstreams:
  - name: demo
    url: %s
  - name: everything
    url: %s
  - name: goev
    command: [%q]
`, demo.URL, everything.URL, needGoEverything(t)))
	return g, demo, everything
}

func TestUnionCatalogKeepsDefinitionsAndRoutesCalls(t *testing.T) {
	t.Parallel()
	g, demo, everything := threeUpstreams(t)
	gw := connect(t, g.URL, true, nil)
	exposed := rawTools(t, gw)

	validName := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	for name := range exposed {
		if !validName.MatchString(name) {
			t.Errorf("exposed name %q breaks the naming rule", name)
		}
	}

	// Every tool of every upstream is there under namespace__name with the same definition, the
	// input and output schemas keyword for keyword.
	direct := map[string]map[string]json.RawMessage{
		"demo":       rawTools(t, connect(t, demo.URL, true, nil)),
		"everything": rawTools(t, connect(t, everything.URL, true, nil)),
	}
	total := 0
	for ns, tools := range direct {
		total += len(tools)
		for name, raw := range tools {
			got, ok := exposed[ns+"__"+name]
			if !ok {
				t.Errorf("%s__%s missing from the gateway's catalog", ns, name)
				continue
			}
			for _, key := range []string{"inputSchema", "outputSchema", "description", "annotations", "title"} {
				want, have := field(t, raw, key), field(t, got, key)
				if want != have {
					t.Errorf("%s__%s: %s changed:\n upstream %s\n gateway  %s", ns, name, key, want, have)
				}
			}
		}
	}
	goev := 0
	for name := range exposed {
		if strings.HasPrefix(name, "goev__") {
			goev++
		}
	}
	if goev == 0 {
		t.Error("no tools of the stdio upstream goev")
	}
	// The npm server adds a tool after initialization (announced with list_changed), and three
	// more for clients that declare roots, sampling and elicitation, as the gateway does (it
	// passes those requests on to the calling client); our direct session declares none.
	if got, want := len(exposed)-goev, total; got < want || got > want+4 {
		t.Errorf("gateway shows %d tools of the HTTP upstreams, they have %d", got, want)
	}
	if !strings.Contains(field(t, exposed["everything__echo"], "inputSchema"), `"$schema"`) {
		t.Errorf("everything__echo lost its $schema: %s", exposed["everything__echo"])
	}
	if want := `"$schema":"https://json-schema.org/draft/2020-12/schema"`; !strings.Contains(field(t, exposed["demo__add"], "outputSchema"), want) {
		t.Errorf("demo__add output schema lost %s: %s", want, exposed["demo__add"])
	}

	// Calls reach the owning upstream with arguments and results intact.
	sum := call(t, gw, "demo__add", map[string]any{"a": 2, "b": 3.5})
	if string(sum.RawStructuredContent) != `{"sum":5.5}` && fmt.Sprint(sum.StructuredContent) != "map[sum:5.5]" {
		t.Errorf("demo__add structured content: %s %v", sum.RawStructuredContent, sum.StructuredContent)
	}
	if got := text(call(t, gw, "everything__echo", map[string]any{"message": "héllo ✓"})); got != "Echo: héllo ✓" {
		t.Errorf("everything__echo: %q", got)
	}
	if got := text(call(t, gw, "goev__echo", map[string]any{"message": "over stdio"})); !strings.Contains(got, "over stdio") {
		t.Errorf("goev__echo: %q", got)
	}
	img := call(t, gw, "everything__get-tiny-image", nil)
	directImg := call(t, connect(t, everything.URL, true, nil), "get-tiny-image", nil)
	if !sameContent(t, img.Content, directImg.Content) {
		t.Errorf("image result changed on the way:\n gateway %v\n direct  %v", img.Content, directImg.Content)
	}
	var sawImage bool
	for _, c := range img.Content {
		if im, ok := c.(mcp.ImageContent); ok && im.MIMEType == "image/png" && len(im.Data) > 100 {
			sawImage = true
		}
	}
	if !sawImage {
		t.Errorf("no PNG image in everything__get-tiny-image: %v", img.Content)
	}
	structured := call(t, gw, "everything__get-structured-content", map[string]any{"location": "Chicago"})
	if len(structured.RawStructuredContent) == 0 && structured.StructuredContent == nil {
		t.Errorf("everything__get-structured-content lost its structuredContent: %+v", structured)
	}

	// An unknown tool is JSON-RPC -32602 "unknown tool: NAME".
	resp := rawCall(t, gw, "nope__nothing", nil)
	if resp.Error == nil || resp.Error.Code != mcp.INVALID_PARAMS || resp.Error.Message != "unknown tool: nope__nothing" {
		t.Errorf("unknown tool: got %+v", resp)
	}
}

// field returns the compact JSON of key in a tool object ("" when absent).
func field(t *testing.T, tool json.RawMessage, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(tool, &m); err != nil {
		t.Fatal(err)
	}
	if m[key] == nil {
		return ""
	}
	return compact(t, m[key])
}

func sameContent(t *testing.T, a, b []mcp.Content) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestTypeScriptSDKClientSeesTheUnion(t *testing.T) {
	t.Parallel()
	g, _, _ := threeUpstreams(t)
	calls := `[{"name":"demo__echo","arguments":{"text":"from ts"}},
	           {"name":"everything__get-sum","arguments":{"a":40,"b":2}},
	           {"name":"goev__add","arguments":{"a":1,"b":2}}]`
	out, err := tsClient(t, g.URL, calls, "nope__missing").Output()
	if err != nil {
		t.Fatalf("TypeScript client: %v\n%s", err, exitStderr(err))
	}
	var report struct {
		Tools []struct{ Name string }
		Calls []struct {
			Content []struct{ Type, Text string }
			IsError bool
		}
		Unknown struct {
			Code    int
			Message string
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	namespaces := map[string]int{}
	for _, tool := range report.Tools {
		ns, _, _ := strings.Cut(tool.Name, "__")
		namespaces[ns]++
	}
	for _, ns := range []string{"demo", "everything", "goev"} {
		if namespaces[ns] == 0 {
			t.Errorf("no tools of %s in %v", ns, namespaces)
		}
	}
	want := []string{"from ts", "42", "3"}
	for i, c := range report.Calls {
		if c.IsError || len(c.Content) == 0 || !strings.Contains(c.Content[0].Text, want[i]) {
			t.Errorf("call %d: want text containing %q, got %+v", i, want[i], c)
		}
	}
	if report.Unknown.Code != -32602 || !strings.Contains(report.Unknown.Message, "unknown tool: nope__missing") {
		t.Errorf("unknown tool: got %+v", report.Unknown)
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func TestCollidingNamesAreResolvedAndRouted(t *testing.T) {
	t.Parallel()
	a := startDemoHTTP(t, "alpha", false)
	b := startDemoHTTP(t, "beta", false)
	// Both upstreams expose their tools unprefixed: every name collides.
	g := startGateway(t, fmt.Sprintf(`
upstreams:
  - {name: alpha, url: %s, namespace: ""}
  - {name: beta, url: %s, namespace: ""}
`, a.URL, b.URL))
	c := connect(t, g.URL, true, nil)
	names := rawTools(t, c)
	var whoami []string
	for name := range names {
		if strings.HasPrefix(name, "whoami") {
			whoami = append(whoami, name)
		}
	}
	sort.Strings(whoami)
	if len(whoami) != 2 || whoami[0] != "whoami" || !regexp.MustCompile(`^whoami_[0-9a-f]{8}$`).MatchString(whoami[1]) {
		t.Fatalf("want whoami and whoami_<hash>, got %v", whoami)
	}
	// alpha sorts first, so it keeps the plain name; each name reaches its own upstream.
	if got := text(call(t, c, whoami[0], nil)); got != "alpha" {
		t.Errorf("%s answered %q, want alpha", whoami[0], got)
	}
	if got := text(call(t, c, whoami[1], nil)); got != "beta" {
		t.Errorf("%s answered %q, want beta", whoami[1], got)
	}

	// The same upstream state gives the same names in another gateway process.
	g2 := startGateway(t, fmt.Sprintf(`
upstreams:
  - {name: beta, url: %s, namespace: ""}
  - {name: alpha, url: %s, namespace: ""}
`, b.URL, a.URL))
	names2 := rawTools(t, connect(t, g2.URL, true, nil))
	if len(names2) != len(names) {
		t.Fatalf("second gateway: %d tools, first: %d", len(names2), len(names))
	}
	for name := range names {
		if _, ok := names2[name]; !ok {
			t.Errorf("%s not exposed by the second gateway", name)
		}
	}
}

func TestToolsListIsPaginatedInOrder(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	g := startGateway(t, fmt.Sprintf("page_size: 3\nupstreams:\n  - {name: demo, url: %s}\n", demo.URL))
	c := connect(t, g.URL, true, nil)
	var names []string
	cursor := mcp.Cursor("")
	pages := 0
	for {
		req := mcp.ListToolsRequest{}
		req.Params.Cursor = cursor
		ctx, cancel := contextWithTimeout(10 * time.Second)
		res, err := c.ListToolsByPage(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(res.Tools) > 3 {
			t.Errorf("page of %d tools, page_size is 3", len(res.Tools))
		}
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	if len(names) < 8 || pages < 3 {
		t.Fatalf("want all demo tools over several pages, got %d tools in %d pages", len(names), pages)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("tools/list is not in a deterministic (sorted) order: %v", names)
	}
}
