// Command hopproxy is the floor of one HTTP hop for the benchmarks: a plain reverse proxy with
// no MCP logic at all, passing streams through as they come.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve")
	target := flag.String("target", "", "base URL to proxy to")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("bad --target %q", *target)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // SSE: flush every write
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
