// Command mcp-demo is a small, real MCP server shipped with Switchboard for demos, tests and load
// tests. It speaks stdio (the default) or, with --listen, Streamable HTTP at /mcp (or legacy SSE at
// /sse with --sse).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

func main() {
	var (
		listen     = flag.String("listen", "", "serve Streamable HTTP at ADDR/mcp instead of stdio")
		sse        = flag.Bool("sse", false, "with --listen: serve the legacy SSE transport at /sse")
		name       = flag.String("name", "mcp-demo", "server name reported in initialize")
		enableExit = flag.Bool("enable-exit", false, "offer the exit tool, which kills this process (for crash tests)")
		bearer     = flag.String("require-bearer", "", "with --listen: answer 401 unless requests carry a Bearer token starting with this prefix")
		withExtra  = flag.Bool("extra", false, "start with the extra tool listed (as a newer replica would)")
		jwks       = flag.String("jwks", "", "with --listen: verify every bearer token against the key set at this URL (tools/call needs one); whoami answers its sub and aud")
		audience   = flag.String("audience", "", "with --jwks: the audience tokens must carry")
		issuer     = flag.String("issuer", "", "with --jwks: the issuer tokens must come from (default: any)")
		tokenFile  = flag.String("token-log", "", "with --jwks: append the SHA-256 of each distinct bearer token received to this file")
		generated  = flag.Int("generated", 0, "also offer this many generated tools gen_0000... (big catalogs for tool search)")
	)
	flag.Parse()
	s := newServer(*name, *enableExit, *withExtra)
	addShifty(s)
	addGenerated(s, min(max(*generated, 0), 10_000))

	if *listen == "" {
		if err := server.ServeStdio(s); err != nil && !errors.Is(err, context.Canceled) {
			log.Fatal(err)
		}
		return
	}

	// The event store makes mcp-go deliver every notification of a call before its response
	// (without one it can drop the last); it keeps a session's events until the session ends.
	var handler http.Handler = server.NewStreamableHTTPServer(s, server.WithEventStore(server.NewInMemoryEventStore()))
	path := "/mcp"
	if *sse {
		handler = server.NewSSEServer(s)
		path = "/sse"
	}
	if *bearer != "" {
		handler = requireBearer(*bearer, handler)
	}
	if *jwks != "" {
		var tokens *tokenLog
		if *tokenFile != "" {
			var err error
			if tokens, err = openTokenLog(*tokenFile); err != nil {
				log.Fatal(err)
			}
		}
		handler = verifyBearer(*jwks, *issuer, *audience, tokens, handler)
	}
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "mcp-demo %s serving http://%s%s\n", *name, *listen, path)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// requireBearer refuses requests without an Authorization header "Bearer PREFIX...", so tests can
// check which credential a gateway sends upstream.
func requireBearer(prefix string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "+prefix) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
