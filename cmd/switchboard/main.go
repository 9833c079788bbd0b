// Command switchboard is the MCP gateway: `switchboard serve --config FILE` runs it,
// `switchboard validate --config FILE` checks a config and lists every problem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-mcp/switchboard/config"
	"github.com/switchboard-mcp/switchboard/gateway"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  switchboard serve --config FILE      run the gateway
  switchboard validate --config FILE   check a config; exit 1 listing every problem
  switchboard version`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "version" {
		fmt.Fprintln(stdout, version)
		return 0
	}
	if cmd != "serve" && cmd != "validate" {
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	flags := flag.NewFlagSet(cmd, flag.ContinueOnError)
	flags.SetOutput(stderr)
	path := flags.String("config", "switchboard.yaml", "path of the config file")
	if err := flags.Parse(args); err != nil {
		return 2
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

	if err := serve(*path, cfg, stdout, stderr); err != nil {
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
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
	}()
	return g.Run(ctx)
}
