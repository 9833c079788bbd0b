// Command switchboard is the MCP gateway: `switchboard serve --config FILE` runs it,
// `switchboard stdio --config FILE` runs it for the one client that launched it (on stdin and
// stdout), `switchboard stdio --upstream URL` relays such a client to a remote gateway, and
// `switchboard validate --config FILE` checks a config and lists every problem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-mcp/switchboard/bridge"
	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/gateway"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  switchboard serve --config FILE      run the gateway
  switchboard stdio --config FILE [--server NAME]
                                       run the gateway for the one client that launched it,
                                       on stdin and stdout (desktop hosts); NAME: a virtual server
  switchboard stdio --upstream URL [--token-env NAME]
                                       relay that client to a remote gateway's MCP endpoint,
                                       with the bearer token in $SWITCHBOARD_TOKEN (or $NAME)
  switchboard validate --config FILE   check a config; exit 1 listing every problem
  switchboard version`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "version" {
		fmt.Fprintln(stdout, version)
		return 0
	}
	if cmd != "serve" && cmd != "validate" && cmd != "stdio" {
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	flags := flag.NewFlagSet(cmd, flag.ContinueOnError)
	flags.SetOutput(stderr)
	path := flags.String("config", "switchboard.yaml", "path of the config file")
	remote, tokenEnv, server := new(string), new(string), new(string)
	if cmd == "stdio" {
		server = flags.String("server", "", "serve this virtual server (servers[].name) instead of the root")
		remote = flags.String("upstream", "", "URL of a remote gateway's MCP endpoint: relay to it instead of running a gateway")
		tokenEnv = flags.String("token-env", "SWITCHBOARD_TOKEN", "environment variable holding the bearer token for --upstream")
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *remote != "" {
		configGiven := false
		flags.Visit(func(f *flag.Flag) { configGiven = configGiven || f.Name == "config" })
		if configGiven {
			fmt.Fprintf(stderr, "stdio: give --config (run a gateway) or --upstream (relay to one), not both\n%s\n", usage)
			return 2
		}
		if err := relay(*remote, os.Getenv(*tokenEnv), stdin, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "switchboard: %v\n", err)
			return 1
		}
		return 0
	}

	cfg, err := config.Load(*path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(errs))
			for _, e := range errs {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		}
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *path, w)
	}
	if cmd == "validate" {
		fmt.Fprintf(stdout, "%s: ok (%d static upstreams)\n", *path, len(cfg.Upstreams))
		return 0
	}

	if cmd == "stdio" {
		err = serveStdio(*path, cfg, *server, stdin, stdout, stderr)
	} else {
		err = serve(*path, cfg, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchboard: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the gateway until SIGINT or SIGTERM; SIGHUP reloads the config file at path (a
// file that does not load changes nothing).
func serve(path string, cfg *config.Config, stdout, stderr io.Writer) error {
	g, err := gateway.New(cfg, gateway.Options{Version: version, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return err
	}
	defer g.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go reloadOnHUP(ctx, path, g)
	return g.Run(ctx)
}

// serveStdio runs the gateway for the client on stdin and stdout until stdin ends, SIGINT or
// SIGTERM; SIGHUP reloads as for serve. Nothing but JSON-RPC goes to stdout: the logs and the
// audit log's stdout sink go to stderr.
func serveStdio(path string, cfg *config.Config, server string, stdin io.Reader, stdout, stderr io.Writer) error {
	signal.Ignore(syscall.SIGPIPE) // a client gone is a write error, so the children are stopped
	g, err := gateway.NewStdio(cfg, gateway.Options{Version: version, Stderr: stderr}, gateway.StdioOptions{Server: server})
	if err != nil {
		return err
	}
	defer g.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go reloadOnHUP(ctx, path, g)
	return g.RunStdio(ctx, stdin, stdout)
}

// relay is `stdio --upstream URL`: the client on stdin and stdout relayed to url until stdin
// ends, SIGINT or SIGTERM.
func relay(url, token string, stdin io.Reader, stdout, stderr io.Writer) error {
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := bridge.Run(ctx, stdin, stdout, bridge.Options{URL: url, Token: token,
		Log: slog.New(slog.NewTextHandler(stderr, nil))})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// reloadOnHUP reloads the config file at path on every SIGHUP until ctx ends (a file that does
// not load changes nothing).
func reloadOnHUP(ctx context.Context, path string, g *gateway.Gateway) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, err := config.Load(path)
		if err == nil {
			err = g.Reload(next)
		}
		if err != nil {
			g.Logger().Error("reload refused; the running config stays", "err", err.Error())
		}
	}
}
