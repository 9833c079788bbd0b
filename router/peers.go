package router

import (
	"crypto/tls"
	"net/http"
	"time"
)

// peerURL is the URL of path on another replica's admin listener (replica is host:port): https
// when the listeners serve TLS (peerTLS is not nil).
func peerURL(peerTLS *tls.Config, replica, path string) string {
	if peerTLS != nil {
		return "https://" + replica + path
	}
	return "http://" + replica + path
}

// peerClient is the HTTP client that hands requests to other replicas' admin listeners, over TLS
// with peerTLS when it is not nil.
func peerClient(peerTLS *tls.Config, timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if peerTLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = peerTLS.Clone()
		c.Transport = tr
	}
	return c
}

// overTLS makes forwarded retries go over HTTPS with peerTLS (nil: plain HTTP); call it before
// use.
func (p *parked) overTLS(peerTLS *tls.Config) *parked {
	p.peerTLS, p.client = peerTLS, peerClient(peerTLS, p.client.Timeout)
	return p
}
