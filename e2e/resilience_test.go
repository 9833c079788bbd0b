package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestUpstreamListChangedReachesClients(t *testing.T) {
	t.Parallel()
	demo := startDemoHTTP(t, "demo", false)
	stable := startDemoHTTP(t, "stable", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: demo, url: %s}\n  - {name: stable, url: %s}\n", demo.URL, stable.URL))

	notified := make(chan struct{}, 16)
	c := connect(t, g.URL, true, func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationToolsListChanged) {
			notified <- struct{}{}
		}
	})
	if _, ok := rawTools(t, c)["demo__extra"]; ok {
		t.Fatal("demo__extra exposed before it exists")
	}

	// The upstream adds a tool and announces it; the gateway re-lists and tells its clients.
	call(t, c, "demo__toggle_extra", nil)
	waitNotified(t, notified)
	if _, ok := rawTools(t, c)["demo__extra"]; !ok {
		t.Fatal("demo__extra not exposed after the upstream added it")
	}
	if got := text(call(t, c, "demo__extra", nil)); got != "extra is here" {
		t.Errorf("demo__extra: %q", got)
	}

	// And removes it.
	call(t, c, "demo__toggle_extra", nil)
	waitNotified(t, notified)
	if _, ok := rawTools(t, c)["demo__extra"]; ok {
		t.Fatal("demo__extra still exposed after the upstream removed it")
	}
	resp := rawCall(t, c, "demo__extra", nil)
	if resp.Error == nil || resp.Error.Code != mcp.INVALID_PARAMS {
		t.Errorf("a removed tool must be unknown, got %+v", resp)
	}

	// A change that leaves the visible tools as they were sends nothing: restarting the stable
	// upstream re-lists the same tools.
	drain(notified)
	stable.proc.kill()
	runDemoHTTP(t, "stable", stable.addr, false)
	eventually(t, 60*time.Second, "stable upstream back", func() error {
		res, err := callErr(c, "stable__whoami", nil)
		if err != nil {
			return err
		}
		if res.IsError {
			return errors.New(text(res))
		}
		return nil
	})
	select {
	case <-notified:
		t.Error("tools/list_changed sent although the visible tools did not change")
	case <-time.After(500 * time.Millisecond):
	}
}

func waitNotified(t *testing.T, ch chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no notifications/tools/list_changed from the gateway")
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestKilledUpstreamFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	victim := startDemoHTTP(t, "victim", false)
	other := startDemoHTTP(t, "other", false)
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: victim, url: %s}\n  - {name: other, url: %s}\n", victim.URL, other.URL))
	c := connect(t, g.URL, true, nil)

	// Killed in the middle of a call: the call ends with upstream_unavailable, not a hang.
	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := callErr(c, "victim__sleep", map[string]any{"ms": 20000})
		done <- outcome{res, err}
	}()
	time.Sleep(300 * time.Millisecond)
	victim.proc.kill()
	select {
	case o := <-done:
		if o.err != nil || !o.res.IsError || gatewayErrorCode(o.res) != "upstream_unavailable" {
			t.Errorf("call cut by the kill: want upstream_unavailable, got %v %+v", o.err, o.res)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the call to a killed upstream hangs")
	}

	// While it is down: its tools stay listed, calls fail with the designed error, the rest works.
	if _, ok := rawTools(t, c)["victim__echo"]; !ok {
		t.Error("a down upstream's tools left the catalog")
	}
	res := call(t, c, "victim__echo", map[string]any{"text": "x"})
	if !res.IsError || gatewayErrorCode(res) != "upstream_unavailable" {
		t.Errorf("call to a down upstream: want upstream_unavailable, got %+v", res)
	}
	if got := text(call(t, c, "other__whoami", nil)); got != "other" {
		t.Errorf("the other upstream stopped working: %q", got)
	}

	// It comes back on the same address: the gateway reconnects by itself.
	runDemoHTTP(t, "victim-again", victim.addr, false)
	eventually(t, 60*time.Second, "victim upstream back", func() error {
		res, err := callErr(c, "victim__whoami", nil)
		switch {
		case err != nil:
			return err
		case res.IsError:
			return errors.New(text(res))
		case text(res) != "victim-again":
			return fmt.Errorf("answered by %q", text(res))
		}
		return nil
	})
}

func TestCrashedStdioUpstreamIsRestarted(t *testing.T) {
	t.Parallel()
	g := startGateway(t, fmt.Sprintf("upstreams:\n  - {name: crashy, command: [%q, \"--enable-exit\"]}\n", bin.demo))
	c := connect(t, g.URL, true, nil)
	if got := text(call(t, c, "crashy__echo", map[string]any{"text": "before"})); got != "before" {
		t.Fatalf("echo before the crash: %q", got)
	}
	// The process dies mid-call.
	res := call(t, c, "crashy__exit", nil)
	if !res.IsError || gatewayErrorCode(res) != "upstream_unavailable" {
		t.Errorf("call that killed the upstream: want upstream_unavailable, got %+v", res)
	}
	eventually(t, 30*time.Second, "stdio upstream restarted", func() error {
		res, err := callErr(c, "crashy__echo", map[string]any{"text": "after"})
		switch {
		case err != nil:
			return err
		case res.IsError:
			return errors.New(text(res))
		case text(res) != "after":
			return fmt.Errorf("echo: %q", text(res))
		}
		return nil
	})
}
