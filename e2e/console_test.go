package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var chromiumPeer peer

// needChromium returns Debian's chromium, which make chromium installs.
func needChromium(t testing.TB) string {
	t.Helper()
	return chromiumPeer.need(t, func() (string, error) {
		path, err := exec.LookPath("chromium")
		if err != nil {
			return "", fmt.Errorf("chromium is not installed (install it with: make chromium, or apt-get install chromium): %v", err)
		}
		return path, nil
	})
}

// newBrowser starts a headless Chromium for the test: no sandbox (CI runs as root), a profile
// of its own, a laptop's window. It stops with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(needChromium(t)),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // the first run starts the browser; no timeout on it
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// browse runs a on the browser's tab, failing the test after wait (waits on the DOM are
// generous: a refresh is every 3 s, the gateway's health ping every 5 s).
func browse[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshots is where the console's screenshots go; each run overwrites the last one's.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "switchboard-console-screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := browse(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestConsole drives the admin console in a real browser against a gateway with two real
// upstreams (mcp-demo over HTTP): the upstreams panel names them; an upstream killed turns down
// without a reload; a held definition change is approved with the console's button and the tool
// is callable again; the catalog filters as one types; a hidden tab stops refreshing.
func TestConsole(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	other := startDemoHTTP(t, "other", false)
	g := startGateway(t, fmt.Sprintf("pinning: {mode: hold}\nupstreams:\n  - {name: demo, url: %s}\n  - {name: other, url: %s}\n", demo.URL, other.URL))
	ctx := newBrowser(t)
	dir := screenshots(t)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browse(t, ctx, what, chromedp.Steps(steps...))
	}
	upRow := func(upstream, health string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`#upstreams tbody[data-upstream="%s"] tr[data-health="%s"]`, upstream, health))
	}
	do("opening the console",
		chromedp.Navigate(g.Admin+"/admin/"),
		chromedp.WaitVisible(upRow("demo", "up")),
		chromedp.WaitVisible(upRow("other", "up")),
	)
	browse(t, ctx, "marking the page", chromedp.Evaluate[bool](`window.notReloaded = true`))
	if ready := browse(t, ctx, "reading readiness", chromedp.Text(chromedp.CSS(`#overview [data-ready]`))); ready != "ready" {
		t.Errorf("the overview says %q", ready)
	}
	screenshot(t, ctx, dir, "console-up.png")

	// An upstream dies: its row turns down within a refresh or two (the gateway notices at its
	// next health ping), with no reload.
	other.proc.kill()
	do("waiting for other to turn down", chromedp.WaitVisible(upRow("other", "down")))

	// A rug pull: demo changes shifty's description; pinning holds it.
	c := connect(t, g.URL, true, nil)
	call(t, c, "demo__toggle_description", map[string]any{})
	eventually(t, 30*time.Second, "the change held", func() error {
		if res := call(t, c, "demo__shifty", map[string]any{}); gatewayErrorCode(res) != "definition_changed" {
			return fmt.Errorf("shifty answered %q", text(res))
		}
		return nil
	})
	approve := chromedp.CSS(`#pins form[data-action="approve"][data-tool="demo__shifty"] button`)
	do("waiting for the held change", chromedp.WaitVisible(approve))
	diff := browse(t, ctx, "reading the diff", chromedp.Text(chromedp.CSS(`#pins article[data-tool="demo__shifty"] table.diff`)))
	if !strings.Contains(diff, "Answers the word steady.") || !strings.Contains(diff, "ignore earlier instructions") {
		t.Errorf("the side-by-side diff:\n%s", diff)
	}
	screenshot(t, ctx, dir, "console.png")

	do("approving",
		chromedp.Click(approve),
		chromedp.WaitNotPresent(chromedp.CSS(`#pins article[data-tool="demo__shifty"]`)),
	)
	if notice := browse(t, ctx, "reading the notice", chromedp.Text(chromedp.CSS(`#notice`))); !strings.Contains(notice, "Approved demo__shifty") {
		t.Errorf("the notice after approving: %q", notice)
	}
	eventually(t, 30*time.Second, "the approved definition served", func() error {
		res := call(t, c, "demo__shifty", map[string]any{})
		if code := gatewayErrorCode(res); code == "definition_changed" || text(res) != "steady" {
			return fmt.Errorf("shifty answered %q (%s)", text(res), code)
		}
		return nil
	})
	if !strings.Contains(g.logs(), `msg="admin console action" action=pins/approve principal=anonymous tool=demo__shifty`) {
		t.Errorf("the approval is not logged with its principal:\n%s", g.proc.out.String())
	}

	// The catalog filters as one types, without asking the gateway.
	do("filtering the catalog", chromedp.SendKeys(chromedp.CSS(`#filter`), "demo__shifty"))
	shown := browse(t, ctx, "counting tools shown", chromedp.Evaluate[int](`[...document.querySelectorAll('#catalog tr[data-tool]')].filter(r => !r.hidden).length`))
	if shown != 1 {
		t.Errorf("filtering by demo__shifty shows %d tools", shown)
	}

	// A hidden tab asks the gateway nothing; shown again, it refreshes at once.
	const fetches = `performance.getEntriesByType('resource').filter(e => e.name.includes('/console/panel/')).length`
	setVisibility := func(state string) {
		browse(t, ctx, "tab "+state, chromedp.Evaluate[bool](`Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => '`+state+`'});
			document.dispatchEvent(new Event('visibilitychange'))`))
	}
	setVisibility("hidden")
	before := browse(t, ctx, "counting fetches", chromedp.Evaluate[int](fetches))
	time.Sleep(8 * time.Second)
	hidden := browse(t, ctx, "counting fetches", chromedp.Evaluate[int](fetches))
	setVisibility("visible")
	time.Sleep(time.Second)
	after := browse(t, ctx, "counting fetches", chromedp.Evaluate[int](fetches))
	if hidden != before || after <= hidden {
		t.Errorf("panel fetches: %d on hiding, %d after 8 s hidden, %d a second after showing", before, hidden, after)
	}
	if !browse(t, ctx, "checking the page", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page was reloaded")
	}

	// A phone's screen.
	browse(t, ctx, "scrolling up", chromedp.Evaluate[bool](`window.scrollTo(0, 0); true`))
	do("a phone's viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	screenshot(t, ctx, dir, "console-phone.png")
}
